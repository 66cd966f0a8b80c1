using StochasticInterpolants.Data;
using StochasticInterpolants.Fields;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Core;

/// <summary>
/// The reshaped core's path maths (docs/theory.md §1, §2 "Time per row", §6): per-row coefficients on shaped data, and every
/// conversion to the target prediction checked against the exact mixture oracle (§5), not against the formula that computes it.
/// </summary>
public class PathTests
{
    // Base N(0, I) in 2-D, a two-component target with unequal weights and anisotropic variances (docs/theory.md §5).
    private static readonly MixtureComponent[] BaseComponents = [new(1, [0, 0], [1, 1])];
    private static readonly MixtureComponent[] TargetComponents = [new(0.3, [-2, 1], [0.2, 0.3]), new(0.7, [1.5, -0.5], [0.5, 0.1])];
    private static GaussianMixtureField Oracle(IInterpolant it) => new(it, BaseComponents, TargetComponents);

    private static Tensor Points(ulong seed, int n = 64)
    {
        using var g = new Generator(seed);
        using var x = randn(n, 2, dtype: float64, generator: g);
        return x * 2;
    }

    // ---------------------------------------------------------------- PathCoefficients.PerRow

    [Fact]
    public void Per_row_coefficients_on_image_shaped_data_equal_the_row_by_row_scalar_computation()
    {
        var it = new LinearInterpolant(GammaSchedule.Sqrt(0.7));
        var path = InterpolantPath.For(it);
        const int n = 5;
        using var g = new Generator(11);
        using var x0 = randn([n, 3, 2, 2], dtype: float64, generator: g);
        using var x1 = randn([n, 3, 2, 2], dtype: float64, generator: g);
        using var z = randn([n, 3, 2, 2], dtype: float64, generator: g);
        var times = new[] { 0.0, 0.13, 0.5, 0.77, 1.0 };
        using var t = tensor(times, dtype: float64);

        using var c = PathCoefficients.At(it, t, float64);
        Assert.Equal(new long[] { n }, c.Alpha.shape);
        using (var alphaRows = PathCoefficients.PerRow(c.Alpha, x0))
        {
            Assert.Equal(new long[] { n, 1, 1, 1 }, alphaRows.shape); // viewed as [n, 1, ..., 1]
        }

        var (xt, velocity) = path.Interpolate(new TrainingBatch(x0, x1, z, t));
        using (xt) using (velocity)
        {
            Assert.Equal(x0.shape, xt.shape);
            for (var i = 0; i < n; i++)
            {
                // The scalar computation of docs/theory.md §1 on row i alone, with the coefficients of time t_i.
                var ci = it.At(times[i]);
                using var expectedXt = ci.Alpha * x0[i] + ci.Beta * x1[i] + ci.Gamma * z[i];
                // gamma' is infinite at the ends for sqrt gamma; only compare the velocity where it is finite.
                using var rowXt = xt[i];
                Assert.True(rowXt.allclose(expectedXt, 0, 1e-14), $"x_t row {i} (t = {times[i]})");
                if (double.IsFinite(ci.GammaDot))
                {
                    using var expectedV = ci.AlphaDot * x0[i] + ci.BetaDot * x1[i] + ci.GammaDot * z[i];
                    using var rowV = velocity[i];
                    Assert.True(rowV.allclose(expectedV, 0, 1e-14), $"velocity row {i} (t = {times[i]})");
                }
            }
        }

        // A per-row conversion on shaped data equals the one-time conversion of each row (one-sided path: E1 from b, §6.2).
        var oneSided = InterpolantPath.For(new OneSidedLinearInterpolant());
        using var b = randn([n, 3, 2, 2], dtype: float64, generator: g);
        using var converted = oneSided.Convert(FieldKind.TargetPrediction, t, x0, k => k == FieldKind.Velocity ? b : null);
        for (var i = 0; i < n; i++)
        {
            using var ti = tensor(times[i], dtype: float64);
            using var xi = x0[i].unsqueeze(0);
            using var bi = b[i].unsqueeze(0);
            using var single = oneSided.Convert(FieldKind.TargetPrediction, ti, xi, k => k == FieldKind.Velocity ? bi : null);
            using var row = converted[i].unsqueeze(0);
            Assert.True(row.allclose(single, 0, 1e-14), $"converted row {i}");
        }
    }

