using StochasticInterpolants.Fields;
using static TorchSharp.torch;

namespace StochasticInterpolants.Sampling;

/// <summary>Options of an ODE integration.</summary>
/// <param name="SaveTimes">Times at which to record the state (hit exactly); each must lie between the start and end times.</param>
/// <param name="Progress">Receives the fraction of the time interval covered, in [0, 1].</param>
/// <param name="Differentiable">Keep the autograd graph through every step (fixed-step solvers only), so a loss on the
/// result can be differentiated with respect to the field's parameters; the default runs without autograd.</param>
public sealed record OdeOptions(IReadOnlyList<double>? SaveTimes = null, IProgress<double>? Progress = null, bool Differentiable = false);

/// <summary>The result of integrating dX/dt = b(t, X).</summary>
/// <param name="Final">The state at the end time.</param>
/// <param name="Times">The save times, in the order requested.</param>
/// <param name="Trajectory">The state at each save time (same order as <paramref name="Times"/>).</param>
/// <param name="FunctionEvaluations">Evaluations of b (NFE), counting one per batch evaluation.</param>
/// <param name="Steps">Accepted steps; for fixed-step solvers this includes the extra steps made by splitting the grid at save times.</param>
/// <param name="RejectedSteps">Rejected steps (adaptive solvers only).</param>
public sealed record OdeSolution(Tensor Final, IReadOnlyList<double> Times, IReadOnlyList<Tensor> Trajectory,
    int FunctionEvaluations, int Steps, int RejectedSteps) : IDisposable
{
    /// <summary>Disposes the final state and the trajectory.</summary>
    public void Dispose()
    {
        Final.Dispose();
        foreach (var x in Trajectory) x.Dispose();
    }
}

/// <summary>
/// A solver of the probability-flow ODE dX/dt = b(t, X) on batches of any shape [n, ...], forward (tStart &lt; tEnd, base to target)
/// or backward (tStart &gt; tEnd, target to base). Runs without autograd; every step's temporaries are disposed.
/// </summary>
public interface IOdeSolver
{
    /// <summary>The solver's name (euler, heun, midpoint, rk4, dopri5).</summary>
    string Name { get; }

    /// <summary>Integrates from X(tStart) = <paramref name="x"/> to tEnd. The input is not modified.</summary>
    OdeSolution Integrate(IVelocityField field, Tensor x, double tStart, double tEnd, OdeOptions? options = null);
}

/// <summary>Creates solvers by name.</summary>
public static class OdeSolvers
{
    /// <summary>The solver names <see cref="Create"/> knows.</summary>
    public static IReadOnlyList<string> Names { get; } = ["euler", "heun", "midpoint", "rk4", "dopri5"];

    /// <summary>Builds the solver <paramref name="name"/>: fixed-step ones use <paramref name="steps"/>, dopri5 the tolerances.</summary>
    public static IOdeSolver Create(string name, int steps = 100, double rtol = 1e-5, double atol = 1e-5) => name.Trim().ToLowerInvariant() switch
    {
        "euler" => new EulerSolver(steps),
        "heun" => new HeunSolver(steps),
        "midpoint" => new MidpointSolver(steps),
        "rk4" => new Rk4Solver(steps),
        "dopri5" or "dopri" or "dormand-prince" => new DormandPrince5Solver(rtol, atol),
        _ => throw new ArgumentException($"unknown solver '{name}' (expected {string.Join(", ", Names)})"),
    };

    internal static void Validate(Tensor x, double tStart, double tEnd, IReadOnlyList<double>? saveTimes)
    {
        if (x.dim() < 1) throw new ArgumentException("the ODE state must have a batch axis [n, ...], got a single number");
        if (!(tStart >= 0 && tStart <= 1 && tEnd >= 0 && tEnd <= 1)) throw new ArgumentException($"integration times must lie in [0, 1], got {tStart} -> {tEnd}");
        if (saveTimes is null) return;
        var lo = Math.Min(tStart, tEnd); var hi = Math.Max(tStart, tEnd);
        foreach (var s in saveTimes)
            if (!(s >= lo && s <= hi)) throw new ArgumentException($"save time {s} lies outside the integration interval [{lo}, {hi}]");
    }
}

/// <summary>Raised when an integration cannot be completed (step limit reached, non-finite field values); the message names the time and the field.</summary>
public sealed class IntegrationException(string message) : Exception(message);
