using StochasticInterpolants.Fields;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Sampling;

public class SdeSamplerTests
{
    // x0 ~ N(0, I), x1 ~ N(m, s^2 I), linear interpolant, gamma = 0: exact b and s from the mixture oracle (docs/theory.md §5).
    private static readonly double[] M = [2.0, -1.0];
    private const double S = 0.5;
    private static readonly GaussianMixtureField Oracle = new(new LinearInterpolant(),
        [new MixtureComponent(1, [0, 0], [1, 1])], [new MixtureComponent(1, M, [S * S, S * S])]);
    private static FieldSet Exact() => new(Oracle.Interpolant,
        [new FunctionField(FieldKind.Velocity, Oracle.Velocity), new FunctionField(FieldKind.Score, Oracle.Score)]);

    private static Tensor Draw(int n, double[] mean, double std, ulong seed)
    {
        using var g = new Generator(seed);
        return randn(n, 2, dtype: float64, generator: g) * std + tensor(mean);
    }

    public static TheoryData<string, double> Cases() => new() { { "em", 0.0 }, { "em", 0.1 }, { "em", 1.0 }, { "heun-sde", 0.1 }, { "heun-sde", 1.0 } };

    [Theory, MemberData(nameof(Cases))]
    public void Forward_sde_carries_the_base_to_the_target(string sampler, double eps)
    {
        const int n = 20_000;
        using var x0 = Draw(n, [0, 0], 1, 1);
        using var g = new Generator(2);
        using var s = SdeSolvers.Create(sampler, 200).Integrate(Exact(), DiffusionCoefficient.Constant(eps), x0, 0, 1, g);
        // Standard errors: mean s / sqrt(n) = 0.0035, std s / sqrt(2n) = 0.0025; 5 of them plus a discretisation allowance
        // of 0.01 (measured below 0.005 at 200 steps).
        AssertMoments(s.Final, M, S, 5 * S / Math.Sqrt(n) + 0.01);
    }

    [Theory, MemberData(nameof(Cases))]
    public void Backward_sde_carries_the_target_to_the_base(string sampler, double eps)
    {
        const int n = 20_000;
        using var x1 = Draw(n, M, S, 3);
        using var g = new Generator(4);
        using var s = SdeSolvers.Create(sampler, 200).Integrate(Exact(), DiffusionCoefficient.Constant(eps), x1, 1, 0, g);
        AssertMoments(s.Final, [0, 0], 1, 5 / Math.Sqrt(n) + 0.01);
    }

    private static void AssertMoments(Tensor x, double[] mean, double std, double tolerance)
    {
        var mu = x.mean([0]).data<double>().ToArray();
        var sd = x.std(0).data<double>().ToArray();
        using var centred = x - x.mean([0], keepdim: true);
        var cov = (centred[.., 0] * centred[.., 1]).mean().ToDouble();
        for (var i = 0; i < 2; i++)
        {
            Assert.True(Math.Abs(mu[i] - mean[i]) < tolerance, $"mean[{i}] = {mu[i]:F4}, expected {mean[i]} ± {tolerance:F4}");
            Assert.True(Math.Abs(sd[i] - std) < tolerance, $"std[{i}] = {sd[i]:F4}, expected {std} ± {tolerance:F4}");
        }
        Assert.True(Math.Abs(cov) < 2 * tolerance, $"covariance {cov:F4}");
    }

    [Fact]
    public void Zero_eps_follows_the_ode_path_exactly()
    {
        using var x0 = Draw(500, [0, 0], 1, 5);
        using var g = new Generator(6);
        var velocityOnly = new FieldSet(Oracle.Interpolant, [new FunctionField(FieldKind.Velocity, Oracle.Velocity)]);
        using var em = new EulerMaruyamaSampler(30).Integrate(velocityOnly, DiffusionCoefficient.Constant(0), x0, 0, 1, g);
        using var euler = new EulerSolver(30).Integrate(Oracle, x0, 0, 1);
        Assert.True(em.Final.equal(euler.Final).all().item<bool>());
        using var sh = new StochasticHeunSampler(30).Integrate(velocityOnly, DiffusionCoefficient.ProportionalToNoise(0, Oracle.Interpolant), x0, 0, 1, g);
        using var heun = new HeunSolver(30).Integrate(Oracle, x0, 0, 1);
        Assert.True(sh.Final.equal(heun.Final).all().item<bool>());
    }

