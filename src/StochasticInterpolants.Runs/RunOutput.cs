using System.Globalization;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Couplings;
using StochasticInterpolants.Files;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using StochasticInterpolants.Training;
using StochasticInterpolants.Visualization;
using TorchSharp;

namespace StochasticInterpolants.Runs;

/// <summary>
/// The loss log of a run, streamed into <c>loss.csv.partial</c> while training runs (so a crash keeps what was logged)
/// and moved over <c>loss.csv</c> by <see cref="Complete"/>. A resumed run starts from the snapshot's rows, dropping any
/// logged after it.
/// </summary>
internal sealed class LossLogWriter : IDisposable
{
    private readonly string _path, _partial;
    private readonly StreamWriter _writer;
    private bool _completed;

    public LossLogWriter(string path, IReadOnlyList<string> fieldNames, IEnumerable<LossLogEntry>? earlierRows)
    {
        _path = path; _partial = path + ".partial";
        _writer = new StreamWriter(_partial, append: false);
        _writer.WriteLine("step,loss,learning_rate,elapsed_seconds" + (fieldNames.Count > 1 ? string.Concat(fieldNames.Select(k => $",loss_{k}")) : "")
            + ",validation_objective,validation_nll");
        foreach (var e in earlierRows ?? []) Row(e);
        _writer.Flush();
    }

    /// <summary>Appends one row and flushes it.</summary>
    public void Write(LossLogEntry e) { Row(e); _writer.Flush(); }

    /// <summary>Closes the side file and moves it over loss.csv.</summary>
    public void Complete()
    {
        _writer.Dispose();
        File.Move(_partial, _path, overwrite: true);
        _completed = true;
    }

    private void Row(LossLogEntry e)
    {
        var parts = e.Parts is null ? "" : string.Concat(e.Parts.Select(v => string.Create(CultureInfo.InvariantCulture, $",{v:R}")));
        // Validation columns are empty on rows where no validation ran.
        var validation = string.Create(CultureInfo.InvariantCulture, $",{e.ValidationObjective:R},{e.ValidationNll:R}");
        _writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{e.Step},{e.Loss:R},{e.LearningRate:R},{e.ElapsedSeconds:F3}") + parts + validation);
    }

    public void Dispose() { if (!_completed) _writer.Dispose(); }
}

/// <summary>What a finished (or cancelled) run writes beside its loss log: the checkpoint, config.json and loss.png.</summary>
internal static class RunOutput
{
    /// <summary>The short name of a field in file names and log columns (velocity, denoiser, ...).</summary>
    public static string FieldName(FieldKind kind) => Checkpoint.WeightsFileName(kind).Split('.')[1];

    /// <summary>Writes the checkpoint (weights, then manifest), config.json and loss.png; returns the manifest.</summary>
    public static CheckpointManifest Write(string folder, TrainingRunConfig config, RunPieces pieces, IReadOnlyList<ITimeConditionedNetwork> networks,
        IReadOnlyList<ExponentialMovingAverage?> emas, TrainingResult result, TableRecord? table, ImageRecord? images)
    {
        var objectives = pieces.Objectives;
        var manifest = Manifest(config, pieces, networks, emas, result, table, images);
        Checkpoint.Save(folder, manifest, networks.Select((n, i) => (n.Module, emas[i]?.State)).ToList());
        // Written with the checkpoint (not before training) so a failed run never leaves a config that disagrees with the weights.
        AtomicFile.WriteText(Path.Combine(folder, "config.json"), config.ToJson());
        if (result.Log.Count > 0)
            LossCurvePlot.Save(Path.Combine(folder, "loss.png"), result.Log, $"training loss ({config.Interpolant}, {Path.GetFileName(config.Target)})",
                objectives.Select(o => FieldName(o.Kind)).ToList(), keptStep: result.Selection?.KeptStep);
        return manifest;
    }

    /// <summary>The manifest <see cref="Write"/> would write for this run (nothing is written).</summary>
    public static CheckpointManifest Manifest(TrainingRunConfig config, RunPieces pieces, IReadOnlyList<ITimeConditionedNetwork> networks,
        IReadOnlyList<ExponentialMovingAverage?> emas, TrainingResult result, TableRecord? table, ImageRecord? images)
    {
        var objectives = pieces.Objectives;
        return new CheckpointManifest(
            CheckpointManifest.CurrentFormat,
            pieces.Interpolant.Spec ?? throw new ArgumentException($"the interpolant '{pieces.Interpolant.Name}' cannot be saved in a checkpoint: register it by name"),
            objectives.Select((o, i) => new NetworkEntry(o.Kind, networks[i].Spec ?? throw new ArgumentException("a custom network cannot be saved in a checkpoint: register its architecture"), Checkpoint.WeightsFileName(o.Kind),
                emas[i] is null ? null : Checkpoint.EmaWeightsFileName(o.Kind))).ToList(),
            pieces.BaseSpec ?? Describe(config.Base), Describe(config.Target), pieces.Target.Dimension, objectives.Max(o => o.TimeClip), config.Antithetic,
            config.TrainingOrDefault, result.StepsCompleted, result.FinalLoss, DateTime.UtcNow, table, result.Selection, images,
            config.CouplingFor(pieces.Interpolant) with { Convergence = (pieces.Coupling as IConvergingCoupling)?.Convergence }, pieces.Manifold?.Record, pieces.Sequences?.Record);
    }

    // A file or folder is stored absolute so `si sample` finds it from any working folder.
    private static string Describe(string spec) => File.Exists(spec) || Directory.Exists(spec) ? Path.GetFullPath(spec) : spec;
}
