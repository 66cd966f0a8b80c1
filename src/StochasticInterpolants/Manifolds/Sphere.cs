using TorchSharp;
using static TorchSharp.torch;
using static StochasticInterpolants.Manifolds.ManifoldMath;

namespace StochasticInterpolants.Manifolds;

/// <summary>
/// The unit sphere S^{d-1} = { x in R^d : |x| = 1 } with the metric of R^d (docs/theory.md §15.1). With r = |v|, theta = d(x, y):
/// exp_x(v) = cos(r) x + (sin(r)/r) v; log_x(y) = (theta / |w|) w with w = y - (x.y) x and theta = atan2(|w|, x.y) (not acos,
/// which loses half the digits near 0 and pi). At the cut locus (y = -x, |w| &lt;= 4 eps) the direction is the fixed
/// tangent vector P_x e_k / |P_x e_k|, k the coordinate where |x_k| is least (the first such), so log_x(-x) = pi times it.
/// </summary>
public sealed class Sphere : IManifold
{
    /// <summary>The sphere S^{d-1} in R^d; <paramref name="dimension"/> = d &gt;= 2 is the coordinate dimension.</summary>
    public Sphere(int dimension)
    {
        if (dimension < 2 || dimension > 1_000_000) throw new ArgumentOutOfRangeException(nameof(dimension), dimension, "the sphere S^{d-1} needs a coordinate dimension d in 2..1000000");
        CoordinateDimension = dimension;
    }

    /// <inheritdoc />
    public string Name => $"sphere:{CoordinateDimension}";
    /// <inheritdoc />
    public int CoordinateDimension { get; }
    /// <inheritdoc />
    public int IntrinsicDimension => CoordinateDimension - 1;
    /// <inheritdoc />
    public int EmbeddingDimension => CoordinateDimension;
    /// <summary>The unit vector itself (a copy): the sphere is already embedded in R^d.</summary>
    public Tensor Embed(Tensor x) => x.clone();
    /// <inheritdoc />
    public bool IsCompact => true;
    /// <inheritdoc />
    public double InjectivityRadius => Math.PI;

    /// <summary>log area of S^{d-1} = log(2 pi^{d/2} / Gamma(d/2)): log 2 pi for S^1, log 4 pi for S^2.</summary>
    public double LogVolume => Math.Log(2) + CoordinateDimension / 2.0 * Math.Log(Math.PI) - LogGammaHalf(CoordinateDimension);

    /// <summary>exp_x(v) = cos(|v|) x + sinc(|v|) v, renormalised to |.| = 1 (removes rounding drift only).</summary>
    public Tensor Exp(Tensor x, Tensor v)
    {
        CheckPair(this, x, v, "tangent vectors");
        using var scope = NewDisposeScope();
        var r = SafeNorm(v);
        return Normalise(r.cos() * x + Sinc(r) * v).MoveToOuterDisposeScope();
    }

    /// <summary>log_x(y) = (theta / sin theta) (y - cos(theta) x), theta = atan2(|y - (x.y) x|, x.y); pi times a fixed direction at y = -x.</summary>
    public Tensor Log(Tensor x, Tensor y)
    {
        CheckPair(this, x, y, "end points");
        using var scope = NewDisposeScope();
        return LogCore(x, y).MoveToOuterDisposeScope();
    }

    private Tensor LogCore(Tensor x, Tensor y)
    {
        var c = Dot(x, y);
        var w = y - c * x;
        w = w - Dot(x, w) * x;  // once more: near y = -x, theta / s amplifies w's rounding-level normal part
        var s = SafeNorm(w);
        var theta = atan2(s, c);
        var eps = x.dtype == ScalarType.Float64 ? 2.220446049250313e-16 : 1.1920929e-7;
        var cut = (s <= 4 * eps).logical_and(c < 0);
        // theta / s = theta / sin(theta) when |x| = |y| = 1; near theta = 0 its series.
        var ratio = where(theta < SeriesBelow, InverseSinc(theta), theta / s);
        var regular = ratio * w;
        if (!cut.any().ToBoolean()) return regular;
        return where(cut, theta * CutDirection(x), regular);
    }

    /// <summary>The deterministic unit tangent direction used at the cut locus: P_x e_k normalised, k = argmin_i |x_i|.</summary>
    private Tensor CutDirection(Tensor x)
    {
        var k = x.abs().argmin(1, keepdim: true);
        var e = zeros_like(x).scatter_(1, k, ones_like(x));
        var p = e - Dot(x, e) * x;
        return p / Norm(p);
    }