    [Fact]
    public void Same_seed_same_samples_and_a_missing_score_is_explained()
    {
        using var x0 = Draw(100, [0, 0], 1, 7);
        using var g1 = new Generator(8); using var g2 = new Generator(8);
        using var a = new EulerMaruyamaSampler(20).Integrate(Exact(), DiffusionCoefficient.Constant(0.5), x0, 0, 1, g1);
        using var b = new EulerMaruyamaSampler(20).Integrate(Exact(), DiffusionCoefficient.Constant(0.5), x0, 0, 1, g2);
        Assert.True(a.Final.equal(b.Final).all().item<bool>());
        var velocityOnly = new FieldSet(Oracle.Interpolant, [new FunctionField(FieldKind.Velocity, Oracle.Velocity)]);
        var e = Assert.Throws<FieldConversionException>(() => new EulerMaruyamaSampler(5).Integrate(velocityOnly, DiffusionCoefficient.Constant(0.5), x0, 0, 1, g1));
        Assert.Contains("gamma = 0", e.Message);
        Assert.Throws<ArgumentException>(() => DiffusionCoefficient.Constant(-1));
        Assert.Contains("unknown sampler", Assert.Throws<ArgumentException>(() => SdeSolvers.Create("milstein", 5)).Message);
    }

    [Fact]
    public void Euler_maruyama_weak_error_shrinks_with_the_step()
    {
        // The bias of E|X_1 - m|^2 (exact: 2 s^2 = 0.5) under eps = 1; the same Brownian seed at both step counts.
        // Statistical noise of the estimate: 0.5 sqrt(2 / n) ~ 0.002 at n = 100,000.
        double Bias(int steps)
        {
            using var x0 = Draw(100_000, [0, 0], 1, 9);
            using var g = new Generator(10);
            using var s = new EulerMaruyamaSampler(steps).Integrate(Exact(), DiffusionCoefficient.Constant(1.0), x0, 0, 1, g);
            using var d = s.Final - tensor(M);
            return Math.Abs(d.square().sum(1).mean().ToDouble() - 2 * S * S);
        }
        var coarse = Bias(8); var fine = Bias(32);
        Assert.True(coarse > 0.02, $"coarse bias {coarse:F4} is within noise: the test would not see the order");
        Assert.True(fine < coarse / 2.5, $"bias {coarse:F4} at 8 steps, {fine:F4} at 32 (first order expects / 4)");
    }

    [Fact]
    public void Tweedie_last_step_is_the_target_prediction_of_the_previous_state()
    {
        var it = new OneSidedLinearInterpolant();
        var oracle = new GaussianMixtureField(it, [new MixtureComponent(1, [0, 0], [1, 1])], [new MixtureComponent(1, M, [S * S, S * S])]);
        var fields = new FieldSet(it, [new FunctionField(FieldKind.Velocity, oracle.Velocity)]);
        using var x0 = Draw(4000, [0, 0], 1, 11);
        using var g = new Generator(12);
        const int steps = 50;
        var before = 1.0 - 1.0 / steps;
        using var s = new EulerMaruyamaSampler(steps).Integrate(fields, DiffusionCoefficient.ProportionalToNoise(1, it), x0, 0, 1, g,
            new SdeOptions(SaveTimes: [before], DenoiseLastStep: true));
        using var expected = fields.Get(FieldKind.TargetPrediction).Evaluate(before, s.Trajectory[0]);
        Assert.True(s.Final.allclose(expected, 1e-12, 1e-12));
        // E[x1 | x_t] at t = 0.98 is close to x1 itself here: the target mean is reproduced.
        var mean = s.Final.mean([0]).data<double>().ToArray();
        Assert.Equal(M[0], mean[0], 1); Assert.Equal(M[1], mean[1], 1);
        Assert.Throws<ArgumentException>(() => new EulerMaruyamaSampler(5).Integrate(Exact(), DiffusionCoefficient.Constant(0.1), x0, 0, 1, g, new SdeOptions(DenoiseLastStep: true)));
    }
}
