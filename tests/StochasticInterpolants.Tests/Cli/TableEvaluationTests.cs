using System.Globalization;
using System.Text.Json;

namespace StochasticInterpolants.Tests.Cli;

/// <summary>
/// <c>si eval</c> on a table checkpoint: which rows are scored (a random draw, not a file-order prefix), the noise floor of the
/// sample distances (at the figure's sizes, averaged, with its spread), the evaluation count, the default target, and
/// counts too small for the figures. One small checkpoint, trained once on 400 rows sorted by their first column.
/// </summary>
public sealed class TableEvaluationTests(TableEvaluationTests.Fixture fixture) : IClassFixture<TableEvaluationTests.Fixture>, IDisposable
{
    /// <summary>A tiny run on <c>train.csv</c> (400 rows of (x, y) with x ~ N(0, 1) sorted ascending, y ~ N(0, 1)), and a second file like it.</summary>
    public sealed class Fixture : IDisposable
    {
        public string Dir { get; } = Directory.CreateTempSubdirectory("si-table-eval-").FullName;
        public string Train { get; }
        public string Sorted { get; }
        public string Run { get; }

        public Fixture()
        {
            Train = Write("train.csv", 400, 1);
            Sorted = Write("sorted.csv", 400, 2);
            Run = Path.Combine(Dir, "run");
            var (code, _, error) = SiRunner.Run("train", "--target", Train, "--steps", "60", "--batch", "64", "--width", "16", "--depth", "2",
                "--log-every", "20", "--threads", "1", "--progress", "none", "--out", Run);
            Assert.True(code == 0, error);
        }

        private string Write(string name, int rows, int seed)
        {
            var rng = new Random(seed);
            double Normal() => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
            var points = Enumerable.Range(0, rows).Select(_ => (X: Normal(), Y: Normal())).OrderBy(p => p.X);
            var path = Path.Combine(Dir, name);
            File.WriteAllLines(path, ["x,y", .. points.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.X:R},{p.Y:R}"))]);
            return path;
        }

        public void Dispose() { try { Directory.Delete(Dir, true); } catch (IOException) { } }
    }

    private readonly string _dir = Directory.CreateTempSubdirectory("si-table-eval-out-").FullName;
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private (int Code, string Out, string Err, JsonElement? Json) Eval(params string[] args)
    {
        var json = Path.Combine(_dir, $"eval-{Guid.NewGuid():N}.json");
        var (code, output, error) = SiRunner.Run(["eval", "--checkpoint", fixture.Run, "--steps", "10", "--threads", "1", "--progress", "none", "--json", json, .. args]);
        return (code, output, error, code == 0 ? JsonDocument.Parse(File.ReadAllText(json)).RootElement.Clone() : null);
    }

    private JsonElement EvalOk(params string[] args)
    {
        var (code, output, error, json) = Eval(args);
        Assert.True(code == 0, error + output);
        return json!.Value;
    }

    [Fact]
    public void The_scored_rows_of_a_sorted_file_are_a_random_draw_not_a_prefix()
    {
        // The Gaussian baseline's NLL of the scored rows tells where they lie: the first 50 rows of a file sorted by x are its
        // lowest x (about -1.6 on average), whose NLL is ~1.2 nats above the file's mean; a random 50 are within a few
        // standard errors of it.
        var all = EvalOk("--target", fixture.Sorted, "--count", "400");
        Assert.Equal(400, all.GetProperty("held_out").GetInt32());
        var mean = all.GetProperty("baseline_nll_mean").GetDouble();
        var stderr50 = all.GetProperty("baseline_nll_stderr").GetDouble() * Math.Sqrt(400.0 / 50);
        var drawn = new List<double>();
        foreach (var seed in new[] { "0", "1" })
        {
            var r = EvalOk("--target", fixture.Sorted, "--count", "50", "--seed", seed);
            Assert.Equal(50, r.GetProperty("held_out").GetInt32());
            drawn.Add(r.GetProperty("baseline_nll_mean").GetDouble());
            Assert.True(Math.Abs(drawn[^1] - mean) < 4 * stderr50,
                $"seed {seed}: the baseline NLL of the 50 scored rows is {drawn[^1]:F3}, the file's {mean:F3} (4 standard errors: {4 * stderr50:F3}): a biased slice");
        }
        Assert.NotEqual(drawn[0], drawn[1]); // another seed, other rows
        Assert.Equal(drawn[0], EvalOk("--target", fixture.Sorted, "--count", "50", "--seed", "0").GetProperty("baseline_nll_mean").GetDouble()); // same seed, same rows
        // The training rows' NLL beside the validation rows' is drawn the same way (all 40 validation rows, --count of the 360).
        var own = EvalOk("--target", fixture.Train, "--count", "30");
        Assert.Equal(30, own.GetProperty("held_out").GetInt32());
        Assert.True(own.GetProperty("training_rows_nll_mean").ValueKind == JsonValueKind.Number);
    }

