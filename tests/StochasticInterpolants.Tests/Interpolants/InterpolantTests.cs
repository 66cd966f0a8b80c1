using StochasticInterpolants.Interpolants;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Interpolants;

public class InterpolantTests
{
    public static TheoryData<string, string> AllSpecs() => new()
    {
        { "linear", "none" }, { "linear", "sqrt" }, { "linear", "quadratic" }, { "linear", "sin2" },
        { "trigonometric", "none" }, { "trigonometric", "sqrt" }, { "encoder-decoder", "sin2" },
        { "one-sided-linear", "none" }, { "one-sided-vp", "none" }, { "mirror", "sqrt" }, { "mirror", "quadratic" },
    };

    private static IInterpolant Build(string family, string gamma) => new InterpolantSpec(family, gamma, 1.0).Build();

    [Theory, MemberData(nameof(AllSpecs))]
    public void Boundary_values_hold(string family, string gamma)
    {
        var it = Build(family, gamma);
        var c0 = it.At(0); var c1 = it.At(1);
        Assert.Equal(0, c0.Gamma, 12); Assert.Equal(0, c1.Gamma, 12);
        if (it.Kind == InterpolantKind.Mirror)
        {
            Assert.Equal((0.0, 1.0), (c0.Alpha, c0.Beta)); Assert.Equal((0.0, 1.0), (c1.Alpha, c1.Beta));
            Assert.True(it.At(0.5).Gamma > 0);
        }
        else
        {
            Assert.Equal(1, c0.Alpha, 12); Assert.Equal(0, c0.Beta, 12);
            Assert.Equal(0, c1.Alpha, 12); Assert.Equal(1, c1.Beta, 12);
        }
        Assert.True(it.At(0.3).Gamma >= 0 && it.At(0.7).Gamma >= 0);
    }

    [Theory, MemberData(nameof(AllSpecs))]
    public void Derivatives_match_finite_differences(string family, string gamma)
    {
        var it = Build(family, gamma);
        const double h = 1e-6;
        foreach (var t in new[] { 0.05, 0.2, 0.37, 0.49, 0.51, 0.66, 0.9, 0.95 })
        {
            var c = it.At(t); var p = it.At(t + h); var m = it.At(t - h);
            // Central differences are accurate to O(h^2 f''') ~ 1e-10 here; 1e-6 leaves room for round-off (~1e-10/h).
            Assert.Equal((p.Alpha - m.Alpha) / (2 * h), c.AlphaDot, 6);
            Assert.Equal((p.Beta - m.Beta) / (2 * h), c.BetaDot, 6);
            Assert.Equal((p.Gamma - m.Gamma) / (2 * h), c.GammaDot, 6);
            Assert.Equal(c.Gamma * c.GammaDot, c.GammaGammaDot, 9);
        }
    }

    [Fact]
    public void Sqrt_gamma_is_singular_at_the_ends_but_gamma_gamma_dot_is_finite()
    {
        var it = new LinearInterpolant(GammaSchedule.Sqrt(2.0));
        Assert.True(it.HasSingularGammaDerivative);
        Assert.True(double.IsPositiveInfinity(it.At(0).GammaDot));
        Assert.True(double.IsNegativeInfinity(it.At(1).GammaDot));
        Assert.Equal(1.0, it.At(0).GammaGammaDot, 12);   // a (1 - 2t) / 2 at t = 0
        Assert.Equal(-1.0, it.At(1).GammaGammaDot, 12);
        Assert.Equal(Math.Sqrt(2 * 0.25 * 0.75), it.At(0.25).Gamma, 12);
    }

    [Fact]
    public void Trigonometric_preserves_alpha_squared_plus_beta_squared()
    {
        var it = new TrigonometricInterpolant();
        for (var t = 0.0; t <= 1.0; t += 0.125) { var c = it.At(t); Assert.Equal(1.0, c.Alpha * c.Alpha + c.Beta * c.Beta, 12); }
        var vp = new OneSidedVpInterpolant();
        for (var t = 0.0; t <= 1.0; t += 0.125) { var c = vp.At(t); Assert.Equal(1.0, c.Alpha * c.Alpha + c.Beta * c.Beta, 12); }
    }

    [Theory, MemberData(nameof(AllSpecs))]
    public void Spec_round_trips(string family, string gamma)
    {
        var it = Build(family, gamma);
        Assert.NotNull(it.Spec);
        var again = it.Spec!.Build();
        Assert.Equal(it.Name, again.Name);
        foreach (var t in new[] { 0.1, 0.5, 0.8 }) Assert.Equal(it.At(t), again.At(t));
    }