    /// <summary>P_x v = v - (x.v) x.</summary>
    public Tensor ProjectToTangent(Tensor x, Tensor v)
    {
        CheckPair(this, x, v, "vectors");
        using var scope = NewDisposeScope();
        return (v - Dot(x, v) * x).MoveToOuterDisposeScope();
    }

    /// <summary>x / |x|; a zero row (no nearest point) maps to e_1 = (1, 0, ..., 0); a non-finite row stays non-finite.</summary>
    public Tensor ProjectToManifold(Tensor x)
    {
        CheckPoints(this, x);
        using var scope = NewDisposeScope();
        return Normalise(x).MoveToOuterDisposeScope();
    }

    private static Tensor Normalise(Tensor x)
    {
        var n = Norm(x);
        var e1 = zeros_like(x);
        e1[.., 0] = 1;
        var zero = n == 0;  // false for NaN: a non-finite row stays non-finite (the solvers must see it)
        return where(zero, e1, x / where(zero, ones_like(n), n));
    }

    /// <summary>d(x, y) = atan2(|y - (x.y) x|, x.y), in [0, pi].</summary>
    public Tensor Distance(Tensor x, Tensor y)
    {
        CheckPair(this, x, y, "points");
        using var scope = NewDisposeScope();
        var c = Dot(x, y);
        return atan2(SafeNorm(y - c * x), c).squeeze(1).MoveToOuterDisposeScope();
    }

    /// <summary>x_t = cos(t theta) x0 + sin(t theta) u = cos(t theta) x0 + t sinc(t theta) v, v = log_{x0}(x1), theta = |v|, u = v / theta.</summary>
    public Tensor Geodesic(Tensor x0, Tensor x1, Tensor t)
    {
        CheckPair(this, x0, x1, "end points");
        using var scope = NewDisposeScope();
        var tc = TimeColumn(t, x0);
        var v = LogCore(x0, x1);
        var a = tc * SafeNorm(v);
        return Normalise(a.cos() * x0 + tc * Sinc(a) * v).MoveToOuterDisposeScope();
    }

    /// <summary>d x_t / dt = theta (-sin(t theta) x0 + cos(t theta) u) = -theta sin(t theta) x0 + cos(t theta) v (no division by theta).</summary>
    public Tensor GeodesicVelocity(Tensor x0, Tensor x1, Tensor t)
    {
        CheckPair(this, x0, x1, "end points");
        using var scope = NewDisposeScope();
        var tc = TimeColumn(t, x0);
        var v = LogCore(x0, x1);
        var theta = SafeNorm(v);
        var a = tc * theta;
        return (-theta * a.sin() * x0 + a.cos() * v).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// With r = |v|, u = v / r, y = exp_x(v) and e = -sin(r) x + cos(r) u (the geodesic's unit direction at y): z = alpha e + z_perp
    /// with alpha = z.e, and w = alpha u + (r / sin r) z_perp, since D exp_x(v) maps u to e and a unit w_perp to (sin r / r) w_perp.
    /// </summary>
    public Tensor InverseExpDifferential(Tensor x, Tensor v, Tensor z)
    {
        CheckPair(this, x, v, "tangent vectors");
        CheckPair(this, x, z, "vectors");
        using var scope = NewDisposeScope();
        var r = SafeNorm(v);
        var u = v / r;
        var e = -r.sin() * x + r.cos() * u;
        var alpha = Dot(z, e);
        var perp = z - alpha * e;
        return (alpha * u + InverseSinc(r) * perp).MoveToOuterDisposeScope();
    }

    /// <summary>Normalised standard normal rows g / |g| (the normal law is rotation invariant, so the direction is uniform).</summary>
    public Tensor SampleUniform(int count, Generator? generator = null, ScalarType dtype = ScalarType.Float32)
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), count, "count must be >= 0");
        using var scope = NewDisposeScope();
        var g = randn(count, CoordinateDimension, dtype: dtype, generator: generator);
        return Normalise(g).MoveToOuterDisposeScope();
    }

    /// <summary>| |x| - 1 | per row.</summary>
    public Tensor MaxViolation(Tensor x)
    {
        CheckPoints(this, x);
        using var scope = NewDisposeScope();
        return (Norm(x) - 1).abs().squeeze(1).MoveToOuterDisposeScope();
    }
}
