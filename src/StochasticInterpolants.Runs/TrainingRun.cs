using StochasticInterpolants.Likelihood;
using StochasticInterpolants.Files;
using StochasticInterpolants.Visualization;
using StochasticInterpolants.Metrics;
using StochasticInterpolants.Sampling;
using StochasticInterpolants.Training;
using TorchSharp;
using static TorchSharp.torch;
using System.Globalization;
using System.Text.Json;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Couplings;
using StochasticInterpolants.Data;
using StochasticInterpolants.Fields;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using StochasticInterpolants.Objectives;
using StochasticInterpolants.Runtime;

namespace StochasticInterpolants.Runs;

/// <summary>Architecture options of the default MLP (the data dimension comes from the data).</summary>
/// <param name="Width">Hidden width.</param>
/// <param name="Depth">Hidden layers.</param>
/// <param name="Activation">silu, gelu, relu, tanh or softplus.</param>
/// <param name="TimeFrequencies">Fourier time-embedding frequencies K.</param>
public sealed record ModelOptions(int Width = 256, int Depth = 4, string Activation = "silu", int TimeFrequencies = 8);

/// <summary>
/// Everything a training run needs, as one immutable record; also the schema of <c>si train --config FILE.json</c>.
/// </summary>
/// <param name="Target">Target rho1: a built-in name (checkerboard, moons, ...) or a CSV file.</param>
/// <param name="Base">Base rho0: gaussian (default) or a CSV file.</param>
/// <param name="Interpolant">Interpolant family (linear, trigonometric, encoder-decoder, one-sided-linear, one-sided-vp, mirror).</param>
/// <param name="Gamma">Latent-noise schedule gamma(t): none, sqrt, quadratic, sin2.</param>
/// <param name="GammaScale">The scale a of the gamma schedule.</param>
/// <param name="Antithetic">Use the antithetic loss.</param>
/// <param name="TimeClip">Draw t from [clip, 1 - clip]; null chooses automatically.</param>
/// <param name="Model">Network architecture.</param>
/// <param name="Training">Optimisation settings.</param>
/// <param name="Device">cpu, cuda or cuda:N.</param>
/// <param name="Learn">The fields to learn, comma-separated: velocity (default), score (learned as the denoiser eta,
/// s = -eta / sigma), or velocity,score. Each gets its own network of the same architecture.</param>
/// <param name="CheckpointEvery">Steps between resumable snapshots in <c>OUT/train-state/</c> (one is also written on Ctrl-C).</param>
public sealed record TrainingRunConfig(
    string Target = "checkerboard",
    string Base = "gaussian",
    string Interpolant = "linear",
    string Gamma = "none",
    double GammaScale = 1.0,
    bool Antithetic = false,
    double? TimeClip = null,
    ModelOptions? Model = null,
    TrainingOptions? Training = null,
    string Device = "cpu",
    string Learn = "velocity",
    int CheckpointEvery = 1000)
{
    /// <summary>The fields to learn, parsed from <see cref="Learn"/>.</summary>
    public IReadOnlyList<FieldKind> LearnedFields()
    {
        var kinds = new List<FieldKind>();
        foreach (var part in Learn.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var kind = part.ToLowerInvariant() switch
            {
                "velocity" or "b" => FieldKind.Velocity,
                "score" or "denoiser" or "eta" or "noise" => FieldKind.Denoiser,
                _ => throw new InvalidSettingException("learn", $"unknown field to learn '{part}' (expected velocity, score)"),
            };
            if (!kinds.Contains(kind)) kinds.Add(kind);
        }
        if (kinds.Count == 0) throw new InvalidSettingException("learn", "no field to learn is named (expected velocity, score or velocity,score)");
        return kinds;
    }

    /// <summary>The model options in force (defaults when null).</summary>
    public ModelOptions ModelOrDefault => Model ?? new ModelOptions();
    /// <summary>The training options in force (defaults when null).</summary>
    public TrainingOptions TrainingOrDefault => Training ?? new TrainingOptions();

    /// <summary>Reads a config from JSON (camelCase or PascalCase keys; unknown keys are an error).</summary>
    public static TrainingRunConfig FromJsonFile(string path)
    {
        if (Directory.Exists(path)) throw new ArgumentException($"config file '{path}' is a folder, not a file");
        if (!File.Exists(path)) throw new FileNotFoundException($"config file '{path}' does not exist");
        return FromJson(File.ReadAllText(path), $"config file '{path}'");
    }

    /// <summary>Parses a config from JSON text; <paramref name="source"/> names it in errors.</summary>
    public static TrainingRunConfig FromJson(string json, string source)
    {
        try
        {
            var options = new JsonSerializerOptions(Checkpoint.Json) { UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow };
            return JsonSerializer.Deserialize<TrainingRunConfig>(json, options) ?? throw new ArgumentException($"{source} is empty");
        }
        catch (JsonException e) { throw new ArgumentException($"{source} is invalid: {e.Message.Split('\n')[0]}"); }
    }

    /// <summary>Throws <see cref="ArgumentException"/> for an invalid run-level setting.</summary>
    public void ValidateRun()
    {
        if (CheckpointEvery < 1) throw new InvalidSettingException("checkpoint-every", $"snapshot interval must be >= 1, got {CheckpointEvery}");
    }

    /// <summary>This config as indented JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Checkpoint.Json);
}

