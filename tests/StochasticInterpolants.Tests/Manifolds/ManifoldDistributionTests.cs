using StochasticInterpolants.Manifolds;
using StochasticInterpolants.Data;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Manifolds;

/// <summary>
/// Exact densities on the sphere S^2 (uniform, von Mises-Fisher and a mixture) and the torus T^2 (uniform, von Mises
/// products and a mixture, wrapped Gaussian): samples on the manifold, densities that integrate to 1 by quadrature,
/// sample moments and entropies against closed forms, and the special functions against reference values.
/// Reference values of log I0 and log I1 were computed for these tests with Python's decimal module (60 digits) from the
/// power series; log Gamma from Python's math.lgamma.
/// </summary>
public sealed class ManifoldDistributionTests
{
    // ---------- special functions ----------

    [Fact]
    public void LogGamma_matches_known_values()
    {
        var cases = new (double X, double Expected)[]
        {
            (0.5, 0.5 * Math.Log(Math.PI)), (1, 0), (2, 0), (10, Math.Log(362880)), (1.5, Math.Log(Math.Sqrt(Math.PI) / 2)),
            (7.3, 7.147892523022248), (1e-3, 6.907178885383854), (123.4, 469.3360974421906),
        };
        foreach (var (x, expected) in cases)
            Assert.True(Math.Abs(SpecialFunctions.LogGamma(x) - expected) <= 1e-13 * Math.Max(1, Math.Abs(expected)),
                $"log Gamma({x}) = {SpecialFunctions.LogGamma(x):R}, expected {expected:R}");
    }

    [Fact]
    public void Log_Bessel_I0_I1_and_their_ratio_match_reference_values_on_both_sides_of_the_switch()
    {
        // I0(1) and I0(10) as given in the brief; relative 1e-14.
        AssertClose(1.0, Math.Exp(SpecialFunctions.LogBesselI(0, 1)) / 1.2660658777520082, 1e-14);
        AssertClose(1.0, Math.Exp(SpecialFunctions.LogBesselI(0, 10)) / 2815.716628466254, 1e-13);
        // x, log I0(x), log I1(x), I1(x) / I0(x): the series is used below 30, the asymptotic expansion above.
        var table = new (double X, double LogI0, double LogI1, double Ratio)[]
        {
            (1e-8, 2.5e-17, -19.11382792451231, 5e-09),
            (0.5, 0.06154971918548131, -1.3552054470253345, 0.24249961258080194),
            (1, 0.23591435850717865, -0.5706479874908312, 0.4463899658965345),
            (10, 7.942972083118695, 7.890203834104212, 0.9485998259548459),
            (29.9, 27.286385310555094, 27.269374273074856, 0.9831328332658057),
            (30.1, 27.483023208951185, 27.46612716853258, 0.983245897153711),
            (50, 47.1275755018718, 47.11747361658713, 0.9899489673784978),
            (500, 495.9740076681067, 495.97300666626836, 0.9989994989968619),
        };
        foreach (var (x, logI0, logI1, ratio) in table)
        {
            // Absolute error in log I ~ relative error in I: 1e-14 (times max(1, |log I|) for rounding of a large log).
            Assert.True(Math.Abs(SpecialFunctions.LogBesselI(0, x) - logI0) <= 1e-14 * Math.Max(1, Math.Abs(logI0)), $"log I0({x})");
            Assert.True(Math.Abs(SpecialFunctions.LogBesselI(1, x) - logI1) <= 1e-14 * Math.Max(1, Math.Abs(logI1)), $"log I1({x})");
            Assert.True(Math.Abs(SpecialFunctions.BesselIRatio(0, x) / ratio - 1) <= 1e-13, $"I1/I0({x}) = {SpecialFunctions.BesselIRatio(0, x):R}");
        }
        Assert.Equal(0.0, SpecialFunctions.LogBesselI(0, 0));
        Assert.Equal(double.NegativeInfinity, SpecialFunctions.LogBesselI(1, 0));
    }

