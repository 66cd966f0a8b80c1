using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Sampling;

/// <summary>
/// The fused updates the integrators are built from. x + a y as one call makes one kernel launch and one result tensor
/// where x + a * y makes two of each; at small batches those launches are a visible share of a step.
/// Each Scalar is held for the whole native call: TorchSharp's implicit temporaries can be finalised mid-call.
/// </summary>
internal static class TensorOps
{
    /// <summary>x + a y (a new tensor).</summary>
    public static Tensor Axpy(Tensor x, double a, Tensor y)
    {
        using var alpha = a.ToScalar();
        return x.add(y, alpha);
    }

    /// <summary>x += a y, in place; returns x.</summary>
    public static Tensor AxpyInPlace(Tensor x, double a, Tensor y)
    {
        using var alpha = a.ToScalar();
        return x.add_(y, alpha);
    }

    /// <summary>a y (a new tensor).</summary>
    public static Tensor Scale(double a, Tensor y)
    {
        using var alpha = a.ToScalar();
        return y.mul(alpha);
    }
}
