using TorchSharp;
using System.Text.Json.Serialization;
using StochasticInterpolants.Runtime;
using static TorchSharp.torch;

namespace StochasticInterpolants.Data;

/// <summary>How the columns of a table are scaled before training (docs/theory.md §8).</summary>
public enum Normalization
{
    /// <summary>The raw columns: y = x.</summary>
    None,
    /// <summary>Per-column standardisation: y_j = (x_j - mu_j) / s_j, with s_j = 1 for a constant column.</summary>
    Standard,
    /// <summary>Whitening: y = L^-1 D^-1 (x - mu), where D = diag(s) and L L^T is the correlation matrix, so the
    /// training rows have mean 0 and covariance I.</summary>
    Whiten,
}

/// <summary>
/// The map from a table's data space to the space the flow is learned in (docs/theory.md §8): first dequantisation of
/// the columns that hold only whole numbers (x_j + u, u ~ U[0, 1): a density on integers is degenerate), then a log of
/// the strictly positive columns chosen for it (v_j = log x_j, so that every generated value is positive), then the affine
/// bijection y = W (v - mu). The flow models y; a density in data units follows from the change of variables
/// <c>log p_x(x) = log p_y(W (v - mu)) + log |det W| - sum over log columns j of log x_j</c> (<see cref="LogJacobian"/>),
/// and samples go back by x = exp(W^-1 y + mu) on the log columns (W^-1 y + mu elsewhere), with the dequantised columns
/// rounded down to the integers they came from and the snapped columns moved to their nearest observed value.
/// </summary>
/// <param name="Normalization">Which affine map W is.</param>
/// <param name="Mean">mu, one entry per column (of the log for a log column).</param>
/// <param name="Matrix">W, d x d row-major (diagonal for <see cref="Normalization.Standard"/>, lower triangular for
/// <see cref="Normalization.Whiten"/>, the identity for <see cref="Normalization.None"/>).</param>
/// <param name="DequantizedColumns">Columns that hold whole numbers and get uniform noise before W.</param>
/// <param name="ConstantColumns">Columns with a single value in the rows W was fitted on (their scale is taken as 1; their
/// density is degenerate: better dropped).</param>
/// <param name="LogColumns">Strictly positive columns modelled through y = log x (null or empty: none; checkpoints written
/// before the option have none).</param>
/// <param name="SnappedColumns">Whole-number columns whose generated values are moved to the nearest value the training
/// rows hold (null or empty: none). Decoding only: the density is the dequantised one (see docs/theory.md §8).</param>
public sealed record TableEncoding(Normalization Normalization, IReadOnlyList<double> Mean, IReadOnlyList<double> Matrix,
    IReadOnlyList<int> DequantizedColumns, IReadOnlyList<int> ConstantColumns, IReadOnlyList<int>? LogColumns = null,
    IReadOnlyList<SnappedColumn>? SnappedColumns = null)
{
    /// <summary>Columns d.</summary>
    [JsonIgnore]
    public int Dimension => Mean.Count;

    /// <summary>log |det W|: add it to a log-density of y to get the log-density of x in the data's units.</summary>
    [JsonIgnore]
    public double LogAbsDeterminant
    {
        get
        {
            // W is triangular for every normalisation we build; the determinant is the product of the diagonal.
            var sum = 0.0;
            for (var j = 0; j < Dimension; j++) sum += Math.Log(Math.Abs(Matrix[j * Dimension + j]));
            return sum;
        }
    }

    /// <summary>The identity map on d columns, with <paramref name="dequantized"/> columns dequantised.</summary>
    public static TableEncoding Identity(int d, IReadOnlyList<int>? dequantized = null) =>
        new(Normalization.None, new double[d], IdentityMatrix(d), dequantized ?? [], []);

    /// <summary>This encoding with <paramref name="snapped"/> columns' samples moved to their observed values (none: null).</summary>
    public TableEncoding WithSnapping(IReadOnlyList<SnappedColumn>? snapped)
    {
        foreach (var c in snapped ?? [])
        {
            if (c.Column < 0 || c.Column >= Dimension) throw new ArgumentException($"snapped column {c.Column} is outside 0..{Dimension - 1}");
            if (c.Values.Count == 0) throw new ArgumentException($"snapped column {c.Column} has no observed values");
        }
        return this with { SnappedColumns = snapped is { Count: > 0 } ? snapped : null };
    }

    /// <summary>
    /// Fits the map to <paramref name="rows"/> ([n, d], data units, already dequantised where that applies), after the log
    /// of the <paramref name="logColumns"/> (which must be strictly positive): mu the column means, s the column standard
    /// deviations (population), and for whitening the Cholesky factor L of the correlation matrix (a tiny ridge is added
    /// when the columns are collinear).
    /// </summary>
    public static TableEncoding Fit(Tensor rows, Normalization normalization, IReadOnlyList<int>? dequantized = null, IReadOnlyList<int>? logColumns = null)
    {
        if (rows.dim() != 2 || rows.shape[0] < 2) throw new ArgumentException($"fitting a scaling needs [n, d] rows with n >= 2, got [{string.Join(",", rows.shape)}]");
        var d = (int)rows.shape[1];
        foreach (var j in dequantized ?? [])
            if (j < 0 || j >= d) throw new ArgumentException($"dequantised column {j} is outside 0..{d - 1}");
        foreach (var j in logColumns ?? [])
            if (j < 0 || j >= d) throw new ArgumentException($"log column {j} is outside 0..{d - 1}");
        var logs = logColumns is { Count: > 0 } ? logColumns.Distinct().Order().ToArray() : null;
        if (normalization == Normalization.None) return Identity(d, dequantized) with { LogColumns = logs };
        using var scope = NewDisposeScope();
        var x = (Identity(d) with { LogColumns = logs }).ToLogSpace(rows.detach().to(float64).cpu());
        var mean = x.mean([0]);
        var std = x.std(0, unbiased: false);
        var s = std.data<double>().ToArray();
        var constant = new List<int>();
        for (var j = 0; j < d; j++)
        {
            // A column whose spread is rounding noise relative to its size counts as constant: dividing by it would blow it up.
            var scale = Math.Max(1e-300, Math.Abs(mean[j].ToDouble()));
            if (!(s[j] > 1e-12 * scale)) { constant.Add(j); s[j] = 1; }
        }
        var w = new double[d * d];
        if (normalization == Normalization.Standard)
            for (var j = 0; j < d; j++) w[j * d + j] = 1 / s[j];
        else
        {
            var z = (x - mean) / tensor(s, dtype: float64);
            var c = z.t().matmul(z) / x.shape[0];
            foreach (var j in constant) c[j, j] = tensor(1.0, dtype: float64); // a zero row and column: make it the identity's
            var inverse = InverseCholesky(c, d);
            for (var i = 0; i < d; i++)
                for (var j = 0; j <= i; j++) w[i * d + j] = inverse[i * d + j] / s[j];
        }
        return new TableEncoding(normalization, mean.data<double>().ToArray(), w, dequantized ?? [], constant, logs);
    }

    // L^-1 for the correlation matrix c = L L^T, with a ridge grown until the factorisation succeeds (collinear columns).
    private static double[] InverseCholesky(Tensor c, int d)
    {
        for (var ridge = 0.0; ridge <= 1e-2; ridge = ridge == 0 ? 1e-10 : ridge * 10)
        {
            using var scope = NewDisposeScope();
            var (l, info) = linalg.cholesky_ex(c + ridge * eye(d, dtype: float64));
            if (info.ToInt64() != 0) continue;
            var inverse = linalg.solve_triangular(l, eye(d, dtype: float64), upper: false);
            if (inverse.isfinite().all().ToBoolean()) return inverse.contiguous().data<double>().ToArray();
        }
        throw new InvalidSettingException("normalize", "the columns are too collinear to whiten (their correlation matrix is singular even with a ridge of 1e-2); use standard normalisation or drop duplicated columns");
    }

    /// <summary>
    /// y = W (v - mu) for the rows of <paramref name="x"/> ([n, d], data units), with v_j = log x_j on the log columns and
    /// v_j = x_j elsewhere. With <paramref name="noise"/>, the dequantised columns first get u ~ U[0, 1) from it; without,
    /// they are encoded as given (already dequantised). Returns float32 (the flow's space).
    /// </summary>
    /// <exception cref="DataFormatException">A log column holds a value &lt;= 0 (outside the model's support).</exception>
    public Tensor Encode(Tensor x, Generator? noise = null)
    {
        Check(x);
        using var scope = NewDisposeScope();
        var v = ToLogSpace(noise is null ? x.to(float64) : Dequantize(x, noise));
        var y = (v - tensor(Mean.ToArray(), dtype: float64, device: x.device)).matmul(WeightMatrix(x.device).t());
        return y.to(float32).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The log-Jacobian of the map from data units to the flow's space, per row of <paramref name="x"/> ([n, d], data
    /// units, already dequantised): log |det W| - sum over log columns j of log x_j ([n] float64). Add it to log p_y(y) to get
    /// log p_x(x) (docs/theory.md §8).
    /// </summary>
    public Tensor LogJacobian(Tensor x)
    {
        Check(x);
        using var scope = NewDisposeScope();
        var result = full(x.shape[0], LogAbsDeterminant, dtype: float64, device: x.device);
        if (LogColumns is { Count: > 0 } logs)
        {
            var positive = Positive(x.to(float64), logs);
            result = result - positive.index_select(1, tensor(logs.Select(c => (long)c).ToArray(), device: x.device)).log().sum(1);
        }
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>x = W^-1 y + mu for model-space rows <paramref name="y"/> ([n, d]), exponentiated on the log columns, with
    /// dequantised columns rounded down (a dequantised value k + u came from the integer k) and snapped columns moved to
    /// their nearest observed value. Returns float64: the data's units, where float32 cannot hold every integer above 2^24.</summary>
    public Tensor Decode(Tensor y)
    {
        Check(y);
        using var scope = NewDisposeScope();
        var w = WeightMatrix(y.device);
        // W is triangular: solve W x' = y rather than forming the inverse.
        var centred = linalg.solve_triangular(w, y.to(float64).t(), upper: false).t();
        var x = centred + tensor(Mean.ToArray(), dtype: float64, device: y.device);
        if (LogColumns is { Count: > 0 } logs)
        {
            var columns = tensor(logs.Select(c => (long)c).ToArray(), device: y.device);
            x.index_copy_(1, columns, x.index_select(1, columns).exp());
        }
        if (DequantizedColumns.Count > 0)
        {
            var columns = tensor(DequantizedColumns.Select(c => (long)c).ToArray(), device: y.device);
            x.index_copy_(1, columns, x.index_select(1, columns).floor());
        }
        foreach (var snapped in SnappedColumns ?? [])
        {
            // The nearest observed value (ties to the smaller): through the midpoints between consecutive values.
            var values = tensor(snapped.Values.ToArray(), dtype: float64, device: y.device);
            var column = x[.., snapped.Column].contiguous();
            var mids = (values[1..] + values[..^1]) / 2;
            var index = snapped.Values.Count == 1 ? zeros(column.shape[0], dtype: int64, device: y.device) : searchsorted(mids.contiguous(), column, right: false);
            x[.., snapped.Column] = values.index_select(0, index);
        }
        return x.MoveToOuterDisposeScope();
    }

    // v = x with log x_j on the log columns (float64); a value <= 0 there is outside the model's support.
    private Tensor ToLogSpace(Tensor x)
    {
        if (LogColumns is not { Count: > 0 } logs) return x;
        var v = Positive(x, logs).clone();
        var columns = tensor(logs.Select(c => (long)c).ToArray(), device: x.device);
        v.index_copy_(1, columns, v.index_select(1, columns).log());
        return v;
    }

    private static Tensor Positive(Tensor x, IReadOnlyList<int> logs)
    {
        foreach (var j in logs)
        {
            using var column = x[.., j];
            using var bad = (column <= 0).logical_or(column.isnan());
            var count = bad.sum().ToInt64();
            if (count > 0)
                throw new DataFormatException($"column {j + 1} is modelled through a log transform but {count} of {x.shape[0]} rows hold a value <= 0 there (smallest {column.min().ToDouble():G6}): outside the model's support, its density is 0");
        }
        return x;
    }

    /// <summary>
    /// The rows of <paramref name="x"/> in float64 with u ~ U[0, 1) (from <paramref name="generator"/>) added to the
    /// dequantised columns. In float64 because the data's values can be large: float32's spacing is >= 0.5 above 2^22,
    /// where x + u would fall back onto the integers and the column would stay discrete.
    /// </summary>
    public Tensor Dequantize(Tensor x, Generator generator)
    {
        Check(x);
        if (DequantizedColumns.Count == 0) return x.to(float64);
        using var scope = NewDisposeScope();
        // The draw itself stays float32 (as before), so the noise streams of a seed are unchanged.
        var u = rand(x.shape[0], DequantizedColumns.Count, generator: generator).to(float64);
        var columns = tensor(DequantizedColumns.Select(c => (long)c).ToArray(), device: x.device);
        var result = x.to(float64).clone();
        using var one = 1.ToScalar();
        result.index_add_(1, columns, u.to(x.device), one);
        return result.MoveToOuterDisposeScope();
    }

    private Tensor WeightMatrix(Device device) => tensor(Matrix.ToArray(), [Dimension, Dimension], dtype: float64, device: device);

    private void Check(Tensor x)
    {
        if (x.dim() != 2 || x.shape[1] != Dimension)
            throw new ArgumentException($"the table encoding maps [n, {Dimension}] rows, got [{string.Join(",", x.shape)}]");
    }

    private static double[] IdentityMatrix(int d)
    {
        var m = new double[d * d];
        for (var j = 0; j < d; j++) m[j * d + j] = 1;
        return m;
    }
}

/// <summary>A whole-number column whose generated values are moved to the nearest of its observed values.</summary>
/// <param name="Column">The column (0-based, in the flow's order).</param>
/// <param name="Values">The distinct values of the training rows, ascending.</param>
public sealed record SnappedColumn(int Column, IReadOnlyList<double> Values);
