using StochasticInterpolants.Models;
using static TorchSharp.torch;

namespace StochasticInterpolants.Sampling;

/// <summary>
/// Few-step sampling with a learned flow map (docs/theory.md §14.1): N jumps on the uniform grid t_k = start + k (end - start) / N,
/// x_{k+1} = X_{t_k, t_{k+1}}(x_k) = x_k + (t_{k+1} - t_k) v(t_k, t_{k+1}, x_k), one network evaluation per jump (two under
/// guidance: wrap the network in <see cref="GuidedNetwork"/>). Every state is checked to be finite: a non-finite jump stops
/// with an <see cref="IntegrationException"/> naming the jump and its times.
/// </summary>
public static class FlowMapSampler
{
    /// <summary>The most jumps a sampling may take (beyond it an ODE solver on the diagonal velocity is the better tool).</summary>
    public const int MaxJumps = 10_000;

    /// <summary>
    /// Carries <paramref name="x"/> (samples at <paramref name="start"/>) to <paramref name="end"/> in <paramref name="jumps"/> jumps of
    /// <paramref name="map"/> with the per-row <paramref name="condition"/>; returns the final state. With <paramref name="states"/>
    /// given, every grid state (the start included, jumps + 1 in all) is appended to it as a copy the caller disposes.
    /// </summary>
    public static Tensor Sample(ITwoTimeNetwork map, Tensor x, int jumps, Tensor? condition = null, double start = 0, double end = 1,
        IList<Tensor>? states = null, IProgress<double>? progress = null)
    {
        if (jumps < 1 || jumps > MaxJumps) throw new ArgumentOutOfRangeException(nameof(jumps), jumps, $"the number of jumps must be in 1..{MaxJumps}");
        if (!(start >= 0 && end <= 1 && start < end)) throw new ArgumentException($"jumps run forward within [0, 1]; got {start} to {end}");
        _ = FlowMaps.Require(map, "sampling by jumps");
        var grid = Enumerable.Range(0, jumps + 1).Select(k => k == jumps ? end : start + (end - start) * k / jumps).ToList();
        var (final, saved) = StepGrid.Run(x, start, end, jumps, states is null ? [] : grid, progress,
            (_, _, t, h, state) => map.Jump(state, t, t + h, condition), "flow map");
        foreach (var s in saved) states!.Add(s);
        return final;
    }
}
