using StochasticInterpolants.Cli;
using StochasticInterpolants.Data;
using StochasticInterpolants.Files;

namespace StochasticInterpolants.Tests.Cli;

/// <summary>Runs <c>si</c> in-process, capturing its output and error streams.</summary>
internal static class SiRunner
{
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var output = new StringWriter(); var error = new StringWriter();
        var code = SiApp.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    /// <summary>
    /// Asserts that <c>si train</c> with <paramref name="args"/> is refused as a bad command line (exit 2, one "si: error:"
    /// line) before any work: the output folder under <paramref name="dir"/> is never made.
    /// </summary>
    public static void AssertTrainRefused(string dir, string[] args)
    {
        var run = Path.Combine(dir, "refused");
        var (code, _, error) = Run(["train", .. args, "--steps", "5", "--out", run, "--progress", "none"]);
        Assert.True(code == 2, $"exit {code}: {error}");
        Assert.StartsWith("si: error:", error.Trim());
        Assert.False(Directory.Exists(run), "a refused run made its folder");
    }
}

public sealed class CliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-cli-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private static (int Code, string Out, string Err) Run(params string[] args) => SiRunner.Run(args);

    [Fact]
    public void Train_then_sample_from_the_checkpoint()
    {
        var run = Path.Combine(_dir, "run");
        var (code, output, error) = Run("train", "--target", "moons", "--steps", "60", "--batch", "128", "--width", "32", "--depth", "2",
            "--log-every", "20", "--seed", "1", "--threads", "1", "--progress", "none", "--out", run);
        Assert.True(code == 0, error);
        Assert.Contains("trained 60 steps", output);
        foreach (var f in new[] { "checkpoint.json", "weights.velocity.safetensors", "weights.velocity.ema.safetensors", "loss.csv", "loss.png", "config.json" })
            Assert.True(File.Exists(Path.Combine(run, f)), f);
        var log = File.ReadAllLines(Path.Combine(run, "loss.csv"));
        Assert.Equal("step,loss,learning_rate,elapsed_seconds,validation_objective,validation_nll", log[0]);
        Assert.Equal(4, log.Length);

        var samples = Path.Combine(_dir, "samples.csv");
        (code, output, error) = Run("sample", "--checkpoint", run, "--count", "333", "--solver", "heun", "--steps", "10", "--seed", "2",
            "--threads", "1", "--progress", "none", "--out", samples);
        Assert.True(code == 0, error);
        using var x = CsvMatrix.Read(samples);
        Assert.Equal(new long[] { 333, 2 }, x.shape);
        Assert.True(x.isfinite().all().item<bool>());
        Assert.DoesNotContain(",", File.ReadAllLines(samples)[0].Split(',')[0]);

        // Same seed, same samples; the config file reproduces the run.
        var again = Path.Combine(_dir, "again.csv");
        Assert.Equal(0, Run("sample", "--checkpoint", run, "--count", "333", "--solver", "heun", "--steps", "10", "--seed", "2", "--threads", "1", "--progress", "none", "--out", again).Code);
        Assert.Equal(File.ReadAllText(samples), File.ReadAllText(again));
        var fromConfig = Path.Combine(_dir, "fromconfig");
        (code, _, error) = Run("train", "--config", Path.Combine(run, "config.json"), "--threads", "1", "--progress", "none", "--out", fromConfig);
        Assert.True(code == 0, error);
        Assert.Equal(File.ReadAllBytes(Path.Combine(run, "weights.velocity.safetensors")), File.ReadAllBytes(Path.Combine(fromConfig, "weights.velocity.safetensors")));
    }

    [Theory]
    [InlineData(2, "Unrecognized command or argument '--bogus'", "train", "--out", "x", "--bogus")]
    [InlineData(2, "--out", "train")]
    [InlineData(2, "Cannot parse argument 'many'", "train", "--out", "x", "--steps", "many")]
    [InlineData(2, "--steps: training steps must be >= 1", "train", "--out", "x", "--steps", "-5")]
    [InlineData(2, "unknown distribution 'donut'", "train", "--out", "x", "--target", "donut")]
    [InlineData(2, "--interpolant: unknown interpolant 'wavy'", "train", "--out", "x", "--interpolant", "wavy")]
    [InlineData(2, "--gamma: unknown gamma schedule 'cubic'", "train", "--out", "x", "--gamma", "cubic")]
    [InlineData(2, "--activation: unknown activation 'relu6'", "train", "--out", "x", "--activation", "relu6")]
    [InlineData(2, "--lr: learning rate must be a positive number", "train", "--out", "x", "--lr", "0")]
    [InlineData(1, "does not exist", "train", "--out", "x", "--target", "/no/such/file.csv")]
    [InlineData(1, "config file", "train", "--out", "x", "--config", "/no/such/config.json")]
    [InlineData(2, "--solver: unknown solver 'leapfrog'", "sample", "--checkpoint", "/no/such", "--out", "x.csv", "--solver", "leapfrog")]
    [InlineData(1, "checkpoint folder '/no/such' does not exist", "sample", "--checkpoint", "/no/such", "--out", "x.csv")]
    [InlineData(2, "--count must be >= 1", "sample", "--checkpoint", "/no/such", "--out", "x.csv", "--count", "0")]
    [InlineData(1, "TorchSharp finds no CUDA device", "train", "--out", "OUT", "--device", "cuda", "--steps", "1")]
    public void Bad_input_gives_a_one_line_error_and_a_non_zero_exit(int expected, string fragment, params string[] args)
    {
        args = args.Select(a => a == "OUT" ? Path.Combine(_dir, "cuda") : a).ToArray();
        var (code, _, error) = Run(args);
        Assert.Equal(expected, code);
        Assert.Contains(fragment, error);
        Assert.StartsWith("si: error: ", error);
        Assert.Single(error.TrimEnd().Split('\n'));
    }

    [Fact]
    public void Bad_config_files_and_malformed_data_are_reported()
    {
        var config = Path.Combine(_dir, "c.json");
        File.WriteAllText(config, "{ \"target\": \"moons\", \"stepz\": 3 }");
        var (code, _, error) = Run("train", "--config", config, "--out", Path.Combine(_dir, "o"));
        Assert.Equal(1, code);
        Assert.Contains("stepz", error);
        var data = Path.Combine(_dir, "d.csv");
        File.WriteAllText(data, "1,2\n3\n");
        (code, _, error) = Run("train", "--target", data, "--out", Path.Combine(_dir, "o2"));
        Assert.Equal(1, code);
        Assert.Contains("line 2 has 1 fields, expected 2", error);
    }

    [Fact]
    public void Help_describes_the_commands()
    {
        var (code, output, _) = Run("train", "--help");
        Assert.Equal(0, code);
        Assert.Contains("--interpolant", output);
        Assert.Contains("--gamma", output);
        (code, output, _) = Run("--help");
        Assert.Equal(0, code);
        Assert.Contains("demo", output);
        Assert.Contains("sample", output);
    }
}

