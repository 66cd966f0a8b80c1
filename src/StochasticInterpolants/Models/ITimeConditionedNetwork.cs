using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Models;

/// <summary>
/// A network f(x, t) mapping a batch x of shape [n, d] and times t of shape [n] to an output of shape [n, d].
/// Any TorchSharp module with this signature can be trained and sampled by the library; what the output
/// represents (velocity, denoiser, ...) is stated by <see cref="Fields.FieldKind"/>, not by the network.
/// </summary>
public interface ITimeConditionedNetwork
{
    /// <summary>Evaluates the network: x [n, d], t [n] -> [n, d].</summary>
    Tensor forward(Tensor x, Tensor t);

    /// <summary>
    /// Evaluates the network with one time <paramref name="t"/> for the whole batch, as samplers and likelihoods do.
    /// The default repeats t and calls <see cref="forward"/>; a network may override it with a faster path.
    /// </summary>
    Tensor ForwardAt(Tensor x, double t)
    {
        using var tt = full(x.shape[0], t, dtype: x.dtype, device: x.device);
        return forward(x, tt);
    }

    /// <summary>The module holding the parameters (for optimisers, saving and device moves).</summary>
    nn.Module Module { get; }

    /// <summary>A description from which <see cref="ModelSpec.Build"/> rebuilds the same architecture, or null for custom networks.</summary>
    ModelSpec? Spec { get; }
}

/// <summary>
/// Adapts any <c>Module&lt;Tensor, Tensor, Tensor&gt;</c> taking (x, t) to <see cref="ITimeConditionedNetwork"/>.
/// </summary>
public sealed class TimeConditionedModule(nn.Module<Tensor, Tensor, Tensor> module, ModelSpec? spec = null) : ITimeConditionedNetwork
{
    /// <inheritdoc />
    public Tensor forward(Tensor x, Tensor t) => module.forward(x, t);
    /// <inheritdoc />
    public nn.Module Module => module;
    /// <inheritdoc />
    public ModelSpec? Spec => spec;
}
