using FsCheck;
using FsCheck.Xunit;
using StochasticInterpolants.Fields;
using StochasticInterpolants.Metrics;
using StochasticInterpolants.Models;
using StochasticInterpolants.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Metrics;

/// <summary>Path straightness S = E|X1 - X0|^2 / E int |b|^2 dt (docs/theory.md §12.5) against fields whose paths are known in closed form.</summary>
public class PathStraightnessTests
{
    private static Tensor Points(int n, int d, ulong seed)
    {
        using var g = new Generator(seed);
        return randn(n, d, dtype: float64, generator: g);
    }

    [Fact]
    public void A_constant_field_has_straight_paths()
    {
        // X_t = x0 + t c: |X1 - X0|^2 = |c|^2 = int |b|^2 dt, so S = 1 (RK4 is exact here; only rounding is left).
        using var c = tensor(new[] { 0.7, -1.3, 2.0 }, dtype: float64);
        var field = new VelocityFunction((_, x) => c.expand_as(x).clone());
        using var x0 = Points(64, 3, 1);
        var r = PathStraightness.Measure(field, x0, steps: 7);
        Assert.Equal(1.0, r.Straightness, 12);
        Assert.Equal(0.49 + 1.69 + 4.0, r.MeanSquaredDisplacement, 12);
        Assert.Equal(0.49 + 1.69 + 4.0, r.MeanKineticEnergy, 12);
        Assert.Equal((64, 7, 0.0, 1.0), (r.Points, r.Steps, r.Start, r.End));
    }

    [Fact]
    public void A_rotation_gives_chord_squared_over_arc_squared()
    {
        // b = (-y, x): each point turns by 1 radian at speed r = |x0|, so |X1 - X0| = 2 r sin(1/2) and int |b|^2 = r^2:
        // S = (2 sin(1/2))^2 = 0.91939..., whatever the radii. RK4 with h = 1/100 is accurate to ~1e-10 here.
        using var m = tensor(new[,] { { 0.0, 1.0 }, { -1.0, 0.0 } }, dtype: float64); // (x, y) M = (-y, x)
        var field = new VelocityFunction((_, x) => x.matmul(m));
        using var x0 = Points(200, 2, 2);
        using var radii = x0.square().sum([1]).mean();
        var r2 = radii.ToDouble();
        var r = PathStraightness.Measure(field, x0, steps: 100);
        Assert.Equal(Math.Pow(2 * Math.Sin(0.5), 2), r.Straightness, 9);
        Assert.Equal(r2, r.MeanKineticEnergy, 8);
        Assert.Equal(4 * Math.Pow(Math.Sin(0.5), 2) * r2, r.MeanSquaredDisplacement, 8);
    }

    [Theory]
    [InlineData(1.0)]
    [InlineData(-2.0)]
    [InlineData(3.0)]
    public void A_linear_field_matches_its_closed_form(double a)
    {
        // b = a x: X_t = e^{a t} x0, |X1 - X0|^2 = (e^a - 1)^2 |x0|^2, int_0^1 |b|^2 = a (e^{2a} - 1) / 2 |x0|^2,
        // so S = 2 (e^a - 1)^2 / (a (e^{2a} - 1)) = (2 / a) tanh(a / 2). RK4's global error scales as (a h)^4 = 5e-8 at
        // a = 3, h = 1/200 (measured 7e-10 on S), so 8 decimals hold with room.
        var field = new VelocityFunction((_, x) => x * a);
        using var x0 = Points(100, 4, 3);
        using var norms = x0.square().sum([1]).mean();
        var q = norms.ToDouble();
        var r = PathStraightness.Measure(field, x0, steps: 200);
        Assert.Equal(2 / a * Math.Tanh(a / 2), r.Straightness, 8);
        // The two terms grow like e^{2a}: compare them relatively (measured 2.6e-9 at a = 3).
        Assert.InRange(Math.Abs(r.MeanSquaredDisplacement / (Math.Pow(Math.Exp(a) - 1, 2) * q) - 1), 0, 1e-8);
        Assert.InRange(Math.Abs(r.MeanKineticEnergy / (a * (Math.Exp(2 * a) - 1) / 2 * q) - 1), 0, 1e-8);
    }