    [Fact]
    public void Half_integer_Bessel_forms_match_the_closed_forms_of_the_two_sphere()
    {
        foreach (var k in new[] { 1e-8, 0.01, 0.3, 1, 5, 29, 31, 50, 500 })
        {
            // A_{1/2}(k) = I_{3/2} / I_{1/2} = coth k - 1/k: the closed form is used for k >= 0.1 (cancellation costs ~3e-16 / k^2),
            // and its Laurent series to k^9 below (the next term is below 1e-15 of the sum there).
            var closed = k >= 0.1 ? 1 / Math.Tanh(k) - 1 / k : k / 3 - k * k * k / 45 + 2 * Math.Pow(k, 5) / 945 - Math.Pow(k, 7) / 4725 + 2 * Math.Pow(k, 9) / 93555;
            Assert.True(Math.Abs(SpecialFunctions.BesselIRatio(0.5, k) / closed - 1) <= 1e-12, $"A(k = {k})");
            // The general-d normaliser at d = 3 (nu = 1/2, via the reduced Bessel series) equals log(k / (4 pi sinh k)).
            var general = 0.5 * Math.Log(2) + SpecialFunctions.LogGamma(1.5) - 1.5 * Math.Log(2 * Math.PI) - SpecialFunctions.LogBesselIReduced(0.5, k);
            var sinhForm = new VonMisesFisher([0, 0, 1], k).LogNormaliser;
            Assert.True(Math.Abs(general - sinhForm) <= 1e-13 * Math.Max(1, Math.Abs(sinhForm)), $"log C(k = {k}): {general:R} vs {sinhForm:R}");
        }
    }

    // ---------- sphere ----------

