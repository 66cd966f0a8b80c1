using StochasticInterpolants.Fields;
using StochasticInterpolants.Runtime;
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
    /// <summary>
    /// The solution when nothing is integrated: the start itself (a copy), no step and no evaluation — e.g. for a rank of a
    /// data-parallel job whose share of a batch has no rows (an adaptive solver cannot measure an error over no rows).
    /// </summary>
    public static OdeSolution Unmoved(Tensor start) => new(start.clone(), [], [], 0, 0, 0);

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

/// <summary>
/// The ODE solvers by name: euler, heun, midpoint, rk4 (fixed steps) and dopri5 (aliases dopri, dormand-prince; adaptive),
/// matched case-insensitively. Register a builder to add a solver; adding one touches this registry only.
/// </summary>
public static class OdeSolvers
{
    /// <summary>Builds a solver from the fixed step count and the tolerances of adaptive solvers (each uses what it needs).</summary>
    public delegate IOdeSolver Builder(int steps, double rtol, double atol);

    private static readonly NameRegistry<Builder> Builders = BuiltIns();

    private static NameRegistry<Builder> BuiltIns()
    {
        var r = new NameRegistry<Builder>("solver");
        r.Register("euler", (steps, _, _) => new EulerSolver(steps));
        r.Register("heun", (steps, _, _) => new HeunSolver(steps));
        r.Register("midpoint", (steps, _, _) => new MidpointSolver(steps));
        r.Register("rk4", (steps, _, _) => new Rk4Solver(steps));
        r.Register("dopri5", (_, rtol, atol) => new DormandPrince5Solver(rtol, atol), "dopri", "dormand-prince");
        return r;
    }

    /// <summary>The registered solver names (aliases left out), built-in ones first, in registration order.</summary>
    public static IReadOnlyList<string> Names => Builders.Names;

    /// <summary>Registers (or replaces) the solver <paramref name="name"/>, also found under <paramref name="aliases"/> (case-insensitive).</summary>
    public static void Register(string name, Builder build, params string[] aliases) => Builders.Register(name, build, aliases);

    /// <summary>True when <paramref name="name"/> (or an alias) is a registered solver.</summary>
    public static bool Contains(string name) => Builders.Find(name) is not null;

    /// <summary>
    /// Builds the solver <paramref name="name"/>: fixed-step ones use <paramref name="steps"/>, dopri5 the tolerances.
    /// Throws <see cref="ArgumentException"/> naming the known solvers for an unknown name.
    /// </summary>
    public static IOdeSolver Create(string name, int steps = 100, double rtol = 1e-5, double atol = 1e-5)
    {
        var entry = Builders.Find(name) ?? throw new InvalidSettingException("solver", $"unknown solver '{name}' (expected {string.Join(", ", Names)})");
        return entry.Builder(steps, rtol, atol) ?? throw new InvalidOperationException($"the builder of solver '{entry.Name}' returned null");
    }

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
