using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Couplings;
using StochasticInterpolants.Distributed;
using StochasticInterpolants.Files;
using StochasticInterpolants.Models;
using StochasticInterpolants.Runtime;
using StochasticInterpolants.Training;
using StochasticInterpolants.Validation;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Runs;

/// <summary>
/// Runs a whole training job: builds the densities, interpolant, coupling, objective and network from a
/// <see cref="TrainingRunConfig"/>, trains, and writes <c>loss.csv</c>, <c>loss.png</c>, <c>config.json</c> and the checkpoint into
/// the output folder. The CLI's <c>si train</c> is a thin layer over this.
/// <para>
/// In a data-parallel job (docs/theory.md §13) every process calls the same method with the same configuration; rank 0
/// alone locks, prepares and writes the folder (snapshots, loss log, checkpoint, figures) and reports progress. The other
/// ranks only read: the data, and on resume the snapshot, which holds everything every rank needs (all ranks hold the same
/// weights, moments and generator state), so the folder must be on a file system every host sees.
/// </para>
/// </summary>
public static class TrainingRun
{
    /// <summary>Name of the loss log written into the output folder.</summary>
    public const string LossLogFileName = "loss.csv";

    /// <summary>
    /// Trains according to <paramref name="config"/> and writes the results into <paramref name="outputFolder"/>, saving a
    /// resumable snapshot every <see cref="TrainingRunConfig.CheckpointEvery"/> steps (see <see cref="Resume"/>).
    /// A folder that already holds a training run is refused unless <paramref name="overwrite"/>.
    /// </summary>
    public static TrainingRunResult Execute(TrainingRunConfig config, string outputFolder, IProgress<TrainingProgress>? progress = null,
        CancellationToken cancellation = default, bool overwrite = false, IProcessGroup? processes = null)
    {
        processes ??= SingleProcess.Instance;
        var pieces = RunPieces.Build(config); // before touching the folder: a bad config leaves it as it was
        try
        {
            using var folderLock = processes.Rank == 0 ? OutputFolder.LockForTraining(outputFolder) : null;
            if (processes.Rank == 0) OutputFolder.PrepareForRun(outputFolder, overwrite);
            return Run(config, pieces, outputFolder, null, progress, cancellation, processes);
        }
        finally { pieces.Release(); }
    }

    /// <summary>
    /// Continues the run whose snapshot is in <paramref name="outputFolder"/> (after a crash, a kill or Ctrl-C) with the
    /// configuration stored in it. The result equals, bit for bit on the same machine and thread count, the run that was
    /// never interrupted.
    /// </summary>
    public static TrainingRunResult Resume(string outputFolder, IProgress<TrainingProgress>? progress = null, CancellationToken cancellation = default,
        IProcessGroup? processes = null)
    {
        processes ??= SingleProcess.Instance;
        if (!Directory.Exists(outputFolder)) throw new CheckpointException($"folder '{outputFolder}' does not exist");
        using var folderLock = processes.Rank == 0 ? OutputFolder.LockForTraining(outputFolder) : null;
        RefuseFinishedRun(outputFolder);
        var (state, configJson) = TrainingStateFolder.Load(outputFolder);
        try
        {
            var config = StoredConfig(outputFolder, configJson);
            var pieces = RunPieces.Build(config);
            try { return Run(config, pieces, outputFolder, state, progress, cancellation, processes); }
            finally { pieces.Release(); }
        }
        finally { state.DisposeTensors(); }
    }


    /// <summary>
    /// Reads the configuration a resumable run in <paramref name="outputFolder"/> would continue with (only its
    /// <c>state.json</c>: the weights are read and checked by <see cref="Resume"/>). In a data-parallel job, only rank 0 checks
    /// that no other process trains in the folder.
    /// </summary>
    public static TrainingRunConfig ResumableConfig(string outputFolder, IProcessGroup? processes = null)
    {
        // Busy folders first; in a data-parallel job only rank 0 probes the lock (the others must not touch it: rank 0 may hold it).
        if ((processes?.Rank ?? 0) == 0 && Directory.Exists(outputFolder)) using (OutputFolder.LockForTraining(outputFolder)) { }
        RefuseFinishedRun(outputFolder);
        return StoredConfig(outputFolder, TrainingStateFolder.ReadConfig(outputFolder));
    }

