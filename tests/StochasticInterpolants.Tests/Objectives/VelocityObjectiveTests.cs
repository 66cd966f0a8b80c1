using StochasticInterpolants.Data;
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
    public Tensor forward(Tensor x, Tensor t, Tensor? condition) => f(x, t.dim() == 0 ? t.expand(x.shape[0]) : t);
    public nn.Module Module => this;
    public ModelSpec? Spec => null;
}

internal static class Batches
{
    /// <summary>A batch of x0, x1, z drawn N(0, I) of <paramref name="shape"/> and t ~ U[clip, 1 - clip].</summary>
    public static TrainingBatch Draw(Generator g, long[] shape, double clip = 0)
    {
        var x0 = randn(shape, dtype: float64, generator: g);
        var x1 = randn(shape, dtype: float64, generator: g);
        var z = randn(shape, dtype: float64, generator: g);
        var t = rand(shape[0], dtype: float64, generator: g) * (1 - 2 * clip) + clip;
        return new TrainingBatch(x0, x1, z, t);
    }
}

public class VelocityObjectiveTests
{
    [Fact]
    public void Loss_is_the_mean_over_rows_of_the_squared_norm_divided_by_the_elements_per_row()
    {
        var it = new LinearInterpolant(GammaSchedule.Quadratic());
        var objective = new VelocityObjective(it);
        using var g = new Generator(2);
        var batch = Batches.Draw(g, [50, 2]);
        using var zero = new FieldNetwork((x, t) => zeros_like(x));
        using var loss = objective.Loss(zero, batch);
        // The target by hand, coefficient by coefficient: alpha' x0 + beta' x1 + gamma' z = -x0 + x1 + (1 - 2t) z.
        var t = batch.T.unsqueeze(1);
        using var target = -batch.X0 + batch.X1 + (1 - 2 * t) * batch.Z;
        Assert.Equal(target.square().sum(1).mean().item<double>() / 2, loss.item<double>(), 12);
    }

    [Fact]
    public void An_image_shaped_batch_weighs_like_a_flat_one_with_the_same_elements()
    {
        // The same numbers as [n, 1, 4, 4] and as [n, 16]: the per-row mean over elements makes the losses equal, and a
        // time per row broadcasts over every trailing axis.
        var objective = new VelocityObjective(new TrigonometricInterpolant(GammaSchedule.Sqrt(0.5)), new ObjectiveOptions(Antithetic: true));
        using var g = new Generator(8);
        var image = Batches.Draw(g, [30, 1, 4, 4], clip: 0.01);
        var flat = new TrainingBatch(image.X0.reshape(30, 16), image.X1.reshape(30, 16), image.Z.reshape(30, 16), image.T);
        using var net = new FieldNetwork((x, t) => x * 0.5);
        using var a = objective.Loss(net, image);
        using var b = objective.Loss(net, flat);
        Assert.Equal(b.item<double>(), a.item<double>(), 12);
        var denoiser = new DenoiserObjective(new TrigonometricInterpolant(GammaSchedule.Sqrt(0.5)));
        using var c = denoiser.Loss(net, image);
        using var d = denoiser.Loss(net, flat);
        Assert.Equal(d.item<double>(), c.item<double>(), 12);
        // A loss per element is O(1) whatever the dimension: here the zero network's loss is E|target|^2 / 16.
        Assert.InRange(a.item<double>(), 0.05, 5);
    }

    [Fact]
    public void Antithetic_loss_averages_the_two_reflected_samples()
    {
        var it = new LinearInterpolant(GammaSchedule.Sqrt());
        var plain = new VelocityObjective(it);
        var anti = new VelocityObjective(it, new ObjectiveOptions(Antithetic: true));
        using var g = new Generator(3);
        var batch = Batches.Draw(g, [40, 2], clip: 0.01);
        var flipped = batch with { Z = -batch.Z };
        using var net = new FieldNetwork((x, t) => x * 0.3 + t.unsqueeze(1));
        using var lPlus = plain.Loss(net, batch);
        using var lMinus = plain.Loss(net, flipped);
        using var lAnti = anti.Loss(net, batch);
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
        using var tt = rand(n, dtype: float64, generator: g);
        var times = tt.data<double>().ToArray();
        var batch = new TrainingBatch(x0, x1, z, tt);
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
        using var l0 = objective.Loss(best, batch);
        using var l1 = objective.Loss(scaled, batch);
        using var l2 = objective.Loss(shifted, batch);
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
        var coupling = new StochasticInterpolants.Couplings.IndependentCoupling(new StandardGaussian(2), new StandardGaussian(2));
        var batch = ((StochasticInterpolants.Couplings.ICoupling)coupling).DrawBatch(10_000, g, o.TimeClip);
        var t = batch.T.data<double>().ToArray();
        Assert.InRange(t.Min(), 0.2, 0.21); Assert.InRange(t.Max(), 0.79, 0.8);
        Assert.Throws<StochasticInterpolants.Runtime.InvalidSettingException>(() => new VelocityObjective(new LinearInterpolant(), new ObjectiveOptions(TimeClip: 0.5)));
    }
}