    [Fact]
    public void A_sub_interval_is_normalised_by_its_length()
    {
        // On [t0, t1] a constant field still gives S = 1: the bound is |int b|^2 <= (t1 - t0) int |b|^2.
        var field = new VelocityFunction((_, x) => ones_like(x));
        using var x0 = Points(10, 2, 4);
        var r = PathStraightness.Measure(field, x0, steps: 3, tStart: 0.25, tEnd: 0.75);
        Assert.Equal(1.0, r.Straightness, 12);
        Assert.Equal(0.5, r.MeanSquaredDisplacement, 12); // |0.5 (1, 1)|^2
        Assert.Equal(1.0, r.MeanKineticEnergy, 12);       // 0.5 * |(1, 1)|^2
    }

    [Property(MaxTest = 40)]
    public void Straightness_never_exceeds_one_on_random_fields(int seed, PositiveInt steps, bool timeDependent)
    {
        // A random one-hidden-layer field b(t, x) = tanh(x W1 + t u + c) W2 (scaled up to 3x). The discrete energy uses the
        // RK4 weights, for which Cauchy–Schwarz holds exactly, so S <= 1 for every N, not only in the limit.
        var n = 1 + Math.Abs(seed % 5);
        using var g = new Generator((ulong)(uint)seed);
        using var w1 = randn(3, 16, dtype: float64, generator: g);
        using var u = randn(16, dtype: float64, generator: g) * (timeDependent ? 4.0 : 0.0);
        using var c = randn(16, dtype: float64, generator: g);
        using var w2 = randn(16, 3, dtype: float64, generator: g) * (3.0 / 4);
        var field = new VelocityFunction((t, x) => tanh(x.matmul(w1) + u * t + c).matmul(w2));
        using var x0 = randn(n * 8, 3, dtype: float64, generator: g);
        var r = PathStraightness.Measure(field, x0, steps: 1 + steps.Get % 12);
        Assert.InRange(r.Straightness, 0.0, 1.0 + 1e-12);
    }

    [Fact]
    public void A_network_field_in_float32_stays_below_one()
    {
        using var net = new MlpNetwork(new MlpConfig(Dimension: 2, Width: 32, Depth: 2), seed: 5);
        net.eval();
        using var g = new Generator(6);
        using var x0 = randn(256, 2, generator: g);
        var r = PathStraightness.Measure(new NetworkVelocityField(net), x0, steps: 20);
        Assert.InRange(r.Straightness, 0.0, 1.0 + 1e-5);
        Assert.True(r.MeanKineticEnergy > 0);
    }

    [Fact]
    public void A_non_finite_velocity_is_refused_naming_the_time()
    {
        // N = 4: step 2 runs from t = 0.25 by h = 0.25, so its fourth stage is the first evaluation at t = 0.5.
        var field = new VelocityFunction((t, x) => t >= 0.5 ? full_like(x, double.NaN) : x.clone(), "test velocity");
        using var x0 = Points(5, 2, 7);
        var e = Assert.Throws<IntegrationException>(() => PathStraightness.Measure(field, x0, steps: 4));
        Assert.Contains("test velocity", e.Message);
        Assert.Contains("t = 0.5", e.Message);
        Assert.Contains("stage 4 of step 2", e.Message);
    }

    [Fact]
    public void A_field_that_never_moves_has_no_straightness()
    {
        var field = new VelocityFunction((_, x) => zeros_like(x));
        using var x0 = Points(5, 2, 8);
        Assert.Contains("zero along every path", Assert.Throws<ArgumentException>(() => PathStraightness.Measure(field, x0, steps: 2)).Message);
        Assert.Throws<ArgumentException>(() => PathStraightness.Measure(field, x0, tStart: 0.5, tEnd: 0.5));
    }
}
