using StochasticInterpolants.Manifolds;
using static TorchSharp.torch;

namespace StochasticInterpolants.Data;

/// <summary>
/// The uniform distribution on the flat torus T^d = [-pi, pi)^d (points are d angles per row). Log-density with respect
/// to Lebesgue measure on [-pi, pi)^d (the torus' volume, (2 pi)^d): log rho = -d log(2 pi). Samples: independent
/// uniform angles.
/// </summary>
public sealed class UniformTorus : SampledDistribution, IManifoldDistribution
{
    /// <summary>The manifold the points live on.</summary>
    public IManifold Manifold => new FlatTorus(Dimension);

    /// <summary>The uniform law on T^d, d = <paramref name="dimension"/> &gt;= 1.</summary>
    public UniformTorus(int dimension = 2)
    {
        if (dimension < 1) throw new ArgumentException($"a torus needs dimension >= 1, got {dimension}");
        Dimension = dimension;
    }

    /// <inheritdoc />
    public override string Name => "uniform-torus";
    /// <inheritdoc />
    public override int Dimension { get; }
    /// <inheritdoc />
    public override bool HasLogDensity => true;

    /// <inheritdoc />
    public override Tensor Sample(int count, Generator generator)
    {
        CheckCount(count);
        using var scope = NewDisposeScope();
        // The manifold's own uniform sampler in float64, rounded once to float32 angles in [-pi, pi).
        return FlatTorus.ToFloat32Angles(new FlatTorus(Dimension).SampleUniform(count, generator, float64)).MoveToOuterDisposeScope();
    }

    /// <summary>log rho(theta) = -d log(2 pi) for every row (w.r.t. Lebesgue measure on [-pi, pi)^d).</summary>
    public override Tensor LogDensity(Tensor x)
    {
        CheckPoints(x);
        return full(x.shape[0], -new FlatTorus(Dimension).LogVolume, dtype: float64);
    }
}

/// <summary>
/// A product of independent von Mises laws on T^d: rho(theta) = prod_i exp(kappa_i cos(theta_i - mu_i)) / (2 pi I0(kappa_i))
/// with respect to Lebesgue measure on [-pi, pi)^d (the normaliser: the integral of exp(kappa cos t) over a period is
/// 2 pi I0(kappa)); log I0 from <see cref="SpecialFunctions.LogBesselI"/> (series below 30, the large-argument expansion
/// above, so kappa = 500 is finite). kappa_i = 0 is the uniform angle. Sampling: Best and Fisher's (1979) wrapped-Cauchy
/// envelope rejection per angle: tau = 1 + sqrt(1 + 4 kappa^2), rho = (tau - sqrt(2 tau)) / (2 kappa) (evaluated as
/// 2 kappa tau / ((1 + sqrt(1 + 4 kappa^2)) (tau + sqrt(2 tau))) so small kappa has no cancellation),
/// r = (1 + rho^2) / (2 rho); with U1, U2, U3 uniform, z = cos(pi U1), f = (1 + r z) / (r + z), c = kappa (r - f); accept
/// when c (2 - c) &gt; U2 or log(c / U2) + 1 - c &gt;= 0; then theta = wrap(mu + sign(U3 - 1/2) arccos f).
/// </summary>
public sealed class VonMisesProduct : SampledDistribution, IManifoldDistribution
{
    /// <summary>The manifold the points live on.</summary>
    public IManifold Manifold => new FlatTorus(Dimension);

    private readonly double[] _mean;
    private readonly double[] _kappa;
    private readonly double[] _logNormaliser;

    /// <summary>The product law with per-angle means <paramref name="mean"/> (radians) and concentrations <paramref name="kappa"/> &gt;= 0.</summary>
    public VonMisesProduct(double[] mean, double[] kappa, string name = "von-mises")
    {
        if (mean.Length < 1 || mean.Length != kappa.Length) throw new ArgumentException("a von Mises product needs as many means as concentrations, at least one");
        if (mean.Any(m => !double.IsFinite(m))) throw new ArgumentException("von Mises means must be finite");
        if (kappa.Any(k => !(k >= 0) || double.IsInfinity(k))) throw new ArgumentException("von Mises concentrations must be finite numbers >= 0");
        _mean = mean.Select(FlatTorus.Wrap).ToArray();
        _kappa = kappa.ToArray();
        _logNormaliser = kappa.Select(k => -Math.Log(2 * Math.PI) - SpecialFunctions.LogBesselI(0, k)).ToArray();
        Name = name;
        Dimension = mean.Length;
    }

