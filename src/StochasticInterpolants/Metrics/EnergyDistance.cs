using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Metrics;

/// <summary>
/// The energy distance between two samples (Székely &amp; Rizzo): D^2 = 2 E|X - Y| - E|X - X'| - E|Y - Y'|, estimated with
/// the unbiased U-statistics for the within-sample terms. Zero exactly when the laws agree; computed in float64.
/// </summary>
public static class EnergyDistance
{
    /// <summary>D^2 between the rows of <paramref name="x"/> [n, d] and <paramref name="y"/> [m, d] (n, m &gt;= 2).</summary>
    public static double Compute(Tensor x, Tensor y)
    {
        if (x.dim() != 2 || y.dim() != 2 || x.shape[1] != y.shape[1]) throw new ArgumentException($"samples must be [n, d] and [m, d], got [{string.Join(",", x.shape)}] and [{string.Join(",", y.shape)}]");
        if (x.shape[0] < 2 || y.shape[0] < 2) throw new ArgumentException("energy distance needs at least two points per sample");
        using var scope = NewDisposeScope();
        var a = x.to(float64); var b = y.to(float64);
        long n = a.shape[0], m = b.shape[0];
        var xy = cdist(a, b).mean().ToDouble();
        var xx = cdist(a, a).sum().ToDouble() / (n * (n - 1));
        var yy = cdist(b, b).sum().ToDouble() / (m * (m - 1));
        return 2 * xy - xx - yy;
    }
}
