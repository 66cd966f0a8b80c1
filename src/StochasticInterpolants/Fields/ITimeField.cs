using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Fields;

/// <summary>
/// A time-dependent vector field f(t, x) that represents a named conditional expectation (<see cref="Kind"/>): the velocity b,
/// the denoiser eta, the score s or the target prediction E[x1 | x_t]. t = 0 is the base, t = 1 the target.
/// A field is evaluated in the caller's autograd mode: under <c>no_grad</c> (samplers) it builds no graph, with gradients on
/// (likelihoods, training) its output is differentiable in x and in the network's parameters.
/// </summary>
public interface ITimeField
{
    /// <summary>Which quantity this field represents.</summary>
    FieldKind Kind { get; }

    /// <summary>Evaluates the field on a batch x [n, ...] at times t (0-dim: one time for all rows, or [n]); returns x's shape, dtype and device.</summary>
    Tensor Evaluate(Tensor t, Tensor x);
}

/// <summary>Shorthands for fields.</summary>
public static class TimeFieldExtensions
{
    /// <summary>The field at one time <paramref name="t"/> for every row of <paramref name="x"/>.</summary>
    public static Tensor Evaluate(this ITimeField field, double t, Tensor x)
    {
        using var tt = tensor(t, dtype: float64);
        return field.Evaluate(tt, x);
    }

    /// <summary>The field as the right-hand side of the ODE solvers (it must be a velocity).</summary>
    public static IVelocityField AsVelocity(this ITimeField field)
    {
        if (field.Kind != FieldKind.Velocity) throw new FieldConversionException($"a {InterpolantPath.Describe(field.Kind)} field is not a velocity");
        return new VelocityAdapter(field);
    }

    private sealed class VelocityAdapter(ITimeField inner) : IVelocityField
    {
        public Tensor Velocity(double t, Tensor x) => inner.Evaluate(t, x);
        public string Description => inner is IDescribedField d ? d.Description : "velocity";
    }
}

/// <summary>A field that can say what it is, for error messages ("velocity converted from the denoiser network").</summary>
public interface IDescribedField
{
    /// <summary>A short description.</summary>
    string Description { get; }
}

/// <summary>A field given by a function of one time shared by the batch (exact fields, user code).</summary>
public sealed class FunctionField(FieldKind kind, Func<double, Tensor, Tensor> function) : ITimeField
{
    /// <inheritdoc />
    public FieldKind Kind { get; } = kind;

    /// <inheritdoc />
    public Tensor Evaluate(Tensor t, Tensor x)
    {
        if (t.dim() != 0) throw new ArgumentException("this field is defined at one time for the whole batch; got a time per row");
        return function(t.ToDouble(), x);
    }
}

/// <summary>
/// A field given by a trained network f(x, t, c) with the condition c of the rows bound (null for an unconditional model).
/// Evaluation follows the caller's autograd mode.
/// </summary>
public sealed class NetworkField(ITimeConditionedNetwork network, FieldKind kind, Tensor? condition = null) : ITimeField, IDescribedField
{
    /// <summary>The network.</summary>
    public ITimeConditionedNetwork Network { get; } = network;
    /// <inheritdoc />
    public FieldKind Kind { get; } = kind;
    /// <summary>The condition passed with every evaluation (one row per row of x), or null.</summary>
    public Tensor? Condition { get; } = condition;

    /// <summary>The same network with the condition <paramref name="rows"/> bound (null: unconditional).</summary>
    public NetworkField WithCondition(Tensor? rows) => new(Network, Kind, rows);

    /// <inheritdoc />
    public Tensor Evaluate(Tensor t, Tensor x) => Network.forward(x, t, Condition);

    /// <inheritdoc />
    public string Description => Kind == FieldKind.Velocity && FlowMaps.IsFlowMap(Network) ? "velocity (the flow map's diagonal) network" : $"{InterpolantPath.Describe(Kind)} network";
}

/// <summary>A velocity field given by a network trained to represent <see cref="FieldKind.Velocity"/> (no condition).</summary>
public sealed class NetworkVelocityField(ITimeConditionedNetwork network) : IVelocityField
{
    /// <summary>The network evaluated.</summary>
    public ITimeConditionedNetwork Network { get; } = network;
    /// <inheritdoc />
    public Tensor Velocity(double t, Tensor x) => Network.ForwardAt(x, t);
    /// <inheritdoc />
    public string Description => "velocity network";
}
