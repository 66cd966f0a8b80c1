using StochasticInterpolants.Diffusion;
using StochasticInterpolants.Fields;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Diffusion;

public class DiffusionTests
{
    // A 1-D two-component target, so the marginals are not Gaussian and matching moments up to order 4 means something.
    private static Tensor Data(int n, ulong seed)
    {
        using var g = new Generator(seed);
        using var pick = rand(n, 1, dtype: float64, generator: g) < 0.3;
        using var noise = randn(n, 1, dtype: float64, generator: g);
        return where(pick, -2 + 0.3 * noise, 1.5 + 0.5 * noise);
    }

    private static double[] Moments(Tensor x) => [x.mean().ToDouble(), x.pow(2).mean().ToDouble(), x.pow(3).mean().ToDouble(), x.pow(4).mean().ToDouble()];

    private static void AssertSameLaw(Tensor a, Tensor b, string what)
    {
        // Two independent samples of n = 100,000: compare raw moments 1-4 within 5 standard errors of the difference.
        var ma = Moments(a); var mb = Moments(b);
        for (var k = 1; k <= 4; k++)
        {
            var se = Math.Sqrt((a.pow(2 * k).mean().ToDouble() - ma[k - 1] * ma[k - 1]) / a.shape[0] * 2);
            Assert.True(Math.Abs(ma[k - 1] - mb[k - 1]) < 5 * se, $"{what}: moment {k} {ma[k - 1]:F4} vs {mb[k - 1]:F4} (se {se:F4})");
        }
    }

    [Fact]
    public void Time_map_round_trips_and_matches_the_vp_marginal_coefficients()
    {
        var vp = new VpSchedule();
        foreach (var tau in new[] { 0.01, 0.2, 0.5, 1.0 })
        {
            var t = vp.InterpolantTime(tau);
            Assert.Equal(tau, vp.DiffusionTime(t), 10);
            var c = new OneSidedVpInterpolant().At(t);
            Assert.Equal(vp.MeanCoefficient(tau), c.Beta, 12);          // weight of the data
            Assert.Equal(vp.StandardDeviation(tau), c.Alpha, 12);       // weight of the noise
        }
        var ddpm = new DdpmSchedule();
        Assert.Equal(1.0, ddpm.InterpolantTime(0));
        Assert.InRange(ddpm.InterpolantTime(1000), 0, 0.01);
    }

    [Theory]
    [InlineData(0.1)]
    [InlineData(0.35)]
    public void Vp_sde_forward_process_has_the_one_sided_vp_interpolant_marginal(double tau)
    {
        var vp = new VpSchedule();
        const int n = 100_000;
        using var data = Data(n, 1);
        using var g = new Generator(2);
        using var diffused = vp.SimulateForward(data, tau, 400, g);
        using var x1 = Data(n, 3);
        using var z = randn(n, 1, dtype: float64, generator: g);
        using var x0 = randn(n, 1, dtype: float64, generator: g); // one-sided: x0 is the noise
        using var interpolated = InterpolantPath.For(new OneSidedVpInterpolant()).SampleAt(x0, x1, z, vp.InterpolantTime(tau));
        AssertSameLaw(diffused, interpolated, $"tau = {tau}");
    }

    [Theory]
    [InlineData(50)]
    [InlineData(300)]
    public void Ddpm_chain_has_the_one_sided_vp_interpolant_marginal(int k)
    {
        var ddpm = new DdpmSchedule();
        const int n = 100_000;
        using var data = Data(n, 4);
        using var g = new Generator(5);
        using var chain = ddpm.SimulateForward(data, k, g);
        using var x1 = Data(n, 6);
        using var x0 = randn(n, 1, dtype: float64, generator: g);
        using var z = zeros(n, 1, dtype: float64);
        using var interpolated = InterpolantPath.For(new OneSidedVpInterpolant()).SampleAt(x0, x1, z, ddpm.InterpolantTime(k));
        AssertSameLaw(chain, interpolated, $"k = {k}");
    }

    [Fact]
    public void Reverse_vp_sde_is_our_forward_sde_with_eps_one_over_t()
    {
        // Target N(m, s^2): exact b and s of the one-sided VP interpolant from the mixture oracle.
        var it = new OneSidedVpInterpolant();
        var oracle = new GaussianMixtureField(it, [new MixtureComponent(1, [0.0], [1.0])], [new MixtureComponent(1, [1.5], [0.25])]);
        var vp = new VpSchedule();
        using var g = new Generator(7);
        using var x = randn(16, 1, dtype: float64, generator: g) * 2;
        // Pointwise: the time-changed reverse drift equals b + (1/t) s, and the noise variances agree.
        foreach (var tau in new[] { 0.05, 0.3, 0.8 })
        {
            var t = vp.InterpolantTime(tau);
            var dtDtau = -0.5 * vp.Beta(tau) * t;
            using var s = oracle.Score(t, x);
            using var reverseDrift = -0.5 * vp.Beta(tau) * x - vp.Beta(tau) * s;   // per unit tau
            using var asOurs = reverseDrift / dtDtau;                              // per unit t
            using var ours = oracle.Velocity(t, x) + VpSchedule.EquivalentEps.At(t) * s;
            Assert.True((asOurs - ours).abs().max().ToDouble() < 1e-10, $"drift at tau = {tau}");
            Assert.Equal(vp.Beta(tau) / Math.Abs(dtDtau), 2 * VpSchedule.EquivalentEps.At(t), 10); // variance rates
        }
        // And both samplers, run in their own clocks, land on the target law.
        const int n = 40_000;
        var tauEnd = 1e-3;
        using var start = randn(n, 1, dtype: float64, generator: g);
        using var song = vp.ReverseSample(oracle.Score, start, tauEnd, 1000, g);
        var fields = new FieldSet(it, [new FunctionField(FieldKind.Velocity, oracle.Velocity), new FunctionField(FieldKind.Score, oracle.Score)]);
        using var oursSamples = new EulerMaruyamaSampler(1000).Integrate(fields, VpSchedule.EquivalentEps, start, vp.InterpolantTime(1), vp.InterpolantTime(tauEnd), g);
        foreach (var (name, y) in new[] { ("score-SDE", song), ("interpolant SDE", oursSamples.Final) })
        {
            Assert.InRange(y.mean().ToDouble(), 1.5 - 0.02, 1.5 + 0.02);   // se 0.5 / sqrt(n) = 0.0025
            Assert.InRange(y.std().ToDouble(), 0.5 - 0.02, 0.5 + 0.02);
        }
    }
}
