using StochasticInterpolants.Fields;
using StochasticInterpolants.Interpolants;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Fields;

public class FieldConversionTests
{
    private static GaussianMixtureField Oracle(IInterpolant it) => new(it,
        [new MixtureComponent(1, [0, 0], [1, 1])],
        [new MixtureComponent(0.3, [-2, 1], [0.2, 0.3]), new MixtureComponent(0.7, [1.5, -0.5], [0.5, 0.1])]);

    public static TheoryData<string> OneSided() => new() { "one-sided-linear", "one-sided-vp" };

    [Theory, MemberData(nameof(OneSided))]
    public void One_sided_velocity_score_denoiser_and_target_prediction_convert_exactly(string family)
    {
        var it = new InterpolantSpec(family).Build();
        var oracle = Oracle(it);
        using var g = new Generator(3);
        using var x = randn(64, 2, dtype: float64, generator: g) * 2;
        var fromVelocity = new FieldSet(it, [new FunctionField(FieldKind.Velocity, oracle.Velocity)]);
        var fromScore = new FieldSet(it, [new FunctionField(FieldKind.Score, oracle.Score)]);
        foreach (var t in new[] { 0.1, 0.4, 0.7, 0.95 })
        {
            // b -> s against the exact score, then s -> b against the exact velocity: both to float64 round-off.
            using var s = fromVelocity.Get(FieldKind.Score).Evaluate(t, x);
            using var sExact = oracle.Score(t, x);
            Assert.True((s - sExact).abs().max().ToDouble() < 1e-9, $"b -> s at t = {t}");
            var roundTrip = new FieldSet(it, [new FunctionField(FieldKind.Score, (tt, xx) => fromVelocity.Get(FieldKind.Score).Evaluate(tt, xx))]);
            using var b = roundTrip.Get(FieldKind.Velocity).Evaluate(t, x);
            using var bExact = oracle.Velocity(t, x);
            Assert.True((b - bExact).abs().max().ToDouble() < 1e-9, $"b -> s -> b at t = {t}");
            using var b2 = fromScore.Get(FieldKind.Velocity).Evaluate(t, x);
            Assert.True((b2 - bExact).abs().max().ToDouble() < 1e-9, $"s -> b at t = {t}");
            // eta and E[x1 | x] against the oracle's own, derived from the Gaussian posterior (not from these formulas).
            using var eta = fromScore.Get(FieldKind.Denoiser).Evaluate(t, x);
            using var etaExact = -it.At(t).Alpha * sExact; // one-sided: the noise is x0, sigma = alpha
            Assert.True((eta - etaExact).abs().max().ToDouble() < 1e-9, $"s -> eta at t = {t}");
            using var x1hat = fromScore.Get(FieldKind.TargetPrediction).Evaluate(t, x);
            using var x1Exact = oracle.TargetPrediction(t, x);
            Assert.True((x1hat - x1Exact).abs().max().ToDouble() < 1e-9, $"s -> E[x1 | x] at t = {t}");
        }
    }

    [Fact]
    public void Two_sided_score_and_denoiser_convert_but_velocity_alone_does_not_give_a_score()
    {
        var it = new LinearInterpolant(GammaSchedule.Sqrt());
        var oracle = Oracle(it);
        using var g = new Generator(4);
        using var x = randn(32, 2, dtype: float64, generator: g);
        var fromScore = new FieldSet(it, [new FunctionField(FieldKind.Score, oracle.Score)]);
        using var eta = fromScore.Get(FieldKind.Denoiser).Evaluate(0.3, x);
        var back = new FieldSet(it, [new FunctionField(FieldKind.Denoiser, (t, y) => fromScore.Get(FieldKind.Denoiser).Evaluate(t, y))]);
        using var s = back.Get(FieldKind.Score).Evaluate(0.3, x);
        using var sExact = oracle.Score(0.3, x);
        Assert.True((s - sExact).abs().max().ToDouble() < 1e-12);
        // At the ends gamma = 0: the denoiser -gamma s is exactly 0 there, not 0/0.
        foreach (var end in new[] { 0.0, 1.0 })
        {
            using var etaEnd = fromScore.Get(FieldKind.Denoiser).Evaluate(end, x);
            Assert.Equal(0.0, etaEnd.abs().max().ToDouble());
        }
        var velocityOnly = new FieldSet(it, [new FunctionField(FieldKind.Velocity, oracle.Velocity)]);
        Assert.Contains("does not determine its score", Assert.Throws<FieldConversionException>(() => velocityOnly.Get(FieldKind.Score)).Message);
        var noGamma = new FieldSet(new LinearInterpolant(), [new FunctionField(FieldKind.Velocity, oracle.Velocity)]);
        Assert.Contains("gamma = 0", Assert.Throws<FieldConversionException>(() => noGamma.Get(FieldKind.Score)).Message);
        Assert.Contains("gamma = 0", Assert.Throws<ArgumentException>(() => new StochasticInterpolants.Objectives.DenoiserObjective(new LinearInterpolant())).Message);
    }

