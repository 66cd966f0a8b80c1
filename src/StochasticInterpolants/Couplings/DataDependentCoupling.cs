using StochasticInterpolants.Data;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Runtime;
using static TorchSharp.torch;

namespace StochasticInterpolants.Couplings;

/// <summary>
/// A data-dependent coupling (Albergo et al. 2023, arXiv:2310.03725; docs/theory.md §12.4): x1 ~ rho1 (images), then
/// (x0, c) = corruption(x1), so x0 is a corrupted copy of x1 and the corruption's observation c is each row's condition.
/// The network learns b(t, x | c); at sampling, x0 and c come from an observation and the flow completes it. The target's
/// class labels are not used: the condition is the image.
/// </summary>
public sealed class DataDependentCoupling : ICoupling
{
    /// <summary>Couples <paramref name="target"/> (image-shaped, [c, h, w]) with its corruption by <paramref name="corruption"/>.</summary>
    public DataDependentCoupling(IDistribution target, ICorruption corruption)
    {
        Shape = ImageShape(corruption.Name, target);
        Target = target; Corruption = corruption;
    }

    /// <summary>rho1.</summary>
    public IDistribution Target { get; }
    /// <summary>The corruption that makes x0 and the condition from x1.</summary>
    public ICorruption Corruption { get; }
    /// <summary>One image's shape [c, h, w].</summary>
    public IReadOnlyList<long> Shape { get; }
    /// <inheritdoc />
    public int Dimension => Target.Dimension;
    /// <summary>Channels of the condition the network is given.</summary>
    public int ConditionChannels => Corruption.ConditionChannels((int)Shape[0]);

    /// <summary>x1 from the target (its labels dropped), then x0 and the condition from the corruption, all from <paramref name="generator"/> in that order.</summary>
    public CoupledSample Sample(int count, Generator generator)
    {
        var (x1, labels) = Target.SampleWithCondition(count, generator);
        labels?.Dispose();
        if (x1.dim() != 4) x1 = x1.reshape([count, .. Shape]);
        var corrupted = Corruption.Apply(x1, generator);
        corrupted.Observed?.Dispose();
        return new CoupledSample(corrupted.X0, x1, corrupted.Condition);
    }

    /// <summary>Given images x1 (their labels, if any, unused): x0 and the condition from the corruption, drawn from <paramref name="generator"/>.</summary>
    public CoupledSample PairWith(Tensor x1, Tensor? condition, Generator generator)
    {
        if (x1.dim() != 4) x1 = x1.reshape([x1.shape[0], .. Shape]);
        var corrupted = Corruption.Apply(x1, generator);
        corrupted.Observed?.Dispose();
        return new CoupledSample(corrupted.X0, x1, corrupted.Condition);
    }

    /// <summary>
    /// Registers <c>inpaint</c>, <c>superres</c> and <c>denoise</c>: each needs a two-sided interpolant (x0 is the corrupted
    /// image, not independent noise) and an image-shaped target.
    /// </summary>
    internal static void RegisterAll(Action<string, Couplings.Builder> register)
    {
        foreach (var name in Corruptions.Names)
            register(name, (interpolant, _, target, options) =>
            {
                Couplings.RequireTwoSided(name, interpolant);
                return new DataDependentCoupling(target, Corruptions.Create(name, options, ImageShape(name, target)));
            });
    }

    // The target's sample shape [c, h, w]; a flat target is refused.
    private static IReadOnlyList<long> ImageShape(string name, IDistribution target)
    {
        var shape = target.Shape;
        if (shape.Count != 3)
            throw new InvalidSettingException("coupling", $"the '{name}' coupling corrupts images [n, c, h, w], but target '{target.Name}' is flat data of dimension {target.Dimension} (use an image target such as digits8)");
        return shape;
    }
}
