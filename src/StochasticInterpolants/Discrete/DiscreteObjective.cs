using StochasticInterpolants.Data;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using StochasticInterpolants.Objectives;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Discrete;

/// <summary>
/// The cross-entropy objective whose minimiser is the posterior p_{1|t}(x1^i = k | x_t) of every position (docs/theory.md §16.2):
/// with logits l = f(x_t, t, c) [n, L, K],
/// <list type="bullet">
/// <item>uniform source: L(f) = E_t E [ (1/L) sum_i -log softmax(l^i)[x1^i] ], every position counted;</item>
/// <item>masked source: L(f) = E_t E [ (1/L) sum_i 1[x_t^i = MASK] (-log softmax(l^i)[x1^i]) ], only masked positions counted
/// (still divided by L): an unmasked position of x_t is its data token, so its posterior is known exactly (delta_{x_t^i}) and is
/// used in place of the network by the sampler and the bound (<see cref="DiscretePosterior.FromNetwork"/>); its cross-entropy
/// would only teach the network to copy. This loss is also, up to the weight kappa'/(1 - kappa), the bound's integrand
/// (§16.4).</item>
/// </list>
/// In nats; t ~ U[clip, 1 - clip] from the batch (clip 0 unless kappa' is unbounded at an end). Runs in the library's
/// <see cref="Training.Trainer"/> unchanged: x_t comes from <see cref="MixturePath.Interpolate"/> on the coupling's batch. The
/// vocabulary K is the logits' last axis, and MASK = K.
/// </summary>
public sealed class DiscreteObjective : IObjective
{
    /// <summary>The objective on <paramref name="interpolant"/>'s mixture path from a <paramref name="source"/> source.</summary>
    public DiscreteObjective(IInterpolant interpolant, DiscreteSourceKind source, ObjectiveOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(interpolant);
        if (interpolant.Kind != InterpolantKind.Mixture)
            throw new ArgumentException($"the cross-entropy objective needs a discrete mixture interpolant (mixture-linear, mixture-cubic, ...), got '{interpolant.Name}'");
        var o = options ?? new ObjectiveOptions();
        if (o.Antithetic) throw new ArgumentException("the antithetic loss needs Gaussian noise; the discrete mixture path has none");
        Path = InterpolantPath.For(interpolant);
        Source = source;
        TimeClip = Objective.ResolveClip(interpolant, o.TimeClip);
    }

    /// <inheritdoc />
    public FieldKind Kind => FieldKind.Posterior;
    /// <inheritdoc />
    public InterpolantPath Path { get; }
    /// <summary>Masked or uniform: whether only MASK positions are scored.</summary>
    public DiscreteSourceKind Source { get; }
    /// <inheritdoc />
    public double TimeClip { get; }

    /// <inheritdoc />
    public Tensor Loss(ITimeConditionedNetwork network, TrainingBatch batch)
    {
        using var scope = NewDisposeScope();
        var (xt, x1) = Path.Interpolate(batch);
        var logits = network.forward(xt, batch.T, batch.Condition);
        return CrossEntropy(logits, xt, x1, Source).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The loss of logits [n, L, K] against targets x1 [n, L] at inputs x_t [n, L]: the mean over the n L positions of
    /// -log softmax(l^i)[x1^i], times 1[x_t^i = K] for the masked source (a scalar, nats).
    /// </summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor xt, Tensor x1, DiscreteSourceKind source)
    {
        if (logits.dim() != 3 || logits.shape[0] != x1.shape[0] || x1.dim() != 2 || logits.shape[1] != x1.shape[1])
            throw new ArgumentException($"a posterior network must return logits [n, L, K] for tokens [n, L] = [{string.Join(",", x1.shape)}], got [{string.Join(",", logits.shape)}]");
        using var scope = NewDisposeScope();
        var k = logits.shape[2];
        var targets = x1.to(int64);
        if (targets.min().ToInt64() < 0 || targets.max().ToInt64() >= k)
            throw new ArgumentException($"data tokens must be ids in 0..{k - 1} (the network's vocabulary), got {targets.min().ToInt64()}..{targets.max().ToInt64()}");
        var nll = -logits.log_softmax(-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1); // [n, L]
        if (source == DiscreteSourceKind.Masked) nll = nll * xt.eq(k).to(nll.dtype);
        return nll.mean().MoveToOuterDisposeScope();
    }
}
