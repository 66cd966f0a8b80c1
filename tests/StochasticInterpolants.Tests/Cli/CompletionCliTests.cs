using System.Globalization;
using System.Text.RegularExpressions;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Files;
using StochasticInterpolants.Runs;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Cli;

/// <summary>Data-dependent couplings through the CLI: train on scikit-learn's 8x8 digits with a tiny U-Net, then complete observations.</summary>
public sealed partial class CompletionCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-completion-cli-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private static (int Code, string Out, string Err) Run(params string[] args) => SiRunner.Run(args);

    private string Train(string name, params string[] extra)
    {
        var run = Path.Combine(_dir, name);
        var (code, output, error) = Run(["train", "--target", "digits8", "--model", "unet", "--unet", "tiny", "--batch", "16", "--log-every", "20",
            "--seed", "3", "--threads", "1", "--progress", "none", "--out", run, .. extra]);
        Assert.True(code == 0, error);
        return run;
    }

    // The first n test digits as uint8 [n, 1, 8, 8], written to a .npy file.
    private string Observed(string name, int n, out Tensor pixels)
    {
        using var data = ImageDatasets.Load("digits8");
        pixels = data.Test.Pixels[..n].clone();
        var path = Path.Combine(_dir, name);
        NpyFile.Write(path, pixels);
        return path;
    }

    [GeneratedRegex(@"RMS ([0-9.eE+-]+)")]
    private static partial Regex Rms();

    [Fact]
    public void An_inpainting_run_completes_observations_keeping_the_observed_pixels()
    {
        var run = Train("inpaint", "--coupling", "inpaint", "--steps", "40");
        var manifest = Checkpoint.ReadManifest(run);
        Assert.Equal("inpaint", manifest.Coupling!.Name);
        Assert.Equal(0, manifest.Training.ConditionDropout);
        var obsFile = Observed("obs.npy", 5, out var obs);
        using (obs)
        {
            var outFile = Path.Combine(_dir, "done.npy");
            var (code, stdout, error) = Run("sample", "--checkpoint", run, "--observed", obsFile, "--per-observation", "2", "--solver", "euler",
                "--steps", "8", "--threads", "1", "--progress", "none", "--out", outFile);
            Assert.True(code == 0, error);
            using var done = NpyFile.Read(outFile);
            Assert.Equal(new long[] { 10, 1, 8, 8 }, done.shape);
            Assert.Equal(ScalarType.Byte, done.dtype);
            Assert.True(new FileInfo(Path.Combine(_dir, "done.png")).Length > 100);
            // Every pixel outside the central 4 x 4 hole is the observation's (pasted back); the hole is the model's.
            using var expected = obs.repeat_interleave(2, 0);
            using var observedMask = ones([8, 8], dtype: ScalarType.Bool);
            observedMask[2..6, 2..6] = tensor(false);
            using var a = done.masked_select(observedMask);
            using var b = expected.masked_select(observedMask);
            Assert.True(a.equal(b).all().ToBoolean());
            Assert.True(done.max().ToInt32() <= 16);
            // The raw model output on the observed pixels, before pasting: the linear path's velocity there is x1 - x0 = 0,
            // so even 40 steps keep it near the observation; an output that ignored it would be ~1 away (pixels are
            // mostly near -1 or +1).
            Assert.Contains("pasted back", stdout);
            var rms = double.Parse(Rms().Match(stdout).Groups[1].Value, CultureInfo.InvariantCulture);
            Assert.InRange(rms, 0, 0.5);

            // The same seed gives the same completions.
            var again = Path.Combine(_dir, "again.npy");
            (code, _, error) = Run("sample", "--checkpoint", run, "--observed", obsFile, "--per-observation", "2", "--solver", "euler",
                "--steps", "8", "--threads", "1", "--progress", "none", "--out", again);
            Assert.True(code == 0, error);
            using (var second = NpyFile.Read(again)) Assert.True(second.equal(done).all().ToBoolean());
        }

        // si eval skips bits/dim with its reason and scores completions of test images; si report draws them.
        var json = Path.Combine(_dir, "eval.json");
        var (ce, evalOut, ee) = Run("eval", "--checkpoint", run, "--count", "6", "--per-observation", "2", "--steps", "2", "--threads", "1", "--progress", "none", "--json", json);
        Assert.True(ce == 0, ee);
        Assert.Contains("not computed", evalOut);
        using (var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(json)))
        {
            var root = doc.RootElement;
            Assert.False(root.TryGetProperty("bits_per_dim", out _));
            Assert.Contains("degenerate", root.GetProperty("bits_per_dim_skipped").GetString());
            Assert.Equal(6, root.GetProperty("test_images").GetInt32());
            Assert.Equal(0.25, root.GetProperty("hidden_fraction").GetDouble(), 9);
            Assert.Equal(2, root.GetProperty("completions_per_image").GetInt32());
            // The mean of two completions is never further from the truth than they are on average (convexity of the square).
            Assert.True(root.GetProperty("average_completion_mse").GetDouble() <= root.GetProperty("completion_mse").GetDouble() + 1e-12);
            foreach (var key in new[] { "completion_mse", "mean_image_mse", "observation_mse", "average_completion_mse" })
                Assert.InRange(root.GetProperty(key).GetDouble(), 0, 1);
            Assert.InRange(root.GetProperty("completion_accuracy").GetDouble(), 0, 1);
        }
        (ce, _, ee) = Run("eval", "--checkpoint", run, "--guidance", "2", "--progress", "none");
        Assert.Equal(2, ce);
        Assert.Contains("--guidance does not apply", ee);
        var reportDir = Path.Combine(_dir, "report");
        (ce, _, ee) = Run("report", "--checkpoint", run, "--out", reportDir, "--frames", "2", "--threads", "1", "--progress", "none");
        Assert.True(ce == 0, ee);
        Assert.True(new FileInfo(Path.Combine(reportDir, "report-completions.png")).Length > 100);
        Assert.Contains("Completions of test images", File.ReadAllText(Path.Combine(reportDir, "report.html")));

        // Plain sampling, a misshapen observation and options that do not apply are one-line errors (exit 2).
        var (c2, _, e2) = Run("sample", "--checkpoint", run, "--count", "4", "--progress", "none", "--out", Path.Combine(_dir, "plain.npy"));
        Assert.Equal(2, c2);
        Assert.Contains("--observed", e2);
        var small = Path.Combine(_dir, "small.npy");
        using (var wrong = zeros([2, 1, 4, 4], dtype: ScalarType.Byte)) NpyFile.Write(small, wrong);
        (c2, _, e2) = Run("sample", "--checkpoint", run, "--observed", small, "--progress", "none", "--out", Path.Combine(_dir, "x.npy"));
        Assert.Equal(2, c2);
        Assert.Contains("[n, 1, 8, 8]", e2);
        Assert.Single(e2.Trim().Split('\n'));
        (c2, _, e2) = Run("sample", "--checkpoint", run, "--observed", obsFile, "--guidance", "2", "--progress", "none", "--out", Path.Combine(_dir, "x.npy"));
        Assert.Equal(2, c2);
        Assert.Contains("--guidance", e2);
    }

    [Fact]
    public void A_superresolution_run_takes_the_low_resolution_image_as_the_observation_and_others_refuse_observations()
    {
        var run = Train("superres", "--coupling", "superres", "--factor", "2", "--steps", "10");
        var low = Path.Combine(_dir, "low.npy");
        using (var g = new Generator(1))
        using (var pixels = randint(0, 17, [3, 1, 4, 4], dtype: ScalarType.Byte, generator: g))
            NpyFile.Write(low, pixels);
        var outFile = Path.Combine(_dir, "up.png");
        var (code, stdout, error) = Run("sample", "--checkpoint", run, "--observed", low, "--solver", "euler", "--steps", "4",
            "--threads", "1", "--progress", "none", "--out", outFile);
        Assert.True(code == 0, error);
        Assert.Contains("super-resolution x2", stdout);
        using (var done = NpyFile.Read(Path.Combine(_dir, "up.npy"))) Assert.Equal(new long[] { 3, 1, 8, 8 }, done.shape);

        var plain = Train("plain", "--condition", "none", "--steps", "2");
        (code, _, error) = Run("sample", "--checkpoint", plain, "--observed", low, "--progress", "none", "--out", Path.Combine(_dir, "x.npy"));
        Assert.Equal(2, code);
        Assert.Contains("data-dependent coupling", error);
        // Class labels do not go with an image condition.
        (code, _, error) = Run("train", "--target", "digits8", "--coupling", "inpaint", "--condition", "class", "--steps", "2", "--out", Path.Combine(_dir, "bad"));
        Assert.Equal(2, code);
        Assert.Contains("--condition", error);
    }
}
