using StochasticInterpolants.Data;
using StochasticInterpolants.Interpolants;
using static TorchSharp.torch;

namespace StochasticInterpolants.Couplings;

/// <summary>
/// A joint law of (x0, x1) whose marginals are rho0 and rho1. The interpolant is built on pairs drawn from it.
/// </summary>
public interface ICoupling
{
    /// <summary>Data dimension d.</summary>
    int Dimension { get; }

    /// <summary>Draws <paramref name="count"/> pairs (x0, x1), each [count, d] float32 on the CPU.</summary>
    (Tensor X0, Tensor X1) Sample(int count, Generator generator);
}

/// <summary>Independent coupling rho0 x rho1: x0 and x1 drawn separately (the default for two-sided and one-sided interpolants).</summary>
public sealed class IndependentCoupling : ICoupling
{
    /// <summary>Couples <paramref name="baseDistribution"/> and <paramref name="target"/> independently; their dimensions must agree.</summary>
    public IndependentCoupling(IDistribution baseDistribution, IDistribution target)
    {
        if (baseDistribution.Dimension != target.Dimension)
            throw new ArgumentException($"base '{baseDistribution.Name}' has dimension {baseDistribution.Dimension} but target '{target.Name}' has dimension {target.Dimension}");
        Base = baseDistribution; Target = target;
    }

    /// <summary>rho0.</summary>
    public IDistribution Base { get; }
    /// <summary>rho1.</summary>
    public IDistribution Target { get; }
    /// <inheritdoc />
    public int Dimension => Target.Dimension;

    /// <inheritdoc />
    public (Tensor X0, Tensor X1) Sample(int count, Generator generator)
    {
        var x0 = Base.Sample(count, generator);
        var x1 = Target.Sample(count, generator);
        return (x0, x1);
    }
}

/// <summary>Mirror coupling: x0 = x1 ~ rho1 (for the mirror interpolant, which only adds and removes noise).</summary>
public sealed class MirrorCoupling(IDistribution target) : ICoupling
{
    /// <summary>rho1 (= rho0).</summary>
    public IDistribution Target { get; } = target;
    /// <inheritdoc />
    public int Dimension => Target.Dimension;

    /// <inheritdoc />
    public (Tensor X0, Tensor X1) Sample(int count, Generator generator)
    {
        var x1 = Target.Sample(count, generator);
        return (x1.alias(), x1);
    }
}

/// <summary>Chooses the coupling an interpolant assumes.</summary>
public static class Couplings
{
    /// <summary>
    /// Independent coupling for two-sided interpolants; for one-sided ones the base must be the standard Gaussian
    /// (x0 is the noise z); mirror interpolants use x0 = x1 and ignore the base.
    /// </summary>
    public static ICoupling For(IInterpolant interpolant, IDistribution baseDistribution, IDistribution target) => interpolant.Kind switch
    {
        InterpolantKind.Mirror => new MirrorCoupling(target),
        InterpolantKind.OneSided when !IsStandardGaussian(baseDistribution) =>
            throw new ArgumentException($"interpolant '{interpolant.Name}' is one-sided: its base must be the standard Gaussian, not '{baseDistribution.Name}'"),
        _ => new IndependentCoupling(baseDistribution, target),
    };

    private static bool IsStandardGaussian(IDistribution d) => d is StandardGaussian;
}