    [Fact]
    public void A_zero_dim_time_broadcasts_and_a_wrong_length_time_is_refused()
    {
        var it = new TrigonometricInterpolant(GammaSchedule.Quadratic());
        var path = InterpolantPath.For(it);
        using var g = new Generator(12);
        using var x = randn([4, 3, 2, 2], dtype: float64, generator: g);

        // 0-dim t: coefficients are 0-dim and broadcast as scalars.
        using var t0 = tensor(0.3, dtype: float64);
        using var c = PathCoefficients.At(it, t0, float64);
        Assert.Equal(0, c.Beta.dim());
        using var beta = PathCoefficients.PerRow(c.Beta, x);
        Assert.Equal(0, beta.dim());
        using var scaled = beta * x;
        using var expected = x * it.At(0.3).Beta;
        Assert.True(scaled.allclose(expected, 0, 1e-15));
        // The same time given once (0-dim) or once per row ([n]) converts identically.
        using var tRows = full(4, 0.3, dtype: float64);
        using var b = randn([4, 3, 2, 2], dtype: float64, generator: g);
        using var s = randn([4, 3, 2, 2], dtype: float64, generator: g);
        Tensor? Given(FieldKind k) => k == FieldKind.Velocity ? b : k == FieldKind.Score ? s : null;
        using var once = path.Convert(FieldKind.TargetPrediction, t0, x, Given);
        using var perRow = path.Convert(FieldKind.TargetPrediction, tRows, x, Given);
        Assert.True(once.allclose(perRow, 0, 1e-14));

        // A time per row of the wrong length, or a time tensor with two axes, is an ArgumentException (not a native crash).
        using var wrong = full(3, 0.3, dtype: float64);
        using var cw = PathCoefficients.At(it, wrong, float64);
        Assert.ThrowsAny<ArgumentException>(() => PathCoefficients.PerRow(cw.Alpha, x));
        Assert.ThrowsAny<ArgumentException>(() => path.Convert(FieldKind.TargetPrediction, wrong, x, Given));
        using var twoAxes = full([4, 1], 0.3, dtype: float64);
        Assert.ThrowsAny<ArgumentException>(() => PathCoefficients.At(it, twoAxes, float64));
        using var z = zeros_like(x);
        Assert.ThrowsAny<ArgumentException>(() => path.Interpolate(new TrainingBatch(x, x, z, wrong)));
    }

    // ---------------------------------------------------------------- target prediction vs. the oracle

    public static TheoryData<string, string, string> TargetPredictionCases() => new()
    {
        // family, gamma, given fields
        { "linear", "sqrt", "velocity+score" },
        { "trigonometric", "sqrt", "velocity+score" },
        { "mirror", "sqrt", "score" },
        { "one-sided-linear", "none", "velocity" },
        { "one-sided-vp", "none", "velocity" },
    };

    [Theory, MemberData(nameof(TargetPredictionCases))]
    public void Target_prediction_converted_from_the_given_fields_equals_the_oracle(string family, string gamma, string given)
    {
        var it = new InterpolantSpec(family, gamma).Build();
        var oracle = Oracle(it);
        var fields = new List<ITimeField>();
        if (given.Contains("velocity")) fields.Add(new FunctionField(FieldKind.Velocity, oracle.Velocity));
        if (given.Contains("score")) fields.Add(new FunctionField(FieldKind.Score, oracle.Score));
        var set = new FieldSet(it, fields);
        using var x = Points(21);
        foreach (var t in new[] { 0.1, 0.5, 0.9 })
        {
            using var x1hat = set.Get(FieldKind.TargetPrediction).Evaluate(t, x);
            using var exact = oracle.TargetPrediction(t, x);
            var err = (x1hat - exact).abs().max().ToDouble();
            // float64 round-off of a handful of operations on O(1) values: 1e-9.
            Assert.True(err < 1e-9, $"{family} ({gamma}) from the {given}, t = {t}: max |E1 - oracle| = {err:g3}");
            // The oracle's E1 really depends on x here (weights move between components), so a constant answer would fail.
            using var spread = exact.std(0);
            Assert.True(spread.min().ToDouble() > 0.05);
        }
    }

    // ---------------------------------------------------------------- bug 2: mirror from the score alone

