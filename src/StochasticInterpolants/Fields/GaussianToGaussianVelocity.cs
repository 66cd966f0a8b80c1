using static TorchSharp.torch;

namespace StochasticInterpolants.Fields;

/// <summary>
/// The exact velocity for x0 ~ N(0, I) and x1 ~ N(m, s^2 I) independent, linear interpolant, gamma = 0 (docs/theory.md §5):
/// x_t ~ N(t m, v(t) I) with v(t) = (1 - t)^2 + t^2 s^2, and b(t, x) = m + (x - t m)(t s^2 - (1 - t)) / v(t).
/// Its flow map is X_t = t m + sqrt(v(t)) X_0, so solvers can be checked against an exact trajectory.
/// </summary>
public sealed class GaussianToGaussianVelocity : IVelocityField
{
    private readonly double[] _mean;

    /// <summary>Target N(<paramref name="mean"/>, <paramref name="std"/>^2 I).</summary>
    public GaussianToGaussianVelocity(double[] mean, double std)
    {
        if (mean.Length == 0) throw new ArgumentException("mean must have at least one component");
        if (!(std > 0)) throw new ArgumentException($"std must be positive, got {std}");
        _mean = mean.ToArray(); Std = std;
    }

    /// <summary>Target standard deviation s.</summary>
    public double Std { get; }
    /// <summary>Target mean m.</summary>
    public IReadOnlyList<double> TargetMean => _mean;

    /// <summary>v(t) = (1 - t)^2 + t^2 s^2, the variance of x_t per dimension.</summary>
    public double Variance(double t) => (1 - t) * (1 - t) + t * t * Std * Std;

    /// <summary>E[x_t] = t m.</summary>
    public double[] Mean(double t) => _mean.Select(m => t * m).ToArray();

    /// <inheritdoc />
    public Tensor Velocity(double t, Tensor x)
    {
        CheckShape(x);
        using var scope = NewDisposeScope();
        var m = tensor(_mean, dtype: float64).to(x.dtype, x.device);
        var coefficient = (t * Std * Std - (1 - t)) / Variance(t);
        return (m + (x - t * m) * coefficient).MoveToOuterDisposeScope();
    }

    /// <summary>The exact flow X_t = t m + sqrt(v(t)) X_0 of initial points <paramref name="x0"/>.</summary>
    public Tensor ExactFlow(double t, Tensor x0)
    {
        CheckShape(x0);
        using var scope = NewDisposeScope();
        var m = tensor(_mean, dtype: float64).to(x0.dtype, x0.device);
        return (t * m + Math.Sqrt(Variance(t)) * x0).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The exact flow map X_{s,t}(x) = t m + sqrt(v(t) / v(s)) (x - s m) (docs/theory.md §14.4): the flow of the affine velocity
    /// keeps the standardised point (x - E[x_s]) / sqrt(v(s)) fixed. X_{0,t} is <see cref="ExactFlow"/>.
    /// </summary>
    public Tensor FlowMap(double s, double t, Tensor x)
    {
        CheckShape(x);
        using var scope = NewDisposeScope();
        var m = tensor(_mean, dtype: float64).to(x.dtype, x.device);
        return (t * m + Math.Sqrt(Variance(t) / Variance(s)) * (x - s * m)).MoveToOuterDisposeScope();
    }

    private void CheckShape(Tensor x)
    {
        if (x.dim() != 2 || x.shape[1] != _mean.Length) throw new ArgumentException($"expected [n, {_mean.Length}] points, got [{string.Join(",", x.shape)}]");
    }
}
