using static TorchSharp.torch;

namespace StochasticInterpolants.Fields;

/// <summary>
/// A time-dependent velocity field b(t, x) on R^d, the right-hand side of the probability-flow ODE
/// dX/dt = b(t, X). Convention: t = 0 is the base rho0 (noise), t = 1 the target rho1.
/// </summary>
public interface IVelocityField
{
    /// <summary>Evaluates b(t, x) for a batch <paramref name="x"/> of shape [n, d] at one time
    /// <paramref name="t"/> in [0, 1]; returns a tensor of shape [n, d] with the dtype and device of x.</summary>
    Tensor Velocity(double t, Tensor x);
}
