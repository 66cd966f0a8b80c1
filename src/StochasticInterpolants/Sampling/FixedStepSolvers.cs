using StochasticInterpolants.Fields;
using StochasticInterpolants.Runtime;
using static TorchSharp.torch;

namespace StochasticInterpolants.Sampling;

/// <summary>
/// Shared loop of the fixed-step Runge–Kutta solvers: N uniform steps from tStart to tEnd, with the grid split at any
/// requested save time so those states are exact grid values rather than interpolations.
/// </summary>
public abstract class FixedStepSolver : IOdeSolver
{
    /// <summary>Creates a solver taking <paramref name="steps"/> uniform steps.</summary>
    protected FixedStepSolver(int steps)
    {
        if (steps < 1 || steps > 1_000_000) throw new InvalidSettingException("solver-steps", $"solver steps must be in 1..1000000, got {steps}");
        StepCount = steps;
    }

    /// <inheritdoc />
    public abstract string Name { get; }
    /// <summary>Number of uniform steps.</summary>
    public int StepCount { get; }
    /// <summary>Evaluations of b per step.</summary>
    public abstract int EvaluationsPerStep { get; }

    /// <summary>One step of size <paramref name="h"/> (negative when integrating backward) from (t, x).</summary>
    protected abstract Tensor Step(IVelocityField field, double t, double h, Tensor x);

    /// <inheritdoc />
    public OdeSolution Integrate(IVelocityField field, Tensor x, double tStart, double tEnd, OdeOptions? options = null)
    {
        OdeSolvers.Validate(x, tStart, tEnd, options?.SaveTimes);
        var saveTimes = options?.SaveTimes ?? [];
        // Count the steps actually taken: splitting the grid at save times adds steps (and evaluations).
        var nfe = 0; var taken = 0;
        var (final, saved) = StepGrid.Run(x, tStart, tEnd, StepCount, saveTimes, options?.Progress, (_, _, t, h, state) =>
        {
            nfe += EvaluationsPerStep; taken++;
            return Step(field, t, h, state);
        }, field.Description, options?.Differentiable ?? false);
        return new OdeSolution(final, saveTimes.ToList(), saved, nfe, taken, 0);
    }
}

/// <summary>Forward Euler: X_{k+1} = X_k + h b(t_k, X_k). First order, 1 evaluation per step.</summary>
public sealed class EulerSolver(int steps) : FixedStepSolver(steps)
{
    /// <inheritdoc />
    public override string Name => "euler";
    /// <inheritdoc />
    public override int EvaluationsPerStep => 1;
    /// <inheritdoc />
    protected override Tensor Step(IVelocityField field, double t, double h, Tensor x) => TensorOps.Axpy(x, h, field.Velocity(t, x));
}

/// <summary>
/// Heun (explicit trapezoid): k1 = b(t, X), k2 = b(t + h, X + h k1), X + (h / 2)(k1 + k2). Second order, 2 evaluations per step.
/// </summary>
public sealed class HeunSolver(int steps) : FixedStepSolver(steps)
{
    /// <inheritdoc />
    public override string Name => "heun";
    /// <inheritdoc />
    public override int EvaluationsPerStep => 2;
    /// <inheritdoc />
    protected override Tensor Step(IVelocityField field, double t, double h, Tensor x)
    {
        var k1 = field.Velocity(t, x);
        var k2 = field.Velocity(t + h, TensorOps.Axpy(x, h, k1));
        return TensorOps.AxpyInPlace(TensorOps.Axpy(x, h / 2, k1), h / 2, k2);
    }
}

/// <summary>Explicit midpoint: k1 = b(t, X), k2 = b(t + h/2, X + (h/2) k1), X + h k2. Second order, 2 evaluations per step.</summary>
public sealed class MidpointSolver(int steps) : FixedStepSolver(steps)
{
    /// <inheritdoc />
    public override string Name => "midpoint";
    /// <inheritdoc />
    public override int EvaluationsPerStep => 2;
    /// <inheritdoc />
    protected override Tensor Step(IVelocityField field, double t, double h, Tensor x)
    {
        var k1 = field.Velocity(t, x);
        return TensorOps.Axpy(x, h, field.Velocity(t + h / 2, TensorOps.Axpy(x, h / 2, k1)));
    }
}

/// <summary>Classical fourth-order Runge–Kutta: X + (h/6)(k1 + 2 k2 + 2 k3 + k4). 4 evaluations per step.</summary>
public sealed class Rk4Solver(int steps) : FixedStepSolver(steps)
{
    /// <inheritdoc />
    public override string Name => "rk4";
    /// <inheritdoc />
    public override int EvaluationsPerStep => 4;
    /// <inheritdoc />
    protected override Tensor Step(IVelocityField field, double t, double h, Tensor x)
    {
        var k1 = field.Velocity(t, x);
        var k2 = field.Velocity(t + h / 2, TensorOps.Axpy(x, h / 2, k1));
        var k3 = field.Velocity(t + h / 2, TensorOps.Axpy(x, h / 2, k2));
        var k4 = field.Velocity(t + h, TensorOps.Axpy(x, h, k3));
        // x + h/6 (k1 + 2 k2 + 2 k3 + k4), accumulated in place in one new tensor.
        var sum = TensorOps.Axpy(k1, 2, k2);
        TensorOps.AxpyInPlace(sum, 2, k3);
        TensorOps.AxpyInPlace(sum, 1, k4);
        return TensorOps.Axpy(x, h / 6, sum);
    }
}
