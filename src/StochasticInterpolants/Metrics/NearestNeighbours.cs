using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Metrics;

/// <summary>For each query row, the Euclidean distance to its nearest reference row and that row's index.</summary>
/// <param name="Distances">min_j |q_i - r_j|, float64, one per query.</param>
/// <param name="Indices">The j attaining it (the lowest such j on an exact tie).</param>
public sealed record Neighbours(double[] Distances, long[] Indices);

/// <summary>
/// Exact nearest neighbours in Euclidean distance by blocks of queries and references, so memory stays bounded (about
/// QueryBlock x ReferenceBlock floats) for tens of thousands of rows of hundreds of dimensions.
/// </summary>
public static class NearestNeighbours
{
    // Candidates kept per query from the float32 screen and then measured exactly in float64.
    private const int Candidates = 8;

    /// <summary>
    /// For each row q_i of <paramref name="queries"/> [m, D], min_j |q_i - r_j| over the rows of <paramref name="reference"/>
    /// [n, D] and its argmin. Both are centred on the references' mean (distances do not change). A float32 screen then
    /// computes |q|^2 + |r|^2 - 2 q.r with one matmul per block of <paramref name="queryBlock"/> x
    /// <paramref name="referenceBlock"/> rows and keeps the 8 smallest per query; those are measured again as |q - r| in
    /// float64 and the smallest wins (an exact tie goes to the lowest index among them). The screen's round-off is about
    /// 1e-7 (|q|^2 + |r|^2), so the true neighbour is missed only when more than 8 references are tied to that precision.
    /// </summary>
    public static Neighbours Find(Tensor queries, Tensor reference, int queryBlock = 1024, int referenceBlock = 4096)
    {
        if (queries.dim() != 2 || reference.dim() != 2 || queries.shape[1] != reference.shape[1])
            throw new ArgumentException($"nearest neighbours need [m, D] queries and [n, D] references, got [{string.Join(",", queries.shape)}] and [{string.Join(",", reference.shape)}]");
        if (reference.shape[0] < 1) throw new ArgumentException("nearest neighbours need at least one reference row");
        if (queryBlock < 1 || referenceBlock < 1) throw new ArgumentException($"block sizes must be >= 1, got {queryBlock} and {referenceBlock}");
        long m = queries.shape[0], n = reference.shape[0];
        var k = (int)Math.Min(Candidates, n);
        var distances = new double[m];
        var indices = new long[m];
        using var outer = NewDisposeScope();
        using var noGrad = no_grad();
        // The rows as given are kept (no float64 copies of the whole sets): only the candidates are converted.
        var queryRows = queries.detach().cpu();
        var referenceRows = reference.detach().cpu();
        // Distances do not change under a common translation; centring on the references' mean keeps |q|^2 and |r|^2
        // small next to the distances, which is what the float32 screen's accuracy depends on. (The exact step below uses
        // the rows as given, so exact ties stay exact.)
        var centre = referenceRows.to(float32).mean([0], keepdim: true, type: float64).to(float32);
        var r32 = referenceRows.to(float32) - centre;
        var q32All = queryRows.to(float32) - centre;
        var rSquared = r32.square().sum([1]);
        for (long qb = 0; qb < m; qb += queryBlock)
        {
            using var scope = NewDisposeScope();
            var rows = Math.Min(queryBlock, m - qb);
            var q = queryRows.narrow(0, qb, rows).to(float64);
            var q32 = q32All.narrow(0, qb, rows);
            var qSquared = q32.square().sum([1], keepdim: true);
            Tensor? bestValues = null, bestIndices = null;
            for (long rb = 0; rb < n; rb += referenceBlock)
            {
                // A scope per block: the [rows, cols] matrix of this block is freed before the next one is made.
                using var blockScope = NewDisposeScope();
                var cols = Math.Min(referenceBlock, n - rb);
                var squared = q32.matmul(r32.narrow(0, rb, cols).t()).mul_(-2).add_(qSquared).add_(rSquared.narrow(0, rb, cols).unsqueeze(0));
                var (values, local) = squared.topk((int)Math.Min(k, cols), dim: 1, largest: false);
                var global = local.add_(rb);
                if (bestValues is not null)
                {
                    var pooled = cat([bestValues, values], 1);
                    var (merged, at) = pooled.topk((int)Math.Min(k, pooled.shape[1]), dim: 1, largest: false);
                    global = cat([bestIndices!, global], 1).gather(1, at);
                    values = merged;
                }
                bestValues = values.MoveToOuterDisposeScope();
                bestIndices = global.MoveToOuterDisposeScope();
            }
            // Exact distances of the candidates: |q_i - r_j| in float64.
            var candidates = bestIndices!;
            var picked = referenceRows.index_select(0, candidates.flatten()).to(float64).view(rows, candidates.shape[1], -1);
            var exact = (picked - q.unsqueeze(1)).square().sum([2]).sqrt();
            var exactValues = exact.data<double>().ToArray();
            var candidateIndices = candidates.data<long>().ToArray();
            var width = (int)candidates.shape[1];
            for (var i = 0; i < rows; i++)
            {
                var best = 0;
                for (var c = 1; c < width; c++)
                {
                    var (value, index) = (exactValues[i * width + c], candidateIndices[i * width + c]);
                    var (bestValue, bestIndex) = (exactValues[i * width + best], candidateIndices[i * width + best]);
                    if (value < bestValue || (value == bestValue && index < bestIndex)) best = c;
                }
                distances[qb + i] = exactValues[i * width + best];
                indices[qb + i] = candidateIndices[i * width + best];
            }
        }
        return new Neighbours(distances, indices);
    }
}