    /// <summary>
    /// What resuming the run in <paramref name="outputFolder"/> with <paramref name="processes"/> processes means when its
    /// snapshot was written by a job of another size, or null when the sizes agree. Every process draws the whole batch
    /// from the one generator, so the batches stay the same whatever the number of processes; only the grouping of the
    /// gradient sums changes, so the result matches the uninterrupted run to rounding, not bit for bit.
    /// </summary>
    public static string? ResumeNote(string outputFolder, int processes)
    {
        var saved = TrainingStateFolder.ReadLoop(outputFolder).Processes;
        if (saved == processes) return null;
        static string P(int n) => n == 1 ? "1 process" : $"{n} processes";
        return $"the snapshot was written by {P(saved)}, this job has {P(processes)}: the batches continue unchanged (every process draws the whole batch from one generator), but the gradient sums are grouped differently, so the weights will match the uninterrupted run to rounding, not bit for bit";
    }

    private static TrainingRunConfig StoredConfig(string outputFolder, string json) =>
        TrainingRunConfig.FromJson(json, $"the configuration stored in '{Path.Combine(outputFolder, TrainingStateFolder.FolderName)}'");

    // A folder with a finished checkpoint and no snapshot: say so, rather than "no training state".
    private static void RefuseFinishedRun(string outputFolder)
    {
        if (TrainingStateFolder.Exists(outputFolder) || !File.Exists(Path.Combine(outputFolder, Checkpoint.ManifestFileName))) return;
        var manifest = Checkpoint.ReadManifest(outputFolder);
        if (manifest.Selection?.StoppedEarly == true)
            throw new CheckpointException($"the run in '{outputFolder}' already finished (stopped early at step {manifest.StepsCompleted}, keeping step {manifest.Selection.KeptStep}); nothing to resume");
        if (manifest.StepsCompleted >= manifest.Training.Steps)
            throw new CheckpointException($"the run in '{outputFolder}' already finished ({manifest.StepsCompleted} of {manifest.Training.Steps} steps); nothing to resume");
    }

    /// <summary>
    /// The warnings a run of <paramref name="config"/> would print (a table's dequantised or constant columns, a table small
    /// against the model), without training: for the CLI to show before the work starts.
    /// </summary>
    public static IReadOnlyList<string> Warnings(TrainingRunConfig config, RunPieces pieces)
    {
        var networks = pieces.CreateNetworks(config);
        try { return Warnings(pieces, networks); }
        finally { foreach (var n in networks) n.Module.Dispose(); }
    }

    private static IReadOnlyList<string> Warnings(RunPieces pieces, IReadOnlyList<ITimeConditionedNetwork> networks)
    {
        if (pieces.Table is not { } table) return [];
        var parameters = networks.Sum(n => n.Module.parameters().Sum(p => p.numel()));
        return table.SizeWarning(parameters) is { } small ? [.. table.Warnings, small] : table.Warnings;
    }

