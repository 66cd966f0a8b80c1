using System.Globalization;
using System.Text.Json;
using StochasticInterpolants.Data;
using StochasticInterpolants.Files;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Cli;

/// <summary>Data on a manifold through the CLI (docs/theory.md §15.8): train, sample, eval and report; a CSV of points with --manifold; refusals.</summary>
public sealed class ManifoldCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-manifold-cli-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private static (int Code, string Out, string Err) Run(params string[] args) => SiRunner.Run(args);

    private static readonly string[] Tiny = ["--width", "32", "--depth", "2", "--batch", "128", "--threads", "1", "--progress", "none"];

    private string Train(string name, params string[] extra)
    {
        var run = Path.Combine(_dir, name);
        var (code, output, error) = Run(["train", "--steps", "60", "--seed", "1", .. Tiny, "--out", run, .. extra]);
        Assert.True(code == 0, error);
        Assert.Contains("trained", output);
        return run;
    }

    [Fact]
    public void A_sphere_model_trains_samples_unit_vectors_evaluates_and_reports()
    {
        var run = Train("vmf", "--target", "vmf-mixture");
        var manifest = File.ReadAllText(Path.Combine(run, "checkpoint.json"));
        Assert.Contains("\"manifold\": \"sphere:3\"", manifest);
        Assert.Contains("\"base\": \"uniform:sphere:3\"", manifest);
        var csv = Path.Combine(_dir, "vmf.csv");
        var (code, _, error) = Run("sample", "--checkpoint", run, "--count", "300", "--steps", "10", "--threads", "1", "--progress", "none", "--out", csv);
        Assert.True(code == 0, error);
        using (var rows = CsvMatrix.Read(csv))
        {
            Assert.Equal([300L, 3L], rows.shape);
            Assert.True((rows.to(float64).norm(1) - 1).abs().max().item<double>() < 1e-5, "a sample is not a unit vector");
        }
        var json = Path.Combine(_dir, "vmf-eval.json");
        (code, var output, error) = Run("eval", "--checkpoint", run, "--count", "200", "--steps", "8", "--threads", "1", "--progress", "none", "--json", json);
        Assert.True(code == 0, error);
        Assert.Contains("true entropy", output);
        Assert.Contains("every generated sample lies on sphere:3", error);
        using (var doc = JsonDocument.Parse(File.ReadAllText(json)))
        {
            var nll = doc.RootElement.GetProperty("nll_mean").GetDouble();
            var uniform = doc.RootElement.GetProperty("uniform_nll").GetDouble();
            Assert.Equal(Math.Log(4 * Math.PI), uniform, 12);
            Assert.True(double.IsFinite(nll) && nll > 1.0 && nll < 4.0, $"NLL {nll}");
        }
        var report = Path.Combine(_dir, "vmf-report");
        (code, _, error) = Run("report", "--checkpoint", run, "--out", report, "--frames", "4", "--threads", "1", "--progress", "none");
        Assert.True(code == 0, error);
        foreach (var file in new[] { "manifold-samples.png", "manifold-rho-t.png", "manifold-flow.png", "report.html" })
            Assert.True(new FileInfo(Path.Combine(report, file)).Length > 1000, $"{file} missing or empty");
    }

    [Fact]
    public void A_csv_of_angles_trains_on_the_torus_with_a_held_out_split_and_a_fitted_baseline()
    {
        // Angles from the von Mises mixture, written to a file a user could have made.
        var target = Path.Combine(_dir, "angles.csv");
        using (var points = new VonMisesMixtureSource().Sample(400))
            CsvMatrix.Write(target, points);
        var run = Train("angles", "--target", target, "--manifold", "torus:2", "--base", "wrapped-gaussian:1.5", "--validation", "0.25");
        var manifest = File.ReadAllText(Path.Combine(run, "checkpoint.json"));
        Assert.Contains("\"base\": \"wrapped-gaussian:1.5:torus:2\"", manifest);
        Assert.Contains("\"validationRows\": 100", manifest);
        var json = Path.Combine(_dir, "angles-eval.json");
        var (code, output, error) = Run("eval", "--checkpoint", run, "--steps", "8", "--threads", "1", "--progress", "none", "--json", json);
        Assert.True(code == 0, error);
        Assert.Contains("von Mises product baseline", output);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal(100, doc.RootElement.GetProperty("held_out").GetInt32());
        Assert.Equal("held-out points of angles.csv (never trained on)", doc.RootElement.GetProperty("rows").GetString());
        Assert.Equal("von Mises product", doc.RootElement.GetProperty("baseline").GetString());
    }

    [Fact]
    public void Angles_times_a_real_column_train_on_the_product_with_a_uniform_times_gaussian_base_and_both_estimators()
    {
        var target = Path.Combine(_dir, "product.csv");
        using (var angles = TorusTargets.VonMisesMixture().Sample(200, new Generator(4)))
        using (var real = angles[.., 0..1].cos() * 2 + 0.3 * randn(200, 1, generator: new Generator(5)))
        using (var rows = cat([angles, real], 1))
            CsvMatrix.Write(target, rows);
        var run = Train("product", "--target", target, "--manifold", "torus:2xR:1");
        Assert.Contains("\"base\": \"uniform:torus:2xR:1\"", File.ReadAllText(Path.Combine(run, "checkpoint.json")));
        double Nll(params string[] extra)
        {
            var json = Path.Combine(_dir, $"product-{extra.Length}.json");
            var (code, _, error) = Run(["eval", "--checkpoint", run, "--steps", "8", "--threads", "1", "--progress", "none", "--json", json, .. extra]);
            Assert.True(code == 0, error);
            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            return doc.RootElement.GetProperty("nll_mean").GetDouble();
        }
        var exact = Nll();
        var hutchinson = Nll("--estimator", "hutchinson", "--probes", "8");
        // The same 20 held-out points: Hutchinson's estimate is unbiased, its spread over 8 probes small against 0.15 nats here.
        Assert.True(Math.Abs(exact - hutchinson) < 0.15, $"exact {exact:F4} vs Hutchinson {hutchinson:F4}");
    }

    [Theory]
    [InlineData("--target", "vmf-mixture", "--coupling", "ot")]
    [InlineData("--target", "vmf-mixture", "--manifold", "torus:2")]
    [InlineData("--target", "von-mises-mixture", "--learn", "velocity,score")]
    [InlineData("--target", "checkerboard", "--interpolant", "geodesic")]
    [InlineData("--target", "von-mises-mixture", "--base", "gaussian:3")]
    public void Choices_that_cannot_work_are_refused_with_exit_2_before_any_work(params string[] args) => SiRunner.AssertTrainRefused(_dir, args);

    [Fact]
    public void Sampling_a_manifold_checkpoint_with_dopri5_is_refused()
    {
        var run = Train("torus", "--target", "von-mises-mixture");
        var (code, _, error) = Run("sample", "--checkpoint", run, "--solver", "dopri5", "--count", "10", "--out", Path.Combine(_dir, "x.csv"), "--progress", "none");
        Assert.Equal(2, code);
        Assert.Contains("leave torus:2", error);
        Assert.False(File.Exists(Path.Combine(_dir, "x.csv")));
    }

    // Draws angle rows of the von-mises-mixture target (a fixed seed).
    private sealed class VonMisesMixtureSource
    {
        public Tensor Sample(int count) => TorusTargets.VonMisesMixture().Sample(count, new Generator(9));
    }
}
