using static TorchSharp.torch;

namespace StochasticInterpolants.Data;

/// <summary>The standard Gaussian N(0, I_d): log rho(x) = -|x|^2 / 2 - (d / 2) log(2 pi).</summary>
public sealed class StandardGaussian : SampledDistribution
{
    /// <summary>N(0, I) in dimension <paramref name="dimension"/>.</summary>
    public StandardGaussian(int dimension = 2)
    {
        if (dimension < 1) throw new ArgumentException($"gaussian dimension must be >= 1, got {dimension}");
        Dimension = dimension;
    }

    /// <inheritdoc />
    public override string Name => "gaussian";
    /// <inheritdoc />
    public override int Dimension { get; }
    /// <inheritdoc />
    public override bool HasLogDensity => true;

    /// <inheritdoc />
    public override Tensor Sample(int count, Generator generator)
    {
        CheckCount(count);
        return randn(count, Dimension, generator: generator);
    }

    /// <inheritdoc />
    public override Tensor LogDensity(Tensor x)
    {
        CheckPoints(x);
        using var scope = NewDisposeScope();
        var xd = x.to(float64);
        return (-0.5 * xd.square().sum(1) - 0.5 * Dimension * Math.Log(2 * Math.PI)).MoveToOuterDisposeScope();
    }
}
