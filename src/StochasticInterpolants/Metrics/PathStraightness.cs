using StochasticInterpolants.Fields;
using StochasticInterpolants.Runtime;
using StochasticInterpolants.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Metrics;

/// <summary>The straightness of a flow's paths and its two terms (docs/theory.md §12.5).</summary>
/// <param name="Straightness">S = <see cref="MeanSquaredDisplacement"/> / ((t1 - t0) <see cref="MeanKineticEnergy"/>), in [0, 1].</param>
/// <param name="MeanSquaredDisplacement">mean over the points of |X_{t1} - X_{t0}|^2.</param>
/// <param name="MeanKineticEnergy">mean over the points of the integral over [t0, t1] of |b(t, X_t)|^2 dt.</param>
/// <param name="Points">Paths averaged over.</param>
/// <param name="Steps">RK4 steps taken.</param>
/// <param name="Start">t0.</param>
/// <param name="End">t1.</param>
public sealed record StraightnessResult(double Straightness, double MeanSquaredDisplacement, double MeanKineticEnergy, int Points, int Steps,
    double Start, double End);

/// <summary>
/// How straight the paths of the ODE dX/dt = b(t, X) are: S = E|X_{t1} - X_{t0}|^2 / ((t1 - t0) E int_{t0}^{t1} |b(t, X_t)|^2 dt),
/// the expectations over the start points. By Cauchy–Schwarz |int b dt|^2 &lt;= (t1 - t0) int |b|^2 dt for every path, so
/// S &lt;= 1, with equality exactly when every path moves at constant velocity (a straight line at constant speed); on
/// [0, 1] the denominator is the kinetic energy the flow spends, the numerator the least it could.
/// </summary>
public static class PathStraightness
{
    /// <summary>
    /// Integrates dX/dt = b(t, X) from X_{t0} = <paramref name="x0"/> with <paramref name="steps"/> classical RK4 steps of
    /// h = (t1 - t0) / N and accumulates the energy as RK4 would on the augmented ODE dE/dt = |b(t, X)|^2: per step
    /// E += (h / 6)(|k1|^2 + 2|k2|^2 + 2|k3|^2 + |k4|^2) with the stages k_i of the state's own step. With these
    /// weights (positive, summing to h) the displacement sum_i w_i k_i obeys the discrete Cauchy–Schwarz
    /// |sum w_i k_i|^2 &lt;= (sum w_i)(sum w_i |k_i|^2), so the computed S is at most 1 for any field and any N (up to
    /// rounding), not only in the limit. Norms are summed in float64; the field is evaluated in x0's dtype, without autograd.
    /// </summary>
    /// <param name="field">The velocity b (exact, or a network's).</param>
    /// <param name="x0">Start points [n, ...] at time <paramref name="tStart"/> (not modified).</param>
    /// <param name="steps">RK4 steps N.</param>
    /// <param name="tStart">t0 (the base end of the flow; 0 unless the field is undefined there).</param>
    /// <param name="tEnd">t1 &gt; t0.</param>
    /// <exception cref="IntegrationException">The field gave a non-finite value (the message names the time and stage).</exception>
    public static StraightnessResult Measure(IVelocityField field, Tensor x0, int steps = 100, double tStart = 0, double tEnd = 1)
    {
        if (steps < 1 || steps > 1_000_000) throw new InvalidSettingException("straightness-steps", $"steps must be in 1..1000000, got {steps}");
        if (!(tStart >= 0 && tEnd <= 1 && tStart < tEnd)) throw new ArgumentException($"the straightness interval must satisfy 0 <= t0 < t1 <= 1, got {tStart} -> {tEnd}");
        if (x0.dim() < 1 || x0.shape[0] < 1) throw new ArgumentException("the start points must be a non-empty batch [n, ...]");
        var n = (int)x0.shape[0];
        using var mode = no_grad();
        using var outer = NewDisposeScope();
        var state = x0.clone();
        var energy = zeros(n, dtype: float64, device: x0.device);
        var span = tEnd - tStart;
        for (var k = 0; k < steps; k++)
        {
            // Grid points as t0 + span k / N (not repeated additions of h), so the last one is t1 exactly.
            var t = tStart + span * k / steps;
            var h = (k + 1 == steps ? tEnd : tStart + span * (k + 1) / steps) - t;
            using var scope = NewDisposeScope();
            var k1 = Stage(field, t, state, k, 1);
            var k2 = Stage(field, t + h / 2, TensorOps.Axpy(state, h / 2, k1), k, 2);
            var k3 = Stage(field, t + h / 2, TensorOps.Axpy(state, h / 2, k2), k, 3);
            var k4 = Stage(field, t + h, TensorOps.Axpy(state, h, k3), k, 4);
            var sum = TensorOps.Axpy(k1, 2, k2);
            TensorOps.AxpyInPlace(sum, 2, k3);
            TensorOps.AxpyInPlace(sum, 1, k4);
            var next = TensorOps.Axpy(state, h / 6, sum);
            var squares = RowSquares(k1);
            TensorOps.AxpyInPlace(squares, 2, RowSquares(k2));
            TensorOps.AxpyInPlace(squares, 2, RowSquares(k3));
            TensorOps.AxpyInPlace(squares, 1, RowSquares(k4));
            TensorOps.AxpyInPlace(energy, h / 6, squares);
            // Only the current state is kept: the previous one goes now, not with the outer scope, so memory stays flat in N.
            var previous = state;
            state = next.MoveToOuterDisposeScope();
            previous.Dispose();
        }
        var displacement = RowSquares(state - x0).mean().ToDouble();
        var kinetic = energy.mean().ToDouble();
        if (!double.IsFinite(displacement) || !double.IsFinite(kinetic))
            throw new IntegrationException($"the straightness of the {field.Description} over [{tStart:G6}, {tEnd:G6}] overflowed: mean |X1 - X0|^2 = {displacement}, mean energy = {kinetic}");
        if (kinetic <= 0)
            throw new ArgumentException($"the {field.Description} is zero along every path over [{tStart:G6}, {tEnd:G6}]: the paths do not move, so their straightness is undefined");
        return new StraightnessResult(displacement / (span * kinetic), displacement, kinetic, n, steps, tStart, tEnd);
    }

    // b at one RK4 stage, refused when not finite: the message names the time, the step and the stage where it arose.
    private static Tensor Stage(IVelocityField field, double t, Tensor x, int step, int stage)
    {
        var v = field.Velocity(t, x);
        using var finite = v.isfinite();
        using var all = finite.all();
        if (!all.ToBoolean())
            throw new IntegrationException($"the {field.Description} gave non-finite values at t = {t:G6} (RK4 stage {stage} of step {step + 1}) while measuring path straightness");
        return v;
    }

    // |v|^2 per row, summed in float64: [n].
    private static Tensor RowSquares(Tensor v)
    {
        using var wide = v.to(float64);
        using var flat = wide.reshape(wide.shape[0], -1);
        using var squared = flat.square();
        return squared.sum([1]);
    }
}
