using StochasticInterpolants.Fields;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using StochasticInterpolants.Objectives;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Objectives;

/// <summary>A "network" that returns a fixed field, so losses can be computed by hand.</summary>
internal sealed class FieldNetwork(Func<Tensor, Tensor, Tensor> f) : nn.Module<Tensor, Tensor, Tensor>("field"), ITimeConditionedNetwork
{
    public override Tensor forward(Tensor x, Tensor t) => f(x, t);
    public nn.Module Module => this;
    public ModelSpec? Spec => null;
}

public class VelocityObjectiveTests
{
    [Fact]
    public void Loss_is_the_mean_squared_norm_of_the_residual()
    {
        var it = new LinearInterpolant(GammaSchedule.Quadratic());
        var objective = new VelocityObjective(it);
        using var g = new Generator(2);
        using var x0 = randn(50, 2, dtype: float64, generator: g);
        using var x1 = randn(50, 2, dtype: float64, generator: g);
        using var z = randn(50, 2, dtype: float64, generator: g);
        var times = objective.SampleTimes(50, g);
        using var zero = new FieldNetwork((x, t) => zeros_like(x));
        using var loss = objective.Loss(zero, x0, x1, z, times);
        var (_, target) = InterpolantSampler.Interpolate(it, x0, x1, z, times);
        Assert.Equal(target.square().sum(1).mean().item<double>(), loss.item<double>(), 12);
        target.Dispose();
    }

    [Fact]
    public void Antithetic_loss_averages_the_two_reflected_samples()
    {
        var it = new LinearInterpolant(GammaSchedule.Sqrt());
        var plain = new VelocityObjective(it);
        var anti = new VelocityObjective(it, new ObjectiveOptions(Antithetic: true));
        using var g = new Generator(3);
        using var x0 = randn(40, 2, dtype: float64, generator: g);
        using var x1 = randn(40, 2, dtype: float64, generator: g);
        using var z = randn(40, 2, dtype: float64, generator: g);
        using var minusZ = -z;
        var times = plain.SampleTimes(40, g);
        using var net = new FieldNetwork((x, t) => x * 0.3 + t.unsqueeze(1));
        using var lPlus = plain.Loss(net, x0, x1, z, times);
        using var lMinus = plain.Loss(net, x0, x1, minusZ, times);
        using var lAnti = anti.Loss(net, x0, x1, z, times);
        Assert.Equal(0.5 * (lPlus.item<double>() + lMinus.item<double>()), lAnti.item<double>(), 12);
    }

    [Fact]
    public void Exact_velocity_minimises_the_loss()
    {
        // Gaussian to Gaussian: the exact b attains a lower loss than perturbations of it (it is the L2 minimiser).
        var exact = new GaussianToGaussianVelocity([2.0, -1.0], 0.5);
        var objective = new VelocityObjective(new LinearInterpolant());
        using var g = new Generator(4);
        const int n = 100_000;
        using var x0 = randn(n, 2, dtype: float64, generator: g);
        using var x1 = randn(n, 2, dtype: float64, generator: g) * 0.5 + tensor(new[] { 2.0, -1.0 });
        using var z = zeros(n, 2, dtype: float64);
        var times = objective.SampleTimes(n, g);
        var tCopy = times;
        Tensor Exact(Tensor x, Tensor t)
        {
            var rows = Enumerable.Range(0, (int)x.shape[0]).Select(i => exact.Velocity(tCopy[i], x[i].unsqueeze(0))).ToArray();
            return cat(rows, 0);
        }
        // Evaluating row by row is slow; use the closed form vectorised instead: b = m + (x - t m)(t s^2 - (1-t)) / v(t).
        using var m = tensor(new[] { 2.0, -1.0 });
        Tensor Vectorised(Tensor x, Tensor t)
        {
            var tc = t.unsqueeze(1);
            var v = (1 - tc).square() + tc.square() * 0.25;
            return m + (x - tc * m) * (tc * 0.25 - (1 - tc)) / v;
        }
        using (var a = Exact(x0[..3], tensor(times[..3]))) using (var b = Vectorised(x0[..3], tensor(times[..3]))) Assert.True(a.allclose(b, 1e-12, 1e-12));
        using var best = new FieldNetwork(Vectorised);
        using var scaled = new FieldNetwork((x, t) => Vectorised(x, t) * 1.05);
        using var shifted = new FieldNetwork((x, t) => Vectorised(x, t) + 0.05);
        using var l0 = objective.Loss(best, x0, x1, z, times);
        using var l1 = objective.Loss(scaled, x0, x1, z, times);
        using var l2 = objective.Loss(shifted, x0, x1, z, times);
        Assert.True(l0.item<double>() < l1.item<double>() && l0.item<double>() < l2.item<double>());
    }

    [Fact]
    public void Time_clip_is_automatic_where_a_derivative_is_singular()
    {
        Assert.Equal(0.0, new VelocityObjective(new LinearInterpolant()).TimeClip);
        Assert.Equal(1e-3, new VelocityObjective(new LinearInterpolant(GammaSchedule.Sqrt())).TimeClip);
        Assert.Equal(1e-3, new VelocityObjective(new OneSidedVpInterpolant()).TimeClip);
        Assert.Equal(0.1, new VelocityObjective(new LinearInterpolant(), new ObjectiveOptions(TimeClip: 0.1)).TimeClip);
        var o = new VelocityObjective(new LinearInterpolant(), new ObjectiveOptions(TimeClip: 0.2));
        using var g = new Generator(1);
        var t = o.SampleTimes(10_000, g);
        Assert.InRange(t.Min(), 0.2, 0.21); Assert.InRange(t.Max(), 0.79, 0.8);
        Assert.Throws<ArgumentException>(() => new VelocityObjective(new LinearInterpolant(), new ObjectiveOptions(TimeClip: 0.5)));
    }
}
