using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Metrics;

/// <summary>
/// The first two moments of a sample of feature vectors x_1..x_n in R^F: the mean mu = (1/n) sum_i x_i and the unbiased
/// covariance C = (1/(n-1)) sum_i (x_i - mu)(x_i - mu)^T, float64 on the CPU (owned by this object).
/// </summary>
public sealed class GaussianMoments : IDisposable
{
    /// <summary>Wraps a mean [F] and a symmetric covariance [F, F] from <paramref name="count"/> samples (both copied to float64).</summary>
    public GaussianMoments(Tensor mean, Tensor covariance, long count)
    {
        if (mean.dim() != 1 || covariance.dim() != 2 || covariance.shape[0] != mean.shape[0] || covariance.shape[1] != mean.shape[0])
            throw new ArgumentException($"moments need a mean [F] and a covariance [F, F], got [{string.Join(",", mean.shape)}] and [{string.Join(",", covariance.shape)}]");
        Mean = mean.detach().to(float64).cpu().clone().DetachFromDisposeScope();
        Covariance = covariance.detach().to(float64).cpu().clone().DetachFromDisposeScope();
        Count = count;
    }

    /// <summary>mu, float64 [F].</summary>
    public Tensor Mean { get; }
    /// <summary>C, float64 [F, F].</summary>
    public Tensor Covariance { get; }
    /// <summary>n, the number of samples the moments came from.</summary>
    public long Count { get; }
    /// <summary>F.</summary>
    public int Dimension => (int)Mean.shape[0];

    /// <summary>The moments of the rows of <paramref name="features"/> [n, F] (n &gt;= 2), computed in float64.</summary>
    public static GaussianMoments Of(Tensor features)
    {
        if (features.dim() != 2 || features.shape[1] < 1) throw new ArgumentException($"features must be [n, F], got [{string.Join(",", features.shape)}]");
        var n = features.shape[0];
        if (n < 2) throw new ArgumentException($"moments need at least two feature vectors, got {n}");
        using var scope = NewDisposeScope();
        var x = features.detach().to(float64).cpu();
        var mean = x.mean([0]);
        var centred = x - mean;
        var covariance = centred.t().matmul(centred).div_(n - 1);
        return new GaussianMoments(mean, covariance, n);
    }

    /// <inheritdoc />
    public void Dispose() { Mean.Dispose(); Covariance.Dispose(); }
}

/// <summary>
/// The Fréchet (2-Wasserstein) distance between the Gaussians N(mu_a, C_a) and N(mu_b, C_b) fitted to two samples:
/// d^2 = |mu_a - mu_b|^2 + tr(C_a + C_b - 2 (C_a^{1/2} C_b C_a^{1/2})^{1/2}). Reported as d^2, like FID; in the feature
/// space of a <see cref="ReferenceClassifier"/> it is the "Fréchet classifier distance" (not FID: the features are not
/// Inception's).
/// </summary>
public static class FrechetDistance
{
    /// <summary>
    /// d^2 = |mu_a - mu_b|^2 + tr C_a + tr C_b - 2 tr (C_a^{1/2} C_b C_a^{1/2})^{1/2}, in float64. Both square roots come
    /// from symmetric eigendecompositions (<c>linalg.eigh</c>): C_a^{1/2} = V diag(sqrt(max(lambda, 0))) V^T, and the trace
    /// term is sum_i sqrt(max(nu_i, 0)) over the eigenvalues nu of the symmetrised M = C_a^{1/2} C_b C_a^{1/2}. Negative
    /// eigenvalues are round-off of positive semi-definite matrices and are clamped at 0; so is a negative total.
    /// </summary>
    public static double Between(GaussianMoments a, GaussianMoments b)
    {
        if (a.Dimension != b.Dimension) throw new ArgumentException($"Fréchet distance: moments of dimension {a.Dimension} and {b.Dimension}");
        using var scope = NewDisposeScope();
        var meanTerm = (a.Mean - b.Mean).square().sum().ToDouble();
        var rootA = SquareRoot(a.Covariance);
        var m = rootA.matmul(b.Covariance).matmul(rootA);
        m = (m + m.t()).mul_(0.5); // exactly symmetric, as eigh assumes
        var traceRoot = linalg.eigvalsh(m).clamp_min_(0).sqrt_().sum().ToDouble();
        var total = meanTerm + a.Covariance.trace().ToDouble() + b.Covariance.trace().ToDouble() - 2 * traceRoot;
        return Math.Max(total, 0);
    }

    /// <summary>d^2 between Gaussians fitted (<see cref="GaussianMoments.Of"/>) to the rows of <paramref name="a"/> and <paramref name="b"/>.</summary>
    public static double Between(Tensor a, Tensor b)
    {
        using var ma = GaussianMoments.Of(a);
        using var mb = GaussianMoments.Of(b);
        return Between(ma, mb);
    }

    /// <summary>The symmetric positive semi-definite square root V diag(sqrt(max(lambda, 0))) V^T of a symmetric matrix.</summary>
    internal static Tensor SquareRoot(Tensor symmetric)
    {
        using var scope = NewDisposeScope();
        var s = (symmetric + symmetric.t()).mul_(0.5);
        var (values, vectors) = linalg.eigh(s);
        return vectors.mul(values.clamp_min(0).sqrt().unsqueeze(0)).matmul(vectors.t()).MoveToOuterDisposeScope();
    }
}