/// <summary>Quartiles of a set of distances (linear interpolation between order statistics).</summary>
public sealed record Quartiles(double Lower, double Median, double Upper)
{
    /// <summary>The 25%, 50% and 75% quantiles of <paramref name="values"/>, each x_(h) with h = p (n - 1) interpolated linearly.</summary>
    public static Quartiles Of(IReadOnlyCollection<double> values)
    {
        if (values.Count == 0) throw new ArgumentException("quartiles of an empty set");
        var sorted = values.OrderBy(v => v).ToArray();
        double At(double p)
        {
            var h = p * (sorted.Length - 1);
            var lo = (int)Math.Floor(h);
            var hi = Math.Min(lo + 1, sorted.Length - 1);
            return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
        }
        return new Quartiles(At(0.25), At(0.5), At(0.75));
    }
}

/// <summary>
/// A memorisation check: how close generated images lie to their nearest training image, against how close unseen test
/// images lie to theirs. <see cref="MedianRatio"/> = median(generated -&gt; train) / median(test -&gt; train): about 1 for a
/// model that generalises, well below 1 (towards 0) for one that reproduces its training images.
/// </summary>
/// <param name="GeneratedToTrain">Quartiles of min_j |g_i - t_j| over generated images g_i and training images t_j.</param>
/// <param name="TestToTrain">Quartiles of min_j |s_i - t_j| over test images s_i.</param>
/// <param name="MedianRatio">GeneratedToTrain.Median / TestToTrain.Median; null when TestToTrain.Median is 0 (at least half the
/// test images have an exact copy among the training images, so the ratio has no finite value and the check says nothing).</param>
/// <param name="Generated">Generated images compared.</param>
/// <param name="Test">Test images compared.</param>
public sealed record MemorisationSummary(Quartiles GeneratedToTrain, Quartiles TestToTrain, double? MedianRatio, int Generated, int Test)
{
    /// <summary>
    /// Compares the nearest-training-image distances of <paramref name="generated"/> and <paramref name="test"/> (rows or
    /// images [n, ...], flattened to [n, D]; all in the same scale, e.g. [-1, 1]) against <paramref name="train"/>.
    /// </summary>
    public static MemorisationSummary Compute(Tensor generated, Tensor train, Tensor test)
    {
        using var g = generated.flatten(1);
        using var t = train.flatten(1);
        using var s = test.flatten(1);
        var fromGenerated = Quartiles.Of(NearestNeighbours.Find(g, t).Distances);
        var fromTest = Quartiles.Of(NearestNeighbours.Find(s, t).Distances);
        var ratio = fromTest.Median > 0 ? fromGenerated.Median / fromTest.Median : (double?)null;
        return new MemorisationSummary(fromGenerated, fromTest, ratio, (int)g.shape[0], (int)s.shape[0]);
    }
}
