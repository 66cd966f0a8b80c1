using StochasticInterpolants.Data;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Runtime;
using static TorchSharp.torch;

namespace StochasticInterpolants.Couplings;

/// <summary>
/// A joint law of (x0, x1) whose marginals are rho0 and rho1. The interpolant is built on pairs drawn from it, and the
/// coupling is where a training batch comes from (<see cref="DrawBatch"/>): pairs, each row's condition, noise and times.
/// </summary>
public interface ICoupling
{
    /// <summary>Elements of one sample d.</summary>
    int Dimension { get; }

    /// <summary>Draws <paramref name="count"/> pairs (x0, x1), each [count, ...] float32 on the CPU, with x1's condition.</summary>
    CoupledSample Sample(int count, Generator generator);

    /// <summary>
    /// One training batch: <paramref name="count"/> pairs from <see cref="Sample"/>, then z ~ N(0, I) of x1's shape, then
    /// t ~ U[clip, 1 - clip] per row (float64), all from <paramref name="generator"/> in that order, so a seed fixes the batch.
    /// </summary>
    TrainingBatch DrawBatch(int count, Generator generator, double timeClip)
    {
        var pair = Sample(count, generator);
        var z = randn(pair.X1.shape, dtype: pair.X1.dtype, generator: generator);
        var t = UniformTimes(count, generator, timeClip);
        return new TrainingBatch(pair.X0, pair.X1, z, t, pair.Condition);
    }

    /// <summary>Times t = clip + (1 - 2 clip) u, u ~ U[0, 1) in float64: [count].</summary>
    static Tensor UniformTimes(int count, Generator generator, double clip)
    {
        var u = rand(count, dtype: float64, generator: generator);
        if (clip == 0) return u;
        using (u)
        using (var scaled = u.mul(1 - 2 * clip))
            return scaled.add(clip);
    }
}

/// <summary>
/// A coupling of two densities given as samplers, rho0 (<see cref="Base"/>) and rho1 (<see cref="Target"/>), whose batches
/// start from n independent draws of each (<see cref="DrawIndependent"/>) and differ in how they are then paired.
/// </summary>
public abstract class TwoDensityCoupling : ICoupling
{
    /// <summary>Couples <paramref name="baseDistribution"/> and <paramref name="target"/>; their dimensions must agree.</summary>
    protected TwoDensityCoupling(IDistribution baseDistribution, IDistribution target)
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
    public abstract CoupledSample Sample(int count, Generator generator);

    /// <summary>
    /// <paramref name="count"/> draws of x0 ~ rho0, then of x1 ~ rho1 with each row's condition, in that order from
    /// <paramref name="generator"/>; x0 takes x1's shape (a flat base for shaped data: same elements, same order).
    /// </summary>
    protected CoupledSample DrawIndependent(int count, Generator generator)
    {
        var x0 = Base.Sample(count, generator);
        var (x1, condition) = Target.SampleWithCondition(count, generator);
        if (!x0.shape.SequenceEqual(x1.shape)) x0 = x0.reshape(x1.shape);
        return new CoupledSample(x0, x1, condition);
    }
}

/// <summary>Independent coupling rho0 x rho1: x0 and x1 drawn separately (the default for two-sided and one-sided interpolants).</summary>
public sealed class IndependentCoupling(IDistribution baseDistribution, IDistribution target) : TwoDensityCoupling(baseDistribution, target)
{
    /// <inheritdoc />
    public override CoupledSample Sample(int count, Generator generator) => DrawIndependent(count, generator);
}

/// <summary>Mirror coupling: x0 = x1 ~ rho1 (for the mirror interpolant, which only adds and removes noise).</summary>
public sealed class MirrorCoupling(IDistribution target) : ICoupling
{
    /// <summary>rho1 (= rho0).</summary>
    public IDistribution Target { get; } = target;
    /// <inheritdoc />
    public int Dimension => Target.Dimension;

    /// <inheritdoc />
    public CoupledSample Sample(int count, Generator generator)
    {
        var (x1, condition) = Target.SampleWithCondition(count, generator);
        return new CoupledSample(x1.alias(), x1, condition);
    }
}
