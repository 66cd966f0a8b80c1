using FsCheck;
using FsCheck.Xunit;
using StochasticInterpolants.Manifolds;
using StochasticInterpolants.Runtime;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Manifolds;

/// <summary>The geometry of the sphere, the flat torus, R^k and their products (docs/theory.md §15) against closed forms, in float64.</summary>
public class ManifoldGeometryTests(ITestOutputHelper output)
{
    private static IManifold[] All() =>
        [new Sphere(2), new Sphere(3), new Sphere(5), new FlatTorus(1), new FlatTorus(3), new Euclidean(2),
         new ProductManifold(new FlatTorus(2), new Sphere(3), new Euclidean(1))];

    /// <summary>Points of <paramref name="m"/>: uniform where compact, else N(0, 4 I) in R^k slices (and uniform in the others).</summary>
    private static Tensor Points(IManifold m, int n, Generator g) => m switch
    {
        Euclidean e => randn(n, e.CoordinateDimension, dtype: float64, generator: g) * 2,
        ProductManifold p => cat(p.Factors.Select(f => Points(f, n, g)).ToArray(), 1),
        _ => m.SampleUniform(n, g, float64),
    };

    /// <summary>Tangent vectors at x of length uniform in [0, maxLength) (maxLength below the injectivity radius).</summary>
    private static Tensor Tangents(IManifold m, Tensor x, double maxLength, Generator g)
    {
        var v = m.ProjectToTangent(x, randn(x.shape[0], m.CoordinateDimension, dtype: float64, generator: g));
        var length = rand(x.shape[0], 1, dtype: float64, generator: g) * maxLength;
        return v / v.norm(1, keepdim: true) * length;
    }

    private static double MaxAbs(Tensor a) => a.abs().max().ToDouble();

    [Property(MaxTest = 25)]
    public void Exp_and_log_are_inverse_below_the_injectivity_radius(int seed)
    {
        // Log(x, Exp(x, v)) = v for |v| < min(pi, 3.1) and Exp(x, Log(x, y)) = y for any y (distance to y): both to 1e-10
        // (measured ~1e-14; Log's conditioning grows like 1 / (pi - |v|) near the cut locus, ~25x at |v| = 3.1).
        using var scope = NewDisposeScope();
        using var g = new Generator((ulong)(uint)seed);
        foreach (var m in All())
        {
            var x = Points(m, 32, g);
            var y = Points(m, 32, g);
            var v = Tangents(m, x, Math.Min(3.1, m.InjectivityRadius), g);
            Assert.True(MaxAbs(m.Log(x, m.Exp(x, v)) - v) < 1e-10, $"{m.Name}: log(exp(v)) != v");
            Assert.True(m.Distance(m.Exp(x, m.Log(x, y)), y).max().ToDouble() < 1e-10, $"{m.Name}: exp(log(y)) != y");
        }
    }

    [Fact]
    public void Round_trip_errors_at_a_fixed_seed_are_at_rounding_level()
    {
        // The property above at one seed with 256 rows, errors printed: both round trips below 1e-12 here.
        using var scope = NewDisposeScope();
        using var g = new Generator(17);
        foreach (var m in All())
        {
            var x = Points(m, 256, g);
            var y = Points(m, 256, g);
            var v = Tangents(m, x, Math.Min(3.1, m.InjectivityRadius), g);
            var e1 = MaxAbs(m.Log(x, m.Exp(x, v)) - v);
            var e2 = m.Distance(m.Exp(x, m.Log(x, y)), y).max().ToDouble();
            output.WriteLine($"{m.Name}: |log(exp(v)) - v| {e1:E2}, d(exp(log(y)), y) {e2:E2}");
            Assert.True(e1 < 1e-12 && e2 < 1e-12, m.Name);
        }
    }

    [Property(MaxTest = 25)]
    public void Distance_is_symmetric_and_the_length_of_log(int seed)
    {
        using var scope = NewDisposeScope();
        using var g = new Generator((ulong)(uint)seed);
        foreach (var m in All())
        {
            var x = Points(m, 32, g);
            var y = Points(m, 32, g);
            var d = m.Distance(x, y);
            Assert.True(MaxAbs(d - m.Distance(y, x)) < 1e-12, $"{m.Name}: d(x, y) != d(y, x)");
            Assert.True(MaxAbs(d - m.Log(x, y).norm(1)) < 1e-12, $"{m.Name}: d != |log|");
            Assert.True(MaxAbs(m.ProjectToTangent(x, m.Log(x, y)) - m.Log(x, y)) < 1e-12, $"{m.Name}: log not tangent");
        }
    }

