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

    /// <summary>
    /// Pairs given rows <paramref name="x1"/> ([n, ...], with their optional <paramref name="condition"/>) with x0 the way
    /// <see cref="Sample"/> pairs its own draws of x1, drawing what it needs from <paramref name="generator"/>: for scoring
    /// held-out rows on the regression problem training solves (docs/theory.md §12). The rows are one batch: a minibatch
    /// coupling pairs them among themselves. Its solves do not count among the training batches' (see
    /// <see cref="IConvergingCoupling"/>) and leave any warm start of the training batches as it was.
    /// </summary>
    CoupledSample PairWith(Tensor x1, Tensor? condition, Generator generator) =>
        throw new NotSupportedException($"the coupling {GetType().Name} cannot pair given rows");

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
    /// Draws n = |x1| rows x0 ~ rho0 from <paramref name="generator"/> (in x1's shape) and pairs them with
    /// <paramref name="x1"/> by <see cref="PairDrawn"/>.
    /// </summary>
    public CoupledSample PairWith(Tensor x1, Tensor? condition, Generator generator)
    {
        var x0 = Base.Sample((int)x1.shape[0], generator);
        if (!x0.shape.SequenceEqual(x1.shape)) x0 = x0.reshape(x1.shape);
        return PairDrawn(x0, x1, condition, generator);
    }

    /// <summary>
    /// Pairs independent draws x0 with given rows x1 the way this coupling pairs a batch (for <see cref="PairWith"/>): x1
    /// and its condition keep their rows, x0 is reordered. A coupling that does not say how is refused rather than
    /// scored on independent pairs it may not train on.
    /// </summary>
    protected virtual CoupledSample PairDrawn(Tensor x0, Tensor x1, Tensor? condition, Generator generator) =>
        throw new NotSupportedException($"the coupling {GetType().Name} does not say how it pairs given rows (override PairDrawn), so held-out rows cannot be scored the way it trains");

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

    /// <summary>Independent pairs: the draws as they are.</summary>
    protected override CoupledSample PairDrawn(Tensor x0, Tensor x1, Tensor? condition, Generator generator) => new(x0, x1, condition);
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

    /// <summary>x0 = x1 for the given rows.</summary>
    public CoupledSample PairWith(Tensor x1, Tensor? condition, Generator generator) => new(x1.alias(), x1, condition);
}

/// <summary>
/// How the numerical solves of a coupling's batches went over a run (docs/theory.md §12.2): recorded in the checkpoint,
/// so a run whose plans did not all reach their tolerance says so after the fact.
/// </summary>
/// <param name="Batches">Training batches paired.</param>
/// <param name="UnconvergedBatches">Batches with at least one plan whose marginal error was still above
/// <paramref name="Tolerance"/> when the iterations ran out (the plan was used as it was).</param>
/// <param name="WorstMarginalError">The largest L1 marginal error of any plan of any batch.</param>
/// <param name="IterationLimit">The iterations allowed per plan.</param>
/// <param name="Tolerance">The marginal error a plan stops at.</param>
public sealed record CouplingConvergence(long Batches, long UnconvergedBatches, double WorstMarginalError, int IterationLimit, double Tolerance)
{
    /// <summary>
    /// One sentence for a run in which plans did not converge; <paramref name="setting"/> turns the library's setting
    /// names (<c>sinkhorn-iterations</c>, <c>sinkhorn-tolerance</c>, <c>epsilon</c>) into what the caller calls them.
    /// </summary>
    public string Describe(Func<string, string> setting) =>
        $"Sinkhorn did not converge in {UnconvergedBatches} of {Batches} batches: after {IterationLimit} iterations the worst plan's marginals were " +
        $"{WorstMarginalError.ToString("G3", System.Globalization.CultureInfo.InvariantCulture)} (L1) from uniform, against a tolerance of " +
        $"{Tolerance.ToString("G3", System.Globalization.CultureInfo.InvariantCulture)}; those plans were used as they were (a coupling, but a less exactly entropic one). " +
        $"Raise {setting("sinkhorn-iterations")}, loosen {setting("sinkhorn-tolerance")} or raise {setting("epsilon")}; a plan still more than " +
        $"{SinkhornCoupling.UnconvergedError.ToString(System.Globalization.CultureInfo.InvariantCulture)} (L1) from uniform stops the run";
}

/// <summary>A coupling that solves each batch numerically and keeps count of how the solves went (see <see cref="CouplingConvergence"/>).</summary>
public interface IConvergingCoupling : ICoupling
{
    /// <summary>How the training batches' solves went so far.</summary>
    CouplingConvergence Convergence { get; }

    /// <summary>Continues the count from a snapshot's (a resumed run reports the whole run).</summary>
    void ContinueFrom(CouplingConvergence saved);
}
