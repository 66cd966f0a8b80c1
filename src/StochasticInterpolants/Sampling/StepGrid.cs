using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Sampling;

/// <summary>
/// The shared loop of the fixed-step ODE and SDE integrators: N uniform steps from tStart to tEnd, with the grid split at
/// each requested save time so those states are grid values (exact for the scheme, not interpolated), every step's
/// temporaries disposed, progress reported, and every new state checked to be finite: a non-finite value stops the
/// integration with an <see cref="IntegrationException"/> naming the step, the time and the field, never a NaN result.
/// </summary>
internal static class StepGrid
{
    /// <summary>One step from grid point <c>index</c> at time t by h; returns the new state (owned by the caller's scope).</summary>
    public delegate Tensor Stepper(int index, int lastIndex, double t, double h, Tensor state);

    public static (Tensor Final, List<Tensor> Saved) Run(Tensor x, double tStart, double tEnd, int steps, IReadOnlyList<double> saveTimes,
        IProgress<double>? progress, Stepper step, string field, bool differentiable = false)
    {
        var grid = Enumerable.Range(0, steps + 1).Select(k => k == steps ? tEnd : tStart + (tEnd - tStart) * k / steps).ToList();
        foreach (var s in saveTimes) if (!grid.Contains(s)) grid.Add(s);
        grid = tEnd >= tStart ? grid.OrderBy(v => v).ToList() : grid.OrderByDescending(v => v).ToList();
        var saved = new Tensor?[saveTimes.Count];
        // Under no_grad a clone carries no graph; x.detach() would add a handle nobody disposes. A differentiable
        // integration keeps the graph (the disposed C# handles of intermediate states do not free what autograd holds).
        using var mode = differentiable ? enable_grad() : no_grad();
        var state = x.clone();
        try
        {
            Record(grid[0], state);
            for (var k = 0; k + 1 < grid.Count; k++)
            {
                var h = grid[k + 1] - grid[k];
                if (h == 0) continue;
                Tensor next;
                using (var scope = NewDisposeScope())
                    next = step(k, grid.Count - 2, grid[k], h, state).MoveToOuterDisposeScope();
                state.Dispose();
                state = next;
                if (!AllFinite(state))
                    throw new IntegrationException($"the {field} gave non-finite values on the step from t = {grid[k]:G6} to t = {grid[k + 1]:G6} (step {k + 1} of {grid.Count - 1})");
                Record(grid[k + 1], state);
                progress?.Report(Math.Abs(grid[k + 1] - tStart) / Math.Max(Math.Abs(tEnd - tStart), 1e-300));
            }
        }
        catch
        {
            state.Dispose();
            foreach (var s in saved) s?.Dispose();
            throw;
        }
        return (state, saved.Select(s => s!).ToList());

        static bool AllFinite(Tensor value)
        {
            using var finite = value.isfinite();
            using var all = finite.all();
            return all.ToBoolean();
        }

        void Record(double t, Tensor value)
        {
            for (var i = 0; i < saveTimes.Count; i++)
                if (saveTimes[i] == t && saved[i] is null) saved[i] = value.clone();
        }
    }
}
