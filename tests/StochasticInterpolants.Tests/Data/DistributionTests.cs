using StochasticInterpolants.Data;
using StochasticInterpolants.Files;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Data;

public class DistributionTests
{
    [Fact]
    public void Checkerboard_samples_lie_in_the_squares_and_cover_all_eight()
    {
        using var g = new Generator(1);
        using var x = new Checkerboard().Sample(40_000, g);
        Assert.Equal(new long[] { 40_000, 2 }, x.shape);
        Assert.Equal(1.0, Checkerboard.FractionInside(x));
        var v = x.data<float>().ToArray();
        var cells = new int[16];
        for (var i = 0; i < v.Length; i += 2) cells[(int)(Math.Floor(v[i] / 2) + 2) * 4 + (int)(Math.Floor(v[i + 1] / 2) + 2)]++;
        var occupied = cells.Where(c => c > 0).ToArray();
        Assert.Equal(8, occupied.Length);
        // Each square holds 1/8 of the mass: 5,000 expected, binomial sd ~66; allow 5 sd.
        Assert.All(occupied, c => Assert.InRange(c, 5000 - 330, 5000 + 330));
    }

    [Fact]
    public void Checkerboard_contains_half_of_the_square_and_its_density_integrates_to_one()
    {
        using var g = new Generator(2);
        const int n = 100_000;
        using var u = rand(n, 2, generator: g) * 8 - 4;
        // Half the area of [-4, 4)^2 is inside: binomial sd 0.0016; allow 5 sd.
        Assert.InRange(Checkerboard.FractionInside(u), 0.5 - 0.008, 0.5 + 0.008);
        Assert.True(Checkerboard.Contains(0.5, 0.5));
        Assert.False(Checkerboard.Contains(-0.5, 0.5));
        Assert.False(Checkerboard.Contains(4.0, 0.5));
        Assert.False(Checkerboard.Contains(double.NaN, 0.5));
        // Midpoint rule on a grid aligned with the squares: exact for a piecewise-constant density.
        const int k = 160; const double cell = 8.0 / k;
        var pts = new float[k * k * 2];
        for (var i = 0; i < k; i++) for (var j = 0; j < k; j++) { pts[2 * (i * k + j)] = (float)(-4 + (i + 0.5) * cell); pts[2 * (i * k + j) + 1] = (float)(-4 + (j + 0.5) * cell); }
        using var grid = tensor(pts, [k * k, 2]);
        using var logp = new Checkerboard().LogDensity(grid);
        Assert.Equal(1.0, logp.exp().sum().item<double>() * cell * cell, 10);
    }

    [Fact]
    public void Mixture_log_density_integrates_to_one_and_matches_a_hand_computation()
    {
        var mix = new GaussianMixture([1, 3], [[0, 0], [2, 1]], [[1, 1], [0.25, 4]]);
        using var x = tensor(new[] { 0.5, -0.5 }, [1, 2]);
        double N(double v, double m, double s2) => Math.Exp(-(v - m) * (v - m) / (2 * s2)) / Math.Sqrt(2 * Math.PI * s2);
        var expected = 0.25 * N(0.5, 0, 1) * N(-0.5, 0, 1) + 0.75 * N(0.5, 2, 0.25) * N(-0.5, 1, 4);
        using var lp = mix.LogDensity(x);
        Assert.Equal(Math.Log(expected), lp.item<double>(), 12);
        const int k = 400; const double lo = -8, hi = 10, cell = (hi - lo) / k;
        var pts = new double[k * k * 2];
        for (var i = 0; i < k; i++) for (var j = 0; j < k; j++) { pts[2 * (i * k + j)] = lo + (i + 0.5) * cell; pts[2 * (i * k + j) + 1] = lo + (j + 0.5) * cell; }
        using var grid = tensor(pts, [k * k, 2]);
        using var density = mix.LogDensity(grid).exp();
        Assert.Equal(1.0, density.sum().item<double>() * cell * cell, 4);
    }

    [Fact]
    public void Mixture_and_eight_gaussians_sample_their_moments()
    {
        using var g = new Generator(4);
        using var x = new EightGaussians().Sample(50_000, g);
        // Symmetric: mean 0 (sd of the mean ~ 2.85 / sqrt(n) = 0.013); radius of the centres 4 / 1.414 = 2.83.
        var mean = x.mean([0]).data<float>().ToArray();
        Assert.InRange(mean[0], -0.065, 0.065); Assert.InRange(mean[1], -0.065, 0.065);
        using var r = x.norm(1);
        Assert.InRange(r.mean().item<float>(), 2.75f, 2.95f);
        Assert.True(new EightGaussians().HasLogDensity);
    }

    public static TheoryData<string> ToyNames() => new() { "moons", "spirals", "rings", "pinwheel", "swissroll", "8gaussians", "checkerboard", "gaussian" };

    [Theory, MemberData(nameof(ToyNames))]
    public void Toy_data_sets_are_finite_reproducible_and_of_plausible_extent(string name)
    {
        var d = DataSources.Parse(name);
        Assert.Equal(2, d.Dimension);
        using var g1 = new Generator(9); using var g2 = new Generator(9);
        using var a = d.Sample(5000, g1); using var b = d.Sample(5000, g2);
        Assert.Equal(new long[] { 5000, 2 }, a.shape);
        Assert.Equal(ScalarType.Float32, a.dtype);
        Assert.True(a.isfinite().all().item<bool>());
        Assert.True(a.allclose(b, 0, 0), "same seed must give the same samples");
        var extent = a.abs().max().item<float>();
        Assert.InRange(extent, 0.5f, 8f);
        var spread = a.std().item<float>();
        Assert.InRange(spread, 0.3f, 4f);
        if (!d.HasLogDensity) Assert.Throws<NotSupportedException>(() => d.LogDensity(a));
    }

    [Fact]
    public void Unknown_names_give_a_clear_error()
    {
        Assert.Contains("unknown distribution 'donut'", Assert.ThrowsAny<ArgumentException>(() => DataSources.Parse("donut")).Message);
        Assert.Contains("does not exist", Assert.Throws<FileNotFoundException>(() => DataSources.Parse("/nonexistent/x.csv")).Message);
    }
}
