using System.Globalization;
using StochasticInterpolants.Data;
using StochasticInterpolants.Files;
using FsCheck.Xunit;
using FsCheck;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Data;

/// <summary>Property-based checks of the CSV reader: arbitrary text never crashes it, and numbers always round-trip.</summary>
public class CsvPropertyTests
{
    [Property(MaxTest = 300)]
    public void Arbitrary_text_is_either_read_or_refused_with_a_one_line_data_error(string? content)
    {
        var path = Path.Combine(Path.GetTempPath(), $"si-prop-{Guid.NewGuid():N}.csv");
        File.WriteAllText(path, content ?? "");
        try
        {
            using var x = CsvMatrix.Read(path);
            Assert.Equal(2, x.dim());
            Assert.True(x.isfinite().all().item<bool>());
        }
        catch (DataFormatException e)
        {
            Assert.DoesNotContain('\n', e.Message);
        }
        finally { File.Delete(path); }
    }

    [Property(MaxTest = 100)]
    public void Finite_float_tables_round_trip_exactly(NonEmptyArray<NormalFloat> values, PositiveInt columns)
    {
        var d = Math.Min(columns.Get, 5);
        var flat = values.Get.Select(v => (float)v.Get).Where(float.IsFinite).ToArray();
        var n = flat.Length / d;
        if (n == 0) return;
        using var x = tensor(flat[..(n * d)], [n, d]);
        var path = Path.Combine(Path.GetTempPath(), $"si-prop-{Guid.NewGuid():N}.csv");
        try
        {
            CsvMatrix.Write(path, x);
            using var back = CsvMatrix.Read(path);
            Assert.True(back.equal(x).all().item<bool>(), string.Join(",", flat.Take(4).Select(v => v.ToString("R", CultureInfo.InvariantCulture))));
        }
        finally { File.Delete(path); }
    }
}