/// <summary>What <see cref="TrainingRun.Execute"/> produced.</summary>
/// <param name="OutputFolder">Folder holding the checkpoint and loss.csv.</param>
/// <param name="Result">The optimisation result.</param>
/// <param name="Manifest">The checkpoint manifest written.</param>
public sealed record TrainingRunResult(string OutputFolder, TrainingResult Result, CheckpointManifest Manifest);

/// <summary>
/// Runs a whole training job: builds the densities, interpolant, coupling, objective and network from a
/// <see cref="TrainingRunConfig"/>, trains, and writes <c>loss.csv</c>, <c>loss.png</c>, <c>config.json</c> and the checkpoint into
/// the output folder. The CLI's <c>si train</c> is a thin layer over this.
/// </summary>
public static class TrainingRun
{
    /// <summary>Name of the loss log written into the output folder.</summary>
    public const string LossLogFileName = "loss.csv";

    /// <summary>Validates the config and builds the pieces, without training (so errors surface before any work).</summary>
    public static (IDistribution Base, IDistribution Target, IInterpolant Interpolant, ICoupling Coupling, IReadOnlyList<IObjective> Objectives) Prepare(TrainingRunConfig config)
    {
        config.TrainingOrDefault.Validate();
        config.ValidateRun();
        var target = DataSources.Parse(config.Target);
        var baseDistribution = DataSources.Parse(config.Base, target.Dimension);
        var spec = new InterpolantSpec(config.Interpolant, config.Gamma, config.GammaScale);
        var interpolant = spec.Build();
        var coupling = Couplings.Couplings.For(interpolant, baseDistribution, target);
        var objectiveOptions = new ObjectiveOptions(config.Antithetic, config.TimeClip);
        var objectives = config.LearnedFields().Select(kind => kind == FieldKind.Velocity
            ? (IObjective)new VelocityObjective(interpolant, objectiveOptions)
            : new DenoiserObjective(interpolant, objectiveOptions)).ToList();
        new MlpConfig(target.Dimension, config.ModelOrDefault.Width, config.ModelOrDefault.Depth, config.ModelOrDefault.Activation, config.ModelOrDefault.TimeFrequencies).Validate();
        return (baseDistribution, target, interpolant, coupling, objectives);
    }

    /// <summary>
    /// Trains according to <paramref name="config"/> and writes the results into <paramref name="outputFolder"/>, saving a
    /// resumable snapshot every <see cref="TrainingRunConfig.CheckpointEvery"/> steps (see <see cref="Resume"/>).
    /// A folder that already holds a training run is refused unless <paramref name="overwrite"/>.
    /// </summary>
    public static TrainingRunResult Execute(TrainingRunConfig config, string outputFolder, IProgress<TrainingProgress>? progress = null,
        CancellationToken cancellation = default, bool overwrite = false)
    {
        var pieces = Prepare(config); // before touching the folder: a bad config leaves it as it was
        using var folderLock = OutputFolder.LockForTraining(outputFolder);
        OutputFolder.PrepareForRun(outputFolder, overwrite);
        return Run(config, pieces, outputFolder, null, progress, cancellation);
    }

