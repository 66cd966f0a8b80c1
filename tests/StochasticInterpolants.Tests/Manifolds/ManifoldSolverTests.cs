using StochasticInterpolants.Fields;
using StochasticInterpolants.Manifolds;
using StochasticInterpolants.Runtime;
using StochasticInterpolants.Sampling;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Manifolds;

/// <summary>The solvers that step through the exponential map (docs/theory.md §15.5) against exact flows on the sphere and the torus.</summary>
public class ManifoldSolverTests(ITestOutputHelper output)
{
    // b(t, x) = (1 + t) A x, A = [omega]_x skew-symmetric: the flow is the rotation expm(s(t) A) with s(t) = t + t^2 / 2.
    private static readonly double[] Omega = [0.3, -0.8, 1.1];

    private static Tensor SkewMatrix(ScalarType dtype) => tensor(new[]
    {
        0, -Omega[2], Omega[1],
        Omega[2], 0, -Omega[0],
        -Omega[1], Omega[0], 0,
    }, dtype: float64).reshape(3, 3).to(dtype);

    /// <summary>
    /// The rotating field, plus <paramref name="radial"/> x (normal to the sphere, removed by P_x, so the flow is the same).
    /// </summary>
    private static VelocityFunction Rotation(ScalarType dtype, double radial = 0) =>
        new((t, x) => x.matmul(SkewMatrix(x.dtype).T) * (1 + t) + x * radial, "rotation field");

    /// <summary>expm(s A) x by Rodrigues' formula: I + (sin(s th)/th) A + ((1 - cos(s th))/th^2) A^2, th = |omega|, in float64.</summary>
    private static Tensor ExactRotation(Tensor x, double t)
    {
        var s = t + t * t / 2;
        var a = SkewMatrix(float64);
        var th = Math.Sqrt(Omega.Sum(w => w * w));
        var r = eye(3, dtype: float64) + a * (Math.Sin(s * th) / th) + a.matmul(a) * ((1 - Math.Cos(s * th)) / (th * th));
        return x.to(float64).matmul(r.T);
    }

    private static Tensor Starts(ScalarType dtype)
    {
        using var g = new Generator(21);
        return new Sphere(3).SampleUniform(32, g, dtype);
    }

    [Theory]
    [InlineData("geodesic-euler", 1, 32, 1e-1)]
    [InlineData("geodesic-midpoint", 2, 16, 1e-2)]
    [InlineData("geodesic-heun", 2, 16, 1e-2)]
    [InlineData("geodesic-rk4", 4, 8, 1e-4)]
    public void Rotation_on_the_sphere_converges_at_the_scheme_order(string name, int order, int steps, double tolerance)
    {
        // Error max_i |X_N - expm(s(1) A) x0| in float64 at N, 2N, 4N steps; observed order log2(e(N) / e(2N)) within 0.3 of
        // the scheme's, and e(N) below the stated bound. The orbits are small circles, not geodesics, so no scheme is exact.
        using var scope = NewDisposeScope();
        var sphere = new Sphere(3);
        var x0 = Starts(float64);
        var exact = ExactRotation(x0, 1);
        double Error(int n)
        {
            using var s = ManifoldSolvers.Create(name, sphere, n).Integrate(Rotation(float64, radial: 0.7), x0, 0, 1);
            return (s.Final - exact).abs().max().ToDouble();
        }
        var errors = new[] { Error(steps), Error(2 * steps), Error(4 * steps) };
        var orders = new[] { Math.Log2(errors[0] / errors[1]), Math.Log2(errors[1] / errors[2]) };
        output.WriteLine($"{name}: errors {string.Join(", ", errors.Select(e => e.ToString("E3")))} at N = {steps}, {2 * steps}, {4 * steps}; observed orders {orders[0]:F3}, {orders[1]:F3}");
        Assert.True(errors[0] < tolerance, $"{name}: error {errors[0]:E3} at {steps} steps");
        foreach (var p in orders) Assert.InRange(p, order - 0.3, order + 0.3);
    }

