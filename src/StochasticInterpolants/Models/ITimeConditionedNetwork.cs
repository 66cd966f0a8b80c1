using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Models;

/// <summary>
/// A network f(x, t, c) mapping a batch x of shape [n, ...], times t (0-dim: one time for every row, or [n]: one per row)
/// and an optional per-row condition c (class labels [n], a mask, ...) to an output of x's shape. Any TorchSharp module
/// with this signature can be trained and sampled by the library; what the output represents (velocity, denoiser, ...)
/// is stated by <see cref="Interpolants.FieldKind"/>, not by the network. A network that takes no condition ignores c.
/// </summary>
public interface ITimeConditionedNetwork
{
    /// <summary>Evaluates the network: x [n, ...], t [] or [n], condition [n, ...] or null -> [n, ...].</summary>
    Tensor forward(Tensor x, Tensor t, Tensor? condition);

    /// <summary>The module holding the parameters (for optimisers, saving and device moves).</summary>
    nn.Module Module { get; }

    /// <summary>A description from which <see cref="NetworkRegistry"/> rebuilds the same architecture, or null for custom networks.</summary>
    ModelSpec? Spec { get; }
}

/// <summary>Shorthands for evaluating networks.</summary>
public static class TimeConditionedNetworkExtensions
{
    /// <summary>f(x, t, c) at one time <paramref name="t"/> for the whole batch, as samplers and likelihoods evaluate it.</summary>
    public static Tensor ForwardAt(this ITimeConditionedNetwork network, Tensor x, double t, Tensor? condition = null)
    {
        using var tt = tensor(t, dtype: float64, device: x.device);
        return network.forward(x, tt, condition);
    }
}

/// <summary>
/// Adapts a TorchSharp module taking (x, t) — it has no condition — to <see cref="ITimeConditionedNetwork"/>. The module
/// always sees t of shape [n] in x's dtype: a 0-dim t is repeated per row, a float64 training time is converted.
/// </summary>
public sealed class TimeConditionedModule(nn.Module<Tensor, Tensor, Tensor> module, ModelSpec? spec = null) : ITimeConditionedNetwork
{
    /// <inheritdoc />
    public Tensor forward(Tensor x, Tensor t, Tensor? condition)
    {
        if (condition is not null) throw new ArgumentException("this network takes no condition, but a condition was given");
        using var rows = RowTimes(t, x);
        return module.forward(x, rows);
    }
    /// <inheritdoc />
    public nn.Module Module => module;
    /// <inheritdoc />
    public ModelSpec? Spec => spec;

    /// <summary>One time per row in x's dtype and device, whether t came as one time (sampling) or one per row in float64 (training).</summary>
    internal static Tensor RowTimes(Tensor t, Tensor x)
    {
        using var typed = t.to(x.dtype, x.device);
        return t.dim() == 0 ? typed.expand(x.shape[0]).contiguous() : typed.alias();
    }
}

/// <summary>
/// Adapts a TorchSharp module taking (x, t, c) to <see cref="ITimeConditionedNetwork"/>; t is passed as one time per row
/// ([n], x's dtype) and c as given (null when the row has no condition).
/// </summary>
public sealed class ConditionedModule(nn.Module<Tensor, Tensor, Tensor?, Tensor> module, ModelSpec? spec = null) : ITimeConditionedNetwork
{
    /// <inheritdoc />
    public Tensor forward(Tensor x, Tensor t, Tensor? condition)
    {
        using var rows = TimeConditionedModule.RowTimes(t, x);
        return module.forward(x, rows, condition);
    }
    /// <inheritdoc />
    public nn.Module Module => module;
    /// <inheritdoc />
    public ModelSpec? Spec => spec;
}
