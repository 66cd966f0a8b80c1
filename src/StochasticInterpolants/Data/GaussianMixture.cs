using static TorchSharp.torch;

namespace StochasticInterpolants.Data;

/// <summary>
/// A Gaussian mixture rho(x) = sum_k w_k N(x; mu_k, diag(sigma_k^2)) in any dimension, with exact log-density
/// (log-sum-exp in float64).
/// </summary>
public class GaussianMixture : SampledDistribution
{
    private readonly double[] _weights;
    private readonly double[][] _means;
    private readonly double[][] _variances;

    /// <summary>Creates the mixture; weights are normalised to sum to 1.</summary>
    public GaussianMixture(double[] weights, double[][] means, double[][] variances, string name = "mixture")
    {
        if (weights.Length == 0 || weights.Length != means.Length || weights.Length != variances.Length)
            throw new ArgumentException("a mixture needs as many weights, means and variances, at least one");
        var d = means[0].Length;
        if (d < 1 || means.Any(m => m.Length != d) || variances.Any(v => v.Length != d))
            throw new ArgumentException("all mixture means and variances must have the same dimension");
        if (weights.Any(w => !(w >= 0) || double.IsInfinity(w)) || weights.Sum() <= 0) throw new ArgumentException("mixture weights must be non-negative with a positive sum");
        if (variances.Any(v => v.Any(x => !(x > 0) || double.IsInfinity(x)))) throw new ArgumentException("mixture variances must be positive");
        var total = weights.Sum();
        _weights = weights.Select(w => w / total).ToArray();
        _means = means.Select(m => m.ToArray()).ToArray();
        _variances = variances.Select(v => v.ToArray()).ToArray();
        Name = name;
        Dimension = d;
    }

    /// <summary>A mixture with isotropic components of standard deviation <paramref name="std"/>.</summary>
    public static GaussianMixture Isotropic(double[] weights, double[][] means, double std, string name = "mixture") =>
        new(weights, means, means.Select(m => Enumerable.Repeat(std * std, m.Length).ToArray()).ToArray(), name);

    /// <inheritdoc />
    public override string Name { get; }
    /// <inheritdoc />
    public override int Dimension { get; }
    /// <inheritdoc />
    public override bool HasLogDensity => true;
    /// <summary>Normalised component weights.</summary>
    public IReadOnlyList<double> Weights => _weights;
    /// <summary>Component means.</summary>
    public IReadOnlyList<double[]> Means => _means;
    /// <summary>Component per-dimension variances.</summary>
    public IReadOnlyList<double[]> Variances => _variances;

    /// <inheritdoc />
    public override Tensor Sample(int count, Generator generator)
    {
        CheckCount(count);
        using var scope = NewDisposeScope();
        var k = _weights.Length;
        var component = multinomial(tensor(_weights), count, replacement: true, generator: generator);
        var means = tensor(_means.SelectMany(m => m).ToArray(), [k, Dimension]);
        var stds = tensor(_variances.SelectMany(v => v.Select(Math.Sqrt)).ToArray(), [k, Dimension]);
        var noise = randn(count, Dimension, dtype: float64, generator: generator);
        return (means.index_select(0, component) + stds.index_select(0, component) * noise).to(float32).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public override Tensor LogDensity(Tensor x)
    {
        CheckPoints(x);
        using var scope = NewDisposeScope();
        var xd = x.to(float64);
        var terms = new List<Tensor>();
        for (var c = 0; c < _weights.Length; c++)
        {
            if (_weights[c] == 0) continue;
            var mu = tensor(_means[c]).to(xd.device);
            var v = tensor(_variances[c]).to(xd.device);
            var logNorm = Math.Log(_weights[c]) - 0.5 * (Dimension * Math.Log(2 * Math.PI) + _variances[c].Sum(Math.Log));
            terms.Add(logNorm - 0.5 * ((xd - mu).square() / v).sum(1));
        }
        return stack(terms, 1).logsumexp(1).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// FFJORD's eight Gaussians: means 4 (cos(k pi / 4), sin(k pi / 4)) / 1.414 and standard deviation 0.5 / 1.414,
/// equal weights; a Gaussian mixture, so its log-density is exact.
/// </summary>
public sealed class EightGaussians() : GaussianMixture(
    Enumerable.Repeat(1.0, 8).ToArray(),
    Enumerable.Range(0, 8).Select(k => new[] { 4 * Math.Cos(k * Math.PI / 4) / 1.414, 4 * Math.Sin(k * Math.PI / 4) / 1.414 }).ToArray(),
    Enumerable.Repeat(new[] { 0.25 / (1.414 * 1.414), 0.25 / (1.414 * 1.414) }, 8).ToArray(),
    "8gaussians");
