using StochasticInterpolants.Manifolds;
using static TorchSharp.torch;

namespace StochasticInterpolants.Data;

/// <summary>
/// The uniform distribution on the unit sphere S^{d-1} in R^d (points are unit rows of an [n, d] tensor). Its log-density
/// is with respect to the sphere's surface measure (not Lebesgue measure on R^d): log rho = -log |S^{d-1}|, with the area
/// |S^{d-1}| = 2 pi^{d/2} / Gamma(d/2) (4 pi for S^2). Samples: a standard Gaussian in R^d divided by its norm (rotation
/// invariance of N(0, I) makes the direction uniform).
/// </summary>
public sealed class UniformSphere : SampledDistribution, IManifoldDistribution
{
    /// <summary>The manifold the points live on.</summary>
    public IManifold Manifold => new Sphere(Dimension);

    /// <summary>The uniform law on S^{d-1}, d = <paramref name="dimension"/> &gt;= 2 (d = 3: the 2-sphere).</summary>
    public UniformSphere(int dimension = 3)
    {
        if (dimension < 2) throw new ArgumentException($"a sphere needs ambient dimension >= 2, got {dimension}");
        Dimension = dimension;
    }

    /// <inheritdoc />
    public override string Name => "uniform-sphere";
    /// <inheritdoc />
    public override int Dimension { get; }
    /// <inheritdoc />
    public override bool HasLogDensity => true;

    /// <summary>log |S^{d-1}| = log 2 + (d / 2) log pi - log Gamma(d / 2): the entropy of the uniform law, and minus its log-density.</summary>
    public double LogArea => new Sphere(Dimension).LogVolume;

    /// <inheritdoc />
    public override Tensor Sample(int count, Generator generator)
    {
        CheckCount(count);
        using var scope = NewDisposeScope();
        // The manifold's own uniform sampler (g / |g|, g ~ N(0, I)) in float64, rounded once to float32 unit rows.
        return SphereMath.ToUnitFloat32(new Sphere(Dimension).SampleUniform(count, generator, float64)).MoveToOuterDisposeScope();
    }

    /// <summary>log rho(x) = -log(2 pi^{d/2} / Gamma(d/2)) for every row (w.r.t. surface measure; x is not checked to be on the sphere).</summary>
    public override Tensor LogDensity(Tensor x)
    {
        CheckPoints(x);
        return full(x.shape[0], -LogArea, dtype: float64);
    }
}

/// <summary>
/// The von Mises-Fisher law on S^{d-1} with mean direction mu (a unit vector) and concentration kappa &gt;= 0:
/// rho(x) = C_d(kappa) exp(kappa mu . x) with respect to surface measure, C_d(kappa) = kappa^{d/2-1} / ((2 pi)^{d/2}
/// I_{d/2-1}(kappa)). On S^2 (d = 3) this is C(kappa) = kappa / (4 pi sinh kappa), from integrating
/// exp(kappa w) over w = mu . x in [-1, 1] with the area element 2 pi dw: 2 pi (e^kappa - e^-kappa) / kappa; its log is
/// computed as log kappa - log 4 pi - log sinh kappa with log sinh kappa = kappa + log(-expm1(-2 kappa)) - log 2 (finite at
/// kappa = 500 and accurate at kappa = 1e-8), and kappa = 0 is the uniform law, log C = -log 4 pi. For other d the
/// normaliser uses <see cref="SpecialFunctions.LogBesselIReduced"/>, which stays accurate as kappa -&gt; 0.
/// Sampling: w = mu . x first, then x = w mu + sqrt(1 - w^2) v with v uniform on the unit sphere of mu's orthogonal
/// complement. On S^2 w has density kappa e^{kappa w} / (2 sinh kappa) on [-1, 1], whose inverse CDF is exact:
/// 1 - w = -log1p(v expm1(-2 kappa)) / kappa with v uniform on [0, 1). For d != 3, Wood's (1994) rejection sampler:
/// b = (d - 1) / (2 kappa + sqrt(4 kappa^2 + (d - 1)^2)), x0 = (1 - b) / (1 + b), c = kappa x0 + (d - 1) log(1 - x0^2);
/// propose Z ~ Beta((d-1)/2, (d-1)/2), w = (1 - (1 + b) Z) / (1 - (1 - b) Z), accept when
/// kappa w + (d - 1) log(1 - x0 w) - c &gt;= log U.
/// </summary>
public sealed class VonMisesFisher : SampledDistribution, IManifoldDistribution
{
    /// <summary>The manifold the points live on.</summary>
    public IManifold Manifold => new Sphere(Dimension);

