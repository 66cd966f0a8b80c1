using StochasticInterpolants.Couplings;
using StochasticInterpolants.Data;
using StochasticInterpolants.Fields;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Likelihood;
using StochasticInterpolants.Models;
using StochasticInterpolants.Objectives;
using StochasticInterpolants.Sampling;
using StochasticInterpolants.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Likelihood;

public class FlowLikelihoodTests
{
    private static readonly GaussianToGaussianVelocity Exact = new([2.0, -1.0], 0.5);

    private static Tensor ClosedForm(Tensor x) // log N(x; m, s^2 I) in 2-D
    {
        using var m = tensor(new[] { 2.0, -1.0 });
        return -(x - m).square().sum(1) / (2 * 0.25) - 2 * Math.Log(Math.Sqrt(2 * Math.PI) * 0.5);
    }

    [Theory]
    [InlineData("rk4", 100)]
    [InlineData("dopri5", 0)]
    public void Log_density_of_the_exact_gaussian_flow_matches_the_closed_form(string solver, int steps)
    {
        var likelihood = new FlowLikelihood(Exact, new StandardGaussian(2), OdeSolvers.Create(solver, Math.Max(steps, 1), 1e-8, 1e-8));
        using var g = new Generator(1);
        using var x = randn(500, 2, dtype: float64, generator: g) * 0.5 + tensor(new[] { 2.0, -1.0 });
        using var result = likelihood.LogDensity(x);
        using var exact = ClosedForm(x);
        Assert.True((result.LogDensity - exact).abs().max().ToDouble() < 1e-3);
        Assert.True(result.FunctionEvaluations > 0);
    }

    [Fact]
    public void Forward_and_backward_computations_agree_and_intermediate_densities_match_the_oracle()
    {
        var likelihood = new FlowLikelihood(Exact, new StandardGaussian(2), new Rk4Solver(100));
        using var g = new Generator(2);
        using var x0 = randn(300, 2, dtype: float64, generator: g);
        var (x1, forward) = likelihood.SampleWithLogDensity(x0);
        using (x1) using (forward)
        {
            using var backward = likelihood.LogDensity(x1);
            Assert.True((forward - backward.LogDensity).abs().max().ToDouble() < 1e-6);
            Assert.True((backward.BasePoints - x0).abs().max().ToDouble() < 1e-6);
        }
        // rho(t) at t = 0.4 against the closed-form mixture density (here one Gaussian: N(t m, v(t) I)).
        var oracle = new GaussianMixtureField(new LinearInterpolant(), [new MixtureComponent(1, [0, 0], [1, 1])], [new MixtureComponent(1, [2, -1], [0.25, 0.25])]);
        using var xt = randn(200, 2, dtype: float64, generator: g);
        using var mid = likelihood.LogDensity(xt, t: 0.4);
        using var truth = oracle.LogDensity(0.4, xt);
        Assert.True((mid.LogDensity - truth).abs().max().ToDouble() < 1e-6);
        // t = 0 is the base density itself, with no integration.
        using var atZero = likelihood.LogDensity(xt, t: 0);
        using var baseLog = new StandardGaussian(2).LogDensity(xt);
        Assert.True((atZero.LogDensity - baseLog).abs().max().ToDouble() < 1e-12);
        Assert.Equal(0, atZero.FunctionEvaluations);
    }

    // ---------------------------------------------------------------- Hutchinson's estimator against its closed-form moments

    // A nonlinear 3-D field: the exact velocity of the linear interpolant between two anisotropic Gaussian mixtures
    // (docs/theory.md §5). The base is not N(0, I) on purpose: from N(0, I) the linear path is the one-sided one, whose
    // velocity b = (x + (1 - t) s) / t is a gradient field with a symmetric Jacobian. Here A = grad b is neither symmetric
    // nor diagonal (checked below), so every term of the variance formulas is exercised.
    private static readonly GaussianMixtureField HutchinsonOracle = new(new LinearInterpolant(),
        [new MixtureComponent(0.5, [0.5, -0.5, 0], [1.0, 0.3, 2.0]), new MixtureComponent(0.5, [-1, 0.5, 0.5], [0.4, 1.5, 0.7])],
        [new MixtureComponent(0.3, [-2, 1, 0.5], [0.2, 0.3, 0.5]), new MixtureComponent(0.5, [1.5, -0.5, -1], [0.5, 0.1, 0.3]),
         new MixtureComponent(0.2, [0.5, 1.5, 1.5], [0.15, 0.4, 0.2])]);
    private const double HutchinsonTime = 0.6;
    private const int HutchinsonDimension = 3;

