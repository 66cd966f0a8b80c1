using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Manifolds;

/// <summary>Shared row-wise helpers of the manifolds: shape checks, per-row times, and the series near zero.</summary>
internal static class ManifoldMath
{
    /// <summary>Below this |theta| the ratios sin(theta)/theta and theta/sin(theta) use their Taylor series (truncation error &lt; 1e-22).</summary>
    public const double SeriesBelow = 1e-4;

    public static void CheckPoints(IManifold m, Tensor x, string what = "points")
    {
        if (x.dim() != 2 || x.shape[1] != m.CoordinateDimension)
            throw new ArgumentException($"{m.Name}: {what} must have shape [n, {m.CoordinateDimension}], got [{string.Join(", ", x.shape)}]");
    }

    public static void CheckPair(IManifold m, Tensor x, Tensor y, string what)
    {
        CheckPoints(m, x);
        CheckPoints(m, y, what);
        if (x.shape[0] != y.shape[0]) throw new ArgumentException($"{m.Name}: {x.shape[0]} points but {y.shape[0]} {what}");
    }

    /// <summary>t as a column [n, 1] (or a scalar) in the dtype of <paramref name="like"/>, broadcasting over a row.</summary>
    public static Tensor TimeColumn(Tensor t, Tensor like)
    {
        var c = t.to(like.dtype, like.device);
        if (c.dim() == 0) return c;
        if (c.dim() != 1 || c.shape[0] != like.shape[0])
            throw new ArgumentException($"times must be a scalar or one per row [{like.shape[0]}], got [{string.Join(", ", t.shape)}]");
        return c.reshape(-1, 1);
    }

    /// <summary>Row norms as a column [n, 1].</summary>
    public static Tensor Norm(Tensor v) => v.square().sum(1, keepdim: true).sqrt();

    /// <summary>
    /// Row norms [n, 1] floored at sqrt(1e-37) (~3e-19): the same values to rounding for non-zero rows, but the gradient at a
    /// zero row is 0 instead of NaN (sqrt has an infinite derivative at 0). For lengths fed to the series near 0.
    /// </summary>
    public static Tensor SafeNorm(Tensor v) => v.square().sum(1, keepdim: true).clamp_min(1e-37).sqrt();

    /// <summary>Row dot products as a column [n, 1].</summary>
    public static Tensor Dot(Tensor a, Tensor b) => (a * b).sum(1, keepdim: true);

    /// <summary>sin(r)/r with 1 - r^2/6 + r^4/120 below <see cref="SeriesBelow"/> (finite value and gradient at r = 0).</summary>
    public static Tensor Sinc(Tensor r)
    {
        var small = r.abs() < SeriesBelow;
        var safe = where(small, ones_like(r), r);
        var r2 = r.square();
        return where(small, 1 - r2 / 6 + r2.square() / 120, safe.sin() / safe);
    }

    /// <summary>r/sin(r) with 1 + r^2/6 + 7 r^4/360 below <see cref="SeriesBelow"/>; for 0 &lt;= r &lt; pi.</summary>
    public static Tensor InverseSinc(Tensor r)
    {
        var small = r.abs() < SeriesBelow;
        var safe = where(small, ones_like(r), r);
        var r2 = r.square();
        return where(small, 1 + r2 / 6 + 7 * r2.square() / 360, safe / safe.sin());
    }

    /// <summary>log Gamma(k / 2) for a positive integer k, exactly by the recurrence Gamma(x + 1) = x Gamma(x) from Gamma(1) = 1, Gamma(1/2) = sqrt(pi).</summary>
    public static double LogGammaHalf(int k)
    {
        if (k < 1) throw new ArgumentOutOfRangeException(nameof(k), k, "k must be positive");
        var x = k % 2 == 0 ? 1.0 : 0.5;
        var value = k % 2 == 0 ? 0.0 : 0.5 * Math.Log(Math.PI);
        for (; x < k / 2.0; x += 1) value += Math.Log(x);
        return value;
    }
}
