using static TorchSharp.torch;

namespace StochasticInterpolants.Fields;

/// <summary>
/// A time-dependent vector field f(t, x) on R^d that represents a named conditional expectation (<see cref="Kind"/>):
/// the velocity b, the denoiser eta, the score s or the target prediction E[x1 | x_t]. t = 0 is the base, t = 1 the target.
/// </summary>
public interface ITimeField
{
    /// <summary>Which quantity this field represents.</summary>
    FieldKind Kind { get; }

    /// <summary>Evaluates the field on a batch x [n, d] at one time t; returns [n, d] with x's dtype and device.</summary>
    Tensor Evaluate(double t, Tensor x);
}

/// <summary>A field given by a function, for exact fields and user code.</summary>
public sealed class FunctionField(FieldKind kind, Func<double, Tensor, Tensor> function) : ITimeField
{
    /// <inheritdoc />
    public FieldKind Kind { get; } = kind;
    /// <inheritdoc />
    public Tensor Evaluate(double t, Tensor x) => function(t, x);
}

/// <summary>A field given by a trained network f(x, t); evaluation runs without autograd.</summary>
public sealed class NetworkField(Models.ITimeConditionedNetwork network, FieldKind kind) : ITimeField
{
    /// <summary>The network.</summary>
    public Models.ITimeConditionedNetwork Network { get; } = network;
    /// <inheritdoc />
    public FieldKind Kind { get; } = kind;

    /// <inheritdoc />
    public Tensor Evaluate(double t, Tensor x)
    {
        using var noGrad = no_grad();
        return Network.ForwardAt(x, t);
    }
}