    /// <summary>Six seeded points spread over the support of rho(0.6), where the mixtures' posterior weights change.</summary>
    private static Tensor HutchinsonPoints()
    {
        using var g = new Generator(3);
        using var scope = NewDisposeScope();
        var x0 = randn(6, HutchinsonDimension, dtype: float64, generator: g);
        var x1 = randn(6, HutchinsonDimension, dtype: float64, generator: g) * 1.3;
        return (0.4 * x0 + 0.6 * x1).MoveToOuterDisposeScope();
    }

    /// <summary>A[p][i, j] = d b_i / d x_j at each row p of <paramref name="x"/>: d autograd passes over the oracle's velocity
    /// (the gradient of sum over rows of b_i gives row i of every point's Jacobian, since rows do not interact).</summary>
    private static double[][,] Jacobians(Tensor x)
    {
        using var scope = NewDisposeScope();
        using var grad = enable_grad();
        var xg = x.detach().clone().requires_grad_(true);
        var b = HutchinsonOracle.Velocity(HutchinsonTime, xg);
        var n = (int)x.shape[0]; var d = (int)x.shape[1];
        var result = Enumerable.Range(0, n).Select(_ => new double[d, d]).ToArray();
        for (var i = 0; i < d; i++)
        {
            var row = autograd.grad([b[.., i].sum()], [xg], retain_graph: true)[0].data<double>().ToArray(); // [n, d] flat
            for (var p = 0; p < n; p++)
                for (var j = 0; j < d; j++) result[p][i, j] = row[p * d + j];
        }
        return result;
    }

    /// <summary>
    /// Closed-form variance of one probe's estimate e^T A e (docs/theory.md §4; only the symmetric part S = (A + A^T) / 2 matters).
    /// Rademacher: e^T A e - tr A = sum_{i&lt;j} (A_ij + A_ji) e_i e_j, the products e_i e_j (i &lt; j) are pairwise uncorrelated
    /// with unit variance, so Var = sum_{i&lt;j} (A_ij + A_ji)^2. Gaussian: Var = 2 ||S||_F^2 = ||A + A^T||_F^2 / 2.
    /// The difference is 2 sum_i A_ii^2: Gaussian probes pay for the diagonal, Rademacher ones do not.
    /// </summary>
    private static double ProbeVariance(double[,] a, DivergenceEstimator estimator)
    {
        var d = a.GetLength(0);
        double offDiagonal = 0, diagonal = 0;
        for (var i = 0; i < d; i++)
        {
            diagonal += a[i, i] * a[i, i];
            for (var j = i + 1; j < d; j++) offDiagonal += (a[i, j] + a[j, i]) * (a[i, j] + a[j, i]);
        }
        return estimator == DivergenceEstimator.HutchinsonGaussian ? offDiagonal + 2 * diagonal : offDiagonal;
    }

    /// <summary>Sample mean, sample variance and the standard error of that variance, sqrt((m4 - var^2) / n) with the sample's
    /// own fourth central moment m4, for each point's <paramref name="draws"/> estimates (rows p * draws .. (p + 1) * draws - 1).</summary>
    private static (double Mean, double Variance, double VarianceError)[] Moments(Tensor estimates, int points, int draws)
    {
        var v = estimates.data<double>().ToArray();
        return Enumerable.Range(0, points).Select(p =>
        {
            var s = new ArraySegment<double>(v, p * draws, draws);
            var mean = s.Average();
            var variance = s.Sum(y => (y - mean) * (y - mean)) / (draws - 1);
            var m4 = s.Average(y => Math.Pow(y - mean, 4));
            return (mean, variance, Math.Sqrt(Math.Max(m4 - variance * variance, 0) / draws));
        }).ToArray();
    }