    [Property(MaxTest = 20)]
    public void Geodesics_join_their_ends_at_constant_speed_along_the_manifold(int seed)
    {
        // x_0 = x0, x_1 = x1; |dx_t/dt| = d(x0, x1) at every t; x_t on the manifold and its velocity tangent there (1e-12).
        using var scope = NewDisposeScope();
        using var g = new Generator((ulong)(uint)seed);
        foreach (var m in All())
        {
            var x0 = Points(m, 16, g);
            var x1 = Points(m, 16, g);
            var d = m.Distance(x0, x1);
            Assert.True(m.Distance(m.Geodesic(x0, x1, tensor(0.0)), x0).max().ToDouble() < 1e-12, $"{m.Name}: x_0");
            Assert.True(m.Distance(m.Geodesic(x0, x1, tensor(1.0)), x1).max().ToDouble() < 1e-10, $"{m.Name}: x_1");
            var t = rand(16, dtype: float64, generator: g);
            var xt = m.Geodesic(x0, x1, t);
            var vt = m.GeodesicVelocity(x0, x1, t);
            Assert.True(m.MaxViolation(xt).max().ToDouble() < 1e-12, $"{m.Name}: x_t off the manifold");
            Assert.True(MaxAbs(vt.norm(1) - d) < 1e-12, $"{m.Name}: speed != distance");
            Assert.True(MaxAbs(m.ProjectToTangent(xt, vt) - vt) < 1e-12, $"{m.Name}: velocity not tangent at x_t");
            // Sub-arcs: d(x0, x_t) = t d(x0, x1) (the geodesic is minimising).
            Assert.True(MaxAbs(m.Distance(x0, xt) - t * d) < 1e-10, $"{m.Name}: d(x0, x_t) != t d");
        }
    }

    [Theory]
    [InlineData("sphere:3")]
    [InlineData("sphere:2")]
    [InlineData("torus:2")]
    [InlineData("R:2")]
    public void Geodesic_velocity_equals_a_central_difference(string spec)
    {
        // (x_{t+h} - x_{t-h}) / 2h with h = 1e-5 (wrapped on the torus): truncation ~h^2 |x'''| ~ 1e-9, rounding ~1e-16 / h = 1e-11.
        using var scope = NewDisposeScope();
        var m = Manifold.Parse(spec);
        using var g = new Generator(11);
        var x0 = Points(m, 64, g);
        var x1 = Points(m, 64, g);
        var t = rand(64, dtype: float64, generator: g) * 0.9 + 0.05;
        const double h = 1e-5;
        var diff = m.Geodesic(x0, x1, t + h) - m.Geodesic(x0, x1, t - h);
        if (m is FlatTorus) diff = FlatTorus.Wrap(diff);
        var error = MaxAbs(diff / (2 * h) - m.GeodesicVelocity(x0, x1, t));
        output.WriteLine($"{spec}: central difference error {error:E2}");
        Assert.True(error < 1e-7, $"{spec}: central difference error {error:E2}");
    }

    [Fact]
    public void The_sphere_log_at_the_antipode_is_finite_deterministic_and_reaches_it()
    {
        using var scope = NewDisposeScope();
        var m = new Sphere(3);
        foreach (var dtype in new[] { float64, float32 })
        {
            var x = tensor(new[] { 1.0, 0, 0, 0.6, 0.8, 0, 0, 0, -1 }, dtype: float64).reshape(3, 3).to(dtype);
            var log = m.Log(x, -x);
            Assert.True(log.isfinite().all().ToBoolean());
            var tol = dtype == float64 ? 1e-12 : 1e-5;
            Assert.True(MaxAbs(log.norm(1) - Math.PI) < tol);
            Assert.True(MaxAbs(m.Exp(x, log) + x) < tol, "exp_x(log_x(-x)) != -x");
            Assert.True(MaxAbs(m.ProjectToTangent(x, log) - log) < tol, "not tangent");
            Assert.True(MaxAbs(log - m.Log(x, -x)) == 0, "not deterministic");
            // The documented choice: P_x e_k / |P_x e_k|, k = argmin |x_k| (first): e_2 at e_1, e_3 at (0.6, 0.8, 0), e_1 at -e_3.
            var expected = tensor(new[] { 0, Math.PI, 0, 0, 0, Math.PI, Math.PI, 0, 0 }, dtype: float64).reshape(3, 3).to(dtype);
            Assert.True(MaxAbs(log - expected) < tol);
            var velocity = m.GeodesicVelocity(x, -x, tensor(0.5));
            Assert.True(velocity.isfinite().all().ToBoolean());
            Assert.True(MaxAbs(velocity.norm(1) - Math.PI) < tol);
            Assert.True(MaxAbs(m.Distance(x, -x) - Math.PI) < tol);
        }
    }

