using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Data;

/// <summary>
/// A probability density on R^d that can be sampled: a base rho0 or a target rho1.
/// Samples are float32 tensors of shape [n, d], one sample per row.
/// </summary>
public interface IDistribution
{
    /// <summary>A short name (for example <c>checkerboard</c>, <c>gaussian</c>, or a file name).</summary>
    string Name { get; }

    /// <summary>Dimension d of the space the samples live in.</summary>
    int Dimension { get; }

    /// <summary>Draws <paramref name="count"/> independent samples as a [count, d] float32 tensor on the CPU,
    /// using only <paramref name="generator"/> as the source of randomness (so a seed reproduces them).</summary>
    Tensor Sample(int count, Generator generator);

    /// <summary>True when <see cref="LogDensity"/> is available in closed form.</summary>
    bool HasLogDensity { get; }

    /// <summary>Exact log rho(x) in nats for each row of <paramref name="x"/> ([n, d] -> [n], float64).
    /// Throws <see cref="NotSupportedException"/> when <see cref="HasLogDensity"/> is false.</summary>
    Tensor LogDensity(Tensor x);
}