    /// <summary>
    /// The maximum-likelihood product fitted to angles <paramref name="angles"/> [n, d] (the baseline a torus model must beat):
    /// per angle, with C = mean cos theta and S = mean sin theta, mu = atan2(S, C) and kappa solves I1(kappa) / I0(kappa) = R,
    /// R = sqrt(C^2 + S^2) (the likelihood's stationarity conditions; <see cref="SpecialFunctions.InverseBesselIRatio"/>).
    /// </summary>
    public static VonMisesProduct Fit(Tensor angles, string name = "von-mises-fit")
    {
        if (angles.dim() != 2 || angles.shape[0] < 2) throw new ArgumentException($"fitting needs angles [n >= 2, d], got shape [{string.Join(",", angles.shape)}]");
        using var scope = NewDisposeScope();
        var a = angles.to(float64);
        var c = a.cos().mean([0]).data<double>().ToArray();
        var s = a.sin().mean([0]).data<double>().ToArray();
        var mean = c.Select((ci, i) => Math.Atan2(s[i], ci)).ToArray();
        var kappa = c.Select((ci, i) => SpecialFunctions.InverseBesselIRatio(0, Math.Min(Math.Sqrt(ci * ci + s[i] * s[i]), 1 - 1e-12))).ToArray();
        return new VonMisesProduct(mean, kappa, name);
    }

    /// <inheritdoc />
    public override string Name { get; }
    /// <inheritdoc />
    public override int Dimension { get; }
    /// <inheritdoc />
    public override bool HasLogDensity => true;
    /// <summary>The mean angles mu_i, wrapped to [-pi, pi).</summary>
    public IReadOnlyList<double> Mean => _mean;
    /// <summary>The concentrations kappa_i.</summary>
    public IReadOnlyList<double> Kappa => _kappa;

    /// <summary>Per angle, E[cos(theta_i - mu_i)] = I1(kappa_i) / I0(kappa_i).</summary>
    public IReadOnlyList<double> MeanResultantLengths => _kappa.Select(k => SpecialFunctions.BesselIRatio(0, k)).ToArray();

    /// <summary>The differential entropy (w.r.t. Lebesgue measure on [-pi, pi)^d): sum_i log(2 pi I0(kappa_i)) - kappa_i I1(kappa_i) / I0(kappa_i).</summary>
    public double Entropy => Enumerable.Range(0, Dimension).Sum(i => -_logNormaliser[i] - _kappa[i] * SpecialFunctions.BesselIRatio(0, _kappa[i]));

    /// <inheritdoc />
    public override Tensor Sample(int count, Generator generator)
    {
        CheckCount(count);
        using var scope = NewDisposeScope();
        return FlatTorus.ToFloat32Angles(SampleFloat64(count, generator)).MoveToOuterDisposeScope();
    }

    /// <summary>Samples as float64 angles in [-pi, pi); <see cref="Sample"/> rounds them to float32 (kept in range).</summary>
    internal Tensor SampleFloat64(int count, Generator generator)
    {
        using var scope = NewDisposeScope();
        var columns = new Tensor[Dimension];
        for (var i = 0; i < Dimension; i++) columns[i] = SampleAngle(_mean[i], _kappa[i], count, generator);
        return stack(columns, 1).MoveToOuterDisposeScope();
    }

    /// <summary>Best and Fisher (1979) for one angle (float64 [count], wrapped); kappa = 0 gives uniform angles.</summary>
    private static Tensor SampleAngle(double mu, double kappa, int count, Generator generator)
    {
        using var scope = NewDisposeScope();
        if (kappa == 0 || count == 0)
            return (rand(count, dtype: float64, generator: generator) * (2 * Math.PI) - Math.PI).MoveToOuterDisposeScope();
        var root = Math.Sqrt(1 + 4 * kappa * kappa);
        var tau = 1 + root;
        var rho = 2 * kappa * tau / ((1 + root) * (tau + Math.Sqrt(2 * tau)));
        var r = (1 + rho * rho) / (2 * rho);
        var parts = new List<Tensor>();
        var have = 0;
        while (have < count)
        {
            var want = Math.Max(16, (int)((count - have) * 1.6));
            var u1 = rand(want, dtype: float64, generator: generator);
            var u2 = rand(want, dtype: float64, generator: generator);
            var u3 = rand(want, dtype: float64, generator: generator);
            var z = (Math.PI * u1).cos();
            var f = ((1 + r * z) / (r + z)).clamp(-1, 1);
            var c = kappa * (r - f);
            var accept = (c * (2 - c) - u2).gt(0).logical_or((c / u2).log() + 1 - c >= 0);
            var theta = (u3 - 0.5).sign() * f.acos() + mu;
            var kept = theta.masked_select(accept);
            parts.Add(kept);
            have += (int)kept.shape[0];
        }
        return FlatTorus.Wrap(cat(parts, 0)[..count]).MoveToOuterDisposeScope();
    }

