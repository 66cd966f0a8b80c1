using StochasticInterpolants.Fields;
using StochasticInterpolants.Manifolds;
using StochasticInterpolants.Runtime;
using static TorchSharp.torch;

namespace StochasticInterpolants.Sampling;

/// <summary>
/// Fixed-step solvers of dX/dt = P_X b(t, X) that stay on a manifold (docs/theory.md §15.5). Each step is an explicit Runge–Kutta
/// step in the normal coordinates centred at the current point x: the ODE pulled back by v -> exp_x(v) is
/// v' = F(v) = (D exp_x(v))^{-1} P b(t, exp_x(v)), v(0) = 0, so a stage at exp_x(v) has its velocity carried to T_x by
/// <see cref="IManifold.InverseExpDifferential"/>, the stages combine in T_x, and x_{k+1} = exp_x(v). The chart is smooth for
/// |v| below the injectivity radius, so each scheme keeps the order it has in R^d (measured in the tests: 1, 2, 2, 4), with
/// no Munthe-Kaas or Crouch–Grossman corrections. Carrying a stage back by the projection P_x instead would cost order: on the
/// sphere P_x D exp_x(v) = I + O(|v|^2), which leaves an O(h^3) local error and global order 2 for any scheme. After every
/// step <see cref="IManifold.ProjectToManifold"/> removes rounding drift; a non-finite state stops the integration with an
/// <see cref="IntegrationException"/> naming the step and the time, as the other solvers do. The state has shape
/// [n, D], D the manifold's coordinate width; the start must lie on the manifold (it is not moved onto it).
/// </summary>
public abstract class ManifoldRungeKuttaSolver : IOdeSolver
{
    /// <summary>A solver on <paramref name="manifold"/> taking <paramref name="steps"/> uniform steps.</summary>
    protected ManifoldRungeKuttaSolver(IManifold manifold, int steps)
    {
        ArgumentNullException.ThrowIfNull(manifold);
        if (steps < 1 || steps > 1_000_000) throw new InvalidSettingException("solver-steps", $"solver steps must be in 1..1000000, got {steps}");
        Manifold = manifold;
        StepCount = steps;
    }

    /// <summary>The manifold the states stay on.</summary>
    public IManifold Manifold { get; }
    /// <summary>Number of uniform steps.</summary>
    public int StepCount { get; }
    /// <inheritdoc />
    public abstract string Name { get; }
    /// <summary>Evaluations of b per step.</summary>
    public abstract int EvaluationsPerStep { get; }

    /// <summary>The increment v in T_x of one step of size <paramref name="h"/> from (t, x); the step ends at exp_x(v).</summary>
    protected abstract Tensor Increment(IVelocityField field, double t, double h, Tensor x);

    /// <summary>The tangent velocity at x: P_x b(t, x).</summary>
    protected Tensor Tangent(IVelocityField field, double t, Tensor x) => Manifold.ProjectToTangent(x, field.Velocity(t, x));

    /// <summary>
    /// The velocity of the pulled-back ODE at the stage v in T_x: (D exp_x(v))^{-1} P_y b(t, y), y = exp_x(v) (v = 0 gives P_x b(t, x)).
    /// </summary>
    protected Tensor Stage(IVelocityField field, double t, Tensor x, Tensor v)
    {
        var y = Manifold.Exp(x, v);
        return Manifold.InverseExpDifferential(x, v, Tangent(field, t, y));
    }

    /// <inheritdoc />
    public OdeSolution Integrate(IVelocityField field, Tensor x, double tStart, double tEnd, OdeOptions? options = null)
    {
        OdeSolvers.Validate(x, tStart, tEnd, options?.SaveTimes);
        if (x.dim() != 2 || x.shape[1] != Manifold.CoordinateDimension)
            throw new ArgumentException($"{Name} on {Manifold.Name}: the state must have shape [n, {Manifold.CoordinateDimension}], got [{string.Join(", ", x.shape)}]");
        var saveTimes = options?.SaveTimes ?? [];
        var nfe = 0; var taken = 0;
        var (final, saved) = StepGrid.Run(x, tStart, tEnd, StepCount, saveTimes, options?.Progress, (_, _, t, h, state) =>
        {
            nfe += EvaluationsPerStep; taken++;
            return Manifold.ProjectToManifold(Manifold.Exp(state, Increment(field, t, h, state)));
        }, field.Description, options?.Differentiable ?? false);
        return new OdeSolution(final, saveTimes.ToList(), saved, nfe, taken, 0);
    }
}

/// <summary>Geodesic Euler: x_{k+1} = exp_x(h P_x b(t_k, x)). First order, 1 evaluation per step; exact when the flow lines are geodesics traversed at constant speed.</summary>
public sealed class GeodesicEulerSolver(IManifold manifold, int steps) : ManifoldRungeKuttaSolver(manifold, steps)
{
    /// <inheritdoc />
    public override string Name => "geodesic-euler";
    /// <inheritdoc />
    public override int EvaluationsPerStep => 1;
    /// <inheritdoc />
    protected override Tensor Increment(IVelocityField field, double t, double h, Tensor x) => TensorOps.Scale(h, Tangent(field, t, x));
}

