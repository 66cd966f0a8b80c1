using StochasticInterpolants.Discrete;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Discrete;

public class LikelihoodBoundTests
{
    private static readonly double[,] Joint = { { 0.30, 0.05, 0.05 }, { 0.02, 0.20, 0.08 }, { 0.10, 0.04, 0.16 } };

    [Theory]
    [InlineData("linear")]
    [InlineData("cubic")]
    public void The_masked_bound_with_the_exact_posterior_is_the_negative_log_likelihood(string schedule)
    {
        // With exact posteriors the masked ELBO is tight for every x1 (docs/theory.md §16.4): B(a, b) = -log P(a, b), whatever
        // the schedule (the integral is schedule-free after the change of variables to kappa).
        using var scope = NewDisposeScope();
        var interpolant = new MixtureInterpolant(DiscreteSchedule.Parse(schedule));
        var source = new MaskedSource(2, 3);
        using var g = new Generator(5);
        foreach (var (a, b) in new[] { (0, 0), (1, 2), (2, 1) })
        {
            var x1 = tensor(new float[] { a, b }, [1, 2]);
            var e = DiscreteLikelihoodBound.Estimate(x1, ExactPosteriors.TwoPositionsMasked(Joint), interpolant, source, g, repeats: 20000);
            var exact = -Math.Log(Joint[a, b]);
            Assert.True(Math.Abs(e.NatsPerRow - exact) < 4 * e.StandardError * 2 * Math.Log(2) + 1e-12,
                $"({a}, {b}): bound {e.NatsPerRow:F4} nats vs -log P = {exact:F4} (SE {e.StandardError * 2 * Math.Log(2):F4})");
            Assert.True(e.StandardError * 2 * Math.Log(2) < 0.02, $"standard error {e.StandardError} bits is too large");
        }
    }

    [Fact]
    public void The_masked_bound_averages_to_the_entropy_over_the_data()
    {
        using var scope = NewDisposeScope();
        var pi = new[] { 0.5, 0.25, 0.125, 0.125 };
        var h = -pi.Sum(p => p * Math.Log(p)); // 1.2130 nats
        using var g = new Generator(9);
        var x1 = multinomial(tensor(pi), 8000, replacement: true, generator: g).to(float32).reshape(-1, 1);
        var e = DiscreteLikelihoodBound.Estimate(x1, ExactPosteriors.OnePosition(pi, DiscreteSourceKind.Masked, DiscreteSchedule.Linear),
            new MixtureInterpolant(), new MaskedSource(1, 4), g, batchSize: 1000);
        // One position: B(x1) = -log pi(x1) exactly (m = 1 always), so the only error is the data's sampling error.
        var empirical = x1.to(int64).flatten().data<long>().ToArray().Average(k => -Math.Log(pi[k]));
        Assert.Equal(empirical, e.NatsPerRow, 10);
        Assert.True(Math.Abs(e.BitsPerToken - h / Math.Log(2)) < 4 * e.StandardError, $"{e.BitsPerToken} bits vs H = {h / Math.Log(2)}");
    }

    [Theory]
    [InlineData(2, "linear")]
    [InlineData(5, "linear")]
    [InlineData(5, "cubic")]
    public void The_uniform_bound_for_uniform_data_has_its_closed_form(int k, string schedule)
    {
        // pi uniform, one position, exact posterior p(y | x) = kappa delta_x(y) + (1 - kappa)/K: the bracket's mean is
        // (1 - a)(-log((1 - kappa)/K)) with a = P(x_t = x1), so B = int_0^1 (1 - 1/K)(log K - log(1 - kappa)) dkappa
        // = (1 - 1/K)(1 + log K) > H = log K (docs/theory.md §16.4).
        using var scope = NewDisposeScope();
        var pi = Enumerable.Repeat(1.0 / k, k).ToArray();
        var sched = DiscreteSchedule.Parse(schedule);
        using var g = new Generator(21);
        var x1 = randint(0, k, [20000, 1], generator: g).to(float32);
        var e = DiscreteLikelihoodBound.Estimate(x1, ExactPosteriors.OnePosition(pi, DiscreteSourceKind.Uniform, sched),
            new MixtureInterpolant(sched), new UniformTokens(1, k), g, batchSize: 5000);
        var closed = (1 - 1.0 / k) * (1 + Math.Log(k));
        var se = e.StandardError * Math.Log(2);
        Assert.True(Math.Abs(e.NatsPerRow - closed) < 4 * se && se < 0.03, $"K = {k}: bound {e.NatsPerRow:F4} vs {closed:F4} nats (SE {se:F4})");
        Assert.True(e.NatsPerRow > Math.Log(k) + 4 * se);
    }

    [Fact]
    public void The_uniform_bound_for_skewed_data_is_above_the_entropy_and_matches_quadrature()
    {
        using var scope = NewDisposeScope();
        var pi = new[] { 0.6, 0.3, 0.1 };
        var k = pi.Length;
        var h = -pi.Sum(p => p * Math.Log(p));
        // Quadrature of E_{x1 ~ pi} B(x1) over kappa (midpoint, 200,000 nodes; the log singularity at kappa = 1 costs < 1e-4).
        double quadrature = 0;
        const int nodes = 200_000;
        for (var j = 0; j < nodes; j++)
        {
            var kappa = (j + 0.5) / nodes;
            double bracket = 0;
            for (var x1 = 0; x1 < k; x1++)
                for (var x = 0; x < k; x++)
                {
                    var pxt = (1 - kappa) / k + (x == x1 ? kappa : 0);                  // p_t(x | x1)
                    var marginal = (1 - kappa) / k + kappa * pi[x];                     // p_t(x)
                    double Post(int y) => pi[y] * ((1 - kappa) / k + (y == x ? kappa : 0)) / marginal;
                    bracket += pi[x1] * pxt * (1 - Post(x) - (x != x1 ? 1 + Math.Log(Post(x1)) : 0));
                }
            quadrature += bracket / (1 - kappa) / nodes;
        }
        using var g = new Generator(4);
        var x1s = multinomial(tensor(pi), 40000, replacement: true, generator: g).to(float32).reshape(-1, 1);
        var e = DiscreteLikelihoodBound.Estimate(x1s, ExactPosteriors.OnePosition(pi, DiscreteSourceKind.Uniform, DiscreteSchedule.Linear),
            new MixtureInterpolant(), new UniformTokens(1, k), g, batchSize: 10000);
        var se = e.StandardError * Math.Log(2);
        Assert.True(quadrature > h + 0.05, $"quadrature {quadrature} vs H {h}");
        Assert.True(Math.Abs(e.NatsPerRow - quadrature) < 4 * se + 1e-3, $"MC {e.NatsPerRow:F4} vs quadrature {quadrature:F4} (SE {se:F4})");
    }

    [Fact]
    public void A_posterior_that_rules_out_the_data_stops_the_bound_with_the_times()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(1);
        LogPosterior impossible = (x, t, _) => DiscretePosterior.KeepUnmasked(
            tensor(new[] { 0.0, double.NegativeInfinity }, dtype: float64).expand(x.shape[0], 1, 2).clone(), x, 2);
        var e = Assert.Throws<IntegrationException>(() => DiscreteLikelihoodBound.Estimate(ones(4, 1), impossible, new MixtureInterpolant(), new MaskedSource(1, 2), g));
        Assert.Contains("not finite at t in [", e.Message);
    }
}
