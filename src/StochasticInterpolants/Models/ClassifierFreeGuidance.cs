using static TorchSharp.torch;

namespace StochasticInterpolants.Models;

/// <summary>
/// Classifier-free guidance (docs/theory.md §10) of a class-conditional network f(x, t, c) trained with its labels dropped
/// at random (so it also learned the unconditional field f(x, t, none)):
/// f_w(x, t, c) = f(x, t, none) + w (f(x, t, c) - f(x, t, none)).
/// Convention: w = 1 is the plain conditional model (evaluated once, no unconditional pass), w = 0 the unconditional one,
/// w &gt; 1 pushes samples towards their class. Every field the library derives from networks (velocity, denoiser,
/// score, target prediction) is affine in the networks' outputs at fixed (t, x), so guiding each network guides the
/// converted fields by the same rule: the ODE and SDE samplers are guided alike. A row whose label is negative (no class)
/// is evaluated unconditionally whatever w.
/// </summary>
/// <para>For a flow map (docs/theory.md §14.3) the same rule applies to v(s, t, x): X^w = X^none + w (X^c - X^none), exactly the
/// guided velocity on the diagonal and the extrapolation of the two maps off it.</para>
public sealed class GuidedNetwork : ITwoTimeNetwork
{
    /// <summary>The label that selects the learned "no class" entry of a class-conditional network.</summary>
    public const long NoClass = -1;

    /// <summary>Guides <paramref name="inner"/> with weight <paramref name="weight"/> (finite).</summary>
    public GuidedNetwork(ITimeConditionedNetwork inner, double weight)
    {
        if (!double.IsFinite(weight)) throw new ArgumentException($"the guidance weight must be a finite number, got {weight}");
        Inner = inner; Weight = weight;
    }

    /// <summary>The conditional network.</summary>
    public ITimeConditionedNetwork Inner { get; }
    /// <summary>The guidance weight w.</summary>
    public double Weight { get; }

    /// <inheritdoc />
    public nn.Module Module => Inner.Module;
    /// <inheritdoc />
    public ModelSpec? Spec => Inner.Spec;

    /// <summary>
    /// f_w(x, t, c). With w ∉ {0, 1} the conditional and unconditional evaluations run as one batch of 2n rows (one network
    /// call, which is cheaper than two on small batches).
    /// </summary>
    public Tensor forward(Tensor x, Tensor t, Tensor? condition) => Blend(x, condition, (xx, c, both) => Inner.forward(xx, both && t.dim() > 0 ? cat([t, t], 0) : t, c));

    /// <inheritdoc />
    public bool TakesTwoTimes => FlowMaps.IsFlowMap(Inner);

    /// <summary>The guided flow-map velocity v_w(s, t, x, c) = v(s, t, x, none) + w (v(s, t, x, c) - v(s, t, x, none)).</summary>
    public Tensor forward(Tensor x, Tensor s, Tensor t, Tensor? condition)
    {
        var map = FlowMaps.Require(Inner, "guiding a flow map");
        return Blend(x, condition, (xx, c, both) => map.forward(xx, both && s.dim() > 0 ? cat([s, s], 0) : s, both && t.dim() > 0 ? cat([t, t], 0) : t, c));
    }

    // f_w from an evaluation f(x, c, doubled): doubled says x holds the batch twice (conditional rows, then no-class rows).
    private Tensor Blend(Tensor x, Tensor? condition, Func<Tensor, Tensor?, bool, Tensor> evaluate)
    {
        if (condition is null || Weight == 1) return evaluate(x, condition, false);
        if (condition.is_floating_point())
            throw new ArgumentException("classifier-free guidance needs class labels (it blends with the learned no-class field); this network's condition is an image, which has no such entry (use guidance 1)");
        using var scope = NewDisposeScope();
        var none = full_like(condition, NoClass);
        if (Weight == 0) return evaluate(x, none, false).MoveToOuterDisposeScope();
        var n = x.shape[0];
        var both = evaluate(cat([x, x], 0), cat([condition, none], 0), true);
        var conditional = both[..(int)n];
        var unconditional = both[(int)n..];
        // f(none) + w (f(c) - f(none)) = lerp(f(none), f(c), w).
        return unconditional.lerp(conditional, Weight).MoveToOuterDisposeScope();
    }
}
