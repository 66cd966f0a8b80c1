using StochasticInterpolants.Fields;
using StochasticInterpolants.Interpolants;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Fields;

public class AnalyticFieldTests
{
    [Fact]
    public void Gaussian_closed_form_equals_the_one_component_mixture_field()
    {
        var exact = new GaussianToGaussianVelocity([2.0, -1.0], 0.5);
        var mixture = new GaussianMixtureField(new LinearInterpolant(),
            [new MixtureComponent(1, [0, 0], [1, 1])], [new MixtureComponent(1, [2, -1], [0.25, 0.25])]);
        using var g = new Generator(5);
        using var x = randn(64, 2, dtype: float64, generator: g) * 2;
        foreach (var t in new[] { 0.0, 0.1, 0.5, 0.9, 1.0 })
        {
            using var a = exact.Velocity(t, x);
            using var b = mixture.Velocity(t, x);
            Assert.True((a - b).abs().max().item<double>() < 1e-10, $"t = {t}");
        }
    }

    public static TheoryData<string, string> Interpolants() => new()
    {
        { "linear", "none" }, { "linear", "sqrt" }, { "trigonometric", "quadratic" }, { "encoder-decoder", "sin2" },
    };

    [Theory, MemberData(nameof(Interpolants))]
    public void Mixture_field_satisfies_the_continuity_equation_and_its_score_is_the_gradient_of_log_rho(string family, string gamma)
    {
        // 1-D, two components each side: check d/dt rho = -d/dx (b rho) and s = d/dx log rho by central differences.
        var it = new InterpolantSpec(family, gamma, 0.5).Build();
        var field = new GaussianMixtureField(it,
            [new MixtureComponent(0.3, [-1.0], [0.5]), new MixtureComponent(0.7, [1.0], [1.0])],
            [new MixtureComponent(0.5, [-2.0], [0.1]), new MixtureComponent(0.5, [2.5], [0.3])]);
        const double h = 1e-5;
        using var x = tensor(new[] { -2.5, -1.0, 0.0, 0.7, 2.0 }, [5, 1]);
        using var xp = x + h; using var xm = x - h;
        foreach (var t in new[] { 0.2, 0.45, 0.7 })
        {
            using var rhoTp = field.LogDensity(t + h, x).exp(); using var rhoTm = field.LogDensity(t - h, x).exp();
            using var dRhoDt = (rhoTp - rhoTm) / (2 * h);
            using var fluxP = field.Velocity(t, xp).squeeze(1) * field.LogDensity(t, xp).exp();
            using var fluxM = field.Velocity(t, xm).squeeze(1) * field.LogDensity(t, xm).exp();
            using var divFlux = (fluxP - fluxM) / (2 * h);
            // Central differences: truncation O(h^2 f''') <= ~2e-7 here (narrow components have large third derivatives),
            // round-off ~1e-16 / h ~ 1e-11.
            Assert.True((dRhoDt + divFlux).abs().max().item<double>() < 1e-6, $"continuity at t = {t}");
            using var score = field.Score(t, x).squeeze(1);
            using var fdScore = (field.LogDensity(t, xp) - field.LogDensity(t, xm)) / (2 * h);
            Assert.True((score - fdScore).abs().max().item<double>() < 1e-6, $"score at t = {t}");
        }
    }
}