    // Validation rows make a validator (NLL where the velocity and base allow it, else the objective); none without them.
    private static HeldOutValidator? CreateValidator(TrainingRunConfig config, RunPieces pieces, IReadOnlyList<LearnedNetwork> learned, Device device)
    {
        if (pieces.Manifold is { ValidationRows.shape: [> 0, _] } manifold)
            return new HeldOutValidator(learned, pieces.Interpolant, pieces.Coupling, pieces.Base, manifold.ValidationRows, null, 0,
                new ValidationSettings(Seed: config.TrainingOrDefault.Seed, BatchSize: config.TrainingOrDefault.BatchSize), device);
        if (pieces.Sequences is { ValidationRows.shape: [> 0, _] } sequences)
            return new HeldOutValidator(learned, pieces.Interpolant, pieces.Coupling, pieces.Base, sequences.ValidationRows, sequences.ValidationLabels, 0,
                new ValidationSettings(Seed: config.TrainingOrDefault.Seed, BatchSize: config.TrainingOrDefault.BatchSize), device);
        if (pieces.Table is not { } table || table.ValidationRows.shape[0] == 0) return null;
        return new HeldOutValidator(learned, pieces.Interpolant, pieces.Coupling, pieces.Base, table.ValidationRows, table.ValidationLabels,
            table.Record.Encoding.LogAbsDeterminant, new ValidationSettings(Seed: config.TrainingOrDefault.Seed, BatchSize: config.TrainingOrDefault.BatchSize), device,
            table.ValidationLogJacobian);
    }

    // Rank 0 (or the one process) trains, logs, snapshots and writes the checkpoint; another rank of a job trains the same
    // and writes nothing.
    private static TrainingRunResult Run(TrainingRunConfig config, RunPieces pieces, string outputFolder, TrainingState? resume,
        IProgress<TrainingProgress>? progress, CancellationToken cancellation, IProcessGroup processes)
    {
        var device = ComputeDevice.Resolve(config.Device);
        var options = config.TrainingOrDefault;
        var writes = processes.Rank == 0;
        if (writes) Directory.CreateDirectory(outputFolder);
        var networks = pieces.CreateNetworks(config);
        try
        {
            if (device.type != DeviceType.CPU) foreach (var n in networks) n.Module.to(device);
            var learned = pieces.Objectives.Select((o, i) => new LearnedNetwork(o, networks[i])).ToList();
            using var validator = CreateValidator(config, pieces, learned, device);
            var selection = validator is null ? null : new ModelSelection(validator, config.ValidateEvery ?? options.LogEvery, config.Patience);
            var trainer = new Trainer(pieces.Coupling, learned, options, device) { Selection = selection, Processes = processes };
            var fieldNames = pieces.Objectives.Select(o => RunOutput.FieldName(o.Kind)).ToList();
            TrainingResult result;
            IReadOnlyList<ExponentialMovingAverage?> emas;
            if (!writes) result = trainer.RunAll(out emas, null, cancellation, resume);
            else
                using (var log = new LossLogWriter(Path.Combine(outputFolder, LossLogFileName), fieldNames, resume?.Loop.Log))
                {
                    var sink = new SyncProgress<TrainingProgress>(p =>
                    {
                        if (p.LogEntry is { } e) log.Write(e);
                        progress?.Report(p);
                    });
                    var checkpointing = new TrainingCheckpointing(new TrainingStateFolder(outputFolder, config.ToJson()), config.CheckpointEvery);
                    result = trainer.RunAll(out emas, sink, cancellation, resume, checkpointing);
                    log.Complete();
                }
            try
            {
                var table = pieces.Table?.Record is { } record ? record with { ValidationNll = validator?.NllDescription } : null;
                if (!writes) return new TrainingRunResult(outputFolder, result, RunOutput.Manifest(config, pieces, networks, emas, result, table, pieces.Images?.Record), []);
                var manifest = RunOutput.Write(outputFolder, config, pieces, networks, emas, result, table, pieces.Images?.Record);
                // The snapshot is kept after Ctrl-C (for --resume) and dropped once the final checkpoint is safely written.
                if (result.Completed) TrainingStateFolder.Delete(outputFolder);
                return new TrainingRunResult(outputFolder, result, manifest, Warnings(pieces, networks));
            }
            finally
            {
                foreach (var e in emas) e?.Dispose();
            }
        }
        finally
        {
            foreach (var n in networks) n.Module.Dispose();
        }
    }
}
