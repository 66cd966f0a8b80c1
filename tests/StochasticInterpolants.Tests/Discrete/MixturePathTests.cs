using StochasticInterpolants.Data;
using StochasticInterpolants.Discrete;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Discrete;

public class MixturePathTests
{
    public static TheoryData<string, double> Schedules => new() { { "linear", 1 }, { "cubic", 1 }, { "polynomial", 2.5 }, { "polynomial", 0.5 } };

    [Theory]
    [MemberData(nameof(Schedules))]
    public void Schedules_run_from_0_to_1_increasing_with_exact_derivatives(string name, double p)
    {
        var s = DiscreteSchedule.Parse(name, p);
        Assert.Equal(name, s.Name);
        Assert.Equal(0, s.Kappa(0), 15);
        Assert.Equal(1, s.Kappa(1), 15);
        Assert.Equal(double.PositiveInfinity, s.Rate(1));
        const double h = 1e-6;
        for (var t = 0.01; t < 0.995; t += 0.01)
        {
            Assert.True(s.Kappa(t + 0.005) > s.Kappa(t));
            var numeric = (s.Kappa(t + h) - s.Kappa(t - h)) / (2 * h);
            Assert.True(Math.Abs(numeric - s.Derivative(t)) < 1e-7 * Math.Max(1, Math.Abs(numeric)), $"{name}: kappa'({t}) = {s.Derivative(t)} vs {numeric}");
            Assert.Equal(s.Derivative(t) / (1 - s.Kappa(t)), s.Rate(t), 12);
        }
    }

    [Fact]
    public void Schedule_names_and_parameters_are_checked()
    {
        Assert.Same(DiscreteSchedule.Cubic, DiscreteSchedule.Parse("SmoothStep"));
        Assert.Contains("unknown discrete schedule", Assert.ThrowsAny<ArgumentException>(() => DiscreteSchedule.Parse("cosine")).Message);
        Assert.ThrowsAny<ArgumentException>(() => DiscreteSchedule.Polynomial(0));
        Assert.ThrowsAny<ArgumentException>(() => DiscreteSchedule.Polynomial(double.NaN));
        Assert.Throws<ArgumentOutOfRangeException>(() => DiscreteSchedule.Linear.Kappa(1.5));
    }

    [Fact]
    public void Mixture_families_are_registered_and_rebuilt_from_their_spec()
    {
        var plain = new InterpolantSpec("mixture").Build();
        var m = Assert.IsType<MixtureInterpolant>(plain);
        Assert.Equal("mixture-linear", m.Name);
        Assert.Equal(InterpolantKind.Mixture, m.Kind);
        var poly = Assert.IsType<MixtureInterpolant>(new InterpolantSpec("mixture-polynomial", GammaScale: 3).Build());
        Assert.Equal(3, poly.Schedule.Parameter);
        var again = Assert.IsType<MixtureInterpolant>(poly.Spec!.Build());
        Assert.Equal(0.5 * 0.5 * 0.5, again.Schedule.Kappa(0.5), 15);
        Assert.Equal("cubic", Assert.IsType<MixtureInterpolant>(new InterpolantSpec("mixture-cubic").Build()).Schedule.Name);
        Assert.Contains("gamma must be none", Assert.ThrowsAny<ArgumentException>(() => new InterpolantSpec("mixture", "sqrt").Build()).Message);

        var c = new MixtureInterpolant(DiscreteSchedule.Cubic).At(0.3);
        var kappa = 0.09 * (3 - 0.6);
        Assert.Equal((1 - kappa, kappa, 0.0, -6 * 0.3 * 0.7, 6 * 0.3 * 0.7), (c.Alpha, c.Beta, c.Gamma, c.AlphaDot, c.BetaDot), new Close(1e-14));
        Assert.IsType<MixturePath>(InterpolantPath.For(m));
    }

    private sealed class Close(double tolerance) : IEqualityComparer<(double, double, double, double, double)>
    {
        public bool Equals((double, double, double, double, double) a, (double, double, double, double, double) b) =>
            Math.Abs(a.Item1 - b.Item1) < tolerance && Math.Abs(a.Item2 - b.Item2) < tolerance && Math.Abs(a.Item3 - b.Item3) < tolerance
            && Math.Abs(a.Item4 - b.Item4) < tolerance && Math.Abs(a.Item5 - b.Item5) < tolerance;
        public int GetHashCode((double, double, double, double, double) obj) => 0;
    }

    [Fact]
    public void Standard_normal_cdf_matches_tabulated_values()
    {
        using var z = tensor(new[] { 0.0, 1.959963984540054, -1.0, 3.0 }, dtype: float64);
        using var u = MixturePath.StandardNormalCdf(z);
        var v = u.data<double>().ToArray();
        Assert.Equal(0.5, v[0], 14);
        Assert.Equal(0.975, v[1], 12);
        Assert.Equal(0.15865525393145707, v[2], 13);
        Assert.Equal(0.9986501019683699, v[3], 13);
    }