public sealed class CliCsvTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-cli-csv-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void Csv_target_and_base_of_any_dimension_train_and_sample()
    {
        var rng = new Random(4);
        string Table(string name, double shift, bool header)
        {
            var lines = new List<string>();
            if (header) lines.Add("a,b,c");
            for (var i = 0; i < 200; i++) lines.Add(string.Join(",", Enumerable.Range(0, 3).Select(_ => (rng.NextDouble() + shift).ToString("R", System.Globalization.CultureInfo.InvariantCulture))));
            var path = Path.Combine(_dir, name);
            File.WriteAllLines(path, lines);
            return path;
        }
        var target = Table("target.csv", 5, header: true);
        var source = Table("base.csv", -5, header: false);
        var run = Path.Combine(_dir, "run");
        var output = new StringWriter(); var error = new StringWriter();
        var code = SiApp.Run(["train", "--target", target, "--base", source, "--steps", "30", "--batch", "64", "--width", "16", "--depth", "1",
            "--threads", "1", "--progress", "none", "--out", run], output, error);
        Assert.True(code == 0, error.ToString());
        var samples = Path.Combine(_dir, "s.csv");
        code = SiApp.Run(["sample", "--checkpoint", run, "--count", "50", "--solver", "euler", "--steps", "5", "--threads", "1", "--progress", "none", "--out", samples], output, error);
        Assert.True(code == 0, error.ToString());
        using var x = CsvMatrix.Read(samples);
        Assert.Equal(new long[] { 50, 3 }, x.shape);
        // A base of another dimension is refused with a one-line error.
        var flat = Path.Combine(_dir, "flat.csv");
        File.WriteAllLines(flat, ["1,2", "3,4"]);
        error = new StringWriter();
        code = SiApp.Run(["train", "--target", target, "--base", flat, "--out", Path.Combine(_dir, "bad")], output, error);
        Assert.Equal(1, code);
        Assert.Contains("dimension", error.ToString());
    }
}