/// <summary>
/// Exponential-map midpoint: k1 = P_x b(t, x), k2 = F(h/2 k1) at t + h/2 (the stage at exp_x(h/2 k1) carried to T_x), and
/// x_{k+1} = exp_x(h k2). Second order, 2 evaluations per step.
/// </summary>
public sealed class GeodesicMidpointSolver(IManifold manifold, int steps) : ManifoldRungeKuttaSolver(manifold, steps)
{
    /// <inheritdoc />
    public override string Name => "geodesic-midpoint";
    /// <inheritdoc />
    public override int EvaluationsPerStep => 2;
    /// <inheritdoc />
    protected override Tensor Increment(IVelocityField field, double t, double h, Tensor x)
    {
        var k1 = Tangent(field, t, x);
        return TensorOps.Scale(h, Stage(field, t + h / 2, x, TensorOps.Scale(h / 2, k1)));
    }
}

/// <summary>
/// Exponential-map Heun: k1 = P_x b(t, x), k2 = F(h k1) at t + h, x_{k+1} = exp_x((h/2)(k1 + k2)). Second order, 2 evaluations per step.
/// </summary>
public sealed class GeodesicHeunSolver(IManifold manifold, int steps) : ManifoldRungeKuttaSolver(manifold, steps)
{
    /// <inheritdoc />
    public override string Name => "geodesic-heun";
    /// <inheritdoc />
    public override int EvaluationsPerStep => 2;
    /// <inheritdoc />
    protected override Tensor Increment(IVelocityField field, double t, double h, Tensor x)
    {
        var k1 = Tangent(field, t, x);
        var k2 = Stage(field, t + h, x, TensorOps.Scale(h, k1));
        return TensorOps.Scale(h / 2, k1 + k2);
    }
}

/// <summary>
/// Exponential-map RK4: the classical stages in the normal coordinates at x — k1 = P_x b(t, x), k2 = F(h/2 k1), k3 = F(h/2 k2)
/// at t + h/2, k4 = F(h k3) at t + h, each stage evaluated at exp_x(c h k) and carried to T_x — and
/// x_{k+1} = exp_x((h/6)(k1 + 2 k2 + 2 k3 + k4)). Fourth order, 4 evaluations per step.
/// </summary>
public sealed class GeodesicRk4Solver(IManifold manifold, int steps) : ManifoldRungeKuttaSolver(manifold, steps)
{
    /// <inheritdoc />
    public override string Name => "geodesic-rk4";
    /// <inheritdoc />
    public override int EvaluationsPerStep => 4;
    /// <inheritdoc />
    protected override Tensor Increment(IVelocityField field, double t, double h, Tensor x)
    {
        var k1 = Tangent(field, t, x);
        var k2 = Stage(field, t + h / 2, x, TensorOps.Scale(h / 2, k1));
        var k3 = Stage(field, t + h / 2, x, TensorOps.Scale(h / 2, k2));
        var k4 = Stage(field, t + h, x, TensorOps.Scale(h, k3));
        var sum = TensorOps.Axpy(k1, 2, k2);
        TensorOps.AxpyInPlace(sum, 2, k3);
        TensorOps.AxpyInPlace(sum, 1, k4);
        return TensorOps.Scale(h / 6, sum);
    }
}

/// <summary>The manifold solvers by name: geodesic-euler, geodesic-midpoint, geodesic-heun, geodesic-rk4 (also euler, midpoint, heun, rk4).</summary>
public static class ManifoldSolvers
{
    /// <summary>The solver names.</summary>
    public static IReadOnlyList<string> Names { get; } = ["geodesic-euler", "geodesic-midpoint", "geodesic-heun", "geodesic-rk4"];

    /// <summary>
    /// Builds the solver <paramref name="name"/> on <paramref name="manifold"/> with <paramref name="steps"/> steps; the plain
    /// names (euler, midpoint, heun, rk4) map to their geodesic versions. Throws <see cref="InvalidSettingException"/> otherwise.
    /// </summary>
    public static ManifoldRungeKuttaSolver Create(string name, IManifold manifold, int steps = 100)
    {
        var key = (name ?? "").Trim().ToLowerInvariant();
        if (key.StartsWith("geodesic-", StringComparison.Ordinal)) key = key["geodesic-".Length..];
        return key switch
        {
            "euler" => new GeodesicEulerSolver(manifold, steps),
            "midpoint" => new GeodesicMidpointSolver(manifold, steps),
            "heun" => new GeodesicHeunSolver(manifold, steps),
            "rk4" => new GeodesicRk4Solver(manifold, steps),
            _ => throw new InvalidSettingException("solver", $"unknown manifold solver '{name}' (expected {string.Join(", ", Names)})"),
        };
    }

    /// <summary>
    /// The solver on <paramref name="manifold"/> that matches <paramref name="solver"/>: a fixed-step Runge–Kutta method
    /// (euler, midpoint, heun, rk4) becomes its geodesic version with the same steps (a geodesic solver is rebuilt on
    /// <paramref name="manifold"/>). An adaptive solver is refused: its straight-line stages and error estimate leave the manifold.
    /// </summary>
    public static ManifoldRungeKuttaSolver Matching(IOdeSolver solver, IManifold manifold) => solver switch
    {
        ManifoldRungeKuttaSolver m => m.Manifold.Name == manifold.Name ? m : Create(m.Name, manifold, m.StepCount),
        FixedStepSolver f => Create(f.Name, manifold, f.StepCount),
        _ => throw new InvalidSettingException("solver", $"the {solver.Name} solver steps along straight lines, which leave {manifold.Name}: on a manifold use euler, midpoint, heun or rk4 (taken as geodesic steps)"),
    };
}