    [Theory]
    [InlineData("linear", 0.3)]
    [InlineData("cubic", 0.4)]
    public void Each_position_holds_the_target_with_probability_kappa(string schedule, double t)
    {
        using var scope = NewDisposeScope();
        var interpolant = new MixtureInterpolant(DiscreteSchedule.Parse(schedule));
        var path = InterpolantPath.For(interpolant);
        using var g = new Generator(7);
        const int n = 4000, l = 5;
        var x0 = full(n, l, 9f);                                     // MASK = 9
        var x1 = randint(0, 9, [n, l], generator: g).to(float32);
        var z = randn([n, l], generator: g);
        var batch = new TrainingBatch(x0, x1, z, full(n, t, dtype: float64));
        var (xt, target) = path.Interpolate(batch);
        Assert.True(target.equal(x1).all().item<bool>());
        Assert.True(xt.eq(x0).logical_or(xt.eq(x1)).all().item<bool>(), "x_t takes its tokens from x0 or x1");
        var share = xt.eq(x1).to(float64).mean().item<double>();
        var kappa = interpolant.Schedule.Kappa(t);
        var se = Math.Sqrt(kappa * (1 - kappa) / (n * l));
        Assert.True(Math.Abs(share - kappa) < 4 * se, $"share {share} vs kappa {kappa} (4 SE = {4 * se})");
        // The same batch gives the same x_t (no randomness of its own); positions are independent: the share of rows with
        // both of their first two positions from x1 is kappa^2.
        Assert.True(path.Interpolate(batch).Xt.equal(xt).all().item<bool>());
        var both = xt[.., 0].eq(x1[.., 0]).logical_and(xt[.., 1].eq(x1[.., 1])).to(float64).mean().item<double>();
        Assert.True(Math.Abs(both - kappa * kappa) < 4 * Math.Sqrt(kappa * kappa * (1 - kappa * kappa) / n), $"pair share {both} vs {kappa * kappa}");
        // The ends are exact: x0 at t = 0, x1 at t = 1 (also for z far in the tail).
        z[0, 0] = 40f; z[1, 0] = -40f;
        Assert.True(path.SampleAt(x0, x1, z, 0).equal(x0).all().item<bool>());
        Assert.True(path.SampleAt(x0, x1, z, 1).equal(x1).all().item<bool>());
    }

    [Fact]
    public void The_mixture_path_converts_only_its_posterior()
    {
        var path = InterpolantPath.For(new MixtureInterpolant());
        Assert.False(path.HasNoise);
        Assert.Null(path.WhyNotConvertible(FieldKind.Posterior, [FieldKind.Posterior]));
        Assert.Contains("posterior network", path.WhyNotConvertible(FieldKind.Posterior, [FieldKind.Velocity]));
        Assert.Contains("no velocity", path.WhyNotConvertible(FieldKind.Velocity, [FieldKind.Posterior]));
        Assert.Contains("no score", path.WhyNotConvertible(FieldKind.Score, [FieldKind.Posterior]));
        using var x = zeros(2, 3);
        Assert.Throws<NotSupportedException>(() => path.Decompose(new TrainingBatch(x, x, x, zeros(2, dtype: float64)), null!));
    }

    [Fact]
    public void Sources_draw_masks_and_uniform_tokens_and_give_their_mass()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(3);
        var masked = new MaskedSource(4, 6);
        Assert.False(masked.HasLogDensity);
        Assert.Throws<NotSupportedException>(() => masked.LogDensity(zeros(1, 4)));
        var m = masked.Sample(10, g);
        Assert.Equal(new long[] { 10, 4 }, m.shape);
        Assert.True(m.eq(6).all().item<bool>());
        var lp = masked.LogProbability(cat([m[..1], zeros(1, 4)])).data<double>().ToArray();
        Assert.Equal([0.0, double.NegativeInfinity], lp);

        var uniform = new UniformTokens(4, 6);
        var u = uniform.Sample(6000, g);
        Assert.True(u.eq(u.round()).all().item<bool>() && u.min().item<float>() == 0 && u.max().item<float>() == 5);
        var counts = bincount(u.flatten().to(int64)).to(float64) / 24000.0;
        var se = Math.Sqrt(1.0 / 6 * 5 / 6 / 24000);
        Assert.True((counts - 1.0 / 6).abs().max().item<double>() < 4 * se);
        var lu = uniform.LogProbability(cat([u[..1], full(1, 4, 6f)])).data<double>().ToArray();
        Assert.Equal(-4 * Math.Log(6), lu[0], 12);
        Assert.Equal(double.NegativeInfinity, lu[1]);
    }
}