    [Theory]
    [InlineData(ScalarType.Float64, 1e-14)]
    [InlineData(ScalarType.Float32, 1e-6)]
    public void Near_the_antipode_log_still_reaches_its_end_point(ScalarType dtype, double tolerance)
    {
        // y = -x + delta with |delta| from 1e-3 down to 1e-9 (so |w| passes through the rounding level): the direction of
        // log_x(y) is then dominated by rounding, but exp_x(log_x(y)) lands on y to a few eps (tolerance ~5 eps), log is
        // tangent and |log| = d(x, y) within pi.
        using var scope = NewDisposeScope();
        var m = new Sphere(3);
        using var g = new Generator(13);
        var x = m.SampleUniform(64, g, float64);
        var scale = pow(10.0, -3 - 6 * rand(64, 1, dtype: float64, generator: g));
        var y = m.ProjectToManifold(-x + scale * m.ProjectToTangent(x, randn(64, 3, dtype: float64, generator: g)));
        var (x32, y32) = (x.to(dtype), y.to(dtype));
        var log = m.Log(x32, y32);
        Assert.True(log.isfinite().all().ToBoolean());
        var reached = (m.Exp(x32, log) - y32).abs().max().ToDouble();
        output.WriteLine($"{dtype}: |exp_x(log_x(y)) - y| = {reached:E2}");
        Assert.True(reached < tolerance, $"{dtype}: |exp_x(log_x(y)) - y| = {reached:E2}");
        Assert.True(log.norm(1).le(Math.PI + tolerance).all().ToBoolean());
        Assert.True(MaxAbs(m.ProjectToTangent(x32, log) - log) < tolerance);
    }

    [Fact]
    public void The_torus_log_at_a_difference_of_pi_is_minus_pi()
    {
        using var scope = NewDisposeScope();
        var m = new FlatTorus(2);
        var x = tensor(new[] { 0.0, 1.0 }, dtype: float64).reshape(1, 2);
        var y = tensor(new[] { -Math.PI, 1.0 - Math.PI }, dtype: float64).reshape(1, 2);
        Assert.Equal(new[] { -Math.PI, -Math.PI }, m.Log(x, y).data<double>().ToArray());
        Assert.Equal(new[] { -Math.PI, -Math.PI }, m.Log(y, x).data<double>().ToArray());
        Assert.Equal(Math.PI * Math.Sqrt(2), m.Distance(x, y).ToDouble(), 12);
        Assert.True(m.Distance(m.Exp(x, m.Log(x, y)), y).ToDouble() < 1e-12);
    }

    [Fact]
    public void Wrap_lands_in_the_half_open_range_even_at_its_edges()
    {
        using var scope = NewDisposeScope();
        foreach (var dtype in new[] { float32, float64 })
        {
            var pi = tensor(Math.PI, dtype: dtype);
            var ulp = dtype == float32 ? 4e-7 : 1e-15;
            var a = stack([pi, -pi, pi + ulp, -pi - ulp, pi - ulp, 3 * pi, -3 * pi, 101 * pi + 0.5, tensor(0.0, dtype: dtype)]).reshape(-1, 1);
            var w = FlatTorus.Wrap(a);
            Assert.True((w < pi).all().ToBoolean() && (w >= -pi).all().ToBoolean(), $"{dtype}: {string.Join(", ", w.to(float64).data<double>().ToArray())}");
            // Equal to a up to a multiple of 2 pi: cos and sin agree.
            Assert.True(MaxAbs(w.cos() - a.cos()) < (dtype == float32 ? 1e-4 : 1e-12));
        }
    }

    [Fact]
    public void Values_and_gradients_stay_finite_at_zero_length()
    {
        // theta = 0: the sin(theta)/theta and theta/sin(theta) series, and the floored norm, keep every gradient finite.
        using var scope = NewDisposeScope();
        var m = new Sphere(3);
        var x = tensor(new[] { 0.0, 0.6, 0.8 }, dtype: float64).reshape(1, 3);
        var v = zeros(1, 3, dtype: float64, requires_grad: true);
        var y = x.clone().requires_grad_(true);
        var loss = m.Exp(x, v).sum() + m.Log(x, y).sum() + m.GeodesicVelocity(x, y, tensor(0.3)).sum() + m.Geodesic(x, y, tensor(0.3)).sum();
        var grads = torch.autograd.grad([loss], [v, y]);
        Assert.True(grads.All(gr => gr.isfinite().all().ToBoolean()));
        Assert.True(MaxAbs(m.Exp(x, v.detach()) - x) < 1e-15);
        Assert.True(MaxAbs(m.Log(x, x)) < 1e-15);
        // D exp_x(0) = I, then the renormalisation's Jacobian I - x x^T: the gradient of sum(exp_x(v)) at v = 0 is P_x 1 = (1, 0.16, -0.12).
        Assert.True(MaxAbs(grads[0] - tensor(new[] { 1.0, 0.16, -0.12 }, dtype: float64).reshape(1, 3)) < 1e-12);
    }