    [Fact]
    public void Mirror_velocity_from_the_score_alone_is_finite_at_both_ends_and_equals_the_oracle()
    {
        var it = new MirrorInterpolant(GammaSchedule.Sqrt());
        var oracle = Oracle(it);
        var scoreOnly = new FieldSet(it, [new FunctionField(FieldKind.Score, oracle.Score)]);
        // The -gamma gamma' s form is finite on all of [0, 1] (gamma gamma' = (1 - 2t) / 2), so nothing is clipped.
        Assert.Equal((true, true), scoreOnly.Domain(FieldKind.Velocity));
        Assert.Equal((0.0, 1.0), scoreOnly.FiniteInterval(1e-3, FieldKind.Velocity));
        using var x = Points(31);
        foreach (var t in new[] { 0.0, 0.25, 0.5, 0.75, 1.0 })
        {
            using var b = scoreOnly.Get(FieldKind.Velocity).Evaluate(t, x);
            Assert.True(b.isfinite().all().item<bool>(), $"mirror velocity from the score is not finite at t = {t}");
            using var exact = oracle.Velocity(t, x);
            var err = (b - exact).abs().max().ToDouble();
            Assert.True(err < 1e-9, $"mirror s -> b at t = {t}: max error {err:g3}");
            if (t == 0.5) Assert.True(exact.abs().max().ToDouble() < 1e-12); // gamma gamma' = 0 at t = 1/2: b = 0 there
            else Assert.True(exact.abs().max().ToDouble() > 0.1);            // elsewhere b is not trivially 0
        }
        // With the denoiser instead, gamma' eta is infinite times 0 at the ends: both ends are excluded (docs/theory.md §6.5).
        var denoiserOnly = new FieldSet(it, [new FunctionField(FieldKind.Denoiser, (t, y) => -it.At(t).Gamma * oracle.Score(t, y))]);
        Assert.Equal((false, false), denoiserOnly.Domain(FieldKind.Velocity));
        Assert.Equal((1e-3, 1 - 1e-3), denoiserOnly.FiniteInterval(1e-3, FieldKind.Velocity));
    }

    // ---------------------------------------------------------------- bug 1: one-sided from the score or the velocity alone

    [Fact]
    public void One_sided_velocity_from_the_score_excludes_t0_and_from_the_velocity_the_target_prediction_at_t0_is_the_target_mean()
    {
        var it = new OneSidedLinearInterpolant();
        var oracle = Oracle(it);
        // From the score: b = (beta'/beta) x + ... divides by beta(0) = 0, so t = 0 is excluded and t = 1 kept (§6.2).
        var scoreOnly = new FieldSet(it, [new FunctionField(FieldKind.Score, oracle.Score)]);
        Assert.Equal((false, true), scoreOnly.Domain(FieldKind.Velocity));
        Assert.Equal((1e-3, 1.0), scoreOnly.FiniteInterval(1e-3, FieldKind.Velocity));

        // From the velocity: E1 = (alpha b - alpha' x) / D with D = 1, finite at both ends.
        var velocityOnly = new FieldSet(it, [new FunctionField(FieldKind.Velocity, oracle.Velocity)]);
        Assert.Equal((true, true), velocityOnly.Domain(FieldKind.TargetPrediction));
        using var x = Points(41);
        using var e1 = velocityOnly.Get(FieldKind.TargetPrediction).Evaluate(0.0, x);
        Assert.True(e1.isfinite().all().item<bool>());
        using var exact = oracle.TargetPrediction(0.0, x);
        Assert.True((e1 - exact).abs().max().ToDouble() < 1e-9);
        // ... which is E[x1] = sum_j q_j mu1_j for every row: x_0 = z carries nothing about x1.
        double[] mean = [0.3 * -2 + 0.7 * 1.5, 0.3 * 1 + 0.7 * -0.5];
        using var meanT = tensor(mean, dtype: float64);
        Assert.True((e1 - meanT).abs().max().ToDouble() < 1e-9);

        // The CLI case `--steps 1 --denoise`: the only step is the last, so the sample is E1(0, x0) — finite, not NaN.
        using var g = new Generator(42);
        using var s = new EulerMaruyamaSampler(1).Integrate(velocityOnly, DiffusionCoefficient.ProportionalToNoise(1, it), x, 0, 1, g,
            new SdeOptions(DenoiseLastStep: true));
        Assert.True(s.Final.isfinite().all().item<bool>());
        Assert.True((s.Final - meanT).abs().max().ToDouble() < 1e-9);
    }
}