    /// <summary>log rho(theta) = sum_i kappa_i cos(theta_i - mu_i) - log(2 pi I0(kappa_i)), float64 (angles need not be wrapped: the density is periodic).</summary>
    public override Tensor LogDensity(Tensor x)
    {
        CheckPoints(x);
        using var scope = NewDisposeScope();
        var xd = x.to(float64);
        var mu = tensor(_mean, dtype: float64).to(xd.device);
        var k = tensor(_kappa, dtype: float64).to(xd.device);
        var c = tensor(_logNormaliser, dtype: float64).to(xd.device);
        return ((xd - mu).cos() * k + c).sum(1).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// A mixture of von Mises products on T^d: rho(theta) = sum_k w_k prod_i exp(kappa_ki cos(theta_i - mu_ki)) / (2 pi I0(kappa_ki))
/// w.r.t. Lebesgue measure on [-pi, pi)^d (log-sum-exp in float64); sampled by drawing the component, then the product.
/// </summary>
public sealed class VonMisesMixture : ComponentMixture<VonMisesProduct>, IManifoldDistribution
{
    /// <summary>The manifold the points live on.</summary>
    public IManifold Manifold => new FlatTorus(Dimension);

    /// <summary>The mixture of <paramref name="components"/> (same dimension) with <paramref name="weights"/>, normalised to sum to 1.</summary>
    public VonMisesMixture(double[] weights, VonMisesProduct[] components, string name = "von-mises-mixture")
        : base(weights, components, name, "von Mises") { }

    private protected override Tensor SampleComponent(VonMisesProduct component, int count, Generator generator) => component.SampleFloat64(count, generator);

    private protected override Tensor ToSamples(Tensor points) => FlatTorus.ToFloat32Angles(points);
}

/// <summary>
/// The isotropic wrapped Gaussian on T^d: rho(theta) = sum_{k in Z^d} N(theta + 2 pi k; mu, sigma^2 I), w.r.t. Lebesgue
/// measure on [-pi, pi)^d; the sum factorises over angles, rho = prod_i p(wrap(theta_i - mu_i)) with the 1-D
/// p(delta) = sum_k exp(-(delta + 2 pi k)^2 / (2 sigma^2)) / sqrt(2 pi sigma^2). For sigma &lt;= 2 that sum is taken over
/// |k| &lt;= K, K the least integer with 2 pi^2 K (K + 1) / sigma^2 &gt;= 37 (&gt; 16 log 10): with |delta| &lt;= pi every omitted
/// term is below e^-37 ~ 1e-16 of the k = 0 term, and the omitted tail is below ~1e-15 of the sum (log-sum-exp, so tiny
/// sigma does not underflow). For sigma &gt; 2 the Poisson-summed (Fourier) form is used:
/// p(delta) = (1 / 2 pi) (1 + 2 sum_{n &gt;= 1} exp(-n^2 sigma^2 / 2) cos(n delta)) over n &lt;= N, N the least with
/// (N + 1)^2 sigma^2 / 2 &gt;= 37 (omitted terms below 1e-16 of the leading 1, and p &gt;= 0.7 / 2 pi there). Sampling:
/// wrap(mu + sigma epsilon), epsilon ~ N(0, I). The base density issue 26 names for the torus.
/// </summary>
public sealed class WrappedGaussian : SampledDistribution, IManifoldDistribution
{
    /// <summary>The manifold the points live on.</summary>
    public IManifold Manifold => new FlatTorus(Dimension);

    private readonly double[] _mean;

    /// <summary>Mean angles <paramref name="mean"/> (radians; their count is d) and standard deviation <paramref name="sigma"/> &gt; 0 per angle.</summary>
    public WrappedGaussian(double[] mean, double sigma, string name = "wrapped-gaussian")
    {
        if (mean.Length < 1) throw new ArgumentException("a wrapped Gaussian needs dimension >= 1");
        if (mean.Any(m => !double.IsFinite(m))) throw new ArgumentException("wrapped Gaussian means must be finite");
        if (!(sigma > 0) || double.IsInfinity(sigma)) throw new ArgumentException($"a wrapped Gaussian's sigma must be a finite number > 0, got {sigma}");
        _mean = mean.Select(FlatTorus.Wrap).ToArray();
        Sigma = sigma;
        Name = name;
        Dimension = mean.Length;
    }

    /// <summary>The wrapped standard Gaussian's isotropic form on T^d centred at 0.</summary>
    public WrappedGaussian(int dimension, double sigma) : this(new double[dimension], sigma) { }

    /// <inheritdoc />
    public override string Name { get; }
    /// <inheritdoc />
    public override int Dimension { get; }
    /// <inheritdoc />
    public override bool HasLogDensity => true;
    /// <summary>The mean angles, wrapped to [-pi, pi).</summary>
    public IReadOnlyList<double> Mean => _mean;
    /// <summary>The standard deviation sigma of the unwrapped Gaussian.</summary>
    public double Sigma { get; }

    /// <summary>The sigma above which the Fourier form is used.</summary>
    internal const double FourierAbove = 2.0;

    /// <inheritdoc />
    public override Tensor Sample(int count, Generator generator)
    {
        CheckCount(count);
        using var scope = NewDisposeScope();
        var mu = tensor(_mean, dtype: float64);
        var x = randn(count, Dimension, dtype: float64, generator: generator) * Sigma + mu;
        return FlatTorus.ToFloat32Angles(FlatTorus.Wrap(x)).MoveToOuterDisposeScope();
    }

    /// <summary>log rho(theta) = sum_i log p(wrap(theta_i - mu_i)), float64 (truncations as in the class summary).</summary>
    public override Tensor LogDensity(Tensor x)
    {
        CheckPoints(x);
        using var scope = NewDisposeScope();
        var xd = x.to(float64);
        var delta = FlatTorus.Wrap(xd - tensor(_mean, dtype: float64).to(xd.device));
        var logp = Sigma > FourierAbove ? LogFourier(delta, Sigma) : LogImageSum(delta, Sigma);
        return logp.sum(1).MoveToOuterDisposeScope();
    }

    /// <summary>log p(delta) by the image sum over |k| &lt;= K (log-sum-exp), for any sigma (elementwise).</summary>
    internal static Tensor LogImageSum(Tensor delta, double sigma)
    {
        using var scope = NewDisposeScope();
        var k = 0;
        while (2 * Math.PI * Math.PI * k * (k + 1) / (sigma * sigma) < 37) k++;
        var shifts = arange(-k, k + 1, dtype: float64).to(delta.device) * (2 * Math.PI);
        var y = delta.unsqueeze(-1) + shifts;
        var logTerms = -y.square() / (2 * sigma * sigma);
        return (logTerms.logsumexp(-1) - 0.5 * Math.Log(2 * Math.PI * sigma * sigma)).MoveToOuterDisposeScope();
    }

    /// <summary>log p(delta) by the Fourier form over n &lt;= N (elementwise); for sigma &gt; ~1.5 (where the bracket stays positive).</summary>
    internal static Tensor LogFourier(Tensor delta, double sigma)
    {
        using var scope = NewDisposeScope();
        var n = 0;
        while ((n + 1.0) * (n + 1.0) * sigma * sigma / 2 < 37) n++;
        var bracket = zeros_like(delta);
        for (var j = 1; j <= n; j++) bracket = bracket + 2 * Math.Exp(-j * (double)j * sigma * sigma / 2) * (j * delta).cos();
        return (bracket.log1p() - Math.Log(2 * Math.PI)).MoveToOuterDisposeScope();
    }
}

/// <summary>Named torus targets.</summary>
public static class TorusTargets
{
    /// <summary>
    /// <c>von-mises-mixture</c> on T^2 (angles (phi, psi) in radians), shaped like a Ramachandran plot's main basins: weights
    /// 0.5, 0.35, 0.15; means (-63°, -43°) (right-handed alpha helix), (-120°, 130°) (beta sheet), (57°, 47°) (left-handed
    /// helix); kappas (8, 8), (4, 4), (6, 6).
    /// </summary>
    public static VonMisesMixture VonMisesMixture()
    {
        static double R(double degrees) => degrees * Math.PI / 180;
        return new VonMisesMixture(
            [0.5, 0.35, 0.15],
            [
                new VonMisesProduct([R(-63), R(-43)], [8, 8], "alpha-helix"),
                new VonMisesProduct([R(-120), R(130)], [4, 4], "beta-sheet"),
                new VonMisesProduct([R(57), R(47)], [6, 6], "left-handed-helix"),
            ],
            "von-mises-mixture");
    }
}
