using StochasticInterpolants.Interpolants;
using static TorchSharp.torch;

namespace StochasticInterpolants.Models;

/// <summary>
/// A network of two times, v(s, t, x; c), that represents a flow map (docs/theory.md §14):
/// X_{s,t}(x) = x + (t - s) v(s, t, x; c) is where the probability-flow ODE started at x at time s is at time t. So
/// X_{t,t} is the identity for any weights, and the diagonal v(t, t, x) is the velocity b(t, x): the one-time
/// <see cref="ITimeConditionedNetwork.forward"/> of a two-time network evaluates that diagonal, which is how the ODE and SDE
/// samplers, the likelihood and evaluation use a flow-map network unchanged. The built-in MLP and U-Net implement this
/// interface; <see cref="TakesTwoTimes"/> says whether this instance was built with the second time.
/// </summary>
public interface ITwoTimeNetwork : ITimeConditionedNetwork
{
    /// <summary>True when the network was built with two times (<c>TwoTimes</c> in its configuration); false for a plain velocity network.</summary>
    bool TakesTwoTimes { get; }

    /// <summary>v(s, t, x; c): x [n, ...], s and t each [] (one time for all rows) or [n], condition as for one time -> x's shape.</summary>
    Tensor forward(Tensor x, Tensor s, Tensor t, Tensor? condition);
}

/// <summary>The flow map of a two-time network, and the checks that a network is one.</summary>
public static class FlowMaps
{
    /// <summary>
    /// <paramref name="network"/> as a two-time network, or an <see cref="ArgumentException"/> saying it is not one
    /// (<paramref name="what"/> names the use, e.g. "the flow-map objective").
    /// </summary>
    public static ITwoTimeNetwork Require(ITimeConditionedNetwork network, string what) =>
        network is ITwoTimeNetwork { TakesTwoTimes: true } two ? two
            : throw new ArgumentException($"{what} needs a network of two times v(s, t, x) (built with TwoTimes: the MLP or the U-Net), got {(network.Spec?.Type is { } type ? $"a one-time '{type}' network" : "a network of one time")}");

    /// <summary>True when <paramref name="network"/> is a two-time network.</summary>
    public static bool IsFlowMap(ITimeConditionedNetwork network) => network is ITwoTimeNetwork { TakesTwoTimes: true };

    /// <summary>X_{s,t}(x) = x + (t - s) v(s, t, x; c) for times s and t shared by the batch (docs/theory.md §14).</summary>
    public static Tensor Jump(this ITwoTimeNetwork network, Tensor x, double s, double t, Tensor? condition = null)
    {
        using var scope = NewDisposeScope();
        var ss = tensor(s, dtype: float64, device: x.device);
        var tt = tensor(t, dtype: float64, device: x.device);
        var v = network.forward(x, ss, tt, condition);
        return x.add(v, alpha: t - s).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// X_{s,t}(x) per row: s and t [n] (float64), x [n, ...]; the gap (t - s) multiplies each row's velocity. Gradients flow
    /// to the network's parameters (and to x) in the caller's autograd mode.
    /// </summary>
    public static Tensor Jump(this ITwoTimeNetwork network, Tensor x, Tensor s, Tensor t, Tensor? condition = null)
    {
        using var scope = NewDisposeScope();
        return Land(x, s, t, network.forward(x, s, t, condition)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// X_{s,t}(x) = x + (t - s) v per row from an evaluated v = v(s, t, x) ([n, ...]; s and t [n], float64): where a jump
    /// lands, for callers that evaluated the network themselves (the training objective evaluates several jumps in one call).
    /// </summary>
    public static Tensor Land(Tensor x, Tensor s, Tensor t, Tensor v)
    {
        using var gap = (t - s).to(x.dtype);
        using var rows = PathCoefficients.PerRow(gap, x);
        return x + rows * v;
    }
}
