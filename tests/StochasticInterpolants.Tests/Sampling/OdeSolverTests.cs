using StochasticInterpolants.Fields;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Runtime;
using StochasticInterpolants.Sampling;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Sampling;

public class OdeSolverTests(ITestOutputHelper output)
{
    private static readonly GaussianToGaussianVelocity Field = new([2.0, -1.0], 0.5);

    private static Tensor Start(int n, ScalarType dtype, ulong seed = 3)
    {
        using var g = new Generator(seed);
        return randn(n, 2, dtype: dtype, generator: g);
    }

    // A nonlinear test problem: the exact velocity carrying N(0, I) to a two-component mixture (docs/theory.md §5).
    private static readonly GaussianMixtureField Bimodal = new(new LinearInterpolant(),
        [new MixtureComponent(1, [0, 0], [1, 1])],
        [new MixtureComponent(0.4, [-2, 1], [0.3, 0.2]), new MixtureComponent(0.6, [1.5, -1], [0.5, 0.4])]);

    private static readonly Lazy<(Tensor X0, Tensor X1)> BimodalReference = new(() =>
    {
        var x0 = Start(64, float64);
        using var s = new DormandPrince5Solver(1e-12, 1e-12).Integrate(Bimodal, x0, 0, 1);
        return (x0, s.Final.clone());
    });

    [Theory]
    [InlineData("euler", 1, 256)]
    [InlineData("heun", 2, 16)]
    [InlineData("midpoint", 2, 16)]
    [InlineData("rk4", 4, 24)]
    public void Fixed_step_error_shrinks_at_the_known_order(string name, int order, int steps)
    {
        // Against a reference (dopri5 at 1e-12, float64); the observed order log2(e(N) / e(2N)) must be within 0.3 of theory.
        var (x0, reference) = BimodalReference.Value;
        double Error(int n)
        {
            using var s = OdeSolvers.Create(name, n).Integrate(Bimodal, x0, 0, 1);
            return (s.Final - reference).abs().max().ToDouble();
        }
        var observed = Math.Log2(Error(steps) / Error(2 * steps));
        Assert.InRange(observed, order - 0.3, order + 0.3);
    }

    [Theory]
    [InlineData("euler", 200, 0.03)]
    [InlineData("heun", 50, 0.01)]
    [InlineData("midpoint", 50, 0.01)]
    [InlineData("rk4", 20, 0.01)]
    [InlineData("dopri5", 0, 0.01)]
    public void Solvers_carry_standard_normal_to_the_target_gaussian(string name, int steps, double tolerance)
    {
        // 20,000 samples: the sample mean has standard error s / sqrt(n) = 0.0035 and the std ~0.0025; the tolerance
        // adds the discretisation error of each solver at these step counts (measured < 0.005 for Euler at 200 steps).
        using var x0 = Start(20_000, float32);
        using var solution = OdeSolvers.Create(name, Math.Max(steps, 1), 1e-5, 1e-5).Integrate(Field, x0, 0, 1);
        var mean = solution.Final.mean([0]).data<float>().ToArray();
        var std = solution.Final.std(0).data<float>().ToArray();
        Assert.Equal(2.0, mean[0], tolerance); Assert.Equal(-1.0, mean[1], tolerance);
        Assert.Equal(0.5, std[0], tolerance); Assert.Equal(0.5, std[1], tolerance);
        Assert.True(solution.FunctionEvaluations > 0);
    }

    [Fact]
    public void Fixed_step_solvers_count_evaluations()
    {
        using var x0 = Start(4, float64);
        foreach (var (name, perStep) in new[] { ("euler", 1), ("heun", 2), ("midpoint", 2), ("rk4", 4) })
        {
            using var s = OdeSolvers.Create(name, 10).Integrate(Field, x0, 0, 1);
            Assert.Equal(10 * perStep, s.FunctionEvaluations);
        }
    }

