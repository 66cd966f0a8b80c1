using System.Text.Json;

namespace StochasticInterpolants.Onnx;

/// <summary>
/// The way back from the flow's space to a table's units: the library's <c>TableEncoding.Decode</c> (docs/theory.md §8),
/// read from the <c>table.encoding</c> object of an exported checkpoint's manifest. For a generated row y (float32):
/// <list type="number">
/// <item>x' solves W x' = y by forward substitution in double (W is lower triangular: diagonal for standard scaling,
/// the whitening factor for whiten, the identity for none), then x = x' + mu;</item>
/// <item>x_j = exp(x_j) on the log columns (modelled through log x, so generated values stay positive);</item>
/// <item>x_j = floor(x_j) on the dequantised columns (a dequantised value k + u, u in [0, 1), came from the integer k);</item>
/// <item>each snapped column is moved to the nearest of its observed values, a tie going to the smaller one.</item>
/// </list>
/// The result is double: a table's values are its units, where float32 cannot hold every integer above 2^24.
/// </summary>
public sealed class TableDecoder
{
    private readonly double[] _matrix;
    private readonly (int Column, double[] Values, double[] Midpoints)[] _snapped;

    private TableDecoder(string normalization, double[] mean, double[] matrix, int[] dequantized, int[] logColumns, (int, double[], double[])[] snapped)
    {
        Normalization = normalization; Mean = mean; _matrix = matrix; DequantizedColumns = dequantized; LogColumns = logColumns; _snapped = snapped;
    }

    /// <summary>The scaling fitted in training: none, standard or whiten.</summary>
    public string Normalization { get; }

    /// <summary>The number of columns d.</summary>
    public int Dimension => Mean.Count;

    /// <summary>mu, one entry per column (of log x for a log column).</summary>
    public IReadOnlyList<double> Mean { get; }

    /// <summary>Columns rounded down after the affine map (whole-number columns, dequantised in training).</summary>
    public IReadOnlyList<int> DequantizedColumns { get; }

    /// <summary>Columns modelled through y = log x and exponentiated back.</summary>
    public IReadOnlyList<int> LogColumns { get; }

    /// <summary>Columns moved to the nearest of their observed values (the values, ascending, per column).</summary>
    public IReadOnlyDictionary<int, IReadOnlyList<double>> SnappedColumns => _snapped.ToDictionary(s => s.Column, s => (IReadOnlyList<double>)s.Values);

