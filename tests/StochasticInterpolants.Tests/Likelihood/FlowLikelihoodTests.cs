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

    [Theory]
    [InlineData(DivergenceEstimator.HutchinsonRademacher)]
    [InlineData(DivergenceEstimator.HutchinsonGaussian)]
    public void Hutchinson_mean_agrees_with_the_exact_divergence(DivergenceEstimator estimator)
    {
        // A nonlinear field: the exact velocity towards a two-component mixture, at t = 0.6.
        var oracle = new GaussianMixtureField(new LinearInterpolant(), [new MixtureComponent(1, [0, 0], [1, 1])],
            [new MixtureComponent(0.5, [-2, 1], [0.2, 0.3]), new MixtureComponent(0.5, [1.5, -0.5], [0.5, 0.1])]);
        using var g = new Generator(3);
        using var x = randn(8, 2, dtype: float64, generator: g);
        using var exact = new FlowLikelihood(oracle, new StandardGaussian(2), new EulerSolver(1)).Divergence(0.6, x);
        const int probes = 2000;
        var estimates = new List<Tensor>();
        for (var seed = 0; seed < 4; seed++)
            estimates.Add(new FlowLikelihood(oracle, new StandardGaussian(2), new EulerSolver(1), new LikelihoodOptions(estimator, probes / 4, seed)).Divergence(0.6, x));
        // Per-probe standard error from the spread of the four 500-probe means.
        using var stack = torch.stack(estimates);
        using var mean = stack.mean([0]);
        using var se = stack.std(0) / Math.Sqrt(estimates.Count);
        using var z = (mean - exact).abs() / (se + 1e-12);
        Assert.True(z.max().ToDouble() < 3 * 1.6, $"|mean - exact| / se up to {z.max().ToDouble():F2}"); // 3 se, widened for a 4-sample se
        foreach (var e in estimates) e.Dispose();
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
