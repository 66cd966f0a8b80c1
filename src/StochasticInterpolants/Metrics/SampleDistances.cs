using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Metrics;

/// <summary>
/// Distances between two samples of points in R^d (rows of [n, d] tensors), computed in float64.
/// </summary>
public static class SampleDistances
{
    /// <summary>The RBF bandwidths used by <see cref="Mmd"/> when none are given.</summary>
    public static IReadOnlyList<double> DefaultBandwidths { get; } = [0.25, 0.5, 1.0, 2.0, 4.0];

    /// <summary>
    /// Squared maximum mean discrepancy with the kernel k(x, y) = sum_h exp(-|x - y|^2 / (2 h^2)) over the bandwidths h
    /// (default 0.25, 0.5, 1, 2, 4): the unbiased U-statistic MMD^2 = E k(x, x') + E k(y, y') - 2 E k(x, y).
    /// </summary>
    public static double Mmd(Tensor x, Tensor y, IReadOnlyList<double>? bandwidths = null)
    {
        Check(x, y);
        var hs = bandwidths ?? DefaultBandwidths;
        using var scope = NewDisposeScope();
        var a = x.to(float64); var b = y.to(float64);
        long n = a.shape[0], m = b.shape[0];
        Tensor K(Tensor p, Tensor q)
        {
            var d2 = cdist(p, q).square();
            var k = zeros_like(d2);
            foreach (var h in hs) k = k + (-d2 / (2 * h * h)).exp();
            return k;
        }
        var kxx = K(a, a); var kyy = K(b, b);
        var xx = (kxx.sum().ToDouble() - kxx.diagonal().sum().ToDouble()) / (n * (n - 1));
        var yy = (kyy.sum().ToDouble() - kyy.diagonal().sum().ToDouble()) / (m * (m - 1));
        return xx + yy - 2 * K(a, b).mean().ToDouble();
    }

    /// <summary>
    /// Sliced Wasserstein-2: the square root of the mean over <paramref name="projections"/> random unit directions theta
    /// (seeded) of W2^2 between the 1-D projections, each computed by sorting (equal sample sizes: the larger sample is
    /// subsampled to the smaller's size, deterministically by the seed).
    /// </summary>
    public static double SlicedWasserstein2(Tensor x, Tensor y, int projections = 256, long seed = 0)
    {
        Check(x, y);
        if (projections < 1) throw new ArgumentException($"projections must be >= 1, got {projections}");
        using var scope = NewDisposeScope();
        using var g = new Generator((ulong)seed);
        var a = x.to(float64); var b = y.to(float64);
        var n = Math.Min(a.shape[0], b.shape[0]);
        if (a.shape[0] > n) a = a.index_select(0, randperm(a.shape[0], generator: g)[..(int)n]);
        if (b.shape[0] > n) b = b.index_select(0, randperm(b.shape[0], generator: g)[..(int)n]);
        var theta = randn(a.shape[1], projections, dtype: float64, generator: g);
        theta = theta / theta.norm(0, keepdim: true);
        var pa = a.matmul(theta).sort(0).Values;
        var pb = b.matmul(theta).sort(0).Values;
        return Math.Sqrt((pa - pb).square().mean().ToDouble());
    }

    /// <summary>
    /// Exact Wasserstein-2 between two equal-size samples (uniform weights): sqrt(min over permutations of the mean squared
    /// distance), solved as an assignment problem (shortest augmenting paths, O(n^3); a few thousand points at most).
    /// </summary>
    public static double Wasserstein2(Tensor x, Tensor y)
    {
        Check(x, y);
        if (x.shape[0] != y.shape[0]) throw new ArgumentException($"exact W2 needs samples of equal size, got {x.shape[0]} and {y.shape[0]}");
        if (x.shape[0] > 5000) throw new ArgumentException($"exact W2 is O(n^3): at most 5,000 points, got {x.shape[0]}");
        using var cost = cdist(x.to(float64), y.to(float64)).square();
        var n = (int)x.shape[0];
        var c = cost.contiguous().data<double>().ToArray();
        var assignment = Assignment.Solve(c, n);
        var total = 0.0;
        for (var i = 0; i < n; i++) total += c[i * n + assignment[i]];
        return Math.Sqrt(total / n);
    }

