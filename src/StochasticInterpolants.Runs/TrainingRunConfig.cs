using System.Text.Json;
using System.Text.Json.Serialization;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Couplings;
using StochasticInterpolants.Data;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Runtime;
using StochasticInterpolants.Training;

namespace StochasticInterpolants.Runs;

/// <summary>Architecture options (the data's shape and classes come from the data).</summary>
/// <param name="Width">MLP hidden width.</param>
/// <param name="Depth">MLP hidden layers.</param>
/// <param name="Activation">MLP activation: silu, gelu, relu, tanh or softplus.</param>
/// <param name="TimeFrequencies">MLP Fourier time-embedding frequencies K.</param>
/// <param name="Type">mlp or unet; null: unet for images, mlp otherwise.</param>
/// <param name="UNetPreset">The U-Net's size: tiny, small or medium (see <c>UNetConfig.Preset</c>).</param>
/// <param name="UNetChannels">The U-Net's channels at full resolution, replacing the preset's; null: the preset's.</param>
/// <param name="UNetMultipliers">The U-Net's channel multiplier per level, comma-separated (e.g. "1,2,2"); null: the preset's.</param>
/// <param name="UNetAttention">Self-attention at levels of at most this resolution (0: none); null: the preset's.</param>
public sealed record ModelOptions(int Width = 256, int Depth = 4, string Activation = "silu", int TimeFrequencies = 8,
    string? Type = null, string UNetPreset = "small", int? UNetChannels = null, string? UNetMultipliers = null, int? UNetAttention = null);