    [Fact]
    public void Uniform_sphere_samples_are_unit_with_mean_zero_and_second_moment_identity_over_d()
    {
        // n = 20,000 on S^2: the mean's coordinates have sd sqrt(1/(3n)) = 0.0041, E[x_i^2] sd sqrt((1/5 - 1/9)/n) = 0.0021,
        // E[x_i x_j] sd sqrt(1/(15 n)) = 0.0018; tolerances are ~5 sd (0.02, 0.011, 0.01).
        using var scope = NewDisposeScope();
        var m = new Sphere(3);
        using var g = new Generator(5);
        var x = m.SampleUniform(20_000, g, float64);
        Assert.True(m.MaxViolation(x).max().ToDouble() < 1e-15);
        Assert.True(MaxAbs(x.mean([0])) < 0.02);
        var second = x.T.matmul(x) / 20_000;
        output.WriteLine($"sphere: |mean| {MaxAbs(x.mean([0])):E2}, |diag - 1/3| {MaxAbs(second.diagonal() - 1.0 / 3):E2}, off-diagonal {MaxAbs(second - diag(second.diagonal())):E2}");
        Assert.True(MaxAbs(second.diagonal() - 1.0 / 3) < 0.011);
        Assert.True(MaxAbs(second - diag(second.diagonal())) < 0.01);
        // float32 samples are unit to a few ulp.
        var x32 = m.SampleUniform(20_000, g);
        Assert.Equal(ScalarType.Float32, x32.dtype);
        Assert.True(m.MaxViolation(x32).max().ToDouble() < 5e-7);
    }

    [Fact]
    public void Uniform_torus_samples_are_in_range_with_uniform_moments()
    {
        // n = 20,000 per angle: E[cos] and E[sin] have sd sqrt(1/(2n)) = 0.005 (tolerance 0.025), E[a] sd pi/sqrt(3n) = 0.0128
        // (0.064), E[a^2] = pi^2/3 with sd sqrt(4 pi^4 / 45 / n) = 0.021 (0.1).
        using var scope = NewDisposeScope();
        var m = new FlatTorus(2);
        using var g = new Generator(6);
        foreach (var dtype in new[] { float32, float64 })
        {
            var a = m.SampleUniform(20_000, g, dtype);
            Assert.True((a < tensor(Math.PI, dtype: dtype)).all().ToBoolean() && (a >= tensor(-Math.PI, dtype: dtype)).all().ToBoolean());
            Assert.Equal(0.0, m.MaxViolation(a).max().ToDouble());
            var a64 = a.to(float64);
            output.WriteLine($"torus {dtype}: |E cos| {MaxAbs(a64.cos().mean([0])):E2}, |E sin| {MaxAbs(a64.sin().mean([0])):E2}, |E a| {MaxAbs(a64.mean([0])):E2}, |E a^2 - pi^2/3| {MaxAbs(a64.square().mean([0]) - Math.PI * Math.PI / 3):E2}");
            Assert.True(MaxAbs(a64.cos().mean([0])) < 0.025);
            Assert.True(MaxAbs(a64.sin().mean([0])) < 0.025);
            Assert.True(MaxAbs(a64.mean([0])) < 0.064);
            Assert.True(MaxAbs(a64.square().mean([0]) - Math.PI * Math.PI / 3) < 0.1);
        }
    }

    [Theory]
    [InlineData("sphere:2", 0)]  // log 2 pi
    [InlineData("sphere:3", 1)]  // log 4 pi
    [InlineData("sphere:4", 2)]  // log 2 pi^2
    [InlineData("sphere:5", 3)]  // log 8 pi^2 / 3
    [InlineData("torus:2", 4)]   // 2 log 2 pi
    [InlineData("torus:1xsphere:3", 5)]
    public void Log_volume_matches_the_known_areas(string spec, int which)
    {
        double[] expected = [Math.Log(2 * Math.PI), Math.Log(4 * Math.PI), Math.Log(2 * Math.PI * Math.PI), Math.Log(8 * Math.PI * Math.PI / 3),
            2 * Math.Log(2 * Math.PI), Math.Log(2 * Math.PI) + Math.Log(4 * Math.PI)];
        Assert.Equal(expected[which], Manifold.Parse(spec).LogVolume, 13);
    }

