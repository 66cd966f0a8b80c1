using System.Globalization;
using System.Text.Json;
using StochasticInterpolants.Files;
using TorchSharp;

namespace StochasticInterpolants.Tests.Cli;

/// <summary>Real-table hygiene through the command line: honest row labels, integer columns, label columns.</summary>
public sealed class CliTableTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-cli-table-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private static readonly string[] Small = ["--steps", "60", "--batch", "64", "--width", "16", "--depth", "2", "--log-every", "20", "--threads", "1", "--progress", "none"];

    // 'rows' rows of (x, 1000 + 50 x + noise, a whole number 0..9, class a/b) with a metadata line first.
    private string Table(string name, int rows, int seed)
    {
        var rng = new Random(seed);
        var lines = new List<string> { $"{rows},3,meta" };
        for (var i = 0; i < rows; i++)
        {
            var x = rng.NextDouble() * 2 - 1;
            var cls = rng.Next(2);
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"{x + 3 * cls:R},{1000 + 50 * x + rng.NextDouble():R},{rng.Next(10)},{(cls == 0 ? "a" : "b")}"));
        }
        var path = Path.Combine(_dir, name);
        File.WriteAllLines(path, lines);
        return path;
    }

    private JsonElement Eval(string run, string target, params string[] extra)
    {
        var json = Path.Combine(_dir, $"eval-{Guid.NewGuid():N}.json");
        var (code, output, error) = SiRunner.Run(["eval", "--checkpoint", run, "--target", target, "--count", "200", "--steps", "10", "--threads", "1", "--progress", "none", "--json", json, .. extra]);
        Assert.True(code == 0, error + output);
        return JsonDocument.Parse(File.ReadAllText(json)).RootElement;
    }

    [Fact]
    public void Eval_says_held_out_only_for_rows_the_model_never_trained_on()
    {
        var train = Table("train.csv", 200, 1);
        var other = Table("other.csv", 100, 2);
        var run = Path.Combine(_dir, "run");
        var (code, _, error) = SiRunner.Run(["train", "--target", train, "--skip-rows", "1", "--columns", "drop:last", "--out", run, .. Small]);
        Assert.True(code == 0, error);
        Assert.Contains("180 training rows, 20 validation rows", error);
        Assert.Contains("hold only whole numbers: dequantised", error); // column 3

        var same = Eval(run, train);
        Assert.Equal(20, same.GetProperty("held_out").GetInt32());
        Assert.StartsWith("validation rows of train.csv: not trained on", same.GetProperty("rows").GetString());
        Assert.False(same.GetProperty("rows_trained_on").GetBoolean());
        Assert.True(same.GetProperty("training_rows_nll_mean").ValueKind == JsonValueKind.Number);
        Assert.True(double.IsFinite(same.GetProperty("baseline_nll_mean").GetDouble()));
        Assert.True(double.IsFinite(same.GetProperty("nll_minus_baseline_stderr").GetDouble()));

        var fresh = Eval(run, other);
        Assert.Equal(100, fresh.GetProperty("held_out").GetInt32());
        // A test file without the metadata line the training file had: --skip-rows 0 keeps its first row.
        var bare = Path.Combine(_dir, "bare.csv");
        File.WriteAllLines(bare, File.ReadAllLines(other).Skip(1));
        Assert.Equal(99, Eval(run, bare).GetProperty("held_out").GetInt32());
        Assert.Equal(100, Eval(run, bare, "--skip-rows", "0").GetProperty("held_out").GetInt32());
        // The test file's metadata line read rather than skipped: it has another width, so it is skipped, and said so.
        var noted = Eval(run, other, "--skip-rows", "0");
        Assert.Equal(100, noted.GetProperty("held_out").GetInt32());
        Assert.Contains("other.csv: line 1 ('100,3,meta') skipped as a metadata line", noted.GetProperty("notes")[0].GetString());
        Assert.StartsWith("held-out rows of other.csv", fresh.GetProperty("rows").GetString());

        // Trained on every row: scoring the training file says so.
        var all = Path.Combine(_dir, "all");
        (code, _, error) = SiRunner.Run(["train", "--target", train, "--skip-rows", "1", "--columns", "drop:last", "--validation", "0", "--out", all, .. Small]);
        Assert.True(code == 0, error);
        var trained = Eval(all, train);
        Assert.StartsWith("training rows of train.csv: trained on, not held out", trained.GetProperty("rows").GetString());
        Assert.True(trained.GetProperty("rows_trained_on").GetBoolean());
        // A separate validation file: its rows chose the step, and eval says so.
        var withFile = Path.Combine(_dir, "vfile");
        (code, _, error) = SiRunner.Run(["train", "--target", train, "--skip-rows", "1", "--columns", "drop:last", "--validation", other, "--out", withFile, .. Small]);
        Assert.True(code == 0, error);
        Assert.Contains("200 training rows, 100 validation rows (the validation file)", error);
        Assert.StartsWith("rows of the validation file other.csv: not trained on", Eval(withFile, other).GetProperty("rows").GetString());
        // (a changed training file is no longer "the training file")
        File.AppendAllLines(train, ["0.5,1001,3,a"]);
        Assert.StartsWith("held-out rows of train.csv", Eval(run, train).GetProperty("rows").GetString());
    }

    [Fact]
    public void Integer_columns_are_refused_on_request_and_otherwise_sampled_as_integers()
    {
        var train = Table("ints.csv", 120, 3);
        var (code, _, error) = SiRunner.Run(["train", "--target", train, "--skip-rows", "1", "--columns", "drop:last", "--integers", "refuse", "--out", Path.Combine(_dir, "r"), .. Small]);
        Assert.Equal(2, code);
        Assert.Contains("--integers: columns col3 of", error);
        Assert.Contains("hold only whole numbers: a density on integers is degenerate", error);
        Assert.False(Directory.Exists(Path.Combine(_dir, "r")));

        var run = Path.Combine(_dir, "d");
        (code, _, error) = SiRunner.Run(["train", "--target", train, "--skip-rows", "1", "--columns", "drop:last", "--out", run, .. Small]);
        Assert.True(code == 0, error);
        var samples = Path.Combine(_dir, "s.csv");
        (code, _, error) = SiRunner.Run("sample", "--checkpoint", run, "--count", "300", "--steps", "10", "--threads", "1", "--progress", "none", "--out", samples);
        Assert.True(code == 0, error);
        using var x = CsvMatrix.Read(samples);
        var column = x[.., 2].data<float>().ToArray();
        Assert.All(column, v => Assert.Equal(Math.Floor(v), v));
        // In data units: the second column sits near 1000, not near 0 (the scaling was undone).
        Assert.InRange(x[.., 1].mean().ToDouble(), 900, 1100);
    }

    [Fact]
    public void Data_errors_name_their_fix_and_a_skipped_first_line_is_reported()
    {
        // A column of text: the error names the flags that deal with it (the library names the column, the CLI the flags).
        var sex = Path.Combine(_dir, "sex.csv");
        File.WriteAllLines(sex, ["age,sex,bmi", "59,M,32.1", "48,F,21.6", "72,F,30.5"]);
        var (code, _, error) = SiRunner.Run(["train", "--target", sex, "--out", Path.Combine(_dir, "sex"), .. Small]);
        Assert.Equal(1, code);
        Assert.Contains("line 2, field 2 is not a number ('M')", error);
        Assert.Contains("--columns drop:sex", error);
        Assert.Contains("--label-column sex", error);
        Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        // A first line with a missing value is an error naming it (it was dropped: 5 rows trained as 4), with the flag that skips it.
        var na = Path.Combine(_dir, "na.csv");
        File.WriteAllLines(na, ["1,NA", "2,3", "3,4", "4,5", "5,6"]);
        (code, _, error) = SiRunner.Run(["train", "--target", na, "--out", Path.Combine(_dir, "na"), .. Small]);
        Assert.Equal(1, code);
        Assert.Contains("line 1 ('1,NA') is neither a header nor a data row", error);
        Assert.Contains("--skip-rows 1 skips it", error);
        Assert.False(Directory.Exists(Path.Combine(_dir, "na")));
        // sklearn's metadata line (the row count, the column count, the class names) is skipped, and said so.
        var rng = new Random(5);
        var iris = Path.Combine(_dir, "iris.csv");
        File.WriteAllLines(iris, ["30,2,small,large", .. Enumerable.Range(0, 30).Select(i => FormattableString.Invariant($"{rng.NextDouble():R},{rng.NextDouble():R},{i % 2}"))]);
        (code, _, error) = SiRunner.Run(["train", "--target", iris, "--label-column", "last", "--out", Path.Combine(_dir, "iris"), .. Small]);
        Assert.True(code == 0, error);
        Assert.Contains("iris.csv: line 1 ('30,2,small,large') skipped as a metadata line", error);
        Assert.Contains("27 training rows, 3 validation rows", error);
    }

    [Fact]
    public void A_label_column_conditions_sampling()
    {
        var train = Table("labels.csv", 200, 4);
        var run = Path.Combine(_dir, "c");
        var (code, _, error) = SiRunner.Run(["train", "--target", train, "--skip-rows", "1", "--label-column", "last", "--out", run, "--steps", "300", "--batch", "128",
            "--width", "32", "--depth", "2", "--threads", "1", "--progress", "none"]);
        Assert.True(code == 0, error);
        double MeanOfFirstColumn(string cls)
        {
            var file = Path.Combine(_dir, $"s-{cls}.csv");
            var (c, output, e) = SiRunner.Run("sample", "--checkpoint", run, "--count", "400", "--steps", "20", "--threads", "1", "--progress", "none", "--class", cls, "--out", file);
            Assert.True(c == 0, e);
            Assert.Contains("last column: class index (0 = a, 1 = b)", output);
            using var x = CsvMatrix.Read(file);
            Assert.Equal(4, x.shape[1]);
            Assert.All(x[.., 3].data<float>().ToArray(), v => Assert.Equal(cls == "a" ? 0f : 1f, v));
            return x[.., 0].mean().ToDouble();
        }
        // Class a has x in [-1, 1], class b in [2, 4]: the conditional samples follow their class.
        var a = MeanOfFirstColumn("a"); var b = MeanOfFirstColumn("b");
        Assert.True(a < 1 && b > 2, $"class means {a:F2} and {b:F2}");
        (code, _, error) = SiRunner.Run("sample", "--checkpoint", run, "--count", "10", "--class", "z", "--progress", "none", "--out", Path.Combine(_dir, "z.csv"));
        Assert.Equal(2, code);
        Assert.Contains("--class: no class 'z' (classes: a, b, or all)", error);
    }
}