    private readonly double[] _mean;

    /// <summary>
    /// A vMF law with mean direction <paramref name="mean"/> (normalised here; its length fixes d &gt;= 2) and concentration
    /// <paramref name="kappa"/> &gt;= 0.
    /// </summary>
    public VonMisesFisher(double[] mean, double kappa, string name = "vmf")
    {
        if (mean.Length < 2) throw new ArgumentException($"a vMF mean needs dimension >= 2, got {mean.Length}");
        if (mean.Any(v => !double.IsFinite(v))) throw new ArgumentException("a vMF mean must be finite");
        var norm = Math.Sqrt(mean.Sum(v => v * v));
        if (!(norm > 0)) throw new ArgumentException("a vMF mean direction must be non-zero");
        if (!(kappa >= 0) || double.IsInfinity(kappa)) throw new ArgumentException($"a vMF concentration must be a finite number >= 0, got {kappa}");
        _mean = mean.Select(v => v / norm).ToArray();
        Kappa = kappa;
        Name = name;
        Dimension = mean.Length;
        LogNormaliser = SphereMath.LogVmfNormaliser(Dimension, kappa);
    }

    /// <inheritdoc />
    public override string Name { get; }
    /// <inheritdoc />
    public override int Dimension { get; }
    /// <inheritdoc />
    public override bool HasLogDensity => true;
    /// <summary>
    /// The maximum-likelihood vMF law fitted to unit vectors <paramref name="points"/> [n, d]: with m the mean of the rows,
    /// mu = m / |m| and kappa solves A_d(kappa) = |m| (<see cref="SpecialFunctions.InverseBesselIRatio"/> with nu = d / 2 - 1).
    /// </summary>
    public static VonMisesFisher Fit(Tensor points, string name = "vmf-fit")
    {
        if (points.dim() != 2 || points.shape[0] < 2 || points.shape[1] < 2)
            throw new ArgumentException($"fitting needs unit vectors [n >= 2, d >= 2], got shape [{string.Join(",", points.shape)}]");
        using var scope = NewDisposeScope();
        var m = points.to(float64).mean([0]).data<double>().ToArray();
        var r = Math.Sqrt(m.Sum(v => v * v));
        if (!(r > 0)) throw new ArgumentException("the points' mean is zero: no mean direction to fit");
        var d = m.Length;
        return new VonMisesFisher(m, SpecialFunctions.InverseBesselIRatio(d / 2.0 - 1, Math.Min(r, 1 - 1e-12)), name);
    }

    /// <summary>The unit mean direction mu.</summary>
    public IReadOnlyList<double> Mean => _mean;
    /// <summary>The concentration kappa.</summary>
    public double Kappa { get; }
    /// <summary>log C_d(kappa), the log normaliser w.r.t. surface measure (S^2: log(kappa / (4 pi sinh kappa))).</summary>
    public double LogNormaliser { get; }

    /// <summary>
    /// The mean resultant length E[mu . x] = A_d(kappa) = I_{d/2}(kappa) / I_{d/2-1}(kappa) (S^2: coth kappa - 1/kappa),
    /// so E[x] = A_d(kappa) mu.
    /// </summary>
    public double MeanResultantLength => SpecialFunctions.BesselIRatio(Dimension / 2.0 - 1, Kappa);

    /// <summary>The differential entropy w.r.t. surface measure: H = -E[log rho] = -log C_d(kappa) - kappa A_d(kappa).</summary>
    public double Entropy => -LogNormaliser - Kappa * MeanResultantLength;

    /// <inheritdoc />
    public override Tensor Sample(int count, Generator generator)
    {
        CheckCount(count);
        using var scope = NewDisposeScope();
        return SphereMath.ToUnitFloat32(SampleFloat64(count, generator)).MoveToOuterDisposeScope();
    }

