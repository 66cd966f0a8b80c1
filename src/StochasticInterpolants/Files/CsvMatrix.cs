using System.Globalization;
using System.Text;
using StochasticInterpolants.Data;
using static TorchSharp.torch;

namespace StochasticInterpolants.Files;

/// <summary>
/// Reads and writes tables of numbers as CSV: one sample per row, comma-separated, invariant culture.
/// On reading, a first line whose fields are not all numbers is a header and is skipped; blank lines are skipped;
/// every row must have the same number of fields and every value must be a finite number.
/// </summary>
public static class CsvMatrix
{
    /// <summary>Reads <paramref name="path"/> into a float32 [n, d] tensor; throws <see cref="DataFormatException"/> naming the line and field of any problem.</summary>
    public static Tensor Read(string path)
    {
        if (Directory.Exists(path)) throw new DataFormatException($"'{path}' is a folder, not a CSV file");
        if (!File.Exists(path)) throw new FileNotFoundException($"file '{path}' does not exist");
        var rows = new List<double[]>();
        var width = -1;
        var lineNumber = 0;
        var headerChecked = false;
        foreach (var raw in File.ReadLines(path))
        {
            lineNumber++;
            var line = raw.Trim();
            if (line.Length == 0) continue;
            var fields = line.Split(',');
            if (!headerChecked)
            {
                headerChecked = true;
                if (fields.Any(f => !CsvTable.IsNumberText(f)))
                    continue; // a header line
            }
            if (width < 0) width = fields.Length;
            else if (fields.Length != width) throw new DataFormatException($"{path}: line {lineNumber} has {fields.Length} fields, expected {width}");
            var values = new double[width];
            for (var j = 0; j < width; j++) values[j] = CsvTable.ParseValue(path, lineNumber, j + 1, fields[j].Trim());
            rows.Add(values);
        }
        if (rows.Count == 0) throw new DataFormatException($"{path}: no data rows");
        var flat = new float[rows.Count * width];
        for (var i = 0; i < rows.Count; i++)
            for (var j = 0; j < width; j++) flat[i * width + j] = (float)rows[i][j];
        return tensor(flat, [rows.Count, width]);
    }

    /// <summary>Writes the rows of <paramref name="samples"/> ([n, d]) comma-separated, no header, round-trippable (float64
    /// rows as doubles, others as float32), atomically.</summary>
    public static void Write(string path, Tensor samples)
    {
        if (samples.dim() != 2) throw new ArgumentException($"samples must be [n, d], got [{string.Join(",", samples.shape)}]");
        // float64 rows (a table's samples in its units, where float32 cannot hold every integer above 2^24) are written
        // as doubles; anything else as float32, the shortest text that reads back to the same float.
        var wide = samples.dtype == float64;
        using var cpu = samples.detach().to(wide ? float64 : float32).cpu().contiguous();
        var values = wide ? cpu.data<double>().ToArray() : cpu.data<float>().ToArray().Select(v => (double)v).ToArray();
        var d = (int)cpu.shape[1];
        var text = new StringBuilder(values.Length * 12);
        for (var i = 0; i < values.Length; i++)
        {
            // The last guard of "no silent wrong answer": a file of NaN rows is never written (the reader refuses them too).
            if (!double.IsFinite(values[i]))
                throw new DataFormatException($"refusing to write '{path}': row {i / d + 1}, column {i % d + 1} is {values[i]} (the computation produced non-finite values)");
            text.Append(wide ? values[i].ToString("R", CultureInfo.InvariantCulture) : ((float)values[i]).ToString("R", CultureInfo.InvariantCulture));
            text.Append((i + 1) % d == 0 ? '\n' : ',');
        }
        AtomicFile.WriteText(path, text.ToString());
    }
}
