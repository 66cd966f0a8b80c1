using static TorchSharp.torch;
using StochasticInterpolants.Models;

namespace StochasticInterpolants.Fields;

/// <summary>
/// A velocity field b(t, x) given by a network f(x, t) that was trained to represent <see cref="FieldKind.Velocity"/>.
/// Evaluation runs without autograd; the time is broadcast to one value per row of x.
/// </summary>
public sealed class NetworkVelocityField(ITimeConditionedNetwork network) : IVelocityField
{
    /// <summary>The network evaluated.</summary>
    public ITimeConditionedNetwork Network { get; } = network;

    /// <inheritdoc />
    public Tensor Velocity(double t, Tensor x)
    {
        using var noGrad = no_grad();
        return Network.ForwardAt(x, t);
    }
}