    /// <summary>N independent estimates per point: each point repeated N times in one batch, so that every row draws its own
    /// probes (the probe tensor is [probes, n, d]); a probe shared by all rows would show a zero variance here.</summary>
    private static Tensor Estimates(Tensor points, int draws, DivergenceEstimator estimator, int probes, long seed)
    {
        using var repeated = points.repeat_interleave(draws, 0);
        var likelihood = new FlowLikelihood(HutchinsonOracle, new StandardGaussian(HutchinsonDimension), new EulerSolver(1),
            new LikelihoodOptions(estimator, probes, seed));
        return likelihood.Divergence(HutchinsonTime, repeated);
    }

    [Theory]
    [InlineData(DivergenceEstimator.HutchinsonRademacher, 1)]
    [InlineData(DivergenceEstimator.HutchinsonGaussian, 1)]
    [InlineData(DivergenceEstimator.HutchinsonRademacher, 8)]
    [InlineData(DivergenceEstimator.HutchinsonGaussian, 8)]
    public void Hutchinson_estimates_have_the_exact_divergence_as_mean_and_the_closed_form_variance(DivergenceEstimator estimator, int probes)
    {
        const int draws = 20_000;
        using var x = HutchinsonPoints();
        var points = (int)x.shape[0];
        var a = Jacobians(x);
        // The exact divergence is the trace of the autograd Jacobian, and agrees with central finite differences of the oracle.
        using var exact = new FlowLikelihood(HutchinsonOracle, new StandardGaussian(HutchinsonDimension), new EulerSolver(1)).Divergence(HutchinsonTime, x);
        var div = exact.data<double>().ToArray();
        for (var p = 0; p < points; p++)
        {
            var trace = Enumerable.Range(0, HutchinsonDimension).Sum(i => a[p][i, i]);
            Assert.True(Math.Abs(trace - div[p]) < 1e-10, $"point {p}: exact divergence {div[p]:G10}, trace of the Jacobian {trace:G10}");
        }
        const double h = 1e-5;
        for (var i = 0; i < HutchinsonDimension; i++)
        {
            using var shift = zeros(1, HutchinsonDimension, dtype: float64);
            shift[0, i] = h;
            using var up = HutchinsonOracle.Velocity(HutchinsonTime, x + shift);
            using var down = HutchinsonOracle.Velocity(HutchinsonTime, x - shift);
            var column = ((up - down) / (2 * h))[.., i].data<double>().ToArray(); // d b_i / d x_i at every point
            for (var p = 0; p < points; p++)
                Assert.True(Math.Abs(column[p] - a[p][i, i]) < 1e-6, $"point {p}: A_{i}{i} = {a[p][i, i]:G8} by autograd, {column[p]:G8} by finite differences");
        }

        using var estimates = Estimates(x, draws, estimator, probes, seed: 11);
        Assert.Equal(new long[] { points * draws }, estimates.shape);
        var moments = Moments(estimates, points, draws);
        for (var p = 0; p < points; p++)
        {
            // Averaging k independent probes divides the one-probe variance by k.
            var variance = ProbeVariance(a[p], estimator) / probes;
            var (mean, sampleVariance, varianceError) = moments[p];
            // Unbiased: the mean of 20,000 estimates within 4 standard errors sqrt(Var / N) of the exact divergence.
            var meanError = Math.Sqrt(variance / draws);
            Assert.True(Math.Abs(mean - div[p]) <= 4 * meanError + 1e-9,
                $"{estimator}, {probes} probe(s), point {p}: mean {mean:F5}, exact divergence {div[p]:F5}, standard error {meanError:F5}");
            // The variance within 4 standard errors of the sample variance (estimated from the sample's fourth moment).
            Assert.True(Math.Abs(sampleVariance - variance) <= 4 * varianceError + 1e-12,
                $"{estimator}, {probes} probe(s), point {p}: sample variance {sampleVariance:G5}, closed form {variance:G5}, standard error {varianceError:G3}");
        }
        // Not vacuous: A is not symmetric somewhere (so A_ij + A_ji differs from 2 A_ij), and the estimates do scatter (a deterministic or row-shared probe would give a zero sample variance).
        var asymmetry = a.Max(m => Enumerable.Range(0, HutchinsonDimension).SelectMany(i => Enumerable.Range(0, HutchinsonDimension).Select(j => Math.Abs(m[i, j] - m[j, i]))).Max());
        Assert.True(asymmetry > 0.1, $"max |A_ij - A_ji| = {asymmetry:G3}: the Jacobians are (nearly) symmetric");
        Assert.True(moments.Max(m => m.Variance) > 0.05 / probes, $"largest sample variance {moments.Max(m => m.Variance):G3}");
    }

