using StochasticInterpolants.Couplings;
using StochasticInterpolants.Data;
using StochasticInterpolants.Discrete;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using StochasticInterpolants.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Discrete;

public class DiscreteTrainingTests(Xunit.Abstractions.ITestOutputHelper output)
{
    /// <summary>Token rows drawn uniformly with their class labels.</summary>
    private sealed class LabelledRows(float[,] rows, long[] labels) : IDistribution
    {
        public string Name => "rows";
        public int Dimension => rows.GetLength(1);
        public bool HasLogDensity => false;
        public Tensor LogDensity(Tensor x) => throw new NotSupportedException();
        public Tensor Sample(int count, Generator generator) => SampleWithCondition(count, generator).Samples;
        public (Tensor Samples, Tensor? Condition) SampleWithCondition(int count, Generator generator)
        {
            using var table = tensor(rows.Cast<float>().ToArray(), [rows.GetLength(0), rows.GetLength(1)]);
            using var classes = tensor(labels);
            using var index = randint(0, rows.GetLength(0), [count], generator: generator);
            return (table.index_select(0, index), classes.index_select(0, index));
        }
    }

    // Class 0: 0123 or 0213; class 1: 3210 or 3120, each of the four with probability 1/4.
    private static readonly float[,] Words = { { 0, 1, 2, 3 }, { 0, 2, 1, 3 }, { 3, 2, 1, 0 }, { 3, 1, 2, 0 } };
    private static readonly long[] Labels = [0, 0, 1, 1];

    [Theory]
    [InlineData(DiscreteSourceKind.Masked)]
    [InlineData(DiscreteSourceKind.Uniform)]
    public void A_posterior_network_trained_by_the_library_trainer_learns_a_known_law(DiscreteSourceKind kind)
    {
        using var scope = NewDisposeScope();
        ITokenSource source = kind == DiscreteSourceKind.Masked ? new MaskedSource(4, 4) : new UniformTokens(4, 4);
        var interpolant = new MixtureInterpolant();
        var objective = new DiscreteObjective(interpolant, kind);
        var network = new PosteriorNetwork(new PosteriorConfig(4, 4, Width: 32, Layers: 2, Heads: 2, Hidden: 64, Classes: 2), seed: 3);
        var trainer = new Trainer(new IndependentCoupling(source, new LabelledRows(Words, Labels)), objective, network,
            new TrainingOptions(Steps: 400, BatchSize: 128, LearningRate: 3e-3, WarmupSteps: 20, EmaDecay: 0, Seed: 1, LogEvery: 100, ConditionDropout: 0.2));
        var result = trainer.Run(out var ema);
        Assert.Null(ema);
        Assert.True(result.Log[^1].Loss < 0.6 * result.Log[0].Loss, $"loss {result.Log[0].Loss:F3} -> {result.Log[^1].Loss:F3}");

        // The bound of the unconditional model on the four words is at least their entropy, log 4 nats = 0.5 bit per token,
        // and close to it; given the class it is about log 2 = 0.25 bit per token.
        using var g = new Generator(17);
        var x1 = tensor(Words.Cast<float>().ToArray(), [4, 4]).repeat(500, 1);
        var labels = tensor(Labels).repeat(500);
        var unconditional = DiscreteLikelihoodBound.Estimate(x1, DiscretePosterior.FromNetwork(network, kind, 4), interpolant, source, g);
        var conditional = DiscreteLikelihoodBound.Estimate(x1, DiscretePosterior.FromNetwork(network, kind, 4), interpolant, source, g, labels);
        var slack = kind == DiscreteSourceKind.Masked ? 0.1 : 0.4; // the uniform-source bound is looser even for the exact posterior
        Assert.True(unconditional.BitsPerToken > 0.5 - 4 * unconditional.StandardError && unconditional.BitsPerToken < 0.5 + slack,
            $"unconditional bound {unconditional.BitsPerToken:F3} ± {unconditional.StandardError:F3} bits/token (entropy 0.5)");
        Assert.True(conditional.BitsPerToken > 0.25 - 4 * conditional.StandardError && conditional.BitsPerToken < 0.25 + slack,
            $"conditional bound {conditional.BitsPerToken:F3} ± {conditional.StandardError:F3} bits/token (entropy 0.25)");

        // Samples given the class are that class's words.
        var classes = tensor(new long[] { 0, 1 }).repeat(500);
        var samples = new DiscreteSampler(interpolant, 20).Sample(source.Sample(1000, g), DiscretePosterior.FromNetwork(network, kind, 4), g, classes);
        var words = tensor(Words.Cast<float>().ToArray(), [4, 4]);
        var match = samples.unsqueeze(1).eq(words.unsqueeze(0)).all(2);                          // [n, 4]
        var inClass = (match[.., 0].logical_or(match[.., 1]).logical_and(classes.eq(0)))
            .logical_or(match[.., 2].logical_or(match[.., 3]).logical_and(classes.eq(1)));
        var share = inClass.to(float64).mean().item<double>();
        output.WriteLine($"{kind}: loss {result.Log[0].Loss:F3} -> {result.Log[^1].Loss:F3} in {result.Elapsed.TotalSeconds:F1} s; bound {unconditional.BitsPerToken:F3} ± {unconditional.StandardError:F3} (entropy 0.5), given the class {conditional.BitsPerToken:F3} ± {conditional.StandardError:F3} (0.25) bits/token; {share:P1} in class");
        // The uniform source's chain corrects wrong tokens by jumps, and 20 Euler steps let positions jump together.
        Assert.True(share > (kind == DiscreteSourceKind.Masked ? 0.95 : 0.9), $"{share:P1} of the samples are words of their class");
    }
}