    public static TheoryData<string> TwoSidedWithNoise() => new() { "linear", "trigonometric", "mirror" };

    [Theory, MemberData(nameof(TwoSidedWithNoise))]
    public void Two_sided_velocity_and_score_give_the_exact_target_prediction(string family)
    {
        var it = new InterpolantSpec(family, Gamma: "sqrt").Build();
        var oracle = Oracle(it);
        using var g = new Generator(5);
        using var x = randn(64, 2, dtype: float64, generator: g) * 2;
        // From the score (gamma' eta = -gamma gamma' s stays finite at the ends) and from the denoiser eta = -gamma s.
        var fromScore = new FieldSet(it, [new FunctionField(FieldKind.Velocity, oracle.Velocity), new FunctionField(FieldKind.Score, oracle.Score)]);
        var fromDenoiser = new FieldSet(it, [new FunctionField(FieldKind.Velocity, oracle.Velocity),
            new FunctionField(FieldKind.Denoiser, (t, y) => -it.At(t).Gamma * oracle.Score(t, y))]);
        foreach (var t in new[] { 0.05, 0.3, 0.5, 0.8, 0.97 })
        {
            using var exact = oracle.TargetPrediction(t, x);
            foreach (var (name, set) in new[] { ("score", fromScore), ("denoiser", fromDenoiser) })
            {
                using var x1hat = set.Get(FieldKind.TargetPrediction).Evaluate(t, x);
                var err = (x1hat - exact).abs().max().ToDouble();
                Assert.True(err < 1e-9, $"{family}, from b and the {name}, t = {t}: max error {err:g3}");
            }
        }
        if (family == "mirror")
        {
            // The mirror's noise alone gives the velocity b = gamma' eta = -gamma gamma' s.
            var scoreOnly = new FieldSet(it, [new FunctionField(FieldKind.Score, oracle.Score)]);
            foreach (var t in new[] { 0.2, 0.5, 0.9 })
            {
                using var b = scoreOnly.Get(FieldKind.Velocity).Evaluate(t, x);
                using var bExact = oracle.Velocity(t, x);
                Assert.True((b - bExact).abs().max().ToDouble() < 1e-9, $"mirror s -> b at t = {t}");
            }
        }
        else
        {
            var velocityOnly = new FieldSet(it, [new FunctionField(FieldKind.Velocity, oracle.Velocity)]);
            Assert.Contains("needs both the velocity and the score", Assert.Throws<FieldConversionException>(() => velocityOnly.Get(FieldKind.TargetPrediction)).Message);
            var scoreOnly = new FieldSet(it, [new FunctionField(FieldKind.Score, oracle.Score)]);
            Assert.Contains("cannot be converted from the score", Assert.Throws<FieldConversionException>(() => scoreOnly.Get(FieldKind.Velocity)).Message);
        }
    }

    [Fact]
    public void Encoder_decoder_target_prediction_is_refused_with_the_reason()
    {
        var it = new InterpolantSpec("encoder-decoder", Gamma: "sqrt").Build();
        var oracle = Oracle(it);
        var both = new FieldSet(it, [new FunctionField(FieldKind.Velocity, oracle.Velocity), new FunctionField(FieldKind.Score, oracle.Score)]);
        Assert.False(both.CanProvide(FieldKind.TargetPrediction));
        Assert.Contains("alpha beta' - alpha' beta vanishes", Assert.Throws<FieldConversionException>(() => both.Get(FieldKind.TargetPrediction)).Message);
    }
}