    [Fact]
    public void Gaussian_probes_pay_twice_the_squared_diagonal_in_variance_over_rademacher_probes()
    {
        const int draws = 20_000;
        using var x = HutchinsonPoints();
        var points = (int)x.shape[0];
        var a = Jacobians(x);
        using var rademacher = Estimates(x, draws, DivergenceEstimator.HutchinsonRademacher, 1, seed: 21);
        using var gaussian = Estimates(x, draws, DivergenceEstimator.HutchinsonGaussian, 1, seed: 22);
        var r = Moments(rademacher, points, draws);
        var g = Moments(gaussian, points, draws);
        var resolved = 0;
        for (var p = 0; p < points; p++)
        {
            var diagonal = 2 * Enumerable.Range(0, HutchinsonDimension).Sum(i => a[p][i, i] * a[p][i, i]);
            var error = Math.Sqrt(r[p].VarianceError * r[p].VarianceError + g[p].VarianceError * g[p].VarianceError);
            var gap = g[p].Variance - r[p].Variance;
            // The measured gap is 2 sum A_ii^2 within 4 standard errors at every point ...
            Assert.True(Math.Abs(gap - diagonal) <= 4 * error, $"point {p}: Var(Gaussian) - Var(Rademacher) = {gap:G4}, expected 2 sum A_ii^2 = {diagonal:G4} ± {4 * error:G3}");
            if (diagonal > 10 * error)
            {
                resolved++;
                Assert.True(g[p].Variance > r[p].Variance, $"point {p}: Gaussian variance {g[p].Variance:G4} not above Rademacher {r[p].Variance:G4}");
            }
        }
        // ... and at most points the gap is more than 10 standard errors wide, so the comparison is not noise.
        Assert.True(resolved >= 4, $"only {resolved} of {points} points have 2 sum A_ii^2 beyond 10 standard errors");
    }

    [Fact]
    public void Each_seed_draws_fresh_probes_and_the_mean_over_500_seeds_is_the_exact_divergence()
    {
        const int seeds = 500;
        using var x = HutchinsonPoints();
        var points = (int)x.shape[0];
        var a = Jacobians(x);
        using var exact = new FlowLikelihood(HutchinsonOracle, new StandardGaussian(HutchinsonDimension), new EulerSolver(1)).Divergence(HutchinsonTime, x);
        var div = exact.data<double>().ToArray();
        foreach (var estimator in new[] { DivergenceEstimator.HutchinsonRademacher, DivergenceEstimator.HutchinsonGaussian })
        {
            // One probe per point per seed: seed k's likelihood object draws its own probes.
            var perSeed = new double[seeds][];
            for (var k = 0; k < seeds; k++)
            {
                using var e = new FlowLikelihood(HutchinsonOracle, new StandardGaussian(HutchinsonDimension), new EulerSolver(1),
                    new LikelihoodOptions(estimator, 1, k)).Divergence(HutchinsonTime, x);
                perSeed[k] = e.data<double>().ToArray();
            }
            // The same seed gives the same probes.
            using (var again = new FlowLikelihood(HutchinsonOracle, new StandardGaussian(HutchinsonDimension), new EulerSolver(1),
                       new LikelihoodOptions(estimator, 1, 7)).Divergence(HutchinsonTime, x))
                Assert.Equal(perSeed[7], again.data<double>().ToArray());
            for (var p = 0; p < points; p++)
            {
                var values = perSeed.Select(v => v[p]).ToArray();
                var variance = ProbeVariance(a[p], estimator);
                var mean = values.Average();
                var se = Math.Sqrt(variance / seeds);
                Assert.True(Math.Abs(mean - div[p]) <= 4 * se + 1e-9, $"{estimator}, point {p}: mean over {seeds} seeds {mean:F4}, exact {div[p]:F4}, standard error {se:F4}");
                // Seeds do not repeat one probe: the estimates take more than one value wherever the variance is not zero.
                if (variance > 1e-6) Assert.True(values.Distinct().Count() > 1, $"{estimator}, point {p}: every seed gave the same estimate");
            }
        }
    }