    /// <summary>
    /// KL(p || q) between histograms of the two samples on a shared grid of <paramref name="bins"/> per dimension over the
    /// given range (1-D or 2-D), with a pseudo-count of 0.5 per bin so empty bins stay finite. In nats.
    /// </summary>
    public static double HistogramKl(Tensor p, Tensor q, int bins, double low, double high)
    {
        Check(p, q);
        var d = (int)p.shape[1];
        if (d is < 1 or > 2) throw new ArgumentException($"histogram KL is for 1-D or 2-D samples, got d = {d}");
        if (bins < 2 || !(high > low)) throw new ArgumentException("histogram KL needs bins >= 2 and high > low");
        var hp = Histogram(p, bins, low, high); var hq = Histogram(q, bins, low, high);
        var sp = hp.Sum() + 0.5 * hp.Length; var sq = hq.Sum() + 0.5 * hq.Length;
        var kl = 0.0;
        for (var i = 0; i < hp.Length; i++)
        {
            var pi = (hp[i] + 0.5) / sp; var qi = (hq[i] + 0.5) / sq;
            kl += pi * Math.Log(pi / qi);
        }
        return kl;
    }

    private static double[] Histogram(Tensor x, int bins, double low, double high)
    {
        using var cpu = x.to(float64).cpu().contiguous();
        var v = cpu.data<double>().ToArray();
        var d = (int)x.shape[1];
        var counts = new double[d == 1 ? bins : bins * bins];
        int Bin(double value) => value < low || value >= high ? -1 : Math.Min(bins - 1, (int)((value - low) / (high - low) * bins));
        for (var r = 0; r < v.Length / d; r++)
        {
            var i = Bin(v[r * d]);
            if (i < 0) continue;
            if (d == 1) { counts[i]++; continue; }
            var j = Bin(v[r * d + 1]);
            if (j >= 0) counts[i * bins + j]++;
        }
        return counts;
    }

    private static void Check(Tensor x, Tensor y)
    {
        if (x.dim() != 2 || y.dim() != 2 || x.shape[1] != y.shape[1])
            throw new ArgumentException($"samples must be [n, d] and [m, d], got [{string.Join(",", x.shape)}] and [{string.Join(",", y.shape)}]");
        if (x.shape[0] < 2 || y.shape[0] < 2) throw new ArgumentException("each sample needs at least two points");
    }
}

/// <summary>The linear assignment problem: a permutation minimising sum_i cost[i, p(i)] (Jonker–Volgenant style shortest augmenting paths with potentials).</summary>
internal static class Assignment
{
    /// <summary>Returns p with p[row] = column for the n x n row-major cost matrix.</summary>
    public static int[] Solve(double[] cost, int n)
    {
        // Potentials u (rows), v (columns); way[] remembers the augmenting path. 1-based with a virtual column 0.
        var u = new double[n + 1]; var v = new double[n + 1];
        var p = new int[n + 1]; var way = new int[n + 1];
        var minv = new double[n + 1]; var used = new bool[n + 1];
        for (var i = 1; i <= n; i++)
        {
            p[0] = i;
            var j0 = 0;
            Array.Fill(minv, double.PositiveInfinity);
            Array.Fill(used, false);
            do
            {
                used[j0] = true;
                int i0 = p[j0], j1 = 0;
                var delta = double.PositiveInfinity;
                var row = (i0 - 1) * n;
                for (var j = 1; j <= n; j++)
                {
                    if (used[j]) continue;
                    var cur = cost[row + j - 1] - u[i0] - v[j];
                    if (cur < minv[j]) { minv[j] = cur; way[j] = j0; }
                    if (minv[j] < delta) { delta = minv[j]; j1 = j; }
                }
                for (var j = 0; j <= n; j++)
                {
                    if (used[j]) { u[p[j]] += delta; v[j] -= delta; }
                    else minv[j] -= delta;
                }
                j0 = j1;
            } while (p[j0] != 0);
            do { var j1 = way[j0]; p[j0] = p[j1]; j0 = j1; } while (j0 != 0);
        }
        var result = new int[n];
        for (var j = 1; j <= n; j++) result[p[j] - 1] = j - 1;
        return result;
    }
}
