using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace StochasticInterpolants.Tests.Cli;

/// <summary>
/// Issue 23 through the command line: a column of large whole numbers is sampled as the integers it holds (defect 1), and
/// generated values outside the training rows are counted, and kept out on request (defect 14).
/// </summary>
public sealed class CliTableValidityTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-cli-validity-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private static readonly string[] Small = ["--steps", "60", "--batch", "64", "--width", "16", "--depth", "2", "--log-every", "20", "--threads", "1", "--progress", "none"];

    private string Write(string name, IEnumerable<string> lines)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllLines(path, lines);
        return path;
    }

    private static double[][] ReadRows(string path) =>
        [.. File.ReadAllLines(path).Select(l => l.Split(',').Select(f => double.Parse(f, CultureInfo.InvariantCulture)).ToArray())];

    private (string Samples, string Error) Sample(string run, int count = 400)
    {
        var samples = Path.Combine(_dir, $"s-{Guid.NewGuid():N}.csv");
        var (code, _, error) = SiRunner.Run("sample", "--checkpoint", run, "--count", count.ToString(CultureInfo.InvariantCulture), "--steps", "10", "--threads", "1", "--progress", "none", "--out", samples);
        Assert.True(code == 0, error);
        return (samples, error);
    }

    [Fact]
    public void A_column_of_integers_near_3e7_is_sampled_as_integers_odd_ones_included()
    {
        var rng = new Random(5);
        var train = Write("big.csv", ["id,z", .. Enumerable.Range(0, 300).Select(_ => FormattableString.Invariant($"{30_000_000 + rng.Next(8)},{rng.NextDouble():R}"))]);
        var run = Path.Combine(_dir, "big");
        var (code, _, error) = SiRunner.Run(["train", "--target", train, "--out", run, .. Small]);
        Assert.True(code == 0, error);
        var (samples, _) = Sample(run);
        var ids = ReadRows(samples).Select(r => r[0]).ToArray();
        Assert.All(ids, v => Assert.Equal(Math.Floor(v), v));
        var odd = ids.Count(v => v % 2 == 1);
        Assert.True(odd > ids.Length / 5, $"{odd} of {ids.Length} generated ids are odd: float32 cannot hold the odd integers near 3e7");
    }

    // (sex: 1 or 2, conc: log-normal and positive, delta: either sign), with a header.
    private string Table(int n)
    {
        var rng = new Random(6);
        return Write("t.csv", ["sex,conc,delta", .. Enumerable.Range(0, n).Select(_ =>
            FormattableString.Invariant($"{1 + rng.Next(2)},{Math.Exp(rng.NextDouble() * 3 - 4):R},{rng.NextDouble() - 0.5:R}"))]);
    }

    [Fact]
    public void Generated_values_outside_the_training_range_are_counted_and_kept_out_on_request()
    {
        var train = Table(300);
        // Default training: a barely trained flow puts codes outside {1, 2}; sample and eval say how many.
        var plain = Path.Combine(_dir, "plain");
        var (code, _, error) = SiRunner.Run(["train", "--target", train, "--out", plain, .. Small]);
        Assert.True(code == 0, error);
        var (samples, note) = Sample(plain);
        var sex = ReadRows(samples).Select(r => r[0]).ToArray();
        var offCodes = sex.Count(v => v is not (1 or 2));
        Assert.True(offCodes > 0, "expected a barely trained flow to generate codes other than 1 and 2");
        var expected = (100.0 * offCodes / sex.Length).ToString("F1", CultureInfo.InvariantCulture);
        Assert.Contains("si: note: ", note);
        Assert.Contains($"sex {expected} %", note);
        Assert.Contains("train with --integers snap", note); // the way out is named where rows came out invalid

        var json = Path.Combine(_dir, "eval.json");
        (code, var output, error) = SiRunner.Run("eval", "--checkpoint", plain, "--target", train, "--count", "200", "--steps", "10", "--threads", "1", "--progress", "none", "--json", json);
        Assert.True(code == 0, error);
        Assert.Contains("outside training range", output);
        var report = JsonDocument.Parse(File.ReadAllText(json)).RootElement;
        var columns = report.GetProperty("outside_training_range").EnumerateArray().ToList();
        Assert.Equal(["sex", "conc", "delta"], columns.Select(c => c.GetProperty("column").GetString()));
        Assert.True(columns[0].GetProperty("outside").GetDouble() > 0);
        Assert.InRange(report.GetProperty("rows_outside_training_range").GetDouble(), columns[0].GetProperty("outside").GetDouble(), 1);

        // Snapping and the log transform: every generated sex is 1 or 2, every concentration positive; the summary says so.
        var valid = Path.Combine(_dir, "valid");
        (code, _, error) = SiRunner.Run(["train", "--target", train, "--integers", "snap", "--log-columns", "conc", "--out", valid, .. Small]);
        Assert.True(code == 0, error);
        Assert.Contains("through a log (y = log x, NLL in data units): conc; generated values snapped to the observed ones: sex", error);
        (samples, note) = Sample(valid, 1000);
        var rows = ReadRows(samples);
        Assert.All(rows, r => Assert.True(r[0] is 1 or 2, $"sex {r[0]}"));
        Assert.All(rows, r => Assert.True(r[1] > 0, $"conc {r[1]}"));
        Assert.DoesNotContain("sex ", note.Split("range:").Last());
        (code, _, error) = SiRunner.Run("eval", "--checkpoint", valid, "--target", train, "--count", "200", "--steps", "10", "--threads", "1", "--progress", "none", "--json", json, "--force");
        Assert.True(code == 0, error);
        var snapped = JsonDocument.Parse(File.ReadAllText(json)).RootElement;
        Assert.Equal(0, snapped.GetProperty("outside_training_range")[0].GetProperty("outside").GetDouble());
        Assert.True(double.IsFinite(snapped.GetProperty("nll_mean").GetDouble()));

        // A checkpoint written before the range was recorded (no support, no transforms) still samples and evaluates; its
        // count comes from the table file while that is there unchanged, and is declined once it is not.
        var manifest = Path.Combine(plain, "checkpoint.json");
        var node = JsonNode.Parse(File.ReadAllText(manifest))!;
        var table = node["table"]!.AsObject();
        Assert.True(table.Remove("support"));
        table["encoding"]!.AsObject().Remove("logColumns");
        table["encoding"]!.AsObject().Remove("snappedColumns");
        File.WriteAllText(manifest, node.ToJsonString());
        (_, note) = Sample(plain);
        Assert.Contains($"sex {expected} %", note);
        File.Move(train, train + ".moved");
        (_, note) = Sample(plain);
        Assert.Contains("no count of generated values outside the training range: this checkpoint predates", note);
    }

    [Fact]
    public void Log_columns_must_be_positive()
    {
        var train = Table(50);
        var (code, _, error) = SiRunner.Run(["train", "--target", train, "--log-columns", "delta", "--out", Path.Combine(_dir, "x"), .. Small]);
        Assert.Equal(2, code);
        Assert.Contains("--log-columns: column delta holds -0.", error);
        Assert.False(Directory.Exists(Path.Combine(_dir, "x")));
    }
}
