using TorchSharp;
using StochasticInterpolants.Metrics;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Metrics;

public class FrechetDistanceTests
{
    private static GaussianMoments Moments(double[] mean, Tensor covariance)
    {
        using var m = tensor(mean, dtype: float64);
        return new GaussianMoments(m, covariance, 100);
    }

    private static GaussianMoments Diagonal(double[] mean, double[] variances)
    {
        using var c = diag(tensor(variances, dtype: float64));
        return Moments(mean, c);
    }

    // A random symmetric positive definite F x F matrix A A^T / F + 0.1 I (eigenvalues spread over about two decades).
    private static Tensor RandomSpd(int f, Generator g)
    {
        using var scope = NewDisposeScope();
        var a = randn(f, f, dtype: float64, generator: g);
        return a.matmul(a.t()).div_(f).add_(eye(f, dtype: float64).mul_(0.1)).MoveToOuterDisposeScope();
    }

    private static double[] RandomVector(int f, Generator g)
    {
        using var v = randn(f, dtype: float64, generator: g);
        return v.data<double>().ToArray();
    }

    private static void Close(double expected, double actual, double relative, string what) =>
        Assert.True(Math.Abs(expected - actual) <= relative * Math.Max(1, Math.Abs(expected)), $"{what}: expected {expected:R}, got {actual:R}");

    [Fact]
    public void One_dimensional_gaussians_give_the_squared_difference_of_means_and_deviations()
    {
        // W2^2(N(m1, s1^2), N(m2, s2^2)) = (m1 - m2)^2 + (s1 - s2)^2.
        foreach (var (m1, s1, m2, s2) in new[] { (0.0, 1.0, 0.0, 1.0), (1.5, 0.3, -2.0, 2.5), (10.0, 4.0, 10.5, 0.01) })
        {
            using var a = Diagonal([m1], [s1 * s1]);
            using var b = Diagonal([m2], [s2 * s2]);
            Close((m1 - m2) * (m1 - m2) + (s1 - s2) * (s1 - s2), FrechetDistance.Between(a, b), 1e-12, $"1-D ({m1}, {s1}) vs ({m2}, {s2})");
        }
    }

    [Fact]
    public void Commuting_covariances_give_the_sum_of_squared_root_differences_also_after_a_common_rotation()
    {
        // Diagonal C_a = diag(a), C_b = diag(b): d^2 = |mu_a - mu_b|^2 + sum_i (sqrt a_i - sqrt b_i)^2; rotating both
        // Gaussians by one orthogonal Q (mu -> Q mu, C -> Q C Q^T) keeps them commuting and d^2 unchanged.
        using var g = new Generator(3);
        const int f = 12;
        using var av = rand(f, dtype: float64, generator: g) * 4 + 0.01;
        using var bv = rand(f, dtype: float64, generator: g) * 4 + 0.01;
        var muA = RandomVector(f, g); var muB = RandomVector(f, g);
        var a = av.data<double>().ToArray(); var b = bv.data<double>().ToArray();
        var expected = Enumerable.Range(0, f).Sum(i => (muA[i] - muB[i]) * (muA[i] - muB[i]) + Math.Pow(Math.Sqrt(a[i]) - Math.Sqrt(b[i]), 2));
        using var da = Diagonal(muA, a);
        using var db = Diagonal(muB, b);
        Close(expected, FrechetDistance.Between(da, db), 1e-12, "diagonal");

        using var scope = NewDisposeScope();
        var (q, _) = linalg.qr(randn(f, f, dtype: float64, generator: g));
        using var ra = new GaussianMoments(q.matmul(da.Mean), q.matmul(da.Covariance).matmul(q.t()), 100);
        using var rb = new GaussianMoments(q.matmul(db.Mean), q.matmul(db.Covariance).matmul(q.t()), 100);
        Close(expected, FrechetDistance.Between(ra, rb), 1e-9, "rotated diagonal");
    }

    [Fact]
    public void Random_covariances_match_the_trace_of_the_square_root_of_their_product_and_the_distance_is_a_symmetric_rotation_invariant()
    {
        // Independent route: C_a C_b is similar to C_a^{1/2} C_b C_a^{1/2}, so tr (C_a^{1/2} C_b C_a^{1/2})^{1/2} is the sum
        // of the square roots of the (real, positive) eigenvalues of the non-symmetric product C_a C_b (general eig).
        using var g = new Generator(11);
        foreach (var f in new[] { 2, 7, 40 })
        {
            using var scope = NewDisposeScope();
            var ca = RandomSpd(f, g); var cb = RandomSpd(f, g);
            var muA = RandomVector(f, g); var muB = RandomVector(f, g);
            var traceRoot = linalg.eigvals(ca.matmul(cb)).real.clamp_min(0).sqrt().sum().ToDouble();
            var meanTerm = muA.Zip(muB).Sum(p => (p.First - p.Second) * (p.First - p.Second));
            var expected = meanTerm + ca.trace().ToDouble() + cb.trace().ToDouble() - 2 * traceRoot;
            using var a = Moments(muA, ca);
            using var b = Moments(muB, cb);
            var d = FrechetDistance.Between(a, b);
            Close(expected, d, 1e-9, $"F = {f} against eig(C_a C_b)");
            Close(d, FrechetDistance.Between(b, a), 1e-10, $"F = {f} symmetry");

            var (q, _) = linalg.qr(randn(f, f, dtype: float64, generator: g));
            using var ra = new GaussianMoments(q.matmul(a.Mean), q.matmul(ca).matmul(q.t()), 100);
            using var rb = new GaussianMoments(q.matmul(b.Mean), q.matmul(cb).matmul(q.t()), 100);
            Close(d, FrechetDistance.Between(ra, rb), 1e-9, $"F = {f} rotation");
        }
    }