public sealed class CliSdeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-cli-sde-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private static (int Code, string Out, string Err) Run(params string[] args) => SiRunner.Run(args);

    [Fact]
    public void Learn_velocity_and_score_then_sample_with_the_sde()
    {
        var run = Path.Combine(_dir, "run");
        var (code, _, error) = Run("train", "--target", "moons", "--interpolant", "linear", "--gamma", "sqrt", "--gamma-scale", "0.2",
            "--learn", "velocity,score", "--steps", "600", "--batch", "256", "--width", "64", "--depth", "2", "--log-every", "300",
            "--threads", "1", "--progress", "none", "--out", run);
        Assert.True(code == 0, error);
        Assert.StartsWith("step,loss,learning_rate,elapsed_seconds,loss_velocity,loss_denoiser", File.ReadAllText(Path.Combine(run, "loss.csv")));
        Assert.True(File.Exists(Path.Combine(run, "weights.denoiser.ema.safetensors")));
        var a = Path.Combine(_dir, "a.csv"); var b = Path.Combine(_dir, "b.csv");
        foreach (var path in new[] { a, b })
        {
            string output;
            (code, output, error) = Run("sample", "--checkpoint", run, "--sampler", "em", "--eps", "0.5", "--steps", "50", "--count", "2000",
                "--seed", "3", "--threads", "1", "--progress", "none", "--out", path);
            Assert.True(code == 0, error);
            Assert.Contains("em, eps = 0.5", output);
        }
        Assert.Equal(File.ReadAllText(a), File.ReadAllText(b)); // seeded SDE samples are reproducible
        // ... and they are samples of the moons: finite, with the target's mean and spread. Tolerance 0.15 per moment: the
        // sampling error at n = 2000 is ~0.02-0.04, and this short run measured mean (-0.05, 0.33) vs (0.00, 0.31) and std
        // (1.69, 0.95) vs (1.74, 1.01): worst 0.065 off. All-NaN or untrained samples (std ~0.2 near the origin) fail.
        using (var x = CsvMatrix.Read(a).to(TorchSharp.torch.float64))
        using (var g = new TorchSharp.torch.Generator(9))
        using (var truth = new TwoMoons().Sample(20_000, g).to(TorchSharp.torch.float64))
        {
            Assert.True(x.isfinite().all().item<bool>());
            using var m = x.mean([0]); using var mt = truth.mean([0]);
            using var sd = x.std(0); using var sdt = truth.std(0);
            var report = $"mean ({m[0].item<double>():F3}, {m[1].item<double>():F3}) vs ({mt[0].item<double>():F3}, {mt[1].item<double>():F3}), " +
                         $"std ({sd[0].item<double>():F3}, {sd[1].item<double>():F3}) vs ({sdt[0].item<double>():F3}, {sdt[1].item<double>():F3})";
            for (var i = 0; i < 2; i++)
            {
                Assert.True(Math.Abs(m[i].item<double>() - mt[i].item<double>()) < 0.15, report);
                Assert.True(Math.Abs(sd[i].item<double>() - sdt[i].item<double>()) < 0.15, report);
            }
        }
        (code, _, error) = Run("sample", "--checkpoint", run, "--sampler", "heun-sde", "--eps", "1", "--eps-schedule", "noise", "--steps", "5",
            "--count", "50", "--threads", "1", "--progress", "none", "--out", Path.Combine(_dir, "c.csv"));
        Assert.True(code == 0, error);
    }

    [Fact]
    public void Sde_errors_are_one_line()
    {
        var run = Path.Combine(_dir, "plain");
        Assert.Equal(0, Run("train", "--target", "moons", "--steps", "5", "--batch", "16", "--width", "8", "--depth", "1", "--threads", "1", "--progress", "none", "--out", run).Code);
        var (code, _, error) = Run("sample", "--checkpoint", run, "--sampler", "em", "--out", Path.Combine(_dir, "x.csv"), "--threads", "1", "--progress", "none");
        Assert.Equal(1, code);
        Assert.Contains("gamma = 0", error);
        Assert.Single(error.TrimEnd().Split('\n'));
        (code, _, error) = Run("sample", "--checkpoint", run, "--sampler", "em", "--eps", "-1", "--out", Path.Combine(_dir, "x.csv"));
        Assert.NotEqual(0, code);
        Assert.Contains("--eps must be", error);
        (code, _, error) = Run("train", "--target", "moons", "--learn", "score", "--out", Path.Combine(_dir, "y"));
        Assert.Equal(1, code);
        Assert.Contains("gamma = 0", error);
        (code, _, error) = Run("train", "--target", "moons", "--learn", "potential", "--out", Path.Combine(_dir, "y"));
        Assert.Equal(2, code); // an out-of-range option: exit 2, like every other
        Assert.Contains("--learn: unknown field to learn 'potential'", error);
    }
}