    [Fact]
    public void Dopri5_meets_its_tolerance_and_reports_its_work()
    {
        using var x0 = Start(512, float64);
        var solver = new DormandPrince5Solver(1e-7, 1e-7);
        using var solution = solver.Integrate(Field, x0, 0, 1);
        using var exact = Field.ExactFlow(1, x0);
        var error = (solution.Final - exact).abs().max().item<double>();
        Assert.True(error < 1e-5, $"max error {error:g3}");
        Assert.True(solution.Steps >= 2);
        Assert.Equal(solution.FunctionEvaluations, 2 + 6 * (solution.Steps + solution.RejectedSteps));
        // Looser tolerance: fewer evaluations, larger but still controlled error.
        using var loose = new DormandPrince5Solver(1e-3, 1e-3).Integrate(Field, x0, 0, 1);
        Assert.True(loose.FunctionEvaluations < solution.FunctionEvaluations);
        // Two huge steps at 1e-3: the embedded estimate is optimistic outside the asymptotic regime (measured 0.055).
        Assert.True((loose.Final - exact).abs().max().ToDouble() < 0.1);
    }

    [Theory]
    [InlineData("rk4")]
    [InlineData("dopri5")]
    public void Backward_integration_inverts_forward_integration(string name)
    {
        using var x0 = Start(256, float64);
        var solver = OdeSolvers.Create(name, 40, 1e-8, 1e-8);
        using var forward = solver.Integrate(Field, x0, 0, 1);
        using var back = solver.Integrate(Field, forward.Final, 1, 0);
        Assert.True((back.Final - x0).abs().max().item<double>() < 1e-5);
    }

    [Theory]
    [InlineData("euler")]
    [InlineData("rk4")]
    [InlineData("dopri5")]
    public void Save_times_return_the_states_at_those_times(string name)
    {
        using var x0 = Start(128, float64);
        var solver = OdeSolvers.Create(name, 7, 1e-8, 1e-8); // 7 steps: 0.25 and 0.5 are not grid points
        using var s = solver.Integrate(Field, x0, 0, 1, new OdeOptions(SaveTimes: [0.5, 0.25, 0.0]));
        Assert.Equal([0.5, 0.25, 0.0], s.Times);
        var tolerance = name switch { "euler" => 0.05, "rk4" => 1e-4, _ => 1e-5 }; // rk4 with 7 steps: measured 2e-5
        for (var i = 0; i < 3; i++)
        {
            using var exact = Field.ExactFlow(s.Times[i], x0);
            Assert.True((s.Trajectory[i] - exact).abs().max().item<double>() < tolerance, $"t = {s.Times[i]}");
        }
    }

    [Fact]
    public void Progress_reaches_one_and_bad_arguments_are_rejected()
    {
        using var x0 = Start(8, float32);
        var last = 0.0;
        using (new Rk4Solver(5).Integrate(Field, x0, 0, 1, new OdeOptions(Progress: new SyncProgress<double>(v => last = v)))) { }
        Assert.Equal(1.0, last, 12);
        Assert.Contains("unknown solver 'leapfrog'", Assert.ThrowsAny<ArgumentException>(() => OdeSolvers.Create("leapfrog")).Message);
        Assert.Equal("solver-steps", Assert.Throws<InvalidSettingException>(() => OdeSolvers.Create("rk4", 0)).Setting);
        Assert.Equal("rtol", Assert.Throws<InvalidSettingException>(() => new DormandPrince5Solver(rtol: -1)).Setting);
        Assert.Throws<ArgumentException>(() => new EulerSolver(3).Integrate(Field, x0, 0, 1.5));
        Assert.Throws<ArgumentException>(() => new EulerSolver(3).Integrate(Field, x0, 0, 1, new OdeOptions(SaveTimes: [2.0])));
        using var single = tensor(0f); // a state needs a batch axis [n, ...]
        Assert.Throws<ArgumentException>(() => new EulerSolver(3).Integrate(Field, single, 0, 1));
    }

