using TorchSharp;
using static TorchSharp.torch;
using static StochasticInterpolants.Manifolds.ManifoldMath;

namespace StochasticInterpolants.Manifolds;

/// <summary>
/// The flat torus T^d = R^d / (2 pi Z)^d in intrinsic coordinates: d angles, each in [-pi, pi) (docs/theory.md §15.2), with
/// wrap(a) = a - 2 pi floor((a + pi) / (2 pi)). exp_x(v) = wrap(x + v), log_x(y) = wrap(y - x), d(x, y) = |wrap(y - x)|. At the
/// cut locus (a coordinate difference of exactly pi) wrap returns -pi, so log_x(y) is finite and deterministic there
/// (then log_y(x) = -pi too, not +pi: the antisymmetry log_x(y) = -log_y(x) holds off the cut locus only).
/// </summary>
public sealed class FlatTorus : IManifold
{
    /// <summary>The torus T^d of <paramref name="dimension"/> = d angles.</summary>
    public FlatTorus(int dimension)
    {
        if (dimension < 1 || dimension > 1_000_000) throw new ArgumentOutOfRangeException(nameof(dimension), dimension, "the torus T^d needs d in 1..1000000");
        CoordinateDimension = dimension;
    }

    /// <inheritdoc />
    public string Name => $"torus:{CoordinateDimension}";
    /// <inheritdoc />
    public int CoordinateDimension { get; }
    /// <inheritdoc />
    public int IntrinsicDimension => CoordinateDimension;
    /// <inheritdoc />
    public int EmbeddingDimension => 2 * CoordinateDimension;
    /// <summary>[cos a_1, ..., cos a_d, sin a_1, ..., sin a_d]: continuous across the identified edges a = -pi and a = pi.</summary>
    public Tensor Embed(Tensor x)
    {
        using var scope = NewDisposeScope();
        return cat([x.cos(), x.sin()], 1).MoveToOuterDisposeScope();
    }
    /// <inheritdoc />
    public bool IsCompact => true;
    /// <inheritdoc />
    public double InjectivityRadius => Math.PI;
    /// <summary>log (2 pi)^d = d log 2 pi.</summary>
    public double LogVolume => CoordinateDimension * Math.Log(2 * Math.PI);

    /// <summary>
    /// wrap(a) = a - 2 pi floor((a + pi) / (2 pi)), then one correction by 2 pi where rounding left the value at pi or below -pi
    /// (pi as represented in the tensor's dtype), so every result lies in [-pi, pi).
    /// </summary>
    public static Tensor Wrap(Tensor a)
    {
        using var scope = NewDisposeScope();
        const double twoPi = 2 * Math.PI;
        var w = a - twoPi * ((a + Math.PI) / twoPi).floor();
        w = where(w >= Math.PI, w - twoPi, w);
        w = where(w < -Math.PI, w + twoPi, w);
        return w.MoveToOuterDisposeScope();
    }

    /// <summary>wrap(a) = a - 2 pi floor((a + pi) / (2 pi)) for one angle, in [-pi, pi) (a value that rounds to pi is mapped to -pi).</summary>
    public static double Wrap(double a)
    {
        var w = a - 2 * Math.PI * Math.Floor((a + Math.PI) / (2 * Math.PI));
        return w >= Math.PI ? w - 2 * Math.PI : w;
    }

    /// <summary>The largest float32 below pi: float32(pi) = 3.14159274 lies above pi, so float32 angles in [-pi, pi) lie in
    /// [-this, this].</summary>
    public const float MaxFloat32Angle = 3.14159250f;

    /// <summary>Rounds wrapped float64 angles to float32 and clamps them to [-<see cref="MaxFloat32Angle"/>,
    /// <see cref="MaxFloat32Angle"/>] (a move of at most one float32 ulp, about 2.4e-7), so every float32 angle is in [-pi, pi).</summary>
    public static Tensor ToFloat32Angles(Tensor angles)
    {
        using var scope = NewDisposeScope();
        return angles.to(float32).clamp(-MaxFloat32Angle, MaxFloat32Angle).MoveToOuterDisposeScope();
    }

    /// <summary>exp_x(v) = wrap(x + v).</summary>
    public Tensor Exp(Tensor x, Tensor v) { CheckPair(this, x, v, "tangent vectors"); using var s = NewDisposeScope(); return Wrap(x + v).MoveToOuterDisposeScope(); }

    /// <summary>log_x(y) = wrap(y - x), each coordinate in [-pi, pi).</summary>
    public Tensor Log(Tensor x, Tensor y) { CheckPair(this, x, y, "end points"); using var s = NewDisposeScope(); return Wrap(y - x).MoveToOuterDisposeScope(); }

    /// <summary>P_x v = v: the tangent space is all of R^d.</summary>
    public Tensor ProjectToTangent(Tensor x, Tensor v) { CheckPair(this, x, v, "vectors"); return v.clone(); }

    /// <summary>wrap(x).</summary>
    public Tensor ProjectToManifold(Tensor x) { CheckPoints(this, x); return Wrap(x); }

    /// <summary>d(x, y) = |wrap(y - x)|, at most pi sqrt(d).</summary>
    public Tensor Distance(Tensor x, Tensor y)
    {
        CheckPair(this, x, y, "points");
        using var s = NewDisposeScope();
        return Wrap(y - x).square().sum(1).sqrt().MoveToOuterDisposeScope();
    }

    /// <summary>x_t = wrap(x0 + t wrap(x1 - x0)).</summary>
    public Tensor Geodesic(Tensor x0, Tensor x1, Tensor t)
    {
        CheckPair(this, x0, x1, "end points");
        using var s = NewDisposeScope();
        return Wrap(x0 + TimeColumn(t, x0) * Wrap(x1 - x0)).MoveToOuterDisposeScope();
    }

    /// <summary>d x_t / dt = wrap(x1 - x0), the same at every t.</summary>
    public Tensor GeodesicVelocity(Tensor x0, Tensor x1, Tensor t)
    {
        CheckPair(this, x0, x1, "end points");
        using var s = NewDisposeScope();
        var tc = TimeColumn(t, x0);
        return (Wrap(x1 - x0) + zeros_like(tc)).MoveToOuterDisposeScope();
    }

    /// <summary>D exp_x(v) = I (the torus is flat), so w = z.</summary>
    public Tensor InverseExpDifferential(Tensor x, Tensor v, Tensor z) { CheckPair(this, x, v, "tangent vectors"); CheckPair(this, x, z, "vectors"); return z.clone(); }

    /// <summary>Independent uniform angles -pi + 2 pi U, U ~ U[0, 1), wrapped (so rounding never yields pi).</summary>
    public Tensor SampleUniform(int count, Generator? generator = null, ScalarType dtype = ScalarType.Float32)
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), count, "count must be >= 0");
        using var s = NewDisposeScope();
        return Wrap(rand(count, CoordinateDimension, dtype: dtype, generator: generator) * (2 * Math.PI) - Math.PI).MoveToOuterDisposeScope();
    }

    /// <summary>max over the angles of the distance outside [-pi, pi], per row (a point exactly at pi counts 0; see <see cref="Wrap(Tensor)"/> for the half-open range).</summary>
    public Tensor MaxViolation(Tensor x)
    {
        CheckPoints(this, x);
        using var s = NewDisposeScope();
        return (x.abs() - Math.PI).clamp_min(0).amax(1).MoveToOuterDisposeScope();
    }
}