public sealed class CliEvalTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-cli-eval-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void Eval_prints_a_table_and_writes_the_json_keys()
    {
        var run = Path.Combine(_dir, "run");
        Assert.Equal(0, SiRunner.Run("train", "--target", "checkerboard", "--steps", "30", "--batch", "64", "--width", "16", "--depth", "1",
            "--threads", "1", "--progress", "none", "--out", run).Code);
        var json = Path.Combine(_dir, "eval.json");
        var (code, output, error) = SiRunner.Run("eval", "--checkpoint", run, "--target", "checkerboard", "--count", "200", "--steps", "5",
            "--threads", "1", "--progress", "none", "--json", json);
        Assert.True(code == 0, error);
        Assert.Contains("NLL (nats/sample)", output);
        Assert.Contains("inside the support", output);
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(json));
        var root = doc.RootElement;
        // Values, not just key names: finite, in range, the old keys equal to the new squared ones, the floor near zero.
        foreach (var key in new[] { "nll_mean", "nll_stderr", "true_entropy", "energy_distance_squared", "mmd_squared", "sliced_w2", "support_fraction", "nfe", "seconds",
                     "energy_distance_squared_floor", "mmd_squared_floor", "energy_distance", "mmd" })
            Assert.True(root.TryGetProperty(key, out var v) && double.IsFinite(v.GetDouble()), key);
        Assert.Equal(root.GetProperty("energy_distance_squared").GetDouble(), root.GetProperty("energy_distance").GetDouble());
        Assert.Equal(root.GetProperty("mmd_squared").GetDouble(), root.GetProperty("mmd").GetDouble());
        Assert.InRange(root.GetProperty("support_fraction").GetDouble(), 0.3, 1.0); // a 30-step model is better than the 0.5 of noise... or close to it
        Assert.InRange(root.GetProperty("nll_stderr").GetDouble(), 1e-4, 1.0);
        Assert.Equal(20.0, root.GetProperty("nfe").GetDouble()); // RK4, 5 steps
        // Two true samples of 200 points: the squared energy distance is noise around zero, far below a 30-step model's.
        Assert.InRange(root.GetProperty("energy_distance_squared_floor").GetDouble(), -0.05, 0.05);
        Assert.True(root.GetProperty("energy_distance_squared").GetDouble() > root.GetProperty("energy_distance_squared_floor").GetDouble());
        Assert.Contains("indistinguishable at this sample size", output);
        Assert.Equal(Math.Log(32), doc.RootElement.GetProperty("true_entropy").GetDouble(), 10);
        // No model goes below the entropy by more than noise: a tiny model is far above it.
        Assert.True(doc.RootElement.GetProperty("nll_mean").GetDouble() > Math.Log(32) - 0.2);

        // A CSV target of another dimension, and a bad estimator, are one-line errors.
        var flat = Path.Combine(_dir, "flat.csv");
        File.WriteAllLines(flat, ["1,2,3", "4,5,6"]);
        (code, _, error) = SiRunner.Run("eval", "--checkpoint", run, "--target", flat, "--threads", "1", "--progress", "none");
        Assert.Equal(1, code);
        Assert.Contains("dimension", error);
        (code, _, error) = SiRunner.Run("eval", "--checkpoint", run, "--target", "checkerboard", "--estimator", "magic");
        Assert.NotEqual(0, code);
        Assert.Contains("unknown --estimator 'magic'", error);
    }
}