    [Fact]
    public void Every_sphere_sample_has_norm_one()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(11);
        var distributions = new IDistribution[]
        {
            new UniformSphere(3), new UniformSphere(5), new VonMisesFisher([1, 2, 3], 1e-8), new VonMisesFisher([1, 2, 3], 5),
            new VonMisesFisher([0, -1, 0], 500), new VonMisesFisher([1, 0, 0, 1], 3), new VonMisesFisher([1, 1], 50),
            ManifoldTargets.VmfMixture(),
        };
        foreach (var p in distributions)
        {
            var x = p.Sample(4000, g);
            Assert.Equal(new long[] { 4000, p.Dimension }, x.shape);
            Assert.Equal(ScalarType.Float32, x.dtype);
            var worst = (x.to(float64).norm(1) - 1).abs().max().item<double>();
            Assert.True(worst < 1e-6, $"{p.Name} (d = {p.Dimension}): max | |x| - 1 | = {worst:E2}");
        }
    }

    [Fact]
    public void Sphere_densities_integrate_to_one_by_Gauss_Legendre_quadrature()
    {
        using var scope = NewDisposeScope();
        var (points, weights) = SphereQuadrature(200, 400);
        var oblique = new[] { 0.3, -0.5, 0.8 };
        var distributions = new (IDistribution P, double Tolerance)[]
        {
            (new UniformSphere(3), 1e-12), (new VonMisesFisher(oblique, 0), 1e-12), (new VonMisesFisher(oblique, 1e-8), 1e-12),
            (new VonMisesFisher(oblique, 5), 1e-12), (new VonMisesFisher(oblique, 500), 1e-12), (ManifoldTargets.VmfMixture(), 1e-12),
        };
        foreach (var (p, tolerance) in distributions)
        {
            var integral = (p.LogDensity(points).exp() * weights).sum().item<double>();
            Assert.True(Math.Abs(integral - 1) <= tolerance, $"{p.Name}: integral {integral:R}, error {Math.Abs(integral - 1):E2} > {tolerance:E0}");
        }
    }

    [Fact]
    public void Von_Mises_Fisher_samples_have_the_closed_form_moments()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(12);
        const int n = 20_000;
        // S^2 (inverse-CDF sampler): E[w] = coth k - 1/k, E[w^2] = 1 - 2 A / k, E[x] = A mu (so the orthogonal part has mean 0).
        foreach (var k in new[] { 1e-8, 0.7, 5, 500 })
        {
            var mu = new[] { 2.0 / 3, -1.0 / 3, 2.0 / 3 };
            var p = new VonMisesFisher(mu, k);
            var x = p.Sample(n, g).to(float64);
            var w = x.matmul(tensor(mu));
            var a = k >= 1e-4 ? 1 / Math.Tanh(k) - 1 / k : k / 3;
            AssertMean(1 - w, 1 - a, $"vMF k = {k}: E[1 - mu.x]");
            AssertMean(w.square(), 1 - 2 * (k >= 1e-4 ? a / k : 1.0 / 3), $"vMF k = {k}: E[(mu.x)^2]");
            var orthogonal = x - w.unsqueeze(1) * tensor(mu).unsqueeze(0);
            for (var i = 0; i < 3; i++) AssertMean(orthogonal[.., i], 0, $"vMF k = {k}: orthogonal component {i}");
        }
        // S^3 (Wood's rejection sampler): E[mu . x] = I_2(k) / I_1(k), and the uniform limit E[(mu.x)^2] = 1/d.
        foreach (var k in new[] { 0.0, 3.0 })
        {
            var mu = new[] { 0.5, 0.5, -0.5, 0.5 };
            var p = new VonMisesFisher(mu, k);
            var w = p.Sample(n, g).to(float64).matmul(tensor(mu));
            AssertMean(w, SpecialFunctions.BesselIRatio(1, k), $"vMF on S^3, k = {k}: E[mu.x]");
            if (k == 0) AssertMean(w.square(), 0.25, "uniform S^3: E[(mu.x)^2]");
        }
        // Uniform S^2: mean 0, E[x_i^2] = 1/3.
        var u = new UniformSphere(3).Sample(n, g).to(float64);
        for (var i = 0; i < 3; i++) { AssertMean(u[.., i], 0, $"uniform S^2 x_{i}"); AssertMean(u[.., i].square(), 1.0 / 3, $"uniform S^2 x_{i}^2"); }
    }

    [Fact]
    public void Von_Mises_Fisher_entropy_closed_form_matches_the_Monte_Carlo_estimate()
    {
        using var g = new Generator(13);
        foreach (var k in new[] { 0.5, 5.0, 50.0 })
        {
            var p = new VonMisesFisher([0, 1, 1], k);
            var (mean, se) = ManifoldTargets.EntropyEstimate(p, 20_000, g);
            Assert.True(Math.Abs(mean - p.Entropy) <= 4 * se + 1e-12, $"vMF k = {k}: closed form {p.Entropy:R}, Monte Carlo {mean:R} +- {se:E2}");
        }
        // kappa = 0: H = log 4 pi exactly (the log-density is constant, so the estimate has no spread).
        var uniform = ManifoldTargets.EntropyEstimate(new VonMisesFisher([0, 0, 1], 0), 100, g);
        Assert.Equal(Math.Log(4 * Math.PI), uniform.Mean, 12);
        AssertClose(Math.Log(4 * Math.PI), new UniformSphere(3).LogArea, 1e-14);
        AssertClose(Math.Log(2 * Math.PI * Math.PI), new UniformSphere(4).LogArea, 1e-14);
    }

    [Fact]
    public void The_vmf_mixture_target_entropy_estimate_agrees_with_quadrature()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(14);
        var p = (IDistribution)ManifoldTargets.TryParse("vmf-mixture")!;
        Assert.Equal("vmf-mixture", p.Name);
        var (points, weights) = SphereQuadrature(200, 400);
        var logp = p.LogDensity(points);
        var exact = -(logp.exp() * logp * weights).sum().item<double>();
        var (mean, se) = ManifoldTargets.EntropyEstimate(p, 20_000, g);
        Assert.True(Math.Abs(mean - exact) <= 4 * se, $"quadrature {exact:R}, Monte Carlo {mean:R} +- {se:E2}");
        Assert.True(se < 0.02, $"standard error {se}");
    }

    [Fact]
    public void Sphere_normalisers_are_finite_and_right_at_small_and_large_kappa()
    {
        var tiny = new VonMisesFisher([0, 0, 1], 1e-8);
        // log C(k) = -log 4 pi - log(sinh k / k) = -log 4 pi - k^2 / 6 + ...
        AssertClose(-Math.Log(4 * Math.PI), tiny.LogNormaliser, 1e-14);
        Assert.True(Math.Abs(tiny.MeanResultantLength / (1e-8 / 3) - 1) < 1e-12, $"A(1e-8) = {tiny.MeanResultantLength:R}");
        AssertClose(Math.Log(4 * Math.PI), tiny.Entropy, 1e-14);
        var large = new VonMisesFisher([0, 0, 1], 500);
        // log C(500) = log(500 / 2 pi) - 500 (e^-1000 is below rounding).
        Assert.Equal(Math.Log(500 / (2 * Math.PI)) - 500, large.LogNormaliser, 12);
        AssertClose(1 / Math.Tanh(500) - 1.0 / 500, large.MeanResultantLength, 1e-14);
        Assert.True(double.IsFinite(large.Entropy));
        // H = -log C - k A -> 1 - log(k / 2 pi) for large k.
        Assert.Equal(1 - Math.Log(500 / (2 * Math.PI)), large.Entropy, 10);
        using var pole = tensor(new[] { 0.0, 0, 1, 0, 0, -1 }, [2, 3]);
        using var lp = large.LogDensity(pole);
        Assert.Equal(Math.Log(500 / (2 * Math.PI)), lp[0].item<double>(), 12);
        Assert.Equal(Math.Log(500 / (2 * Math.PI)) - 1000, lp[1].item<double>(), 10);
        // General d: kappa = 1e-8 gives the uniform law on S^3 and S^4.
        AssertClose(-Math.Log(2 * Math.PI * Math.PI), new VonMisesFisher([1, 0, 0, 0], 1e-8).LogNormaliser, 1e-13);
        AssertClose(-new UniformSphere(5).LogArea, new VonMisesFisher([1, 0, 0, 0, 0], 0).LogNormaliser, 1e-13);
        Assert.True(double.IsFinite(new VonMisesFisher([1, 0, 0, 0], 500).LogNormaliser));
    }

    // ---------- torus ----------

    [Fact]
    public void Every_torus_sample_is_in_range()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(21);
        var distributions = new IDistribution[]
        {
            new UniformTorus(3), new VonMisesProduct([3.1, -3.1], [1e-8, 500]), new VonMisesProduct([Math.PI, -Math.PI], [50, 2]),
            TorusTargets.VonMisesMixture(), new WrappedGaussian([3.14159, -3.14159], 0.5), new WrappedGaussian(2, 5),
        };
        foreach (var p in distributions)
        {
            var x = p.Sample(4000, g);
            Assert.Equal(new long[] { 4000, p.Dimension }, x.shape);
            Assert.Equal(ScalarType.Float32, x.dtype);
            var v = x.data<float>().ToArray();
            Assert.All(v, a => Assert.True(a >= -Math.PI && a < Math.PI, $"{p.Name}: angle {a:R} out of [-pi, pi)"));
        }
        // Rounding to float32 keeps angles that round up to float32(pi) > pi (or float32(-pi) < -pi) in range.
        using var edge = tensor(new[] { Math.PI - 1e-12, -Math.PI, -Math.PI + 1e-9, 0.5 });
        var e = FlatTorus.ToFloat32Angles(edge).data<float>().ToArray();
        Assert.All(e, a => Assert.True(a >= -Math.PI && a < Math.PI, $"angle {a:R}"));
        Assert.Equal(0.5f, e[3]);
        Assert.Equal(-Math.PI, FlatTorus.Wrap(Math.PI));
        AssertClose(0.5, FlatTorus.Wrap(0.5 + 4 * Math.PI), 1e-14);
    }

    [Fact]
    public void Torus_densities_integrate_to_one_on_a_fine_grid()
    {
        using var scope = NewDisposeScope();
        // The midpoint rule on a uniform periodic grid converges geometrically for smooth periodic integrands.
        const int k = 256;
        var cell = 2 * Math.PI / k;
        var a = arange(k, dtype: float64) * cell - Math.PI + cell / 2;
        var grid = stack([a.repeat_interleave(k), a.repeat(k)], 1);
        var distributions = new IDistribution[]
        {
            new UniformTorus(2), new VonMisesProduct([1.0, -2.5], [2, 12]), new VonMisesProduct([0, 3], [1e-8, 50]),
            TorusTargets.VonMisesMixture(), new WrappedGaussian([0.4, 3.0], 0.3), new WrappedGaussian([0.4, 3.0], 2.0),
            new WrappedGaussian([0.4, 3.0], 2.5), new WrappedGaussian([-1, 1], 8),
        };
        foreach (var p in distributions)
        {
            var integral = p.LogDensity(grid).exp().sum().item<double>() * cell * cell;
            Assert.True(Math.Abs(integral - 1) <= 1e-12, $"{p.Name}: integral {integral:R}, error {Math.Abs(integral - 1):E2} > 1e-12");
        }
    }

    [Fact]
    public void Von_Mises_samples_have_the_closed_form_moments_and_entropy()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(22);
        const int n = 20_000;
        double[] mu = [1.0, -2.5, 3.0, 0.0];
        double[] kappa = [0.5, 10, 500, 1e-8];
        var p = new VonMisesProduct(mu, kappa);
        var x = p.Sample(n, g).to(float64);
        for (var i = 0; i < mu.Length; i++)
        {
            var delta = x[.., i] - mu[i];
            AssertMean(delta.cos(), SpecialFunctions.BesselIRatio(0, kappa[i]), $"von Mises k = {kappa[i]}: E[cos(theta - mu)]");
            AssertMean(delta.sin(), 0, $"von Mises k = {kappa[i]}: E[sin(theta - mu)]");
            // E[cos 2(theta - mu)] = I2(k) / I0(k) = 1 - 2 A(k) / k (recurrence I2 = I0 - 2 I1 / k).
            var second = kappa[i] < 1e-4 ? 0 : 1 - 2 * SpecialFunctions.BesselIRatio(0, kappa[i]) / kappa[i];
            AssertMean((2 * delta).cos(), second, $"von Mises k = {kappa[i]}: E[cos 2(theta - mu)]");
        }
        var (mean, se) = ManifoldTargets.EntropyEstimate(new VonMisesProduct([1.0, -2.5], [0.5, 10]), n, g);
        var exact = new VonMisesProduct([1.0, -2.5], [0.5, 10]).Entropy;
        Assert.True(Math.Abs(mean - exact) <= 4 * se, $"von Mises entropy: closed form {exact:R}, Monte Carlo {mean:R} +- {se:E2}");
        // The mixture target's entropy estimate against quadrature on the grid.
        var target = ManifoldTargets.TryParse("von-mises-mixture")!;
        const int k = 256;
        var cell = 2 * Math.PI / k;
        var a = arange(k, dtype: float64) * cell - Math.PI + cell / 2;
        var logp = target.LogDensity(stack([a.repeat_interleave(k), a.repeat(k)], 1));
        var quadrature = -(logp.exp() * logp).sum().item<double>() * cell * cell;
        var (mixMean, mixSe) = ManifoldTargets.EntropyEstimate(target, n, g);
        Assert.True(Math.Abs(mixMean - quadrature) <= 4 * mixSe, $"mixture entropy: quadrature {quadrature:R}, Monte Carlo {mixMean:R} +- {mixSe:E2}");
    }

    [Fact]
    public void Von_Mises_normalisers_are_finite_and_right_at_small_and_large_kappa()
    {
        using var scope = NewDisposeScope();
        var p = new VonMisesProduct([0.5, -0.5], [1e-8, 500]);
        var at = tensor(new[] { 0.5, -0.5, 0.5 + Math.PI, -0.5 + Math.PI }, [2, 2]);
        var lp = p.LogDensity(at).data<double>().ToArray();
        // log I0(500) = 500 - log(2 pi 500) / 2 + log(1 + 1/4000 + 9/(2 (8 * 500)^2) + ...), from the reference table.
        const double logI0At500 = 495.9740076681067;
        Assert.Equal(1e-8 - Math.Log(2 * Math.PI) + 500 - Math.Log(2 * Math.PI) - logI0At500, lp[0], 11);
        Assert.Equal(-1e-8 - Math.Log(2 * Math.PI) - 500 - Math.Log(2 * Math.PI) - logI0At500, lp[1], 11);
        Assert.All(lp, v => Assert.True(double.IsFinite(v)));
        // Entropy: log 2 pi for k -> 0; 1/2 log(2 pi e / k) (Gaussian limit, variance 1/k) for large k, to O(1/k).
        AssertClose(Math.Log(2 * Math.PI), new VonMisesProduct([0], [1e-8]).Entropy, 1e-14);
        Assert.True(Math.Abs(new VonMisesProduct([0], [500]).Entropy - 0.5 * Math.Log(2 * Math.PI * Math.E / 500)) < 2.0 / 500);
    }

    [Fact]
    public void Wrapped_Gaussian_is_the_plain_Gaussian_for_small_sigma_and_uniform_for_large()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(23);
        // sigma = 0.2 centred at 3.0: points within 0.6 of the mean (some across the wrap at pi) have the plain Gaussian density
        // (the nearest image is ~(2 pi - 0.6)^2 / (2 * 0.04) ~ 400 nats lower).
        var small = new WrappedGaussian([3.0, -0.2], 0.2);
        var offsets = linspace(-0.6, 0.6, 25, dtype: float64);
        var points = stack([FlatTorus.Wrap(offsets + 3.0), FlatTorus.Wrap(offsets.flip(0) - 0.2)], 1);
        var plain = -(offsets.square() + offsets.flip(0).square()) / (2 * 0.04) - Math.Log(2 * Math.PI * 0.04);
        var worst = (small.LogDensity(points) - plain).abs().max().item<double>();
        Assert.True(worst <= 1e-12, $"small sigma vs plain Gaussian: {worst:E2}");
        // sigma = 6: per angle rho = (1 + 2 q cos(delta) + 2 q^4 cos(2 delta) + ...) / 2 pi with q = e^{-18}, so
        // |log rho + 2 log 2 pi| <= -2 log(1 - 2.001 q) (~4 q = 6.1e-8).
        var large = new WrappedGaussian([1.0, -1.0], 6);
        var uniform = (large.LogDensity(rand(500, 2, dtype: float64, generator: g) * 2 * Math.PI - Math.PI) + 2 * Math.Log(2 * Math.PI)).abs().max().item<double>();
        Assert.True(uniform <= -2 * Math.Log(1 - 2.001 * Math.Exp(-18)), $"large sigma vs uniform: {uniform:E2}");
        // The image sum and the Fourier form agree where both converge (sigma 1.5 to 3).
        var delta = linspace(-Math.PI, Math.PI, 101, dtype: float64);
        foreach (var s in new[] { 1.5, 2.0, 3.0 })
        {
            var diff = (WrappedGaussian.LogImageSum(delta, s) - WrappedGaussian.LogFourier(delta, s)).abs().max().item<double>();
            Assert.True(diff <= 1e-13, $"sigma {s}: image sum vs Fourier {diff:E2}");
        }
        // Samples: E[cos(theta - mu)] = exp(-sigma^2 / 2) per angle.
        foreach (var s in new[] { 0.3, 1.5 })
        {
            var x = new WrappedGaussian([2.5, -1.0], s).Sample(20_000, g).to(float64);
            AssertMean((x[.., 0] - 2.5).cos(), Math.Exp(-s * s / 2), $"wrapped Gaussian sigma {s}: E[cos]");
            AssertMean((x[.., 1] + 1.0).sin(), 0, $"wrapped Gaussian sigma {s}: E[sin]");
        }
    }

    // ---------- helpers ----------

    /// <summary>Asserts |actual - expected| &lt;= tolerance (xUnit's decimal-places form rounds, which fails at a rounding boundary).</summary>
    [Theory]
    [InlineData(0.0)]
    [InlineData(0.5)]
    [InlineData(1.0)]
    public void The_inverse_mean_resultant_length_returns_the_concentration(double nu)
    {
        foreach (var kappa in new[] { 1e-3, 0.5, 3.0, 40.0, 300.0 })
        {
            var back = SpecialFunctions.InverseBesselIRatio(nu, SpecialFunctions.BesselIRatio(nu, kappa));
            Assert.True(Math.Abs(back - kappa) < 1e-9 * kappa, $"nu = {nu}: A^-1(A({kappa})) = {back}");
        }
        Assert.Equal(0.0, SpecialFunctions.InverseBesselIRatio(nu, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => SpecialFunctions.InverseBesselIRatio(nu, 1));
    }

    [Fact]
    public void Maximum_likelihood_fits_recover_the_parameters_that_drew_the_samples()
    {
        using var scope = NewDisposeScope();
        // 20,000 draws: the standard errors of the mean angle and of kappa are ~1/sqrt(n kappa) and ~kappa/sqrt(n) in size,
        // so the bounds below are several of them.
        var product = new VonMisesProduct([2.5, -1.0], [2.0, 8.0]);
        var fitted = VonMisesProduct.Fit(product.Sample(20_000, new Generator(11)));
        for (var i = 0; i < 2; i++)
        {
            Assert.True(Math.Abs(FlatTorus.Wrap(fitted.Mean[i] - product.Mean[i])) < 0.03, $"angle {i}: mean {fitted.Mean[i]} vs {product.Mean[i]}");
            Assert.True(Math.Abs(fitted.Kappa[i] / product.Kappa[i] - 1) < 0.05, $"angle {i}: kappa {fitted.Kappa[i]} vs {product.Kappa[i]}");
        }
        var vmf = new VonMisesFisher([1.0, 2.0, -2.0], 5.0);
        var fit = VonMisesFisher.Fit(vmf.Sample(20_000, new Generator(12)));
        var cosine = fit.Mean.Zip(vmf.Mean).Sum(p => p.First * p.Second);
        Assert.True(Math.Acos(Math.Min(1, cosine)) < 0.02, $"vMF mean off by {Math.Acos(Math.Min(1, cosine))} rad");
        Assert.True(Math.Abs(fit.Kappa / vmf.Kappa - 1) < 0.05, $"vMF kappa {fit.Kappa} vs 5");
        // A fit is the likelihood's maximum: nudging it lowers the mean log-density of the data it was fitted to.
        var data = product.Sample(5_000, new Generator(13));
        var best = VonMisesProduct.Fit(data).LogDensity(data).mean().item<double>();
        var nudged = new VonMisesProduct([fitted.Mean[0] + 0.05, fitted.Mean[1]], [fitted.Kappa[0] * 1.1, fitted.Kappa[1]]).LogDensity(data).mean().item<double>();
        Assert.True(best > nudged, $"fitted mean log-density {best} <= nudged {nudged}");
    }

    private static void AssertClose(double expected, double actual, double tolerance) =>
        Assert.True(Math.Abs(actual - expected) <= tolerance, $"expected {expected:R}, got {actual:R} (error {Math.Abs(actual - expected):E2} > {tolerance:E0})");

    /// <summary>Asserts the sample mean of <paramref name="values"/> is within 4 standard errors (+1e-12) of <paramref name="expected"/>.</summary>
    private static void AssertMean(Tensor values, double expected, string what)
    {
        var mean = values.mean().item<double>();
        var se = values.std().item<double>() / Math.Sqrt(values.shape[0]);
        Assert.True(Math.Abs(mean - expected) <= 4 * se + 1e-12, $"{what}: sample mean {mean:R}, expected {expected:R}, 4 se = {4 * se:E2}");
    }

    /// <summary>
    /// A product rule on S^2: Gauss-Legendre in u = cos(polar) with <paramref name="nu"/> nodes, times the midpoint rule in the
    /// azimuth with <paramref name="nAzimuth"/> points; the area element is du d(azimuth), so weights sum to 4 pi.
    /// </summary>
    private static (Tensor Points, Tensor Weights) SphereQuadrature(int nu, int nAzimuth)
    {
        var (nodes, glWeights) = GaussLegendre(nu);
        var pts = new double[nu * nAzimuth * 3];
        var wts = new double[nu * nAzimuth];
        for (var i = 0; i < nu; i++)
            for (var j = 0; j < nAzimuth; j++)
            {
                var phi = 2 * Math.PI * (j + 0.5) / nAzimuth;
                var s = Math.Sqrt(1 - nodes[i] * nodes[i]);
                var r = i * nAzimuth + j;
                pts[3 * r] = s * Math.Cos(phi); pts[3 * r + 1] = s * Math.Sin(phi); pts[3 * r + 2] = nodes[i];
                wts[r] = glWeights[i] * 2 * Math.PI / nAzimuth;
            }
        return (tensor(pts, [nu * nAzimuth, 3]), tensor(wts));
    }

    /// <summary>Gauss-Legendre nodes and weights on [-1, 1] by Newton's method on P_n (three-term recurrence).</summary>
    private static (double[] Nodes, double[] Weights) GaussLegendre(int n)
    {
        var nodes = new double[n];
        var weights = new double[n];
        for (var i = 0; i < n; i++)
        {
            var x = Math.Cos(Math.PI * (i + 0.75) / (n + 0.5));
            double dp = 0;
            for (var it = 0; it < 100; it++)
            {
                double p0 = 1, p1 = x;
                for (var k = 2; k <= n; k++) { var p2 = ((2 * k - 1) * x * p1 - (k - 1) * p0) / k; p0 = p1; p1 = p2; }
                dp = n * (x * p1 - p0) / (x * x - 1);
                var step = p1 / dp;
                x -= step;
                if (Math.Abs(step) < 1e-16) break;
            }
            nodes[i] = x;
            weights[i] = 2 / ((1 - x * x) * dp * dp);
        }
        return (nodes, weights);
    }
}