    // Step counts are in the asymptotic regime (measured): Heun 16 -> 32 gives 1.86, RK4 16 -> 32 gives 3.4 and 8 -> 16 even
    // -0.35, because the x0-coefficient error changes sign near N = 8.
    // Midpoint is third order on this problem, not second: every method integrates the mean t m exactly, and the x0
    // coefficient phi = sqrt(v) solves phi' = a phi with a = v'/(2v). Midpoint's principal error function for y' = a y is
    // psi = (1/24)(a' + a^2)' + (1/6) a (a' + a^2), and with v quadratic a' + a^2 = phi''/phi = K / (4 v^2) (K constant),
    // so psi = K v' / v^3 (-1/48 + 1/48) = 0 identically. The nonlinear mixture test above shows its order 2.
    [Theory]
    [InlineData("euler", 1, 32)]
    [InlineData("heun", 2, 32)]
    [InlineData("midpoint", 3, 16)]
    [InlineData("rk4", 4, 64)]
    public void Fixed_step_error_against_the_exact_gaussian_flow_shrinks_at_the_known_order(string name, int order, int steps)
    {
        // float64, against the closed-form flow X_1 = m + s X_0: log2(e(N) / e(2N)) must be within 0.3 of the order.
        using var x0 = Start(256, float64);
        using var exact = Field.ExactFlow(1, x0);
        double Error(int n)
        {
            using var s = OdeSolvers.Create(name, n).Integrate(Field, x0, 0, 1);
            return (s.Final - exact).abs().max().ToDouble();
        }
        double e1 = Error(steps), e2 = Error(2 * steps);
        var observed = Math.Log2(e1 / e2);
        output.WriteLine($"{name}: e({steps}) = {e1:g3}, e({2 * steps}) = {e2:g3}, observed order {observed:F3}");
        Assert.InRange(observed, order - 0.3, order + 0.3);
    }

    [Fact]
    public void Dopri5_at_1e_6_stays_within_its_tolerance_of_the_exact_flow()
    {
        using var x0 = Start(512, float64);
        using var solution = new DormandPrince5Solver(1e-6, 1e-6).Integrate(Field, x0, 0, 1);
        using var exact = Field.ExactFlow(1, x0);
        var error = (solution.Final - exact).abs().max().item<double>();
        output.WriteLine($"dopri5 1e-6: max error {error:g3}, NFE {solution.FunctionEvaluations}, steps {solution.Steps}, rejected {solution.RejectedSteps}");
        // The local tolerance is 1e-6 relative to |x| <= ~4: a global error of a few 1e-6 is the controller doing its job.
        Assert.True(error < 1e-5, $"max error {error:g3}");
        Assert.Equal(solution.FunctionEvaluations, 2 + 6 * (solution.Steps + solution.RejectedSteps));
    }

    [Fact]
    public void Dopri5_gives_up_with_a_clear_error_after_max_steps()
    {
        using var x0 = Start(16, float64);
        var e = Assert.Throws<IntegrationException>(() => new DormandPrince5Solver(1e-10, 1e-10, maxSteps: 3).Integrate(Field, x0, 0, 1));
        Assert.Contains("gave up after 3 steps", e.Message);
    }

    [Theory]
    [InlineData("euler")]
    [InlineData("rk4")]
    [InlineData("dopri5")]
    public void Integration_leaves_no_live_tensors_behind(string name)
    {
        // Per-thread TorchSharp counters: whatever the step count, only the solution's own tensors survive, so memory
        // cannot grow with the number of steps (10,000 points for 1,000 steps is the same loop).
        using var x0 = Start(1_000, float32);
        var stats = DisposeScopeManager.Statistics;
        long Leaked(int steps)
        {
            var before = stats.ThreadTotalLiveCount;
            var solution = OdeSolvers.Create(name, steps, 1e-6, 1e-6).Integrate(Field, x0, 0, 1, new OdeOptions(SaveTimes: [0.5]));
            solution.Dispose();
            return stats.ThreadTotalLiveCount - before;
        }
        Leaked(10); // warm-up: lazily created tensors (if any) do not count against the loop
        Assert.Equal(0, Leaked(20));
        Assert.Equal(0, Leaked(200));
    }

    [Fact]
    public void Fixed_step_save_times_split_the_grid_and_count_the_extra_steps()
    {
        using var x0 = Start(8, float64);
        using var s = new HeunSolver(4).Integrate(Field, x0, 1, 0, new OdeOptions(SaveTimes: [0.6])); // backward; 0.6 splits [0.75, 0.5]
        Assert.Equal(5, s.Steps);
        Assert.Equal(10, s.FunctionEvaluations);
        Assert.Equal([0.6], s.Times);
    }
}