    /// <summary>RK4 with each stage carried to T_x by the projection P_x instead of the inverse differential of exp.</summary>
    private sealed class ProjectedRk4(IManifold manifold, int steps) : ManifoldRungeKuttaSolver(manifold, steps)
    {
        public override string Name => "projected-rk4";
        public override int EvaluationsPerStep => 4;
        private Tensor At(IVelocityField f, double t, Tensor x, Tensor v) => Manifold.ProjectToTangent(x, f.Velocity(t, Manifold.Exp(x, v)));
        protected override Tensor Increment(IVelocityField field, double t, double h, Tensor x)
        {
            var k1 = Tangent(field, t, x);
            var k2 = At(field, t + h / 2, x, k1 * (h / 2));
            var k3 = At(field, t + h / 2, x, k2 * (h / 2));
            var k4 = At(field, t + h, x, k3 * h);
            return (k1 + 2 * k2 + 2 * k3 + k4) * (h / 6);
        }
    }

    [Fact]
    public void Carrying_stages_back_by_projection_costs_rk4_two_orders()
    {
        // The reason for InverseExpDifferential: P_x D exp_x(v) = I + O(|v|^2) leaves an O(h^3) local error, so RK4 with
        // projected stages is second order (observed within 0.3 of 2) where the carried-back one is fourth.
        using var scope = NewDisposeScope();
        var x0 = Starts(float64);
        var exact = ExactRotation(x0, 1);
        double Error(int n)
        {
            using var s = new ProjectedRk4(new Sphere(3), n).Integrate(Rotation(float64), x0, 0, 1);
            return (s.Final - exact).abs().max().ToDouble();
        }
        var (e1, e2) = (Error(16), Error(32));
        output.WriteLine($"projected rk4: errors {e1:E3}, {e2:E3} at N = 16, 32; observed order {Math.Log2(e1 / e2):F3}");
        Assert.InRange(Math.Log2(e1 / e2), 1.7, 2.3);
    }

    [Theory]
    [InlineData("geodesic-euler")]
    [InlineData("geodesic-midpoint")]
    [InlineData("geodesic-heun")]
    [InlineData("geodesic-rk4")]
    public void Every_state_stays_on_the_sphere_in_float32(string name)
    {
        // The state at every one of 20 steps (saved at each grid time) has | |x| - 1 | < 1e-6 (measured ~1e-7: the
        // renormalisation after each step leaves rounding only), and the end is within 1e-3 of the exact rotation.
        using var scope = NewDisposeScope();
        var sphere = new Sphere(3);
        var x0 = Starts(float32);
        var times = Enumerable.Range(0, 21).Select(k => k / 20.0).ToArray();
        using var s = ManifoldSolvers.Create(name, sphere, 20).Integrate(Rotation(float32), x0, 0, 1, new OdeOptions(SaveTimes: times));
        var worst = s.Trajectory.Max(x => sphere.MaxViolation(x).max().ToDouble());
        output.WriteLine($"{name}: worst | |x| - 1 | over 21 states {worst:E2}");
        Assert.True(worst < 1e-6, $"{name}: a state is {worst:E2} off the sphere");
        Assert.Equal(ScalarType.Float32, s.Final.dtype);
        var error = (s.Final.to(float64) - ExactRotation(x0, 1)).abs().max().ToDouble();
        Assert.True(error < (name == "geodesic-euler" ? 0.2 : 1e-2), $"{name}: error {error:E2}");
    }

    [Fact]
    public void A_geodesic_flow_is_integrated_exactly_by_every_scheme()
    {
        // x0 in the rotation plane of A = e_1 e_2^T - e_2 e_1^T: the orbit is a great circle at unit speed, so exp_x(h b) is the
        // exact step and the carried-back stages equal k1 (the inverse differential maps the transported velocity back to it).
        using var scope = NewDisposeScope();
        var sphere = new Sphere(3);
        var a = tensor(new[] { 0, -1.0, 0, 1, 0, 0, 0, 0, 0 }, dtype: float64).reshape(3, 3);
        var field = new VelocityFunction((_, x) => x.matmul(a.T));
        var x0 = tensor(new[] { 1.0, 0, 0, 0.6, -0.8, 0 }, dtype: float64).reshape(2, 3);
        var angle = 1.0;
        var exact = x0.matmul(tensor(new[] { Math.Cos(angle), -Math.Sin(angle), 0, Math.Sin(angle), Math.Cos(angle), 0, 0, 0, 1 }, dtype: float64).reshape(3, 3).T);
        foreach (var name in ManifoldSolvers.Names)
        {
            using var s = ManifoldSolvers.Create(name, sphere, 3).Integrate(field, x0, 0, 1);
            Assert.True((s.Final - exact).abs().max().ToDouble() < 1e-14, name);
        }
    }