    /// <summary>
    /// Continues the run whose snapshot is in <paramref name="outputFolder"/> (after a crash, a kill or Ctrl-C) with the
    /// configuration stored in it. The result equals, bit for bit on the same machine and thread count, the run that was
    /// never interrupted.
    /// </summary>
    public static TrainingRunResult Resume(string outputFolder, IProgress<TrainingProgress>? progress = null, CancellationToken cancellation = default)
    {
        if (!Directory.Exists(outputFolder)) throw new CheckpointException($"folder '{outputFolder}' does not exist");
        using var folderLock = OutputFolder.LockForTraining(outputFolder);
        RefuseFinishedRun(outputFolder);
        var (state, configJson) = TrainingStateFolder.Load(outputFolder);
        try
        {
            var config = StoredConfig(outputFolder, configJson);
            return Run(config, Prepare(config), outputFolder, state, progress, cancellation);
        }
        finally { state.DisposeTensors(); }
    }

    /// <summary>
    /// Reads the configuration a resumable run in <paramref name="outputFolder"/> would continue with (only its
    /// <c>state.json</c>: the weights are read and checked by <see cref="Resume"/>).
    /// </summary>
    public static TrainingRunConfig ResumableConfig(string outputFolder)
    {
        if (Directory.Exists(outputFolder)) using (OutputFolder.LockForTraining(outputFolder)) { } // busy folders first
        RefuseFinishedRun(outputFolder);
        return StoredConfig(outputFolder, TrainingStateFolder.ReadConfig(outputFolder));
    }

    private static TrainingRunConfig StoredConfig(string outputFolder, string json) =>
        TrainingRunConfig.FromJson(json, $"the configuration stored in '{Path.Combine(outputFolder, TrainingStateFolder.FolderName)}'");

    // A folder with a finished checkpoint and no snapshot: say so, rather than "no training state".
    private static void RefuseFinishedRun(string outputFolder)
    {
        if (TrainingStateFolder.Exists(outputFolder) || !File.Exists(Path.Combine(outputFolder, Checkpoint.ManifestFileName))) return;
        var manifest = Checkpoint.ReadManifest(outputFolder);
        if (manifest.StepsCompleted >= manifest.Training.Steps)
            throw new CheckpointException($"the run in '{outputFolder}' already finished ({manifest.StepsCompleted} of {manifest.Training.Steps} steps); nothing to resume");
    }

    private static TrainingRunResult Run(TrainingRunConfig config,
        (IDistribution Base, IDistribution Target, IInterpolant Interpolant, ICoupling Coupling, IReadOnlyList<IObjective> Objectives) pieces,
        string outputFolder, TrainingState? resume, IProgress<TrainingProgress>? progress, CancellationToken cancellation)
    {
        var (baseDistribution, target, interpolant, coupling, objectives) = pieces;
        var device = ComputeDevice.Resolve(config.Device);
        var options = config.TrainingOrDefault;
        var m = config.ModelOrDefault;
        var mlp = new MlpConfig(target.Dimension, m.Width, m.Depth, m.Activation, m.TimeFrequencies);
        Directory.CreateDirectory(outputFolder);

        // One network per field; the velocity network keeps the run's seed, the others are offset from it.
        var networks = objectives.Select((o, i) => new MlpNetwork(mlp, options.Seed + 7919L * i)).ToList();
        try
        {
            return Train(config, outputFolder, resume, progress, cancellation, baseDistribution, target, interpolant, coupling, objectives, networks, device, options);
        }
        finally
        {
            foreach (var n in networks) n.Dispose();
        }
    }