/// <summary>Flow-map options (docs/theory.md §14), used when <see cref="TrainingRunConfig.Learn"/> is <c>flow-map</c>.</summary>
/// <param name="Objective">The off-diagonal term: lsd (Lagrangian self-distillation) or psd (progressive self-distillation).</param>
/// <param name="DiagonalFraction">The share of rows trained on the diagonal (the velocity) by the interpolant regression.</param>
/// <param name="Teacher">A trained checkpoint folder whose velocity replaces the model's own diagonal as the right-hand side
/// and as the diagonal target (distillation); null: self-distillation. It must share the run's interpolant, data shape and classes.</param>
/// <param name="DerivativeStep">h of the central difference in t of the Lagrangian objective.</param>
/// <param name="EmaTeacher">Self-distil from the moving average of the weights instead of the current ones.</param>
/// <param name="TeacherGuidance">The guidance weight of a class-conditional teacher's velocity that the student distils (1: plain).</param>
public sealed record FlowMapRunOptions(string Objective = "lsd", double DiagonalFraction = Objectives.FlowMapOptions.DefaultDiagonalFraction, string? Teacher = null, double DerivativeStep = 1e-3,
    bool EmaTeacher = false, double TeacherGuidance = 1)
{
    /// <summary>The library's options these stand for (validated).</summary>
    public Objectives.FlowMapOptions ToOptions()
    {
        var options = new Objectives.FlowMapOptions(Objectives.FlowMapOptions.ParseMethod(Objective), DiagonalFraction, DerivativeStep, EmaTeacher, TeacherGuidance);
        options.Validate();
        if (EmaTeacher && Teacher is not null)
            throw new InvalidSettingException("ema-teacher", "--ema-teacher self-distils from the moving average; --teacher distils from a trained model: give one of them");
        return options;
    }
}

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
/// s = -eta / sigma), or velocity,score. Each gets its own network of the same architecture. Or flow-map alone: a two-time
/// network v(s, t, x) whose jumps sample in a few steps and whose diagonal is the velocity (docs/theory.md §14).</param>
/// <param name="CheckpointEvery">Steps between resumable snapshots in <c>OUT/train-state/</c> (one is also written on Ctrl-C).</param>
/// <param name="Normalize">Scaling of a table's columns: standard, whiten or none; null: standard for a file target, none
/// for a built-in one (docs/theory.md §8).</param>
/// <param name="Validation">Validation rows of a file target: a fraction of its rows held out (e.g. "0.1"), "0" for none,
/// or a second file; null: 0.1 for a file target; built-in targets have no validation rows.</param>
/// <param name="Columns">Which columns of a table to use (e.g. "1-4", "drop:last"); null: all.</param>
/// <param name="SkipRows">Leading lines of a table file to skip.</param>
/// <param name="LabelColumn">A table column of class labels that conditions generation; null: none.</param>
/// <param name="Integers">Columns holding only whole numbers: dequantize (add u ~ U[0, 1) on every draw), snap (dequantize,
/// and move generated values of a column of at most <see cref="TableSupport.FewValues"/> whole numbers to the nearest value
/// the training rows hold) or refuse.</param>
/// <param name="LogColumns">Strictly positive table columns modelled through y = log x (names or 1-based positions among the
/// features, comma-separated, or "positive" for every column whose values are all > 0); null: none.</param>
/// <param name="ValidateEvery">Steps between validations; null: the log interval.</param>
/// <param name="Patience">Validations without improvement before training stops; 0 never stops early.</param>
/// <param name="Condition">How an image set's labels condition the network: class or none; null: class when the images are labelled.</param>
/// <param name="Coupling">How x0 and x1 are paired: a registered coupling (independent, ot, sinkhorn, ...); null: the
/// interpolant's own (mirror for the mirror interpolant, independent otherwise).</param>
/// <param name="CouplingOptions">The coupling's settings; null: the defaults.</param>
/// <param name="FlowMap">The flow-map settings when <paramref name="Learn"/> is flow-map; null: the defaults.</param>
/// <param name="Manifold">The manifold a CSV target's points live on (e.g. sphere:3, torus:2; docs/theory.md §15.8); the named
/// manifold targets (vmf-mixture, von-mises-mixture, ramachandran) know their own. null: the data live in R^d.</param>
/// <param name="SequenceLength">Token sequences (the words target): the positions L, the longest word kept; null: 8.</param>
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
    int CheckpointEvery = 1000,
    string? Normalize = null,
    string? Validation = null,
    string? Columns = null,
    int SkipRows = 0,
    string? LabelColumn = null,
    string Integers = "dequantize",
    string? LogColumns = null,
    int? ValidateEvery = null,
    int Patience = 10,
    string? Condition = null,
    string? Coupling = null,
    CouplingOptions? CouplingOptions = null,
    FlowMapRunOptions? FlowMap = null,
    string? Manifold = null,
    int? SequenceLength = null)
{
    /// <summary>
    /// Training defaults for image targets (docs/theory.md §9), used when <see cref="Training"/> is not given: a U-Net step
    /// costs thousands of times an MLP step, so batches are small, and labels are dropped for guidance.
    /// </summary>
    public static TrainingOptions ImageTrainingDefaults { get; } = new(Steps: 4000, BatchSize: 64, LearningRate: 1e-3, WarmupSteps: 200, ConditionDropout: 0.1);

    /// <summary>True when <see cref="Target"/> names images (a data set name, a folder, a .npy / .npz file).</summary>
    [JsonIgnore]
    public bool ImageTarget => ImageDatasets.IsImageSpec(Target);

    /// <summary>Whether the network is conditioned on class labels, from <see cref="Condition"/> (null: when labelled).</summary>
    public bool ConditionOnClasses(bool labelled) => (Condition?.Trim().ToLowerInvariant()) switch
    {
        null => labelled,
        "class" or "classes" => labelled ? true : throw new InvalidSettingException("condition", $"'{Target}' has no class labels to condition on (use --condition none)"),
        "none" => false,
        _ => throw new InvalidSettingException("condition", $"unknown condition '{Condition}' (expected none or class)"),
    };
    /// <summary>The coupling in force for <paramref name="interpolant"/>: <see cref="Coupling"/> (or the interpolant's own) with its settings.</summary>
    public CouplingSpec CouplingFor(IInterpolant interpolant) =>
        new((Coupling?.Trim() is { Length: > 0 } name ? name : Couplings.Couplings.DefaultName(interpolant)).ToLowerInvariant(), CouplingOptions ?? new CouplingOptions());

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
                "flow-map" or "flowmap" or "map" => FieldKind.FlowMap,
                _ => throw new InvalidSettingException("learn", $"unknown field to learn '{part}' (expected velocity, score, flow-map)"),
            };
            if (!kinds.Contains(kind)) kinds.Add(kind);
        }
        if (kinds.Count == 0) throw new InvalidSettingException("learn", "no field to learn is named (expected velocity, score, velocity,score or flow-map)");
        if (kinds.Contains(FieldKind.FlowMap) && kinds.Count > 1)
            throw new InvalidSettingException("learn", "a flow map is learned alone: its diagonal is the velocity, and the score follows from it where the path allows (give --learn flow-map)");
        if (!kinds.Contains(FieldKind.FlowMap) && FlowMap is not null)
            throw new InvalidSettingException("learn", "flow-map settings (--map-objective, --diagonal-fraction, --teacher) apply only with --learn flow-map");
        return kinds;
    }

    /// <summary>True when the run learns a flow map.</summary>
    [JsonIgnore]
    public bool LearnsFlowMap => LearnedFields().Contains(FieldKind.FlowMap);

    /// <summary>The flow-map settings in force (defaults when null).</summary>
    [JsonIgnore]
    public FlowMapRunOptions FlowMapOrDefault => FlowMap ?? new FlowMapRunOptions();

    /// <summary>The model options in force (defaults when null).</summary>
    [JsonIgnore]
    public ModelOptions ModelOrDefault => Model ?? new ModelOptions();
    /// <summary>The training options in force (defaults when null).</summary>
    [JsonIgnore]
    // A data-dependent coupling's condition is an image, never dropped: its image defaults drop no labels.
    public TrainingOptions TrainingOrDefault => Training ?? (!ImageTarget ? new TrainingOptions(ConditionDropout: Condition?.Trim().ToLowerInvariant() == "length" ? 0.1 : 0)
        : Corruptions.IsDataDependent(Coupling) ? ImageTrainingDefaults with { ConditionDropout = 0 } : ImageTrainingDefaults);

    /// <summary>The normalisation in force: <see cref="Normalize"/>, or standard for a file target and none for a built-in one.</summary>
    public Normalization NormalizationFor(bool fileTarget) => (Normalize?.Trim().ToLowerInvariant() ?? (fileTarget ? "standard" : "none")) switch
    {
        "standard" or "standardize" or "standardise" => Normalization.Standard,
        "whiten" or "whitening" => Normalization.Whiten,
        "none" => Normalization.None,
        _ => throw new InvalidSettingException("normalize", $"unknown normalisation '{Normalize}' (expected standard, whiten or none)"),
    };

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
        catch (Exception e) when (e is JsonException or ArgumentException) { throw new ArgumentException($"{source} is invalid: {e.Message.Split('\n')[0]}"); }
    }

    /// <summary>Throws <see cref="ArgumentException"/> for an invalid run-level setting.</summary>
    public void ValidateRun()
    {
        if (CheckpointEvery < 1) throw new InvalidSettingException("checkpoint-every", $"snapshot interval must be >= 1, got {CheckpointEvery}");
        if (SkipRows < 0) throw new InvalidSettingException("skip-rows", $"skip-rows must be 0 or more, got {SkipRows}");
        if (ValidateEvery is < 1) throw new InvalidSettingException("validate-every", $"the validation interval must be >= 1 step, got {ValidateEvery}");
        if (Patience < 0) throw new InvalidSettingException("patience", $"patience must be >= 0 validations, got {Patience}");
        if (Integers.Trim().ToLowerInvariant() is not ("dequantize" or "dequantise" or "snap" or "refuse"))
            throw new InvalidSettingException("integers", $"unknown integer-column policy '{Integers}' (expected dequantize, snap or refuse)");
        // The device before any data is read or any folder made: a missing GPU must not cost a data load or leave an empty folder.
        _ = ComputeDevice.Resolve(Device);
    }

    /// <summary>This config as indented JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Checkpoint.Json);
}

/// <summary>What <see cref="TrainingRun.Execute"/> produced.</summary>
/// <param name="OutputFolder">Folder holding the checkpoint and loss.csv.</param>
/// <param name="Result">The optimisation result.</param>
/// <param name="Manifest">The checkpoint manifest written.</param>
/// <param name="Warnings">Lines worth a user's attention (dequantised or constant columns, a table small against the model).</param>
public sealed record TrainingRunResult(string OutputFolder, TrainingResult Result, CheckpointManifest Manifest, IReadOnlyList<string> Warnings);