    [Fact]
    public void The_floor_uses_the_figures_sample_sizes_and_carries_its_spread()
    {
        // 40 validation rows of a 400-row file: the model's distances compare 40 generated with 40 scored rows, and the floor
        // two disjoint draws of 40 of the file's rows (not two halves of 20), over 20 draws, with their standard deviation.
        var (code, output, error, json) = Eval("--target", fixture.Train);
        Assert.True(code == 0, error);
        var r = json!.Value;
        Assert.Equal(40, r.GetProperty("held_out").GetInt32());
        Assert.Equal(40, r.GetProperty("metric_points").GetInt32());
        Assert.Equal(20, r.GetProperty("floor_draws").GetInt32());
        foreach (var key in new[] { "energy_distance_squared", "mmd_squared" })
        {
            var floor = r.GetProperty(key + "_floor").GetDouble();
            var sd = r.GetProperty(key + "_floor_sd").GetDouble();
            Assert.True(sd > 0 && double.IsFinite(sd), $"{key}: floor sd {sd}");
            // Each draw is an unbiased estimate of zero: their mean is within a few of its standard errors of zero.
            Assert.True(Math.Abs(floor) < 4 * sd / Math.Sqrt(20), $"{key}: floor {floor} ± {sd} (sd over 20 draws) is not centred on 0");
        }
        // (the table wraps its notes: read the text without the frame)
        Assert.Contains("two true samples of 40 (20 draws, mean ± sd)", System.Text.RegularExpressions.Regex.Replace(output, @"[│\s]+", " "));
        Assert.DoesNotContain("NaN", output);
    }

    [Fact]
    public void Nfe_counts_the_likelihoods_evaluations()
    {
        // RK4, 10 steps: 4 evaluations a step (it was reported as 0).
        var r = EvalOk("--target", fixture.Sorted, "--count", "30");
        Assert.Equal(40.0, r.GetProperty("nfe").GetDouble());
        var (_, output, _, _) = Eval("--target", fixture.Sorted, "--count", "30");
        Assert.Matches(@"NFE\s*│\s*40\s*│", output);
    }

    [Fact]
    public void Too_few_rows_for_the_distances_fail_up_front_instead_of_printing_nan()
    {
        // 3 rows: two disjoint samples of 2 cannot be drawn for the floor (it came out NaN, with exit 0).
        var tiny = Path.Combine(_dir, "tiny.csv");
        File.WriteAllLines(tiny, ["x,y", "0.1,0.2", "-0.3,1.1", "0.5,-0.7"]);
        var (code, output, error, _) = Eval("--target", tiny);
        Assert.Equal(1, code);
        Assert.Contains("si: error:", error);
        Assert.Contains("at least 4 rows are needed", error);
        Assert.DoesNotContain("NaN", output + error);
        // 4 rows are enough: every figure is finite.
        File.AppendAllLines(tiny, ["1.2,0.3"]);
        var r = EvalOk("--target", tiny);
        Assert.Equal(2, r.GetProperty("metric_points").GetInt32());
        Assert.True(double.IsFinite(r.GetProperty("energy_distance_squared_floor").GetDouble()));
    }

    [Fact]
    public void Without_target_the_unchanged_training_file_is_scored_and_a_changed_or_missing_one_is_a_clear_error()
    {
        var r = EvalOk();
        Assert.StartsWith("validation rows of train.csv: not trained on", r.GetProperty("rows").GetString());
        var copy = Path.Combine(_dir, "copy");
        CopyFolder(fixture.Run, copy);
        var manifest = Path.Combine(copy, "checkpoint.json");
        // The checkpoint records the training file's path and SHA-256: point it at a changed copy, then at no file.
        var changed = Path.Combine(_dir, "changed.csv");
        File.WriteAllLines(changed, [.. File.ReadAllLines(fixture.Train), "0.5,0.5"]);
        File.WriteAllText(manifest, File.ReadAllText(manifest).Replace(JsonEncodedText.Encode(fixture.Train).ToString(), JsonEncodedText.Encode(changed).ToString()));
        var (code, _, error) = SiRunner.Run("eval", "--checkpoint", copy, "--steps", "10", "--threads", "1", "--progress", "none");
        Assert.Equal(2, code);
        Assert.Contains("--target is required: the training file", error);
        Assert.Contains("changed since training", error);
        File.Delete(changed);
        (code, _, error) = SiRunner.Run("eval", "--checkpoint", copy, "--steps", "10", "--threads", "1", "--progress", "none");
        Assert.Equal(2, code);
        Assert.Contains("no longer exists", error);
    }

    private static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
    }
}