    /// <summary>Samples as float64 rows of norm 1 (to float64 rounding); <see cref="Sample"/> rounds them to float32.</summary>
    internal Tensor SampleFloat64(int count, Generator generator)
    {
        using var scope = NewDisposeScope();
        var d = Dimension;
        var oneMinusW = Dimension == 3 ? InverseCdfOneMinusW(count, generator) : WoodOneMinusW(count, generator);
        var mu = tensor(_mean, dtype: float64);
        var g = randn(count, d, dtype: float64, generator: generator);
        var v = g - (g.matmul(mu)).unsqueeze(1) * mu.unsqueeze(0);
        v = v / v.norm(1, keepdim: true);
        var s = oneMinusW.clamp(0, 2);
        var w = 1 - s;
        var sine = (s * (2 - s)).sqrt(); // sqrt(1 - w^2) = sqrt((1 - w)(1 + w)), accurate when w is near 1
        var x = w.unsqueeze(1) * mu.unsqueeze(0) + sine.unsqueeze(1) * v;
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>On S^2: 1 - w = -log1p(v expm1(-2 kappa)) / kappa, v ~ U[0, 1); kappa = 0 gives 1 - w = 2 v (w uniform on [-1, 1]).</summary>
    private Tensor InverseCdfOneMinusW(int count, Generator generator)
    {
        using var scope = NewDisposeScope();
        var v = rand(count, dtype: float64, generator: generator);
        if (Kappa == 0) return (2 * v).MoveToOuterDisposeScope();
        return (-(v * SpecialFunctions.Expm1(-2 * Kappa)).log1p() / Kappa).MoveToOuterDisposeScope();
    }

    /// <summary>Wood's (1994) rejection sampler for w = mu . x on S^{d-1}, returning 1 - w; Z ~ Beta(a, a), a = (d - 1) / 2,
    /// drawn as Z = X / (X + Y) with X, Y ~ chi^2_{d-1} / 2 (sums of squared standard normals).</summary>
    private Tensor WoodOneMinusW(int count, Generator generator)
    {
        using var scope = NewDisposeScope();
        var m = Dimension - 1.0;
        var k = Kappa;
        var b = m / (2 * k + Math.Sqrt(4 * k * k + m * m));
        var x0 = (1 - b) / (1 + b);
        var c = k * x0 + m * Math.Log(1 - x0 * x0);
        var parts = new List<Tensor>();
        var have = 0;
        while (have < count)
        {
            var want = Math.Max(16, (int)((count - have) * 1.3));
            var chiX = randn(want, Dimension - 1, dtype: float64, generator: generator).square().sum(1);
            var chiY = randn(want, Dimension - 1, dtype: float64, generator: generator).square().sum(1);
            var z = chiX / (chiX + chiY);
            var u = rand(want, dtype: float64, generator: generator);
            var w = (1 - (1 + b) * z) / (1 - (1 - b) * z);
            var accept = (k * w + m * (1 - x0 * w).log() - c).ge(u.log());
            var kept = (1 - w).masked_select(accept);
            parts.Add(kept);
            have += (int)kept.shape[0];
        }
        return cat(parts, 0)[..count].MoveToOuterDisposeScope();
    }

    /// <summary>log rho(x) = log C_d(kappa) + kappa mu . x for each row, float64 (w.r.t. surface measure; x is not projected).</summary>
    public override Tensor LogDensity(Tensor x)
    {
        CheckPoints(x);
        using var scope = NewDisposeScope();
        var mu = tensor(_mean, dtype: float64).to(x.device);
        return (x.to(float64).matmul(mu) * Kappa + LogNormaliser).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// A mixture of von Mises-Fisher laws on one sphere: rho(x) = sum_k w_k C_d(kappa_k) exp(kappa_k mu_k . x) with respect to
/// surface measure (log-sum-exp in float64). Sampling draws each row's component from the weights, then from that vMF.
/// </summary>
public sealed class VonMisesFisherMixture : ComponentMixture<VonMisesFisher>, IManifoldDistribution
{
    /// <summary>The manifold the points live on.</summary>
    public IManifold Manifold => new Sphere(Dimension);

    /// <summary>The mixture of <paramref name="components"/> (same dimension) with <paramref name="weights"/>, normalised to sum to 1.</summary>
    public VonMisesFisherMixture(double[] weights, VonMisesFisher[] components, string name = "vmf-mixture")
        : base(weights, components, name, "vMF") { }

    private protected override Tensor SampleComponent(VonMisesFisher component, int count, Generator generator) => component.SampleFloat64(count, generator);

    private protected override Tensor ToSamples(Tensor points) => SphereMath.ToUnitFloat32(points);
}

/// <summary>
/// Named test targets on the sphere and the torus with exact densities (for the command line later), and a Monte Carlo
/// entropy estimate from an exact log-density (the reference a learned model's NLL is compared to).
/// </summary>
public static class ManifoldTargets
{
    /// <summary>The named targets: <c>vmf-mixture</c> (S^2) and <c>von-mises-mixture</c> (T^2).</summary>
    public static IReadOnlyList<string> Names { get; } = ["vmf-mixture", "von-mises-mixture"];

    /// <summary>The target called <paramref name="name"/> (case-insensitive), or null for another name.</summary>
    public static IDistribution? TryParse(string name) => name.Trim().ToLowerInvariant() switch
    {
        "vmf-mixture" => VmfMixture(),
        "von-mises-mixture" or "vonmises-mixture" => TorusTargets.VonMisesMixture(),
        _ => null,
    };

    /// <summary>
    /// <c>vmf-mixture</c> on S^2: four vMF components with weights 0.3, 0.3, 0.2, 0.2, means (polar angle, azimuth) =
    /// (30°, 0°), (90°, 90°), (120°, 200°), (150°, 300°) in x = (sin p cos a, sin p sin a, cos p), kappas 20, 10, 30, 5.
    /// </summary>
    public static VonMisesFisherMixture VmfMixture()
    {
        static double[] Direction(double polarDegrees, double azimuthDegrees)
        {
            var p = polarDegrees * Math.PI / 180;
            var a = azimuthDegrees * Math.PI / 180;
            return [Math.Sin(p) * Math.Cos(a), Math.Sin(p) * Math.Sin(a), Math.Cos(p)];
        }
        return new VonMisesFisherMixture(
            [0.3, 0.3, 0.2, 0.2],
            [
                new VonMisesFisher(Direction(30, 0), 20),
                new VonMisesFisher(Direction(90, 90), 10),
                new VonMisesFisher(Direction(120, 200), 30),
                new VonMisesFisher(Direction(150, 300), 5),
            ],
            "vmf-mixture");
    }

    /// <summary>
    /// Monte Carlo entropy H = -E[log rho(X)] from <paramref name="count"/> samples drawn with <paramref name="generator"/>:
    /// the sample mean of -log rho and its standard error sd(-log rho) / sqrt(n). The entropy is w.r.t. the measure the
    /// distribution's <see cref="IDistribution.LogDensity"/> uses (surface measure on the sphere, Lebesgue on the torus).
    /// </summary>
    public static (double Mean, double StandardError) EntropyEstimate(IDistribution distribution, int count, Generator generator)
    {
        if (!distribution.HasLogDensity) throw new ArgumentException($"'{distribution.Name}' has no log-density");
        if (count < 2) throw new ArgumentOutOfRangeException(nameof(count), count, "an entropy estimate needs at least 2 samples");
        using var scope = NewDisposeScope();
        var x = distribution.Sample(count, generator);
        var nll = -distribution.LogDensity(x);
        var mean = nll.mean().item<double>();
        var sd = nll.std().item<double>();
        return (mean, sd / Math.Sqrt(count));
    }
}

/// <summary>Shared sphere helpers (internal): the area and the vMF normaliser, and float32 rounding onto the sphere.</summary>
internal static class SphereMath
{
    /// <summary>
    /// log C_d(kappa). d = 3: log kappa - log 4 pi - (kappa + log(-expm1(-2 kappa)) - log 2), and -log 4 pi at kappa = 0.
    /// Other d, with nu = d / 2 - 1 and I_nu(kappa) = (kappa / 2)^nu R / Gamma(nu + 1) (R the reduced series):
    /// log C = nu log 2 + log Gamma(nu + 1) - (d / 2) log 2 pi - log R, which is -log |S^{d-1}| at kappa = 0.
    /// </summary>
    internal static double LogVmfNormaliser(int d, double kappa)
    {
        if (d == 3)
        {
            if (kappa == 0) return -Math.Log(4 * Math.PI);
            var logSinh = kappa + Math.Log(-SpecialFunctions.Expm1(-2 * kappa)) - Math.Log(2);
            return Math.Log(kappa) - Math.Log(4 * Math.PI) - logSinh;
        }
        var nu = d / 2.0 - 1;
        return nu * Math.Log(2) + SpecialFunctions.LogGamma(nu + 1) - d / 2.0 * Math.Log(2 * Math.PI) - SpecialFunctions.LogBesselIReduced(nu, kappa);
    }

    /// <summary>Rows divided by their norm in float64, then rounded to float32 (|x| = 1 to ~1e-7).</summary>
    internal static Tensor ToUnitFloat32(Tensor x)
    {
        using var scope = NewDisposeScope();
        return (x / x.norm(1, keepdim: true)).to(float32).MoveToOuterDisposeScope();
    }
}
