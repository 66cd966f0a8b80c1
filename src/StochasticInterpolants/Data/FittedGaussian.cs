using System.Text.Json.Serialization;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Data;

/// <summary>
/// The baseline density of a table: a full-covariance Gaussian N(mu, Sigma) fitted by maximum likelihood to training rows
/// (docs/theory.md §8). With class labels it is the class-conditional Gaussian with one mean per class and a covariance
/// pooled over classes, so it scores p(x | class) like a conditional flow does. A flow that does not beat it has not
/// earned its cost.
/// </summary>
/// <param name="Means">One mean per class (one entry without labels), each of length d.</param>
/// <param name="Covariance">Sigma, d x d row-major (with a ridge of 1e-9 times its mean diagonal, so it is invertible).</param>
public sealed record FittedGaussian(IReadOnlyList<IReadOnlyList<double>> Means, IReadOnlyList<double> Covariance)
{
    /// <summary>Dimension d.</summary>
    [JsonIgnore]
    public int Dimension => Means[0].Count;

    /// <summary>Fits to <paramref name="rows"/> ([n, d]) and, when given, their class indices (0..k-1).</summary>
    public static FittedGaussian Fit(Tensor rows, long[]? labels = null, int classes = 1)
    {
        if (rows.dim() != 2 || rows.shape[0] < 2) throw new ArgumentException($"fitting a Gaussian needs [n, d] rows with n >= 2, got [{string.Join(",", rows.shape)}]");
        using var scope = NewDisposeScope();
        var x = rows.detach().to(float64).cpu();
        var n = x.shape[0]; var d = (int)x.shape[1];
        var groups = labels is null ? new long[n] : labels;
        var k = labels is null ? 1 : classes;
        var means = new List<IReadOnlyList<double>>();
        var centred = zeros_like(x);
        var all = x.mean([0]);
        for (var c = 0; c < k; c++)
        {
            var idx = Enumerable.Range(0, (int)n).Where(i => groups[i] == c).Select(i => (long)i).ToArray();
            // A class without training rows keeps the overall mean (its rows, if any show up, are scored against it).
            var mean = idx.Length == 0 ? all : x.index_select(0, tensor(idx)).mean([0]);
            means.Add(mean.data<double>().ToArray());
            if (idx.Length > 0) centred.index_copy_(0, tensor(idx), x.index_select(0, tensor(idx)) - mean);
        }
        var cov = centred.t().matmul(centred) / n;
        var ridge = 1e-9 * Math.Max(cov.diagonal().mean().ToDouble(), 1e-300);
        cov += ridge * eye(d, dtype: float64);
        return new FittedGaussian(means, cov.contiguous().data<double>().ToArray());
    }

    /// <summary>log N(x; mu_c, Sigma) per row of <paramref name="x"/> ([n, d] -> [n] float64), with c the row's class (or the single mean).</summary>
    public Tensor LogDensity(Tensor x, long[]? labels = null)
    {
        var d = Dimension;
        if (x.dim() != 2 || x.shape[1] != d) throw new ArgumentException($"the Gaussian baseline scores [n, {d}] rows, got [{string.Join(",", x.shape)}]");
        if (labels is not null && labels.Length != x.shape[0]) throw new ArgumentException($"{labels.Length} labels for {x.shape[0]} rows");
        if (labels is null && Means.Count > 1) throw new ArgumentException("this baseline is class-conditional: give each row's class");
        using var scope = NewDisposeScope();
        var v = x.detach().to(float64).cpu();
        var mu = stack(Means.Select(m => tensor(m.ToArray(), dtype: float64)).ToArray());
        var rowsMean = labels is null ? mu[0].expand_as(v) : mu.index_select(0, tensor(labels.Select(l => Math.Clamp(l, 0, Means.Count - 1)).ToArray()));
        var l = linalg.cholesky(tensor(Covariance.ToArray(), [d, d], dtype: float64));
        var solved = linalg.solve_triangular(l, (v - rowsMean).t(), upper: false); // L^-1 (x - mu)
        var mahalanobis = solved.square().sum([0]);
        var logDet = 2 * l.diagonal().log().sum();
        return (-0.5 * (mahalanobis + logDet + d * Math.Log(2 * Math.PI))).MoveToOuterDisposeScope();
    }
}