    [Theory]
    [InlineData("geodesic-euler")]
    [InlineData("geodesic-rk4")]
    public void A_constant_field_on_the_torus_wraps_exactly(string name)
    {
        // dX/dt = c with |c_i| up to 7.3 rad: X(1) = wrap(x0 + c), reached across several wrap-arounds; float64 to 1e-12, every
        // state's angles in [-pi, pi).
        using var scope = NewDisposeScope();
        var torus = new FlatTorus(2);
        using var g = new Generator(4);
        var x0 = torus.SampleUniform(16, g, float64);
        var c = tensor(new[] { 7.3, -2.5 }, dtype: float64);
        var times = Enumerable.Range(0, 11).Select(k => k / 10.0).ToArray();
        using var s = ManifoldSolvers.Create(name, torus, 10).Integrate(new VelocityFunction((_, x) => c.expand_as(x)), x0, 0, 1, new OdeOptions(SaveTimes: times));
        var exact = FlatTorus.Wrap(x0 + c);
        Assert.True(torus.Distance(s.Final, exact).max().ToDouble() < 1e-12);
        Assert.True(s.Trajectory.All(x => (x < Math.PI).all().ToBoolean() && (x >= -Math.PI).all().ToBoolean()));
    }

    [Fact]
    public void A_product_torus_times_sphere_moves_each_factor_by_its_own_flow()
    {
        // On T^1 x S^2: a constant speed 2 on the angle and the rotation on the sphere; RK4 with 16 steps is within 1e-5 of both.
        using var scope = NewDisposeScope();
        var m = Manifold.Parse("torus:1xsphere:3");
        using var g = new Generator(8);
        var x0 = m.SampleUniform(8, g, float64);
        var rotation = Rotation(float64);
        var field = new VelocityFunction((t, x) => cat([full_like(x[.., ..1], 2.0), rotation.Velocity(t, x[.., 1..])], 1));
        using var s = ManifoldSolvers.Create("rk4", m, 16).Integrate(field, x0, 0, 1);
        var angle = FlatTorus.Wrap(x0[.., ..1] + 2);
        Assert.True(new FlatTorus(1).Distance(s.Final[.., ..1], angle).max().ToDouble() < 1e-12);
        Assert.True((s.Final[.., 1..] - ExactRotation(x0[.., 1..], 1)).abs().max().ToDouble() < 1e-5);
    }

    [Fact]
    public void Backward_integration_returns_to_the_start()
    {
        using var scope = NewDisposeScope();
        var sphere = new Sphere(3);
        var x0 = Starts(float64);
        var solver = ManifoldSolvers.Create("rk4", sphere, 32);
        using var forward = solver.Integrate(Rotation(float64), x0, 0, 1);
        using var back = solver.Integrate(Rotation(float64), forward.Final, 1, 0);
        Assert.True((back.Final - x0).abs().max().ToDouble() < 1e-6);
        Assert.Equal(32 * 4, back.FunctionEvaluations);
    }

    [Fact]
    public void A_non_finite_field_stops_with_the_step_and_time_named()
    {
        using var scope = NewDisposeScope();
        var sphere = new Sphere(3);
        var field = new VelocityFunction((t, x) => t >= 0.5 ? full_like(x, double.NaN) : x.matmul(SkewMatrix(x.dtype).T), "broken field");
        var e = Assert.Throws<IntegrationException>(() => ManifoldSolvers.Create("euler", sphere, 4).Integrate(field, Starts(float64), 0, 1));
        Assert.Contains("broken field", e.Message);
        Assert.Contains("t = 0.5", e.Message);
        Assert.Contains("step 3 of 4", e.Message);
    }

    [Fact]
    public void Bad_names_and_shapes_are_refused()
    {
        using var scope = NewDisposeScope();
        var sphere = new Sphere(3);
        Assert.Equal("solver", Assert.Throws<InvalidSettingException>(() => ManifoldSolvers.Create("dopri5", sphere)).Setting);
        Assert.Throws<InvalidSettingException>(() => ManifoldSolvers.Create("rk4", sphere, 0));
        Assert.Throws<ArgumentException>(() => ManifoldSolvers.Create("rk4", sphere, 4).Integrate(Rotation(float64), zeros(4, 2, dtype: float64), 0, 1));
        Assert.IsAssignableFrom<IOdeSolver>(ManifoldSolvers.Create("geodesic-heun", sphere));
    }
}
