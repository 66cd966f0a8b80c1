using static TorchSharp.torch;

namespace StochasticInterpolants.Fields;

/// <summary>
/// A time-dependent velocity field b(t, x), the right-hand side of the probability-flow ODE dX/dt = b(t, X) that the
/// solvers integrate. Convention: t = 0 is the base rho0 (noise), t = 1 the target rho1. The state x has any shape
/// [n, ...]; the solvers step at one time for the whole batch.
/// </summary>
public interface IVelocityField
{
    /// <summary>Evaluates b(t, x) for a batch <paramref name="x"/> of shape [n, ...] at one time <paramref name="t"/> in [0, 1];
    /// returns a tensor of x's shape, dtype and device.</summary>
    Tensor Velocity(double t, Tensor x);

    /// <summary>What the field is, for error messages (e.g. where a non-finite value arose).</summary>
    string Description => "velocity";
}

/// <summary>A velocity field given by a function b(t, x) (exact fields, user code).</summary>
public sealed class VelocityFunction(Func<double, Tensor, Tensor> velocity, string description = "velocity") : IVelocityField
{
    /// <inheritdoc />
    public Tensor Velocity(double t, Tensor x) => velocity(t, x);
    /// <inheritdoc />
    public string Description => description;
}
