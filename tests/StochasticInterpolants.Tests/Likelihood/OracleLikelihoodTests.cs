using StochasticInterpolants.Data;
using StochasticInterpolants.Fields;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Likelihood;
using StochasticInterpolants.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Likelihood;

/// <summary>
/// The likelihood of the exact probability-flow velocity against the closed-form density of the mixture oracle
/// (docs/theory.md §4, §5), for two-sided paths with and without latent noise and at t = 1 and an intermediate t.
/// </summary>
public class OracleLikelihoodTests
{
    // A 2-D N(0, I) base carried to a two-component target with unequal weights and anisotropic variances.
    private static readonly double[] Weights = [0.35, 0.65];
    private static readonly double[][] Means = [[-1.5, 1.0], [1.2, -0.6]];
    private static readonly double[][] Variances = [[0.3, 0.15], [0.2, 0.4]];

    public static TheoryData<string, string, double, double> Cases() => new()
    {
        // family, gamma, gamma scale a, density time t
        { "linear", "sqrt", 0.5, 1.0 },        // gamma = sqrt(0.5 t (1 - t)): the probability-flow velocity is still the oracle's b
        { "trigonometric", "none", 1.0, 1.0 },
        { "linear", "sqrt", 0.5, 0.6 },        // the Eulerian density rho(0.6, x)
        { "trigonometric", "none", 1.0, 0.6 },
    };

    [Theory, MemberData(nameof(Cases))]
    public void Likelihood_of_the_exact_velocity_equals_the_oracle_log_density(string family, string gamma, double scale, double t)
    {
        var it = new InterpolantSpec(family, gamma, scale).Build();
        var oracle = new GaussianMixtureField(it, [new MixtureComponent(1, [0, 0], [1, 1])],
            Enumerable.Range(0, 2).Select(k => new MixtureComponent(Weights[k], Means[k], Variances[k])).ToList());
        // Points from rho(t) itself (x_t = alpha x0 + beta x1 + gamma z, docs/theory.md §1), where the density matters.
        const int n = 200;
        var target = new GaussianMixture(Weights, Means, Variances);
        using var g = new Generator(17);
        using var x0 = randn(n, 2, dtype: float64, generator: g);
        using var x1f = target.Sample(n, g);
        using var x1 = x1f.to(float64);
        using var z = randn(n, 2, dtype: float64, generator: g);
        using var x = InterpolantPath.For(it).SampleAt(x0, x1, z, t);

        // Exact divergence (d = 2) so the only errors are RK4's (200 steps on a smooth field: ~1e-6) and float64 round-off.
        var likelihood = new FlowLikelihood(oracle, new StandardGaussian(2), new Rk4Solver(200), new LikelihoodOptions(DivergenceEstimator.Exact));
        using var result = likelihood.LogDensity(x, t);
        using var exact = oracle.LogDensity(t, x);
        Assert.Equal(new long[] { n }, result.LogDensity.shape);
        Assert.Equal(ScalarType.Float64, result.LogDensity.dtype);
        var err = (result.LogDensity - exact).abs().max().ToDouble();
        // Tolerance 2e-3 nats per point (the brief's bound; measured far below it).
        Assert.True(err < 2e-3, $"{family} ({gamma}), t = {t}: max |log rho_flow - log rho_oracle| = {err:g3}");
        // The log-densities span several nats, so a constant offset or a missing divergence term would exceed the bound.
        Assert.True(exact.max().ToDouble() - exact.min().ToDouble() > 2);
        // Sanity: the divergence integral is not negligible (a flow that ignored it would fail by far more than 2e-3).
        using var baseOnly = new StandardGaussian(2).LogDensity(result.BasePoints);
        Assert.True((result.LogDensity - baseOnly).abs().mean().ToDouble() > 0.1);
    }
}