    [Fact]
    public void Identical_moments_give_zero_also_when_the_covariance_is_singular()
    {
        // Features with dead units (ReLU zeros) give a singular covariance; its square root's round-off eigenvalues must be
        // clamped, not turned into NaN. d^2 must be ~0 (round-off of sqrt(1e-16)-sized eigenvalues: allow 1e-6).
        using var g = new Generator(5);
        using var scope = NewDisposeScope();
        var features = randn(30, 20, dtype: float64, generator: g);
        features[.., ..8] = zeros(30, 8, dtype: float64); // rank <= 12 of 20
        using var a = GaussianMoments.Of(features);
        using var b = GaussianMoments.Of(features.clone());
        var d = FrechetDistance.Between(a, b);
        Assert.InRange(d, 0, 1e-6);
        using var full = GaussianMoments.Of(randn(200, 20, dtype: float64, generator: g));
        Assert.InRange(FrechetDistance.Between(full, full), 0, 1e-9);
        Assert.True(double.IsFinite(FrechetDistance.Between(a, full)) && FrechetDistance.Between(a, full) > 1);
    }

    [Fact]
    public void Moments_are_the_sample_mean_and_unbiased_covariance()
    {
        // Exact: rows (0, 1), (2, 1), (4, 4): mean (2, 2), covariance with 1/(n-1) = [[4, 3], [3, 3]].
        using (var x = tensor(new double[] { 0, 1, 2, 1, 4, 4 }, [3, 2]))
        using (var m = GaussianMoments.Of(x))
        {
            Assert.Equal([2.0, 2.0], m.Mean.data<double>().ToArray());
            Assert.Equal([4.0, 3.0, 3.0, 3.0], m.Covariance.data<double>().ToArray());
            Assert.Equal(3, m.Count);
        }

        // Samples of N(mu, L L^T): each mean entry within 5 standard errors sqrt(C_ii / n), each covariance entry within
        // 5 sqrt((C_ii C_jj + C_ij^2) / n) (the Gaussian variance of a sample covariance entry).
        using var scope = NewDisposeScope();
        using var g = new Generator(8);
        const int n = 20000;
        var mu = tensor(new double[] { 1, -2, 0.5 }, dtype: float64);
        var l = tensor(new double[] { 1, 0, 0, 0.5, 2, 0, -1, 0.3, 0.7 }, [3, 3], dtype: float64);
        var c = l.matmul(l.t());
        var samples = randn(n, 3, dtype: float64, generator: g).matmul(l.t()) + mu;
        using var moments = GaussianMoments.Of(samples.to(float32)); // float input is promoted
        Assert.Equal(ScalarType.Float64, moments.Mean.dtype);
        var cv = c.data<double>().ToArray();
        var mean = moments.Mean.data<double>().ToArray();
        var cov = moments.Covariance.data<double>().ToArray();
        var muv = mu.data<double>().ToArray();
        for (var i = 0; i < 3; i++)
        {
            Assert.InRange(mean[i], muv[i] - 5 * Math.Sqrt(cv[4 * i] / n), muv[i] + 5 * Math.Sqrt(cv[4 * i] / n));
            for (var j = 0; j < 3; j++)
            {
                var se = Math.Sqrt((cv[4 * i] * cv[4 * j] + cv[3 * i + j] * cv[3 * i + j]) / n);
                Assert.InRange(cov[3 * i + j], cv[3 * i + j] - 5 * se, cv[3 * i + j] + 5 * se);
            }
        }
        // And the distance between two samples of one Gaussian is small next to a shifted one's.
        var other = randn(n, 3, dtype: float64, generator: g).matmul(l.t()) + mu;
        var same = FrechetDistance.Between(samples, other);
        var shifted = FrechetDistance.Between(samples, other + 0.5);
        Assert.InRange(same, 0, 0.01);
        Assert.InRange(shifted, 0.75 - 0.05, 0.75 + 0.05); // |shift|^2 = 3 x 0.25
    }

    [Fact]
    public void Rejects_mismatched_shapes()
    {
        using var a = Diagonal([0, 0], [1, 1]);
        using var b = Diagonal([0], [1]);
        Assert.Throws<ArgumentException>(() => FrechetDistance.Between(a, b));
        using var one = zeros(1, 3);
        Assert.Throws<ArgumentException>(() => GaussianMoments.Of(one));
    }
}
