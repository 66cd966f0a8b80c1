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
        Assert.ThrowsAny<ArgumentException>(() => DiffusionCoefficient.Constant(-1)); // InvalidSettingException derives from it
        Assert.Contains("unknown sampler", Assert.ThrowsAny<ArgumentException>(() => SdeSolvers.Create("milstein", 5)).Message);
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

    // ---------------------------------------------------------------- backward SDE on a path with latent noise

    [Theory]
    [InlineData("em")]
    [InlineData("heun-sde")]
    public void Backward_sde_with_latent_noise_carries_exact_target_samples_to_the_base(string sampler)
    {
        // Linear interpolant with gamma = sqrt(t (1 - t)), x0 ~ N(0, I), x1 ~ N(m, diag(0.25, 0.5)); exact b and s (docs/theory.md §5).
        // dY = [b - eps s] dt + sqrt(2 eps) dW from t = 1 to 0 (docs/theory.md §3) must reproduce N(0, I) at t = 0.
        var it = new LinearInterpolant(GammaSchedule.Sqrt());
        double[] variances = [0.25, 0.5];
        var oracle = new GaussianMixtureField(it, [new MixtureComponent(1, [0, 0], [1, 1])], [new MixtureComponent(1, M, variances)]);
        var fields = new FieldSet(it, [new FunctionField(FieldKind.Velocity, oracle.Velocity), new FunctionField(FieldKind.Score, oracle.Score)]);
        // Both fields are given (not converted) and the oracle's covariance is never singular (C = C1 at t = 1, I at t = 0):
        // the whole of [0, 1] is usable, so the integration runs from exactly t = 1 to t = 0 without a clip.
        var (start, end) = fields.FiniteInterval(1e-3, FieldKind.Velocity, FieldKind.Score);
        Assert.Equal((0.0, 1.0), (start, end));
        const int n = 20_000;
        using var g0 = new Generator(21);
        using var x1 = randn(n, 2, dtype: float64, generator: g0) * tensor(variances).sqrt() + tensor(M);
        using var g = new Generator(22);
        using var s = SdeSolvers.Create(sampler, 200).Integrate(fields, DiffusionCoefficient.Constant(0.5), x1, end, start, g);
        // Mean and covariance of N(0, I) within 5 standard errors (mean 1 / sqrt(n) = 0.0071; variance sqrt(2 / n) = 0.01;
        // covariance 1 / sqrt(n)) plus 0.02 for the 200-step discretisation.
        var x = s.Final;
        var mu = x.mean([0]).data<double>().ToArray();
        using var centred = x - x.mean([0], keepdim: true);
        using var cov = centred.t().matmul(centred) / (n - 1);
        var c = cov.data<double>().ToArray();
        for (var i = 0; i < 2; i++)
        {
            var tolMean = 5 / Math.Sqrt(n) + 0.02;
            Assert.True(Math.Abs(mu[i]) < tolMean, $"{sampler}: mean[{i}] = {mu[i]:F4}, expected 0 ± {tolMean:F4}");
            var tolVar = 5 * Math.Sqrt(2.0 / n) + 0.02;
            Assert.True(Math.Abs(c[3 * i] - 1) < tolVar, $"{sampler}: var[{i}] = {c[3 * i]:F4}, expected 1 ± {tolVar:F4}");
        }
        var tolCov = 5 / Math.Sqrt(n) + 0.02;
        Assert.True(Math.Abs(c[1]) < tolCov, $"{sampler}: covariance {c[1]:F4}, expected 0 ± {tolCov:F4}");
    }

    // ---------------------------------------------------------------- stochastic Heun's weak error

    [Fact]
    public void Stochastic_heun_matches_its_exact_discrete_moments_and_its_weak_error_shrinks_faster_than_first_order()
    {
        // 1-D: x0 ~ N(0, 1) -> x1 ~ N(m, s^2), linear, gamma = 0, eps = 1, exact b and s. The drift f = b + eps s is affine in x,
        // f(t, x) = p(t) x + q(t) with p = (k - eps) / v, q = m - t m p, v = (1 - t)^2 + t^2 s^2, k = t s^2 - (1 - t)
        // (docs/theory.md §5), so one stochastic Heun step is X' = A X + C + B dW and the scheme's own mean and variance
        // follow exactly from a scalar recurrence: the Monte-Carlo estimate must match that, and the weak error
        // |E (X_1 - m)^2 - s^2| must fall by more than 3 from 4 to 16 steps (the recurrence gives 0.0292 -> 0.0012, / 24;
        // Euler-Maruyama's own error at 4 steps, 0.298, would fail the first check by ~500 standard errors).
        const double m = 2.0, sd = 0.5, eps = 1.0;
        var it = new LinearInterpolant();
        var oracle = new GaussianMixtureField(it, [new MixtureComponent(1, [0], [1])], [new MixtureComponent(1, [m], [sd * sd])]);
        var fields = new FieldSet(it, [new FunctionField(FieldKind.Velocity, oracle.Velocity), new FunctionField(FieldKind.Score, oracle.Score)]);
        const int n = 400_000;

        (double Estimate, double StandardError) MonteCarlo(int steps)
        {
            using var g0 = new Generator(31);
            using var x0 = randn(n, 1, dtype: float64, generator: g0);
            using var g = new Generator(32);
            using var s = new StochasticHeunSampler(steps).Integrate(fields, DiffusionCoefficient.Constant(eps), x0, 0, 1, g);
            using var phi = (s.Final - m).square();
            return (phi.mean().ToDouble(), phi.std().ToDouble() / Math.Sqrt(n));
        }

        static double SchemeMoment(int steps) // E (X_K - m)^2 of the discrete scheme
        {
            double V(double t) => (1 - t) * (1 - t) + t * t * sd * sd;
            double P(double t) => (t * sd * sd - (1 - t) - eps) / V(t);
            double Q(double t) => m - t * m * P(t);
            double mean = 0, variance = 1, h = 1.0 / steps, gNoise = Math.Sqrt(2 * eps);
            for (var k = 0; k < steps; k++)
            {
                var t = k * h;
                double p0 = P(t), q0 = Q(t), p1 = P(t + h), q1 = Q(t + h);
                var a = 1 + h / 2 * (p0 + p1 * (1 + h * p0));
                var c = h / 2 * (q0 + p1 * h * q0 + q1);
                var b = gNoise * (1 + h / 2 * p1);
                mean = a * mean + c;
                variance = a * a * variance + b * b * h;
            }
            return variance + (mean - m) * (mean - m);
        }

        var exact = sd * sd;
        var errors = new Dictionary<int, double>();
        foreach (var steps in new[] { 4, 16 })
        {
            var (estimate, se) = MonteCarlo(steps);
            var scheme = SchemeMoment(steps);
            // The sampler is the stochastic Heun scheme: its estimate is within 5 standard errors (~0.0028) of the scheme's moment.
            Assert.True(Math.Abs(estimate - scheme) < 5 * se, $"{steps} steps: E(X - m)^2 = {estimate:F5} ± {se:F5}, the scheme gives {scheme:F5}");
            errors[steps] = Math.Abs(estimate - exact);
        }
        // The 4-step error (~0.029) is ~50 standard errors, so the ratio below is not noise.
        Assert.True(errors[4] > 0.015, $"the 4-step error {errors[4]:F5} is too small to measure an order");
        Assert.True(errors[16] < errors[4] / 3, $"weak error {errors[4]:F5} at 4 steps, {errors[16]:F5} at 16 (expected a factor > 3)");
    }
}