    [Fact]
    public void Non_compact_manifolds_have_no_uniform_distribution()
    {
        var r = new Euclidean(2);
        Assert.False(r.IsCompact);
        Assert.Equal(double.PositiveInfinity, r.LogVolume);
        Assert.Throws<NotSupportedException>(() => r.SampleUniform(3));
        var p = Manifold.Parse("torus:2xR:1");
        Assert.False(p.IsCompact);
        Assert.Throws<NotSupportedException>(() => p.SampleUniform(3));
    }

    [Fact]
    public void A_product_acts_block_wise_on_its_factors_slices()
    {
        using var scope = NewDisposeScope();
        var torus = new FlatTorus(2); var sphere = new Sphere(3);
        var p = new ProductManifold(torus, sphere);
        Assert.Equal((5, 4), (p.CoordinateDimension, p.IntrinsicDimension));
        using var g = new Generator(9);
        var x = p.SampleUniform(50, g, float64);
        var y = p.SampleUniform(50, g, float64);
        Assert.Equal(0.0, p.MaxViolation(x).max().ToDouble(), 14);
        var t = rand(50, dtype: float64, generator: g);
        var (xt, yt) = (x[.., ..2], y[.., ..2]);
        var (xs, ys) = (x[.., 2..], y[.., 2..]);
        Assert.True(MaxAbs(p.Log(x, y) - cat([torus.Log(xt, yt), sphere.Log(xs, ys)], 1)) == 0);
        Assert.True(MaxAbs(p.Geodesic(x, y, t) - cat([torus.Geodesic(xt, yt, t), sphere.Geodesic(xs, ys, t)], 1)) == 0);
        Assert.True(MaxAbs(p.Distance(x, y) - (torus.Distance(xt, yt).square() + sphere.Distance(xs, ys).square()).sqrt()) < 1e-14);
        Assert.Equal(torus.LogVolume + sphere.LogVolume, p.LogVolume, 14);
        // Off-manifold rows: the violation is the worst factor's.
        var off = x.clone(); off[0, 2] += 0.5; off[1, 0] = 4.0;
        var viol = p.MaxViolation(off);
        Assert.True(viol[0].ToDouble() > 0.1 && Math.Abs(viol[1].ToDouble() - (4 - Math.PI)) < 1e-12);
        Assert.True(p.MaxViolation(p.ProjectToManifold(off)).max().ToDouble() < 1e-15);
    }

    [Theory]
    [InlineData("sphere:3", typeof(Sphere), 3, 2)]
    [InlineData("S:2", typeof(Sphere), 2, 1)]
    [InlineData("torus:2", typeof(FlatTorus), 2, 2)]
    [InlineData("R:4", typeof(Euclidean), 4, 4)]
    [InlineData("torus:2xR:1", typeof(ProductManifold), 3, 3)]
    [InlineData(" Torus:1 x sphere:3 x euclidean:2 ", typeof(ProductManifold), 6, 5)]
    public void Specs_parse_and_names_round_trip(string spec, Type type, int coordinates, int intrinsic)
    {
        var m = Manifold.Parse(spec);
        Assert.IsType(type, m);
        Assert.Equal((coordinates, intrinsic), (m.CoordinateDimension, m.IntrinsicDimension));
        Assert.Equal(m.Name, Manifold.Parse(m.Name).Name);
    }

    [Theory]
    [InlineData("")]
    [InlineData("sphere")]
    [InlineData("sphere:1")]
    [InlineData("ball:3")]
    [InlineData("torus:0")]
    [InlineData("torus:2x")]
    [InlineData("torus:-1")]
    public void Bad_specs_are_refused_with_the_setting_named(string spec)
    {
        var e = Assert.Throws<InvalidSettingException>(() => Manifold.Parse(spec));
        Assert.Equal("manifold", e.Setting);
    }

    [Fact]
    public void Shapes_are_checked()
    {
        using var scope = NewDisposeScope();
        var m = new Sphere(3);
        Assert.Throws<ArgumentException>(() => m.Exp(zeros(4, 2), zeros(4, 2)));
        Assert.Throws<ArgumentException>(() => m.Log(zeros(4, 3), zeros(5, 3)));
        Assert.Throws<ArgumentException>(() => m.Geodesic(zeros(4, 3), zeros(4, 3), zeros(3)));
    }
}