    /// <summary>
    /// Reads an encoding written as JSON by the library (the manifest's <c>table.encoding</c>: normalization, mean, matrix
    /// (d x d row-major), dequantizedColumns, logColumns, snappedColumns). Throws <see cref="InvalidDataException"/> with a
    /// one-line reason for an encoding that is malformed or whose matrix is not lower triangular with a non-zero diagonal.
    /// </summary>
    public static TableDecoder Parse(JsonElement encoding)
    {
        try
        {
            var normalization = encoding.GetProperty("normalization").GetString()?.ToLowerInvariant() ?? "";
            var mean = Doubles(encoding.GetProperty("mean"));
            var d = mean.Length;
            if (d < 1) throw new InvalidDataException("the table encoding has no columns");
            var matrix = Doubles(encoding.GetProperty("matrix"));
            if (matrix.Length != d * d) throw new InvalidDataException($"the table encoding's matrix holds {matrix.Length} numbers, not {d} x {d}");
            for (var i = 0; i < d; i++)
            {
                if (matrix[i * d + i] == 0 || !double.IsFinite(matrix[i * d + i])) throw new InvalidDataException($"the table encoding's matrix has a zero or non-finite diagonal entry in row {i}");
                for (var j = i + 1; j < d; j++)
                    if (matrix[i * d + j] != 0) throw new InvalidDataException("the table encoding's matrix is not lower triangular");
            }
            var dequantized = Columns(encoding, "dequantizedColumns", d);
            var logs = Columns(encoding, "logColumns", d);
            var snapped = new List<(int, double[], double[])>();
            if (encoding.TryGetProperty("snappedColumns", out var list) && list.ValueKind == JsonValueKind.Array)
                foreach (var s in list.EnumerateArray())
                {
                    var column = s.GetProperty("column").GetInt32();
                    if (column < 0 || column >= d) throw new InvalidDataException($"snapped column {column} is outside 0..{d - 1}");
                    var values = Doubles(s.GetProperty("values"));
                    if (values.Length == 0) throw new InvalidDataException($"snapped column {column} has no observed values");
                    for (var k = 1; k < values.Length; k++)
                        if (!(values[k] > values[k - 1])) throw new InvalidDataException($"the observed values of snapped column {column} are not ascending");
                    // The midpoints between consecutive values, computed as the library computes them ((a + b) / 2 in double).
                    var mids = new double[values.Length - 1];
                    for (var k = 0; k < mids.Length; k++) mids[k] = (values[k + 1] + values[k]) / 2;
                    snapped.Add((column, values, mids));
                }
            return new TableDecoder(normalization, mean, matrix, dequantized, logs, [.. snapped]);
        }
        catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"the table encoding cannot be read: {e.Message}");
        }
    }

    /// <summary>Reads an encoding from its JSON text (see <see cref="Parse(JsonElement)"/>).</summary>
    public static TableDecoder Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        return Parse(document.RootElement);
    }

    /// <summary>
    /// The rows of <paramref name="y"/> (<paramref name="n"/> rows of d, row-major, the flow's space) in the table's units:
    /// one double[d] per row (see the class summary for the steps). A non-finite value stops with an error naming its row.
    /// </summary>
    public double[][] Decode(float[] y, int n)
    {
        var d = Dimension;
        if (y.Length != (long)n * d) throw new ArgumentException($"y holds {y.Length} numbers, not {n} rows of {d}");
        var rows = new double[n][];
        for (var r = 0; r < n; r++)
        {
            var x = new double[d];
            // Forward substitution: x'_i = (y_i - sum_{j < i} W_ij x'_j) / W_ii.
            for (var i = 0; i < d; i++)
            {
                double sum = y[r * d + i];
                for (var j = 0; j < i; j++) sum -= _matrix[i * d + j] * x[j];
                x[i] = sum / _matrix[i * d + i];
            }
            for (var i = 0; i < d; i++) x[i] += Mean[i];
            foreach (var j in LogColumns) x[j] = Math.Exp(x[j]);
            foreach (var j in DequantizedColumns) x[j] = Math.Floor(x[j]);
            // Before snapping, which would hide a non-finite value behind an observed one.
            for (var i = 0; i < d; i++)
                if (!double.IsFinite(x[i])) throw new InvalidOperationException($"decoded row {r} is not finite in column {i} (y = {y[r * d + i]:G6})");
            foreach (var (column, values, mids) in _snapped)
            {
                // The first midpoint >= x (as searchsorted with right = false): a value exactly on a midpoint goes to the smaller.
                int lo = 0, hi = mids.Length;
                while (lo < hi)
                {
                    var m = (lo + hi) / 2;
                    if (mids[m] < x[column]) lo = m + 1; else hi = m;
                }
                x[column] = values[lo];
            }
            rows[r] = x;
        }
        return rows;
    }

    private static double[] Doubles(JsonElement array) => [.. array.EnumerateArray().Select(v => v.GetDouble())];

    private static int[] Columns(JsonElement encoding, string name, int d)
    {
        if (!encoding.TryGetProperty(name, out var list) || list.ValueKind != JsonValueKind.Array) return [];
        var columns = list.EnumerateArray().Select(v => v.GetInt32()).ToArray();
        foreach (var j in columns)
            if (j < 0 || j >= d) throw new InvalidDataException($"{name} lists column {j}, outside 0..{d - 1}");
        return columns;
    }
}
