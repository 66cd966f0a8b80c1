using System.Globalization;
using StochasticInterpolants.Data;
using StochasticInterpolants.Files;
using StochasticInterpolants.Runs;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Data;

/// <summary>
/// Issue 23, defect 1: a column of whole numbers near 3e7 (above 2^24, where float32 cannot hold the odd integers, and
/// above 2^22, where its spacing is >= 0.5 so x + u falls back onto the lattice). The values must be read exactly, the
/// dequantisation noise must survive, and samples must come back as the integers they came from.
/// </summary>
public sealed class LargeWholeNumberTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-large-ints-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private const double Base = 30_000_000;

    // n rows of (an integer 30,000,000..30,000,007, an N(0, 1) value), with a header.
    private string Table(int n, int seed)
    {
        var rng = new Random(seed);
        var lines = new List<string> { "id,z" };
        for (var i = 0; i < n; i++)
        {
            var z = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"{Base + rng.Next(8):R},{z:R}"));
        }
        var path = Path.Combine(_dir, $"big{seed}.csv");
        File.WriteAllLines(path, lines);
        return path;
    }

    [Fact]
    public void Values_near_3e7_are_read_exactly()
    {
        var path = Path.Combine(_dir, "odd.csv");
        File.WriteAllText(path, "a,b\n30000001,16777217.25\n30000003,0.1\n30000005,-16777219\n");
        using var t = CsvTable.Read(path);
        using var v = t.Rows.to(float64);
        Assert.Equal(new[] { 30000001, 16777217.25, 30000003, 0.1, 30000005, -16777219 }, v.data<double>().ToArray());
        Assert.Equal([0], t.IntegerColumns);
    }

    [Fact]
    public void Dequantised_training_and_validation_rows_near_3e7_are_continuous()
    {
        var pieces = TablePieces.Build(new TrainingRunConfig(Target: Table(2000, 1)));
        try
        {
            var encoding = pieces.Record.Encoding;
            Assert.Equal([0], encoding.DequantizedColumns);
            // The stored training rows are the file's integers, odd ones included.
            using var stored = pieces.Target.Rows[.., 0].to(float64);
            Assert.Equal(stored, stored.round());
            Assert.True((stored.remainder(2) == 1).sum().ToInt64() > 500, "odd integers were lost when the rows were stored");
            using var g = new Generator(7);
            using var drawn = pieces.Target.Sample(4000, g);
            foreach (var (name, y) in new[] { ("training draws", drawn), ("validation rows", pieces.ValidationRows) })
            {
                // Back to data units in float64: x = y / w + mu (standard scaling). The fractional part is the noise u ~ U[0, 1).
                using var x = y[.., 0].to(float64) / encoding.Matrix[0] + encoding.Mean[0];
                using var u = x - x.floor();
                var inside = (u > 0.1).logical_and(u < 0.9).to(float64).mean().ToDouble();
                Assert.True(inside > 0.7, $"{name}: only {inside:P1} of the dequantised values have a fractional part in (0.1, 0.9) (U[0, 1) gives 80 %): the noise fell back onto the integers");
            }
        }
        finally { pieces.Target.Dispose(); pieces.ValidationRows.Dispose(); }
    }

    [Fact]
    public void Decoding_returns_the_odd_integers_near_3e7_exactly()
    {
        using var x = tensor(Enumerable.Range(0, 8).Select(k => Base + k).Concat(Enumerable.Range(0, 8).Select(k => Base + k)).ToArray(), [8, 2], dtype: float64);
        var e = TableEncoding.Fit(x + 0.5, Normalization.Standard, [0, 1]);
        using var y = e.Encode(x + tensor(new[] { 0.3, 0.7 }, dtype: float64)); // k + u, u inside [0, 1)
        using var back = e.Decode(y);
        Assert.Equal(ScalarType.Float64, back.dtype);
        Assert.Equal(x.data<double>().ToArray(), back.data<double>().ToArray());
    }
}
