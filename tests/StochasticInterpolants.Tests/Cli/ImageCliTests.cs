using System.Text.Json;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Files;

namespace StochasticInterpolants.Tests.Cli;

/// <summary>The image path through the CLI on scikit-learn's 8x8 digits (fetched once into the data cache) with a tiny U-Net.</summary>
public sealed class ImageCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-image-cli-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private static (int Code, string Out, string Err) Run(params string[] args) => SiRunner.Run(args);

    private string Train(string name, params string[] extra)
    {
        var run = Path.Combine(_dir, name);
        var (code, output, error) = Run(["train", "--target", "digits8", "--unet", "tiny", "--steps", "40", "--batch", "16", "--log-every", "20",
            "--seed", "3", "--threads", "1", "--progress", "none", "--out", run, .. extra]);
        Assert.True(code == 0, error);
        Assert.Contains("trained 40 steps", output);
        // Like a table run, an image run says what data it found: the split, the shape, the classes.
        Assert.Contains("si: digits8: 1617 training images and 180 test images of 1 x 8 x 8 (17 levels); 10 classes (0: ", error);
        return run;
    }

    [Fact]
    public void A_class_conditional_image_run_trains_samples_every_class_with_guidance_and_is_scored()
    {
        var run = Train("cond");
        var manifest = Checkpoint.ReadManifest(run);
        Assert.NotNull(manifest.Images);
        Assert.True(manifest.Images!.Conditional);
        Assert.Equal(new long[] { 1, 8, 8 }, manifest.Images.Shape);
        Assert.Equal(17, manifest.Images.Levels);
        Assert.Equal(10, manifest.ConditionClasses()!.Count);
        Assert.Equal("unet", manifest.Networks[0].Model.Type);
        Assert.Equal(0.1, manifest.Training.ConditionDropout);

        var output = Path.Combine(_dir, "grid.npy");
        var (code, stdout, error) = Run("sample", "--checkpoint", run, "--class", "all", "--count", "2", "--guidance", "2", "--solver", "euler",
            "--steps", "4", "--threads", "1", "--progress", "none", "--out", output);
        Assert.True(code == 0, error);
        using (var pixels = NpyFile.Read(output))
        {
            Assert.Equal(new long[] { 20, 1, 8, 8 }, pixels.shape);
            Assert.Equal(TorchSharp.torch.ScalarType.Byte, pixels.dtype);
            Assert.True(pixels.max().item<byte>() <= 16);
        }
        using (var labels = NpyFile.Read(Path.Combine(_dir, "grid.labels.npy")))
            Assert.Equal(Enumerable.Range(0, 10).SelectMany(c => new long[] { c, c }).ToArray(), labels.data<long>().ToArray());
        Assert.True(new FileInfo(Path.Combine(_dir, "grid.png")).Length > 100);
        Assert.Contains("guidance w = 2", stdout);

        var json = Path.Combine(_dir, "eval.json");
        (code, stdout, error) = Run("eval", "--checkpoint", run, "--count", "6", "--generated", "4", "--guidance", "2", "--steps", "2",
            "--threads", "1", "--progress", "none", "--json", json);
        Assert.True(code == 0, error);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var root = doc.RootElement;
        foreach (var key in new[] { "bits_per_dim", "bits_per_dim_stderr", "classifier_test_accuracy", "conditional_accuracy", "conditional_accuracy_unguided",
                     "frechet_classifier_distance", "nearest_train_distance" })
            Assert.True(root.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number && double.IsFinite(v.GetDouble()), key);
        // 40 steps learn little: bits/dim lies between a good model's (~1) and far worse than uniform pixels (log2 17 = 4.09),
        // and the reference classifier, trained on the real digits, is good.
        Assert.InRange(root.GetProperty("bits_per_dim").GetDouble(), 0.5, 12);
        Assert.True(root.GetProperty("classifier_test_accuracy").GetDouble() > 0.9);
        Assert.Equal(10, root.GetProperty("conditional_accuracy_per_class").GetArrayLength());
        Assert.Contains("bits/dim", stdout);
    }

    [Fact]
    public void Image_eval_refuses_counts_that_leave_a_figure_undefined_and_sample_defaults_fit_images()
    {
        var run = Train("counts");
        // --count 0 printed "bits/dim NaN ± NaN" with exit 0 (and --json crashed); one image has no standard error.
        foreach (var (option, value) in new[] { ("--count", "0"), ("--count", "1"), ("--generated", "1"), ("--count", "-3") })
        {
            var (code, stdout, error) = Run("eval", "--checkpoint", run, option, value, "--steps", "2", "--threads", "1", "--progress", "none",
                "--json", Path.Combine(_dir, $"bad{value}.json"));
            Assert.True(code == 2, $"{option} {value}: exit {code}, {error}");
            Assert.Contains("si: error:", error);
            Assert.DoesNotContain("NaN", stdout + error);
            Assert.False(File.Exists(Path.Combine(_dir, $"bad{value}.json")));
        }
        // si sample on an image checkpoint without --count: 64 images (not 10,000), and 10 per class with --class all.
        var output = Path.Combine(_dir, "default.npy");
        var (c, o, e) = Run("sample", "--checkpoint", run, "--solver", "euler", "--steps", "2", "--threads", "1", "--progress", "none", "--out", output);
        Assert.True(c == 0, e);
        using (var pixels = NpyFile.Read(output)) Assert.Equal(64, pixels.shape[0]);
        output = Path.Combine(_dir, "all.npy");
        (c, o, e) = Run("sample", "--checkpoint", run, "--class", "all", "--solver", "euler", "--steps", "2", "--threads", "1", "--progress", "none", "--out", output);
        Assert.True(c == 0, e);
        using (var pixels = NpyFile.Read(output)) Assert.Equal(100, pixels.shape[0]);
    }

    [Fact]
    public void Image_eval_says_what_it_will_cost_before_the_work()
    {
        var run = Train("plan");
        var (code, stdout, error) = Run("eval", "--checkpoint", run, "--count", "4", "--generated", "2", "--guidance", "2", "--steps", "2",
            "--threads", "1", "--progress", "plain");
        Assert.True(code == 0, error);
        // The plan comes before the first progress line: test images, generated images at both weights, NFE, an estimate.
        var plan = error.IndexOf("this evaluation: 4 test images' bits/dim and 20 generated images at w = 1 and 20 guided ones", StringComparison.Ordinal);
        Assert.True(plan >= 0, error);
        Assert.True(plan < error.IndexOf("eval: ", StringComparison.Ordinal), error);
        Assert.Contains("rk4 (8 network evaluations per path): about", error);
        Assert.Contains("bits/dim", stdout);
    }

    [Fact]
    public void Class_conditional_ot_trains_on_images_and_the_report_says_how_pairs_were_made()
    {
        var run = Train("ot", "--coupling", "ot");
        var manifest = Checkpoint.ReadManifest(run);
        Assert.Equal("ot", manifest.CouplingOrDefault().Name);
        Assert.True(manifest.Images!.Conditional); // pairs within each class (docs/theory.md §12.3)
        var report = Path.Combine(_dir, "ot-report");
        var (code, _, error) = Run("report", "--checkpoint", run, "--threads", "1", "--progress", "none", "--out", report);
        Assert.True(code == 0, error);
        Assert.Contains("exact minibatch optimal transport within each class", File.ReadAllText(Path.Combine(report, "report.html")));
    }

    [Fact]
    public void An_unconditional_image_run_refuses_classes_and_guidance_and_draws_a_report()
    {
        var run = Train("plain", "--condition", "none", "--ema", "0");
        var manifest = Checkpoint.ReadManifest(run);
        Assert.False(manifest.Images!.Conditional);
        Assert.Null(manifest.ConditionClasses());
        var (code, _, error) = Run("sample", "--checkpoint", run, "--guidance", "2", "--count", "4", "--out", Path.Combine(_dir, "x.npy"));
        Assert.Equal(2, code);
        Assert.Contains("--guidance", error);
        (code, _, error) = Run("sample", "--checkpoint", run, "--class", "all", "--count", "4", "--out", Path.Combine(_dir, "x.npy"));
        Assert.Equal(2, code);
        (code, _, error) = Run("sample", "--checkpoint", run, "--count", "4", "--out", Path.Combine(_dir, "x.csv"));
        Assert.Equal(2, code);
        Assert.Contains(".npy", error);

        var report = Path.Combine(_dir, "report");
        (code, _, error) = Run("report", "--checkpoint", run, "--out", report, "--frames", "3", "--threads", "1", "--progress", "none");
        Assert.True(code == 0, error);
        foreach (var f in new[] { "report.html", "report-samples.png", "image-paths.png", "images-animation.png" })
            Assert.True(File.Exists(Path.Combine(report, f)), f);
    }

    [Theory]
    [InlineData("--target", "checkerboard", "--model", "unet")]
    [InlineData("--target", "checkerboard", "--condition", "class")]
    [InlineData("--target", "digits8", "--model", "cnn")]
    [InlineData("--target", "digits8", "--unet", "huge")]
    [InlineData("--target", "digits8", "--cond-drop", "1.5")]
    [InlineData("--target", "digits8", "--columns", "1-3")]
    [InlineData("--target", "digits8", "--unet-multipliers", "1,2,2,2,2")]
    public void Image_settings_that_cannot_work_are_refused_before_training(params string[] args)
    {
        var (code, _, error) = Run(["train", "--steps", "5", "--threads", "1", "--progress", "none", "--out", Path.Combine(_dir, "bad"), .. args]);
        Assert.Equal(2, code);
        Assert.StartsWith("si: error: --", error.Trim());
        Assert.False(Directory.Exists(Path.Combine(_dir, "bad")));
    }
}
