using StochasticInterpolants.Runtime;
using static TorchSharp.torch;

namespace StochasticInterpolants.Training;

/// <summary>Everything about one network that a resumed run needs: weights, moving average, optimiser moments.</summary>
/// <param name="Weights">Last-iterate parameters by name.</param>
/// <param name="Ema">Moving-average parameters by name, or null when EMA is off.</param>
/// <param name="Optimizer">Adam moments by name (see <see cref="AdamOptimizer.State"/>).</param>
/// <param name="OptimizerSteps">Adam's step count k.</param>
/// <param name="Best">The weights model selection keeps so far, or null without model selection (or before the first validation).</param>
public sealed record NetworkTrainingState(
    IReadOnlyDictionary<string, Tensor> Weights,
    IReadOnlyDictionary<string, Tensor>? Ema,
    IReadOnlyDictionary<string, Tensor> Optimizer,
    long OptimizerSteps,
    IReadOnlyDictionary<string, Tensor>? Best = null)
{
    /// <summary>Disposes every tensor (only for states that own their tensors, e.g. loaded from disk).</summary>
    public void DisposeTensors()
    {
        foreach (var t in Weights.Values.Concat(Ema?.Values ?? []).Concat(Optimizer.Values).Concat(Best?.Values ?? [])) t.Dispose();
    }
}

/// <summary>The bookkeeping of the training loop at a step boundary (loss-log window, smoothed loss, elapsed time, log so far).</summary>
/// <param name="Step">Steps completed.</param>
/// <param name="ElapsedSeconds">Training wall time up to this step, over all sessions.</param>
/// <param name="WindowSum">Sum of step losses in the open log window.</param>
/// <param name="WindowCount">Steps in the open log window.</param>
/// <param name="PartSums">Per-network loss sums in the open window.</param>
/// <param name="Smoothed">Exponentially smoothed loss (display only); NaN before the first step.</param>
/// <param name="LastWindowMean">Mean loss of the last closed window; NaN before the first.</param>
/// <param name="Log">The loss-log rows closed so far.</param>
/// <param name="Selection">Model selection's state, or null without it.</param>
/// <param name="Processes">Processes of the data-parallel job that reached this state (1 for one process and older snapshots).</param>
/// <param name="Coupling">How the coupling's solves went so far, for a coupling that counts them (Sinkhorn); null otherwise
/// and in older snapshots.</param>
public sealed record TrainingLoopState(
    int Step,
    double ElapsedSeconds,
    double WindowSum,
    int WindowCount,
    IReadOnlyList<double> PartSums,
    double Smoothed,
    double LastWindowMean,
    IReadOnlyList<LossLogEntry> Log,
    SelectionState? Selection = null,
    int Processes = 1,
    Couplings.CouplingConvergence? Coupling = null);

/// <summary>
/// A complete snapshot of a training run between two steps: with it, <see cref="Trainer.RunAll"/> continues exactly where
/// the run stopped, producing bit for bit the weights an uninterrupted run would (same machine, same thread count).
/// Random state is the state of the single generator every batch is drawn from.
/// </summary>
/// <param name="Loop">Loop bookkeeping.</param>
/// <param name="GeneratorState">The training generator's state (<c>Generator.get_state</c> bytes).</param>
/// <param name="Networks">Per network, in the trainer's order.</param>
public sealed record TrainingState(TrainingLoopState Loop, byte[] GeneratorState, IReadOnlyList<NetworkTrainingState> Networks)
{
    /// <summary>Disposes every tensor of the snapshot (only for snapshots that own their tensors, e.g. loaded from disk).</summary>
    public void DisposeTensors()
    {
        foreach (var n in Networks) n.DisposeTensors();
    }
}

/// <summary>Where a trainer writes its periodic snapshots (e.g. a folder on disk; see <c>Checkpoints.TrainingStateFolder</c>).</summary>
public interface ITrainingStateStore
{
    /// <summary>
    /// Persists <paramref name="state"/> durably and atomically: after a crash at any moment, the store holds either this
    /// snapshot or the previous one, whole. The tensors are live views: write them before returning; do not keep them.
    /// </summary>
    void Save(TrainingState state);

    /// <summary>Where snapshots go, for messages (e.g. a folder path).</summary>
    string Location { get; }
}

/// <summary>How often, and where, a trainer saves snapshots.</summary>
/// <param name="Store">Destination.</param>
/// <param name="Every">Steps between snapshots (a snapshot is also written on cancellation).</param>
public sealed record TrainingCheckpointing(ITrainingStateStore Store, int Every)
{
    /// <summary>Checks <see cref="Every"/>.</summary>
    public void Validate()
    {
        if (Every < 1) throw new InvalidSettingException("checkpoint-every", $"snapshot interval must be >= 1, got {Every}");
    }
}
