using TorchSharp;
using static TorchSharp.torch;
using static StochasticInterpolants.Manifolds.ManifoldMath;

namespace StochasticInterpolants.Manifolds;

/// <summary>
/// R^k with its flat metric: exp_x(v) = x + v, log_x(y) = y - x, d(x, y) = |y - x|, no cut locus (docs/theory.md §15.3). Not
/// compact: it has no uniform distribution, and <see cref="LogVolume"/> is +infinity. Useful as a factor of a product (e.g. T^2 x R^1).
/// </summary>
public sealed class Euclidean : IManifold
{
    /// <summary>R^k with <paramref name="dimension"/> = k.</summary>
    public Euclidean(int dimension)
    {
        if (dimension < 1 || dimension > 1_000_000) throw new ArgumentOutOfRangeException(nameof(dimension), dimension, "R^k needs k in 1..1000000");
        CoordinateDimension = dimension;
    }

    /// <inheritdoc />
    public string Name => $"R:{CoordinateDimension}";
    /// <inheritdoc />
    public int CoordinateDimension { get; }
    /// <inheritdoc />
    public int IntrinsicDimension => CoordinateDimension;
    /// <inheritdoc />
    public int EmbeddingDimension => CoordinateDimension;
    /// <summary>The point itself (a copy).</summary>
    public Tensor Embed(Tensor x) => x.clone();
    /// <inheritdoc />
    public bool IsCompact => false;
    /// <inheritdoc />
    public double InjectivityRadius => double.PositiveInfinity;
    /// <summary>+infinity: R^k has infinite volume.</summary>
    public double LogVolume => double.PositiveInfinity;

    /// <summary>x + v.</summary>
    public Tensor Exp(Tensor x, Tensor v) { CheckPair(this, x, v, "tangent vectors"); return x + v; }
    /// <summary>y - x.</summary>
    public Tensor Log(Tensor x, Tensor y) { CheckPair(this, x, y, "end points"); return y - x; }
    /// <summary>v (every vector is tangent).</summary>
    public Tensor ProjectToTangent(Tensor x, Tensor v) { CheckPair(this, x, v, "vectors"); return v.clone(); }
    /// <summary>x (every point is on R^k).</summary>
    public Tensor ProjectToManifold(Tensor x) { CheckPoints(this, x); return x.clone(); }

    /// <summary>|y - x|.</summary>
    public Tensor Distance(Tensor x, Tensor y)
    {
        CheckPair(this, x, y, "points");
        using var s = NewDisposeScope();
        return (y - x).square().sum(1).sqrt().MoveToOuterDisposeScope();
    }

    /// <summary>x_t = x0 + t (x1 - x0).</summary>
    public Tensor Geodesic(Tensor x0, Tensor x1, Tensor t)
    {
        CheckPair(this, x0, x1, "end points");
        using var s = NewDisposeScope();
        return (x0 + TimeColumn(t, x0) * (x1 - x0)).MoveToOuterDisposeScope();
    }

    /// <summary>x1 - x0 at every t.</summary>
    public Tensor GeodesicVelocity(Tensor x0, Tensor x1, Tensor t)
    {
        CheckPair(this, x0, x1, "end points");
        using var s = NewDisposeScope();
        return (x1 - x0 + zeros_like(TimeColumn(t, x0))).MoveToOuterDisposeScope();
    }

    /// <summary>z (D exp_x(v) = I).</summary>
    public Tensor InverseExpDifferential(Tensor x, Tensor v, Tensor z) { CheckPair(this, x, v, "tangent vectors"); CheckPair(this, x, z, "vectors"); return z.clone(); }

    /// <summary>Always throws <see cref="NotSupportedException"/>: R^k has no uniform distribution.</summary>
    public Tensor SampleUniform(int count, Generator? generator = null, ScalarType dtype = ScalarType.Float32) =>
        throw new NotSupportedException($"{Name} is not compact: it has no uniform distribution (use a Gaussian base for its coordinates)");

    /// <summary>0 for finite rows, +infinity for rows with a non-finite coordinate.</summary>
    public Tensor MaxViolation(Tensor x)
    {
        CheckPoints(this, x);
        using var s = NewDisposeScope();
        var bad = x.isfinite().logical_not().any(1);
        return where(bad, full(x.shape[0], double.PositiveInfinity, dtype: x.dtype), zeros(x.shape[0], dtype: x.dtype)).MoveToOuterDisposeScope();
    }
}
