using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Data;

/// <summary>
/// A probability density on R^d that can be sampled: a base rho0 or a target rho1.
/// Samples are float32 tensors of shape [n, ...<see cref="Shape"/>], one sample per row (for flat data [n, d]); a
/// distribution of labelled data also returns each row's condition from <see cref="SampleWithCondition"/>.
/// </summary>
public interface IDistribution
{
    /// <summary>A short name (for example <c>checkerboard</c>, <c>gaussian</c>, or a file name).</summary>
    string Name { get; }

    /// <summary>Dimension d of the space the samples live in (the number of elements of one sample).</summary>
    int Dimension { get; }

    /// <summary>The shape of one sample (for flat data [d]; an image [channels, height, width]).</summary>
    IReadOnlyList<long> Shape => [Dimension];

    /// <summary>Draws samples with their per-row condition (e.g. class labels [count]); null for unlabelled data.</summary>
    (Tensor Samples, Tensor? Condition) SampleWithCondition(int count, Generator generator) => (Sample(count, generator), null);

    /// <summary>Draws <paramref name="count"/> independent samples as a [count, d] float32 tensor on the CPU,
    /// using only <paramref name="generator"/> as the source of randomness (so a seed reproduces them).</summary>
    Tensor Sample(int count, Generator generator);

    /// <summary>True when <see cref="LogDensity"/> is available in closed form.</summary>
    bool HasLogDensity { get; }

    /// <summary>Exact log rho(x) in nats for each row of <paramref name="x"/> ([n, d] -> [n], float64).
    /// Throws <see cref="NotSupportedException"/> when <see cref="HasLogDensity"/> is false.</summary>
    Tensor LogDensity(Tensor x);
}
