using StochasticInterpolants.Files;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Cli;

/// <summary>
/// Checkpoints that learned only the score (a denoiser network): the velocity comes from the path's conversions, which for a
/// one-sided interpolant divide by beta(0) = 0 at t = 0 — sampling and the likelihood must start where the conversion is
/// finite, never write NaN rows, and the likelihood must belong to the flow the samples follow.
/// </summary>
public sealed class ScoreOnlyCheckpointTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-score-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    // N((1, -2), C) with C = [[0.64, 0.24], [0.24, 0.34]]: det C = 0.16, entropy = ln(2 pi e) + ln(0.16) / 2 = 1.92162 nats.
    private static readonly double[] Mean = [1.0, -2.0];
    private static readonly double[,] Cov = { { 0.64, 0.24 }, { 0.24, 0.34 } };
    private static double Entropy => Math.Log(2 * Math.PI * Math.E) + 0.5 * Math.Log(Cov[0, 0] * Cov[1, 1] - Cov[0, 1] * Cov[1, 0]);

    private string GaussianCsv(int rows, ulong seed)
    {
        using var g = new Generator(seed);
        using var e = randn(rows, 2, dtype: float64, generator: g);
        using var x = e[.., 0] * 0.8 + 1.0;
        using var y = e[.., 0] * 0.3 + e[.., 1] * 0.5 - 2.0;
        using var data = stack([x, y], 1).to(float32);
        var path = Path.Combine(_dir, $"gaussian-{seed}.csv");
        CsvMatrix.Write(path, data);
        return path;
    }

    private static void AssertGaussian(string csv, string what)
    {
        using var x = CsvMatrix.Read(csv).to(float64);
        var n = x.shape[0];
        Assert.True(x.isfinite().all().item<bool>(), $"{what}: non-finite samples");
        using var mean = x.mean([0]);
        using var centred = x - mean;
        using var cov = centred.t().matmul(centred) / (n - 1);
        // Tolerances: the sampling error of the moments at n = 3000 (se of a mean ~0.015, of a variance ~0.017) plus the
        // error of a small model trained for seconds, measured here at < 0.05 for every moment; 0.1 leaves room, and a
        // model that ignores the data (mean 0, unit covariance) misses by far more.
        for (var i = 0; i < 2; i++) Assert.True(Math.Abs(mean[i].item<double>() - Mean[i]) < 0.1, $"{what}: mean[{i}] = {mean[i].item<double>()}");
        for (var i = 0; i < 2; i++)
        for (var j = 0; j < 2; j++)
            Assert.True(Math.Abs(cov[i, j].item<double>() - Cov[i, j]) < 0.1, $"{what}: cov[{i},{j}] = {cov[i, j].item<double>()}");
    }

    [Fact]
    public void One_sided_score_only_samples_finite_points_with_the_right_moments_and_an_nll_near_the_entropy()
    {
        var train = GaussianCsv(4000, 1);
        var run = Path.Combine(_dir, "os");
        var (code, _, error) = SiRunner.Run("train", "--target", train, "--interpolant", "one-sided-linear", "--learn", "score",
            "--steps", "2500", "--batch", "512", "--width", "64", "--depth", "3", "--seed", "3", "--threads", "1", "--progress", "none", "--out", run);
        Assert.True(code == 0, error);

        var ode = Path.Combine(_dir, "ode.csv");
        (code, _, error) = SiRunner.Run("sample", "--checkpoint", run, "--count", "3000", "--steps", "40", "--threads", "1", "--progress", "none", "--out", ode);
        Assert.True(code == 0, error);
        AssertGaussian(ode, "ODE");
        var sde = Path.Combine(_dir, "sde.csv");
        (code, _, error) = SiRunner.Run("sample", "--checkpoint", run, "--count", "3000", "--sampler", "em", "--eps", "0.5", "--steps", "100",
            "--threads", "1", "--progress", "none", "--out", sde);
        Assert.True(code == 0, error);
        AssertGaussian(sde, "SDE");
        // The Tweedie last step from a single step used to start at t = 0 and divide by beta(0) = 0.
        var one = Path.Combine(_dir, "one.csv");
        (code, _, error) = SiRunner.Run("sample", "--checkpoint", run, "--count", "100", "--sampler", "em", "--steps", "1", "--denoise",
            "--threads", "1", "--progress", "none", "--out", one);
        Assert.True(code == 0, error);
        using (var x = CsvMatrix.Read(one)) Assert.True(x.isfinite().all().item<bool>(), "--steps 1 --denoise");

        // The report draws the learned rho(t) from t0 on (below it, at t0) instead of failing at t = 0.
        var report = Path.Combine(_dir, "report");
        (code, _, error) = SiRunner.Run("report", "--checkpoint", run, "--out", report, "--frames", "4", "--threads", "1", "--progress", "none");
        Assert.True(code == 0, error);
        foreach (var figure in new[] { "report.html", "rho-t.png", "paths.png", "samples.png" }) Assert.True(File.Exists(Path.Combine(report, figure)), figure);

        var heldOut = GaussianCsv(1000, 2);
        var json = Path.Combine(_dir, "eval.json");
        (code, _, error) = SiRunner.Run("eval", "--checkpoint", run, "--target", heldOut, "--count", "1000", "--steps", "50",
            "--threads", "1", "--progress", "none", "--json", json);
        Assert.True(code == 0, error);
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(json));
        var nll = doc.RootElement.GetProperty("nll_mean").GetDouble();
        var se = doc.RootElement.GetProperty("nll_stderr").GetDouble();
        // The NLL of held-out points estimates the cross-entropy, >= the entropy 1.9216; 3 standard errors (~0.07) plus 0.03
        // of model error either side (measured here: within 0.01 of the entropy).
        Assert.True(Math.Abs(nll - Entropy) < 3 * se + 0.03, $"NLL {nll} ± {se} vs entropy {Entropy}");
    }

    [Fact]
    public void Mirror_score_only_samples_finitely_and_two_sided_score_only_is_refused_with_the_reason()
    {
        var train = GaussianCsv(2000, 4);
        var mirror = Path.Combine(_dir, "mirror");
        var (code, _, error) = SiRunner.Run("train", "--target", train, "--interpolant", "mirror", "--learn", "score", "--gamma-scale", "0.5",
            "--steps", "300", "--batch", "256", "--width", "32", "--depth", "2", "--threads", "1", "--progress", "none", "--out", mirror);
        Assert.True(code == 0, error);
        var samples = Path.Combine(_dir, "mirror.csv");
        // b = -gamma gamma' s is finite at both ends even though gamma' = +-infinity there (gamma = sqrt(a t (1 - t))).
        (code, _, error) = SiRunner.Run("sample", "--checkpoint", mirror, "--count", "2000", "--steps", "20", "--threads", "1", "--progress", "none", "--out", samples);
        Assert.True(code == 0, error);
        AssertGaussian(samples, "mirror"); // the mirror flow starts at the target and stays there
        // Its base is the target itself, known only by samples: no likelihood, said so.
        (code, _, error) = SiRunner.Run("eval", "--checkpoint", mirror, "--target", train, "--count", "300", "--steps", "10", "--threads", "1", "--progress", "none");
        Assert.Equal(1, code);
        Assert.Contains("density", error);

        var twoSided = Path.Combine(_dir, "two");
        (code, _, error) = SiRunner.Run("train", "--target", train, "--interpolant", "linear", "--gamma", "sqrt", "--learn", "score",
            "--steps", "20", "--batch", "64", "--width", "16", "--depth", "1", "--threads", "1", "--progress", "none", "--out", twoSided);
        Assert.True(code == 0, error);
        (code, _, error) = SiRunner.Run("sample", "--checkpoint", twoSided, "--count", "10", "--threads", "1", "--progress", "none", "--out", Path.Combine(_dir, "no.csv"));
        Assert.Equal(1, code);
        Assert.Contains("velocity", error);
        Assert.False(File.Exists(Path.Combine(_dir, "no.csv")));
        (code, _, error) = SiRunner.Run("eval", "--checkpoint", twoSided, "--target", train, "--count", "10", "--threads", "1", "--progress", "none");
        Assert.Equal(1, code); // the likelihood needs the velocity: refused, not integrated with the denoiser network
        Assert.Contains("velocity", error);
    }
}