    [Fact]
    public void A_learned_one_dimensional_density_integrates_to_one()
    {
        var target = new GaussianMixture([0.4, 0.6], [[-1.5], [1.5]], [[0.2], [0.3]]);
        using var net = new MlpNetwork(new MlpConfig(1, Width: 64, Depth: 2), seed: 0);
        var trainer = new Trainer(new IndependentCoupling(new StandardGaussian(1), target), new VelocityObjective(new LinearInterpolant()), net,
            new TrainingOptions(Steps: 800, BatchSize: 256, LearningRate: 3e-3, EmaDecay: 0.99, Seed: 0));
        trainer.Run(out var ema);
        using (ema) ema!.CopyTo(net);
        var likelihood = new FlowLikelihood(new NetworkVelocityField(net), new StandardGaussian(1), new Rk4Solver(40));
        const int k = 600; const double lo = -7, hi = 7, h = (hi - lo) / (k - 1);
        using var grid = linspace(lo, hi, k, dtype: float32).unsqueeze(1);
        using var result = likelihood.LogDensity(grid);
        using var p = result.LogDensity.exp();
        var integral = (p.sum().ToDouble() - 0.5 * (p[0].ToDouble() + p[k - 1].ToDouble())) * h; // trapezoid
        // A flow's density is normalised by construction; 40 RK4 steps and float32 leave ~1e-3. Bound: 0.02.
        Assert.InRange(integral, 0.98, 1.02);
        // And it learned something: mean NLL of target samples is within 0.3 nats of the target's own.
        using var gen = new Generator(4);
        using var xs = target.Sample(2000, gen);
        using var model = likelihood.LogDensity(xs);
        using var truth = target.LogDensity(xs);
        Assert.True(truth.mean().ToDouble() - model.LogDensity.mean().ToDouble() < 0.3);
    }
}

public class DifferentiableLikelihoodTests
{
    [Fact]
    public void Gradient_of_the_nll_through_the_ode_matches_finite_differences()
    {
        using var net = new MlpNetwork(new MlpConfig(2, Width: 8, Depth: 1), seed: 3);
        net.to(float64);
        var likelihood = new FlowLikelihood(new NetworkVelocityField(net), new StandardGaussian(2), new Rk4Solver(6));
        using var g = new Generator(4);
        using var x = randn(16, 2, dtype: float64, generator: g);
        double Nll(bool differentiable, out Tensor? loss)
        {
            using var r = likelihood.LogDensity(x, differentiable: differentiable);
            var l = -r.LogDensity.mean();
            loss = differentiable ? l : null;
            var value = l.ToDouble();
            if (!differentiable) l.Dispose();
            return value;
        }
        Nll(true, out var loss);
        loss!.backward();
        var weight = net.parameters().First();
        var analytic = weight.grad!.flatten()[0].ToDouble();
        const double h = 1e-6;
        double Shifted(double delta)
        {
            using (no_grad()) weight.flatten()[0] += delta;
            var v = Nll(false, out _);
            using (no_grad()) weight.flatten()[0] -= delta;
            return v;
        }
        var numeric = (Shifted(h) - Shifted(-h)) / (2 * h);
        Assert.True(Math.Abs(analytic) > 1e-6, "the gradient should not vanish");
        Assert.Equal(numeric, analytic, 6);
        Assert.Throws<ArgumentException>(() => new FlowLikelihood(new VelocityFunction((t, y) => y), new StandardGaussian(2), new DormandPrince5Solver()).LogDensity(x, differentiable: true));
        loss.Dispose();
    }
}
