using TorchSharp;
using StochasticInterpolants.Metrics;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Metrics;

public class EnergyDistanceTests
{
    private static double NormalCdf(double z) => 0.5 * (1 + Erf(z / Math.Sqrt(2)));
    private static double Erf(double x)
    {
        // Abramowitz-Stegun 7.1.26 is too coarse for a 1e-3 check; integrate the density instead (Simpson, 2,000 panels).
        var sign = Math.Sign(x); x = Math.Abs(x);
        const int n = 2000; var h = x / n; var sum = 0.0;
        for (var i = 0; i <= n; i++) { var w = i == 0 || i == n ? 1 : i % 2 == 1 ? 4 : 2; sum += w * Math.Exp(-(i * h) * (i * h)); }
        return sign * 2 / Math.Sqrt(Math.PI) * sum * h / 3;
    }

    [Fact]
    public void Matches_the_closed_form_for_two_gaussians_and_vanishes_for_one_law()
    {
        // 1-D N(0, 1) vs N(1, 1): E|X - Y| for X - Y ~ N(d, s^2) is s sqrt(2/pi) exp(-d^2 / 2s^2) + d (1 - 2 Phi(-d/s)),
        // and E|X - X'| = 2 / sqrt(pi). So D^2 = 2 E|X - Y| - 4 / sqrt(pi).
        double s = Math.Sqrt(2), d = 1;
        var exy = s * Math.Sqrt(2 / Math.PI) * Math.Exp(-d * d / (2 * s * s)) + d * (1 - 2 * NormalCdf(-d / s));
        var exact = 2 * exy - 4 / Math.Sqrt(Math.PI);
        using var g = new Generator(1);
        const int n = 4000;
        using var x = randn(n, 1, dtype: float64, generator: g);
        using var y = randn(n, 1, dtype: float64, generator: g) + 1;
        using var x2 = randn(n, 1, dtype: float64, generator: g);
        var between = EnergyDistance.Compute(x, y);
        // The estimator's sd at n = 4,000 is ~0.01 here (measured over seeds); allow 0.04.
        Assert.InRange(between, exact - 0.04, exact + 0.04);
        Assert.InRange(EnergyDistance.Compute(x, x2), -0.01, 0.01);
        Assert.Equal(between, EnergyDistance.Compute(y, x), 10); // symmetric
        Assert.Throws<ArgumentException>(() => EnergyDistance.Compute(x, zeros(5, 2)));
    }
}

public class SampleDistanceTests
{
    private static Tensor Normal(int n, int d, double shift, ulong seed)
    {
        using var g = new Generator(seed);
        return randn(n, d, dtype: float64, generator: g) + shift;
    }

    [Fact]
    public void Mmd_vanishes_for_one_law_separates_two_and_is_symmetric()
    {
        using var a = Normal(1500, 2, 0, 1); using var b = Normal(1500, 2, 0, 2); using var c = Normal(1500, 2, 0.5, 3);
        Assert.InRange(SampleDistances.Mmd(a, b), -0.01, 0.01);
        var ac = SampleDistances.Mmd(a, c);
        Assert.True(ac > 0.05, $"MMD^2 {ac}");
        Assert.Equal(ac, SampleDistances.Mmd(c, a), 10);
    }

    [Fact]
    public void Sliced_and_exact_w2_match_the_gaussian_closed_forms()
    {
        // N(0, I) vs N(mu, I) with mu = 1 in every coordinate: W2 = |mu| = sqrt(d), sliced W2 = |mu| / sqrt(d) = 1.
        using var a = Normal(3000, 2, 0, 4); using var b = Normal(3000, 2, 1, 5);
        Assert.InRange(SampleDistances.SlicedWasserstein2(a, b), 0.93, 1.07);
        Assert.Equal(SampleDistances.SlicedWasserstein2(a, b, seed: 3), SampleDistances.SlicedWasserstein2(a, b, seed: 3));
        using var x = Normal(600, 1, 0, 6); using var y = Normal(600, 1, 1, 7);
        // 1-D: the exact W2 between two samples is the sorted matching; equal to the closed form 1 up to sampling (~0.06).
        var w2 = SampleDistances.Wasserstein2(x, y);
        using var sortedGap = x.sort(0).Values - y.sort(0).Values;
        Assert.Equal(Math.Sqrt(sortedGap.square().mean().ToDouble()), w2, 9);
        Assert.InRange(w2, 0.85, 1.15);
        Assert.Equal(w2, SampleDistances.Wasserstein2(y, x), 9);
    }

    [Fact]
    public void Assignment_finds_the_brute_force_optimum()
    {
        var rng = new Random(3);
        for (var trial = 0; trial < 20; trial++)
        {
            const int n = 6;
            var cost = Enumerable.Range(0, n * n).Select(_ => rng.NextDouble()).ToArray();
            var p = StochasticInterpolants.Metrics.Assignment.Solve(cost, n);
            var best = Permutations(Enumerable.Range(0, n).ToArray()).Min(q => q.Select((c, i) => cost[i * n + c]).Sum());
            Assert.Equal(best, p.Select((c, i) => cost[i * n + c]).Sum(), 12);
            Assert.Equal(n, p.Distinct().Count());
        }
        static IEnumerable<int[]> Permutations(int[] items) => items.Length <= 1 ? [items] :
            items.SelectMany(x => Permutations(items.Where(y => y != x).ToArray()).Select(rest => new[] { x }.Concat(rest).ToArray()));
    }

    [Fact]
    public void Histogram_kl_is_near_zero_for_one_law_and_near_the_closed_form_for_two()
    {
        using var a = Normal(50_000, 1, 0, 8); using var b = Normal(50_000, 1, 0, 9); using var c = Normal(50_000, 1, 1, 10);
        Assert.InRange(SampleDistances.HistogramKl(a, b, 60, -6, 6), 0, 0.01);
        // KL(N(0,1) || N(1,1)) = 1/2; binning and the pseudo-count bias it slightly.
        Assert.InRange(SampleDistances.HistogramKl(a, c, 60, -6, 6), 0.42, 0.56);
        using var a2 = Normal(20_000, 2, 0, 11); using var b2 = Normal(20_000, 2, 0, 12);
        Assert.InRange(SampleDistances.HistogramKl(a2, b2, 30, -5, 5), 0, 0.05);
    }
}