    private static TrainingRunResult Train(TrainingRunConfig config, string outputFolder, TrainingState? resume, IProgress<TrainingProgress>? progress, CancellationToken cancellation,
        IDistribution baseDistribution, IDistribution target, IInterpolant interpolant, ICoupling coupling, IReadOnlyList<IObjective> objectives,
        IReadOnlyList<MlpNetwork> networks, Device device, TrainingOptions options)
    {
        if (device.type != TorchSharp.DeviceType.CPU) foreach (var n in networks) n.to(device);
        var trainer = new Trainer(coupling, objectives.Select((o, i) => new LearnedNetwork(o, networks[i])).ToList(), options, device);
        var kindNames = objectives.Select(o => Checkpoint.WeightsFileName(o.Kind).Split('.')[1]).ToList();
        var checkpointing = new TrainingCheckpointing(new TrainingStateFolder(outputFolder, config.ToJson()), config.CheckpointEvery);

        // The log streams into a side file while training runs (so a crash keeps what was logged) and replaces
        // loss.csv only when training ends. A resumed run rewrites it from the snapshot's rows, dropping any logged after it.
        var logPath = Path.Combine(outputFolder, LossLogFileName);
        var partial = logPath + ".partial";
        TrainingResult result;
        IReadOnlyList<ExponentialMovingAverage?> emas;
        using (var writer = new StreamWriter(partial, append: false))
        {
            writer.WriteLine("step,loss,learning_rate,elapsed_seconds" + (objectives.Count > 1 ? string.Concat(kindNames.Select(k => $",loss_{k}")) : ""));
            if (resume is not null) foreach (var e in resume.Loop.Log) WriteRow(e);
            writer.Flush();
            var sink = new SyncProgress<TrainingProgress>(p =>
            {
                if (p.LogEntry is { } e) { WriteRow(e); writer.Flush(); }
                progress?.Report(p);
            });
            result = trainer.RunAll(out emas, sink, cancellation, resume, checkpointing);

            void WriteRow(LossLogEntry e)
            {
                var parts = e.Parts is null ? "" : string.Concat(e.Parts.Select(v => string.Create(CultureInfo.InvariantCulture, $",{v:R}")));
                writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{e.Step},{e.Loss:R},{e.LearningRate:R},{e.ElapsedSeconds:F3}") + parts);
            }
        }
        File.Move(partial, logPath, overwrite: true);
        try
        {
            var manifest = new CheckpointManifest(
                CheckpointManifest.CurrentFormat,
                interpolant.Spec ?? throw new InvalidOperationException("built-in interpolants always have a spec"),
                objectives.Select((o, i) => new NetworkEntry(o.Kind, networks[i].Spec, Checkpoint.WeightsFileName(o.Kind),
                    emas[i] is null ? null : Checkpoint.EmaWeightsFileName(o.Kind))).ToList(),
                Describe(config.Base), Describe(config.Target), target.Dimension, objectives.Max(o => o.TimeClip), config.Antithetic,
                options, result.StepsCompleted, result.FinalLoss, DateTime.UtcNow);
            Checkpoint.Save(outputFolder, manifest, networks.Select((n, i) => ((nn.Module)n, emas[i]?.State)).ToList());
            // Written with the checkpoint (not before training) so a failed run never leaves a config that disagrees with the weights.
            AtomicFile.WriteText(Path.Combine(outputFolder, "config.json"), config.ToJson());
            if (result.Log.Count > 0)
                Visualization.LossCurvePlot.Save(Path.Combine(outputFolder, "loss.png"), result.Log,
                    $"training loss ({config.Interpolant}, {config.Target})", kindNames);
            // The snapshot is kept after Ctrl-C (for --resume) and dropped once the final checkpoint is safely written.
            if (result.Completed) TrainingStateFolder.Delete(outputFolder);
            return new TrainingRunResult(outputFolder, result, manifest);
        }
        finally
        {
            foreach (var e in emas) e?.Dispose();
        }
    }

    // A CSV path is stored absolute so `si sample` finds it from any working folder.
    private static string Describe(string spec) => File.Exists(spec) ? Path.GetFullPath(spec) : spec;

}
