using StochasticInterpolants.Data;
using StochasticInterpolants.Discrete;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Discrete;

public class DiscreteObjectiveTests
{
    [Fact]
    public void Cross_entropy_scores_masked_positions_only_for_the_masked_source()
    {
        using var scope = NewDisposeScope();
        // Two rows of three positions, K = 4 (MASK = 4); x_t masks positions (0, 0), (1, 1), (1, 2).
        var x1 = tensor(new float[] { 0, 1, 2, 3, 3, 1 }, [2, 3]);
        var xt = tensor(new float[] { 4, 1, 2, 3, 4, 4 }, [2, 3]);
        using var g = new Generator(2);
        var logits = randn([2, 3, 4], generator: g);
        var logp = logits.log_softmax(-1);
        double Nll(int r, int i) => -logp[r, i, (long)x1[r, i].item<float>()].item<float>();
        var masked = (Nll(0, 0) + Nll(1, 1) + Nll(1, 2)) / 6;
        var all = Enumerable.Range(0, 6).Sum(j => Nll(j / 3, j % 3)) / 6;
        Assert.Equal(masked, DiscreteObjective.CrossEntropy(logits, xt, x1, DiscreteSourceKind.Masked).item<float>(), 5);
        Assert.Equal(all, DiscreteObjective.CrossEntropy(logits, xt, x1, DiscreteSourceKind.Uniform).item<float>(), 5);
        // Logits at unmasked positions do not enter the masked loss.
        var changed = logits.clone(); changed[0, 1] = randn(4, generator: g) * 5;
        Assert.Equal(masked, DiscreteObjective.CrossEntropy(changed, xt, x1, DiscreteSourceKind.Masked).item<float>(), 5);
        // Uniform logits give log K per scored position.
        Assert.Equal(Math.Log(4), DiscreteObjective.CrossEntropy(zeros(2, 3, 4), xt, x1, DiscreteSourceKind.Uniform).item<float>(), 6);
        Assert.Contains("ids in 0..3", Assert.Throws<ArgumentException>(() => DiscreteObjective.CrossEntropy(logits, xt, full(2, 3, 4f), DiscreteSourceKind.Uniform)).Message);
    }

    [Fact]
    public void The_objective_needs_a_mixture_path_and_draws_x_t_from_the_batch()
    {
        using var scope = NewDisposeScope();
        Assert.Contains("discrete mixture interpolant", Assert.Throws<ArgumentException>(() => new DiscreteObjective(new LinearInterpolant(), DiscreteSourceKind.Masked)).Message);
        var objective = new DiscreteObjective(new MixtureInterpolant(), DiscreteSourceKind.Masked);
        Assert.Equal(FieldKind.Posterior, objective.Kind);
        Assert.Equal(0, objective.TimeClip);
        // An untrained posterior network predicts uniformly: the loss is log K times the share of masked positions.
        var net = new PosteriorNetwork(new PosteriorConfig(5, 6, Width: 8, Heads: 2, Hidden: 16), 0);
        using var g = new Generator(3);
        var x1 = randint(0, 6, [400, 5], generator: g).to(float32);
        var batch = new TrainingBatch(full(400, 5, 6f), x1, randn([400, 5], generator: g), full(400, 0.25, dtype: float64));
        var (xt, _) = objective.Path.Interpolate(batch);
        var share = xt.eq(6).to(float64).mean().item<double>();
        Assert.Equal(share * Math.Log(6), objective.Loss(net, batch).item<float>(), 5);
        Assert.True(Math.Abs(share - 0.75) < 0.04);
    }
}