    [Theory]
    [InlineData("bogus", "none", "unknown interpolant 'bogus'")]
    [InlineData("linear", "cubic", "unknown gamma schedule 'cubic'")]
    [InlineData("one-sided-vp", "sqrt", "one-sided")]
    public void Bad_specs_give_clear_errors(string family, string gamma, string fragment)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => new InterpolantSpec(family, gamma).Build());
        Assert.Contains(fragment, e.Message);
    }

    [Fact]
    public void Time_outside_unit_interval_is_rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new LinearInterpolant().At(1.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LinearInterpolant().At(double.NaN));
    }

    [Fact]
    public void Custom_interpolant_differentiates_numerically_and_checks_boundaries()
    {
        var custom = new CustomInterpolant("trig-by-hand",
            t => Math.Cos(Math.PI * t / 2), t => Math.Sin(Math.PI * t / 2), t => t * (1 - t));
        var exact = new TrigonometricInterpolant(GammaSchedule.Quadratic());
        foreach (var t in new[] { 0.0, 0.0001, 0.3, 0.5, 0.9999, 1.0 })
        {
            var a = custom.At(t); var b = exact.At(t);
            Assert.Equal(b.AlphaDot, a.AlphaDot, 8);
            Assert.Equal(b.BetaDot, a.BetaDot, 8);
            Assert.Equal(b.GammaDot, a.GammaDot, 8);
        }
        Assert.Null(custom.Spec);
        var e = Assert.Throws<ArgumentException>(() => new CustomInterpolant("bad", t => 1 - t, t => t * t * 0.5));
        Assert.Contains("beta(1) must be 1", e.Message);
    }

    [Theory, MemberData(nameof(AllSpecs))]
    public void Interpolant_samples_hit_the_end_points_and_their_time_derivative_is_the_velocity_target(string family, string gamma)
    {
        var it = Build(family, gamma);
        using var g = new Generator(7);
        using var x0 = randn(5, 3, dtype: float64, generator: g);
        using var x1 = randn(5, 3, dtype: float64, generator: g) + 3;
        using var z = randn(5, 3, dtype: float64, generator: g);
        using var at0 = InterpolantPath.For(it).SampleAt(x0, x1, z, 0);
        using var at1 = InterpolantPath.For(it).SampleAt(x0, x1, z, 1);
        var start = it.Kind == InterpolantKind.Mirror ? x1 : x0;
        Assert.True(at0.allclose(start, 0, 1e-12));
        Assert.True(at1.allclose(x1, 0, 1e-12));
        const double h = 1e-6;
        foreach (var t in new[] { 0.2, 0.6 })
        {
            var (xt, v) = InterpolantPath.For(it).Interpolate(new StochasticInterpolants.Data.TrainingBatch(x0, x1, z, full(5, t, dtype: float64)));
            using var p = InterpolantPath.For(it).SampleAt(x0, x1, z, t + h);
            using var m = InterpolantPath.For(it).SampleAt(x0, x1, z, t - h);
            using var fd = (p - m) / (2 * h);
            Assert.True(v.allclose(fd, 1e-6, 1e-6), $"t = {t}");
            xt.Dispose(); v.Dispose();
        }
    }

    [Fact]
    public void Linear_interpolant_marginal_matches_the_gaussian_closed_form()
    {
        // x0 ~ N(0, I), x1 ~ N(m, s^2 I): x_t ~ N(t m, ((1-t)^2 + t^2 s^2) I) (docs/theory.md §5).
        const int n = 200_000; const double s = 0.5, m = 2.0, t = 0.3;
        using var g = new Generator(11);
        using var x0 = randn(n, 1, dtype: float64, generator: g);
        using var x1 = randn(n, 1, dtype: float64, generator: g) * s + m;
        using var z = zeros(n, 1, dtype: float64);
        using var xt = InterpolantPath.For(new LinearInterpolant()).SampleAt(x0, x1, z, t);
        var v = (1 - t) * (1 - t) + t * t * s * s;
        // 5 standard errors: mean se = sqrt(v/n), variance se = v sqrt(2/n).
        Assert.InRange(xt.mean().item<double>(), t * m - 5 * Math.Sqrt(v / n), t * m + 5 * Math.Sqrt(v / n));
        Assert.InRange(xt.var().item<double>(), v - 5 * v * Math.Sqrt(2.0 / n), v + 5 * v * Math.Sqrt(2.0 / n));
    }
}
