using System.Globalization;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Couplings;
using StochasticInterpolants.Data;
using StochasticInterpolants.Files;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using StochasticInterpolants.Objectives;
using StochasticInterpolants.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Runs;

/// <summary>
/// The pieces a <see cref="TrainingRunConfig"/> describes, built and validated before any work: the densities, the
/// interpolant, the coupling and one objective per learned field (<see cref="Build"/>), the table's split, encoding and
/// validation rows for a file target, and the networks that learn them (<see cref="CreateNetworks"/>).
/// </summary>
/// <param name="Base">rho0 (in the flow's space).</param>
/// <param name="Target">rho1 (in the flow's space: a table's training rows dequantised and encoded).</param>
/// <param name="Interpolant">The interpolant.</param>
/// <param name="Coupling">Where batches come from.</param>
/// <param name="Objectives">One per learned field, in the order of <see cref="TrainingRunConfig.LearnedFields"/>.</param>
/// <param name="Table">For a table file target: its record, validation rows and warnings; null otherwise.</param>
/// <param name="Images">For an image target: the images and their record; null otherwise.</param>
public sealed record RunPieces(IDistribution Base, IDistribution Target, IInterpolant Interpolant, ICoupling Coupling, IReadOnlyList<IObjective> Objectives,
    TablePieces? Table = null, ImagePieces? Images = null)
{
    /// <summary>
    /// Validates <paramref name="config"/> and builds the pieces, without training (so errors surface before any work);
    /// <paramref name="message"/> hears about a data set fetched on first use.
    /// </summary>
    public static RunPieces Build(TrainingRunConfig config, Action<string>? message = null)
    {
        config.TrainingOrDefault.Validate();
        config.ValidateRun();
        if (ManifoldPieces.Applies(config)) return BuildOnManifold(config, message);
        if (SequencePieces.Applies(config)) return BuildOnSequences(config, message);
        if (config.Interpolant.Trim().StartsWith("mixture", StringComparison.OrdinalIgnoreCase))
            throw new InvalidSettingException("interpolant", $"a discrete mixture path needs token sequences ({string.Join(", ", WordList.Names)}); '{config.Target}' is real-valued");
        if (config.Interpolant.Trim().Equals("geodesic", StringComparison.OrdinalIgnoreCase))
            throw new InvalidSettingException("interpolant", $"the geodesic interpolant needs a target on a manifold ({string.Join(", ", [.. ManifoldTargets.Names, .. ProteinAngles.Names])}, or a CSV with --manifold); '{config.Target}' lives in R^d");
        var interpolant = new InterpolantSpec(config.Interpolant, config.Gamma, config.GammaScale).Build();
        IDistribution target, baseDistribution;
        TablePieces? table = null;
        ImagePieces? images = null;
        if (config.ImageTarget)
        {
            RefuseTableOptions(config, "an image target");
            if (config.Normalize is not null) throw new InvalidSettingException("normalize", "images are scaled to [-1, 1] from their pixel levels; --normalize applies to tables");
            images = ImagePieces.Build(config, message);
            target = images.Target;
            if (IsFile(config.Base)) throw new InvalidSettingException("base", $"an image target starts from the Gaussian base (got '{config.Base}')");
            baseDistribution = DataSources.Parse(config.Base, target.Dimension);
        }
        else if (IsFile(config.Target))
        {
            if (!File.Exists(config.Target)) DataSources.Parse(config.Target); // the reader's message: unknown name, missing file, a folder
            table = TablePieces.Build(config);
            target = table.Target;
            baseDistribution = IsFile(config.Base) ? table.EncodedBase(config.Base) : DataSources.Parse(config.Base, target.Dimension);
        }
        else
        {
            RefuseTableOptions(config, "a built-in target with fresh samples on every draw");
            if (config.Condition?.Trim().ToLowerInvariant() is { } c && c != "none")
                throw new InvalidSettingException("condition", $"'{config.Target}' has no class labels (a table's come from --label-column)");
            if (config.NormalizationFor(fileTarget: false) != Normalization.None)
                throw new InvalidSettingException("normalize", "normalisation applies to a file target; built-in targets are used as defined");
            target = DataSources.Parse(config.Target);
            baseDistribution = DataSources.Parse(config.Base, target.Dimension);
        }
        var coupling = config.CouplingFor(interpolant).Build(interpolant, baseDistribution, target);
        if (coupling is DataDependentCoupling && config.TrainingOrDefault.ConditionDropout > 0)
            throw new InvalidSettingException("cond-drop", $"the '{config.CouplingFor(interpolant).Name}' coupling's condition is the observed image, which is never dropped (classifier-free guidance needs class labels): give --cond-drop 0");
        var objectiveOptions = new ObjectiveOptions(config.Antithetic, config.TimeClip);
        Checkpoint? teacher = null;
        try
        {
            IReadOnlyList<IObjective> objectives;
            if (config.LearnsFlowMap)
            {
                var flowMap = config.FlowMapOrDefault;
                var options = flowMap.ToOptions();
                if (flowMap.Teacher is { } folder) teacher = LoadTeacher(folder, config, interpolant, target, images, table);
                // (No teacher at all is the objective's refusal, as is the antithetic loss.)
                if (options.TeacherGuidance != 1 && teacher is not null && teacher.Manifest.ConditionClasses() is null)
                    throw new InvalidSettingException("teacher-guidance", $"guidance blends a teacher's conditional and no-class velocities: the teacher '{flowMap.Teacher}' is unconditional");
                objectives = [new FlowMapObjective(interpolant, options, objectiveOptions, teacher?.Fields())];
            }
            else objectives = config.LearnedFields().Select(kind => Objective.For(kind, interpolant, objectiveOptions)).ToList();
            var pieces = new RunPieces(baseDistribution, target, interpolant, coupling, objectives, table, images) { Teacher = teacher };
            _ = pieces.ModelSpecFor(config); // validates the architecture
            return pieces;
        }
        catch
        {
            teacher?.Dispose();
            (coupling as IDisposable)?.Dispose();
            throw;
        }
    }

    /// <summary>For a target on a manifold: the manifold, the held-out points and the record; null in R^d.</summary>
    public ManifoldPieces? Manifold { get; init; }

    /// <summary>The base's spec as the checkpoint records it (resolved against the manifold: "uniform:sphere:3"); null: the config's.</summary>
    public string? BaseSpec { get; init; }

    // A target on a manifold (docs/theory.md §15.8): the geodesic interpolant, a base on the same manifold, the velocity alone,
    // independent pairs. Every choice that cannot work there is refused here, before any work.
    private static RunPieces BuildOnManifold(TrainingRunConfig config, Action<string>? message)
    {
        if (config.ImageTarget) throw new InvalidSettingException("manifold", "images live in R^d: --manifold applies to points on a sphere or a torus");
        if (!config.Gamma.Trim().Equals("none", StringComparison.OrdinalIgnoreCase))
            throw new InvalidSettingException("gamma", "the geodesic interpolant carries no latent noise (docs/theory.md §15.8): give --gamma none");
        if (config.Antithetic) throw new InvalidSettingException("antithetic", "the geodesic interpolant has no latent noise to make antithetic");
        if (config.LearnsFlowMap || config.LearnedFields().Any(k => k != FieldKind.Velocity))
            throw new InvalidSettingException("learn", "on a manifold only the velocity is learned: the geodesic path has no noise for a score, and a flow map's jumps would have to be exponential steps (give --learn velocity)");
        if (config.Coupling?.Trim().ToLowerInvariant() is { } pairing && pairing != "independent")
            throw new InvalidSettingException("coupling", $"the '{pairing}' coupling pairs points by the squared Euclidean distance of their coordinates, not the geodesic one; a manifold run pairs independently (give --coupling independent)");
        if (config.Condition?.Trim().ToLowerInvariant() is { } c && c != "none")
            throw new InvalidSettingException("condition", "points on a manifold carry no class labels here");
        RefuseColumnOptions(config, "points on a manifold, used as given");
        if (config.Normalize is not null) throw new InvalidSettingException("normalize", "points on a manifold are used as given: --normalize applies to tables in R^d");
        var manifold = ManifoldPieces.Build(config, message);
        var interpolant = manifold.Interpolant(config.Interpolant);
        var baseSpec = ManifoldDistributions.BaseSpec(config.Base.Trim().Equals("gaussian", StringComparison.OrdinalIgnoreCase) ? "uniform" : config.Base, manifold.Manifold);
        var baseDistribution = DataSources.Parse(baseSpec);
        var coupling = config.CouplingFor(interpolant).Build(interpolant, baseDistribution, manifold.Target);
        var objectives = new List<IObjective> { Objective.For(FieldKind.Velocity, interpolant, new ObjectiveOptions(false, config.TimeClip)) };
        var pieces = new RunPieces(baseDistribution, manifold.Target, interpolant, coupling, objectives) { Manifold = manifold, BaseSpec = baseSpec };
        _ = pieces.ModelSpecFor(config); // validates the architecture
        return pieces;
    }

    /// <summary>For token sequences: the words, their encoding, split and source; null otherwise.</summary>
    public SequencePieces? Sequences { get; init; }

    // Token sequences (docs/theory.md §16): a discrete mixture path from masked or uniform tokens, the posterior network,
    // the cross-entropy objective, independent pairs. What cannot apply to tokens is refused here.
    private static RunPieces BuildOnSequences(TrainingRunConfig config, Action<string>? message)
    {
        if (!config.Gamma.Trim().Equals("none", StringComparison.OrdinalIgnoreCase))
            throw new InvalidSettingException("gamma", "a discrete mixture path has no Gaussian noise: give --gamma none (its schedule is --interpolant mixture-linear, mixture-cubic or mixture-polynomial with --gamma-scale p)");
        if (config.Antithetic) throw new InvalidSettingException("antithetic", "a discrete mixture path has no Gaussian noise to make antithetic");
        if (config.LearnedFields() is not [FieldKind.Velocity])
            throw new InvalidSettingException("learn", "on token sequences the network learns the posterior p(x1 | x_t), the discrete path's one field: leave --learn out");
        if (config.Coupling?.Trim().ToLowerInvariant() is { } pairing && pairing != "independent")
            throw new InvalidSettingException("coupling", $"the '{pairing}' coupling pairs real vectors by distance; token sequences are paired independently (give --coupling independent)");
        if (config.Manifold is not null) throw new InvalidSettingException("manifold", "token sequences do not live on a manifold");
        RefuseColumnOptions(config, "token sequences");
        if (config.Normalize is not null) throw new InvalidSettingException("normalize", $"--normalize applies to tables; '{config.Target}' is token sequences");
        var interpolant = SequencePieces.Interpolant(config);
        var sequences = SequencePieces.Build(config, message);
        var coupling = config.CouplingFor(interpolant).Build(interpolant, sequences.Source, sequences.Target);
        var objectives = new List<IObjective> { new Discrete.DiscreteObjective(interpolant, sequences.Source.Kind, new ObjectiveOptions(false, config.TimeClip)) };
        var pieces = new RunPieces(sequences.Source, sequences.Target, interpolant, coupling, objectives)
            { Sequences = sequences, BaseSpec = sequences.Source.Kind == Discrete.DiscreteSourceKind.Masked ? "masked" : "uniform" };
        _ = pieces.ModelSpecFor(config);
        return pieces;
    }

    /// <summary>The teacher of a distilled flow map (its networks), when one was given; disposed with the pieces.</summary>
    public Checkpoint? Teacher { get; init; }

    /// <summary>
    /// Releases what the pieces hold natively, where a run ends: the coupling's solver state (the OT solvers' carried potentials)
    /// and a distilled flow map's teacher networks.
    /// </summary>
    public void Release()
    {
        (Coupling as IDisposable)?.Dispose();
        Teacher?.Dispose();
    }

    // A teacher must have been trained on the same interpolant, data shape and classes: its velocity is the right-hand side of
    // the flow the student learns, on the student's x_s.
    private static Checkpoint LoadTeacher(string folder, TrainingRunConfig config, IInterpolant interpolant, IDistribution target, ImagePieces? images, TablePieces? table)
    {
        CheckpointManifest manifest;
        try { manifest = Checkpoint.ReadManifest(folder); }
        catch (CheckpointException e) { throw new InvalidSettingException("teacher", $"the teacher: {e.Message}"); }
        if (manifest.Networks.Any(n => n.Represents == FieldKind.FlowMap))
            throw new InvalidSettingException("teacher", $"the teacher '{folder}' is itself a flow map; distil from a velocity (or score) checkpoint");
        var theirs = manifest.Interpolant;
        if (!string.Equals(theirs.Family.Trim(), config.Interpolant.Trim(), StringComparison.OrdinalIgnoreCase)
            || !string.Equals(theirs.Gamma.Trim(), config.Gamma.Trim(), StringComparison.OrdinalIgnoreCase) || theirs.GammaScale != config.GammaScale)
            throw new InvalidSettingException("teacher", $"the teacher '{folder}' was trained on the {manifest.Interpolant.Build().Name} interpolant ({manifest.Interpolant.Gamma} gamma), this run uses {interpolant.Name} ({config.Gamma} gamma): give the same --interpolant and --gamma");
        var shape = images?.Record.Shape ?? (IReadOnlyList<long>)[target.Dimension];
        if (!manifest.SampleShape().SequenceEqual(shape))
            throw new InvalidSettingException("teacher", $"the teacher '{folder}' generates samples of shape [{string.Join(", ", manifest.SampleShape())}], this run's data has [{string.Join(", ", shape)}]");
        var classes = table?.Record.ClassNames ?? (images is { ConditionClasses: > 0 } ? images.Record.ClassNames : null);
        var teacherClasses = manifest.ConditionClasses();
        if ((classes is null) != (teacherClasses is null) || (classes is not null && !teacherClasses!.SequenceEqual(classes)))
            throw new InvalidSettingException("teacher", $"the teacher '{folder}' is {(teacherClasses is null ? "unconditional" : $"conditioned on classes {string.Join(", ", teacherClasses)}")}, this run is {(classes is null ? "unconditional" : $"conditioned on classes {string.Join(", ", classes)}")}: the classes must agree");
        var checkpoint = Checkpoint.Load(folder, device: ComputeDevice.Resolve(config.Device));
        try
        {
            if (!checkpoint.Fields().CanProvide(FieldKind.Velocity))
                throw new InvalidSettingException("teacher", $"the teacher '{folder}' has no velocity on its {interpolant.Name} path (its networks: {string.Join(", ", manifest.Networks.Select(n => InterpolantPath.Describe(n.Represents)))})");
            foreach (var n in checkpoint.Networks) foreach (var p in n.Network.Module.parameters()) p.requires_grad = false;
            return checkpoint;
        }
        catch { checkpoint.Dispose(); throw; }
    }

    // Options that only mean something for a table file.
    private static void RefuseTableOptions(TrainingRunConfig config, string what)
    {
        if (config.Validation is { } v && v.Trim() != "0")
            throw new InvalidSettingException("validation", $"'{config.Target}' is {what}: validation rows go with a table file (give --validation 0 or a CSV --target)");
        RefuseColumnOptions(config, what);
    }

    // Options that read a table's columns and rows (--columns, --label-column, --log-columns, --skip-rows).
    private static void RefuseColumnOptions(TrainingRunConfig config, string what)
    {
        foreach (var (name, given) in new[] { ("columns", config.Columns), ("label-column", config.LabelColumn), ("log-columns", config.LogColumns) })
            if (given is not null) throw new InvalidSettingException(name, $"'{config.Target}' is {what}, not a table");
        if (config.SkipRows != 0) throw new InvalidSettingException("skip-rows", $"'{config.Target}' is {what}, not a table");
    }

    /// <summary>True when <paramref name="spec"/> names a file rather than a built-in distribution.</summary>
    public static bool IsFile(string spec) => Distributions.TryParse(spec, null) is null;

    /// <summary>
    /// One network per learned field, of the configured architecture: the first keeps the run's seed, the others are offset
    /// from it, so adding a field never changes the velocity network's initialisation.
    /// </summary>
    public IReadOnlyList<ITimeConditionedNetwork> CreateNetworks(TrainingRunConfig config)
    {
        var spec = ModelSpecFor(config);
        var seed = config.TrainingOrDefault.Seed;
        return Objectives.Select((_, i) => spec.Build(seed + 7919L * i)).ToList();
    }

    /// <summary>
    /// The architecture: <see cref="ModelOptions.Type"/> (by default a U-Net for images, an MLP otherwise) on the target's
    /// shape, with a class input when a table has a label column or an image run is class-conditional, and an image
    /// condition of the coupling's channels for a data-dependent coupling (docs/theory.md §12.4). Validated.
    /// </summary>
    public ModelSpec ModelSpecFor(TrainingRunConfig config)
    {
        var m = config.ModelOrDefault;
        if (Manifold is { } onManifold) return onManifold.ModelSpec(m);
        if (Sequences is { } sequences) return sequences.ModelSpec(m);
        var type = m.Type?.Trim().ToLowerInvariant() ?? (Images is null ? "mlp" : "unet");
        var classes = Table?.Record.ClassNames?.Count ?? Images?.ConditionClasses ?? 0;
        var conditionChannels = Coupling is DataDependentCoupling dependent ? dependent.ConditionChannels : 0;
        switch (type)
        {
            case "mlp":
                if (conditionChannels > 0)
                    throw new InvalidSettingException("model", $"the '{((DataDependentCoupling)Coupling).Corruption.Name}' coupling conditions the network on an image, which only the U-Net takes (use --model unet)");
                var mlp = new MlpConfig(Target.Dimension, m.Width, m.Depth, m.Activation, m.TimeFrequencies, Classes: classes, TwoTimes: config.LearnsFlowMap);
                mlp.Validate();
                return new ModelSpec("mlp", mlp);
            case "unet":
                if (Images is null) throw new InvalidSettingException("model", $"a U-Net needs images; '{Target.Name}' is flat data (use --model mlp)");
                var unet = Images.UNetConfig(m) with { ConditionChannels = conditionChannels, TwoTimes = config.LearnsFlowMap };
                try { unet.Validate(); }
                catch (ArgumentException e) when (e is not InvalidSettingException) { throw new InvalidSettingException("unet", e.Message); }
                return new ModelSpec("unet", null, unet.ToJson());
            default:
                throw new InvalidSettingException("model", $"unknown model '{m.Type}' (expected mlp or unet)");
        }
    }
}

/// <summary>
/// A file target made ready for training (docs/theory.md §8): read with the configured columns, rows and label column;
/// integer columns dequantised (or refused); split into training and validation rows by a seeded permutation (or a
/// second file); scaled by an encoding fitted to the training rows; a Gaussian baseline fitted to them.
/// </summary>
/// <param name="Record">What the checkpoint records.</param>
/// <param name="Target">The training rows as the flow sees them.</param>
/// <param name="ValidationRows">Validation rows, dequantised once (fixed seed) and encoded: [m, d] (m may be 0).</param>
/// <param name="ValidationLabels">Their class indices, or null.</param>
/// <param name="Warnings">One line each: constant columns, dequantised columns, a table small against the model.</param>
public sealed record TablePieces(TableRecord Record, EncodedTable Target, Tensor ValidationRows, Tensor? ValidationLabels, IReadOnlyList<string> Warnings)
{
    /// <summary>Per validation row, the encoding's log-Jacobian beyond log |det W| (<see cref="TableEncoding.LogJacobian"/>
    /// minus <see cref="TableEncoding.LogAbsDeterminant"/>: -sum over log columns of log x_j), [m] float64; null without
    /// log columns. The validator adds its mean over the rows it scores.</summary>
    public Tensor? ValidationLogJacobian { get; init; }

    /// <summary>Seeds of the fixed dequantisation draws (the fit and the validation rows), offset from the run's seed.</summary>
    public const long FitNoiseSeed = 0x46495431, ValidationNoiseSeed = 0x56414C31;

    /// <summary>Below this many rows the default validation fraction is 0 (a tenth would be one or two rows).</summary>
    public const int MinimumRowsForDefaultSplit = 20;

    /// <summary>Reads and prepares the table <see cref="TrainingRunConfig.Target"/> of <paramref name="config"/>.</summary>
    public static TablePieces Build(TrainingRunConfig config)
    {
        var read = new TableReadOptions(config.Columns, config.SkipRows, config.LabelColumn);
        var seed = config.TrainingOrDefault.Seed;
        var warnings = new List<string>();
        using var data = CsvTable.Read(config.Target, read);
        warnings.AddRange(data.Notes); // a first line skipped as metadata, said so
        if (data.Count < 2) throw new DataFormatException($"'{config.Target}' has only one data row; at least 2 are needed to train on or score against");
        var names = data.ColumnNames;
        var dequantized = IntegerColumns(config, data);
        if (dequantized.Count > 0)
            warnings.Add($"columns {Names(names, dequantized)} hold only whole numbers: dequantised (u ~ U[0, 1) added on every draw; samples are rounded down; NLLs are of the dequantised density)");
        int[] trainIdx, valIdx;
        double fraction = 0;
        string? validationFile = null, validationSha = null;
        TableData? validation = null;
        try
        {
            // By default a tenth of the rows validate; a table too small to spare them trains on every row (and says so).
            var spec = config.Validation?.Trim() ?? (data.Count >= MinimumRowsForDefaultSplit ? "0.1" : "0");
            if (config.Validation is null && data.Count < MinimumRowsForDefaultSplit)
                warnings.Add($"only {data.Count} rows: too few to hold out validation rows by default, so every row trains and the last step is kept (give --validation FILE to validate)");
            if (double.TryParse(spec, NumberStyles.Float, CultureInfo.InvariantCulture, out var f))
            {
                if (!(f >= 0 && f < 1)) throw new InvalidSettingException("validation", $"a validation fraction must be in [0, 1), got {spec}");
                fraction = f;
                try { (trainIdx, valIdx) = RowSplit.Random((int)data.Count, fraction, seed); }
                catch (ArgumentException e) { throw new InvalidSettingException("validation", e.Message); }
            }
            else
            {
                if (!File.Exists(spec)) throw new InvalidSettingException("validation", $"'{spec}' is neither a fraction in [0, 1) nor an existing file");
                validation = CsvTable.Read(spec, read);
                if (!validation.ColumnNames.SequenceEqual(names))
                    throw new InvalidSettingException("validation", $"validation file '{spec}' has columns ({string.Join(", ", validation.ColumnNames)}), the target ({string.Join(", ", names)})");
                validationFile = Path.GetFullPath(spec); validationSha = validation.Sha256;
                (trainIdx, valIdx) = (Enumerable.Range(0, (int)data.Count).ToArray(), []);
            }
            using var scope = NewDisposeScope();
            var trainRows = data.Rows.index_select(0, tensor(trainIdx.Select(i => (long)i).ToArray()));
            var trainLabels = data.Labels is null ? null : trainIdx.Select(i => data.Labels[i]).ToArray();
            var valRows = validation is not null ? validation.Rows : data.Rows.index_select(0, tensor(valIdx.Select(i => (long)i).ToArray()));
            var valLabels = validation is not null ? ValidationLabelsIn(validation, data.ClassNames) : data.Labels is null ? null : valIdx.Select(i => data.Labels[i]).ToArray();
            // The scaling and the baseline are fitted to one fixed dequantised draw of the training rows.
            var identity = TableEncoding.Identity(names.Count, dequantized);
            using var fitNoise = new Generator((ulong)(seed ^ FitNoiseSeed));
            var fitted = identity.Dequantize(trainRows, fitNoise);
            var support = TableSupport.Of(trainRows);
            var logColumns = LogColumns(config, names, trainRows, valRows);
            var snap = config.Integers.Trim().ToLowerInvariant() == "snap";
            var snapped = snap
                ? dequantized.Where(j => support.Columns[j].Values is not null).Select(j => new SnappedColumn(j, support.Columns[j].Values!)).ToList()
                : null;
            var encoding = TableEncoding.Fit(fitted, config.NormalizationFor(fileTarget: true), dequantized, logColumns).WithSnapping(snapped);
            if (encoding.ConstantColumns.Count > 0)
                warnings.Add($"columns {Names(names, encoding.ConstantColumns)} are constant in the training rows: their density is degenerate (scale taken as 1); drop them with --columns drop:...");
            if (snap && snapped!.Count == 0)
                warnings.Add($"--integers snap: no column holds at most {TableSupport.FewValues} distinct whole numbers; nothing is snapped");
            var baseline = FittedGaussian.Fit(fitted, trainLabels, data.ClassNames?.Count ?? 1);
            using var valNoise = new Generator((ulong)(seed ^ ValidationNoiseSeed));
            // The validation rows are dequantised once (as Encode would with the same stream) and kept for their log-Jacobian.
            var dequantizedValidation = valRows.shape[0] == 0 ? zeros(0, names.Count, dtype: float64) : encoding.Dequantize(valRows, valNoise);
            var encodedValidation = valRows.shape[0] == 0 ? zeros(0, names.Count) : encoding.Encode(dequantizedValidation);
            var validationJacobian = valRows.shape[0] == 0 || encoding.LogColumns is not { Count: > 0 } ? null
                : (encoding.LogJacobian(dequantizedValidation) - encoding.LogAbsDeterminant).DetachFromDisposeScope();
            var classCounts = trainLabels is null ? null : Enumerable.Range(0, data.ClassNames!.Count).Select(c => (long)trainLabels.Count(l => l == c)).ToList();
            var record = new TableRecord(Path.GetFullPath(config.Target), data.Sha256, data.Count, names, read, data.ClassNames, classCounts,
                fraction, validationFile, validationSha, seed, trainIdx.Length, (int)valRows.shape[0], encoding, baseline, null, support);
            var target = new EncodedTable(trainRows, trainLabels, encoding, config.Target);
            return new TablePieces(record, target, encodedValidation.DetachFromDisposeScope(),
                valLabels is null ? null : tensor(valLabels).DetachFromDisposeScope(), warnings) { ValidationLogJacobian = validationJacobian };
        }
        finally { validation?.Dispose(); }
    }

    /// <summary>A CSV base read like the target and encoded by the target's map (so both ends live in the flow's space).</summary>
    public EncodedTable EncodedBase(string path) => EncodedBase(Record, path, Target.Name);

    /// <summary>
    /// The CSV base <paramref name="path"/> of a run on <paramref name="table"/> (named <paramref name="targetName"/> in
    /// messages): read with the target's columns, its label column set aside (the base has no classes), and encoded by the
    /// target's map. Used when training starts and when a checkpoint rebuilds its base.
    /// </summary>
    public static EncodedTable EncodedBase(TableRecord table, string path, string targetName)
    {
        using var data = CsvTable.Read(path, table.Read);
        if (data.ColumnNames.Count != table.Columns.Count)
            throw new ArgumentException($"base '{path}' has dimension {data.ColumnNames.Count} but target '{targetName}' has dimension {table.Columns.Count} (as read, after --columns)");
        // The base goes through the target's map on every draw: a value a log column cannot take is refused now, not mid-run.
        try { table.Encoding.Encode(data.Rows).Dispose(); }
        catch (DataFormatException e) { throw new InvalidSettingException("base", $"base '{path}': {e.Message}"); }
        return new EncodedTable(data.Rows, null, table.Encoding, Path.GetFileName(path));
    }

    /// <summary>
    /// The warning for a table that is small against the model, or null: fewer training values (rows x columns) than a tenth
    /// of the network's parameters. Early stopping guards against the overfitting this invites. (A smaller network is no
    /// general cure: measured on sklearn's tables, width 64 x 3 beat the default 256 x 4 on iris and lost on breast cancer.)
    /// </summary>
    public string? SizeWarning(long parameters)
    {
        var values = (long)Record.TrainingRows * Record.Columns.Count;
        if (values * 10 >= parameters) return null;
        var guard = Record.ValidationRows > 0
            ? "the validation rows choose the step before it is (see loss.png)"
            : "with no validation rows nothing stops that: give --validation 0.1 or a file";
        return $"the table is small for the model: {Record.TrainingRows} training rows x {Record.Columns.Count} columns against {parameters:N0} parameters can be memorised; " +
               $"{guard}, and si eval compares the result with a Gaussian fitted to the same rows";
    }

    private static IReadOnlyList<int> IntegerColumns(TrainingRunConfig config, TableData data)
    {
        if (data.IntegerColumns.Count == 0) return [];
        if (config.Integers.Trim().ToLowerInvariant() == "refuse")
            throw new InvalidSettingException("integers", $"columns {Names(data.ColumnNames, data.IntegerColumns)} of '{config.Target}' hold only whole numbers: a density on integers is degenerate (a flow would pile its mass onto them); dequantise them (--integers dequantize) or drop them (--columns drop:...)");
        return data.IntegerColumns;
    }

    /// <summary>
    /// The training rows' support (<see cref="TableRecord.Support"/>); for a checkpoint written before it was recorded,
    /// computed from the training rows of its table file when that file is still there unchanged; else null.
    /// </summary>
    public static TableSupport? SupportOf(TableRecord table)
    {
        if (table.Support is { } recorded) return recorded;
        try
        {
            if (!File.Exists(table.File)) return null;
            using var data = CsvTable.Read(table.File, table.Read);
            if (data.Sha256 != table.Sha256 || data.Count != table.FileRows) return null;
            using var index = tensor(table.Split().Training.Select(i => (long)i).ToArray());
            using var rows = data.Rows.index_select(0, index);
            return TableSupport.Of(rows);
        }
        catch (Exception e) when (e is IOException or DataFormatException or InvalidSettingException or UnauthorizedAccessException) { return null; }
    }

    /// <summary>"; log: a, b; snapped to observed values: c" for the data summary, or "" without these transforms.</summary>
    public static string TransformNote(TableRecord table)
    {
        var e = table.Encoding;
        var s = "";
        if (e.LogColumns is { Count: > 0 } logs) s += $"; through a log (y = log x, NLL in data units): {Names(table.Columns, logs)}";
        if (e.SnappedColumns is { Count: > 0 } snapped) s += $"; generated values snapped to the observed ones: {Names(table.Columns, [.. snapped.Select(c => c.Column)])}";
        return s;
    }

    /// <summary>
    /// The line <c>si sample</c> prints about generated values outside the training rows' range (docs/theory.md §8): the
    /// share of rows with one, then the columns, largest first.
    /// </summary>
    /// <returns>The line, and the share of rows with a value outside (null when there is no record to count against).</returns>
    public static (string Note, double? RowsOutside) OutsideNote(TableRecord table, Tensor samples)
    {
        if (SupportOf(table) is not { } support)
            return ("no count of generated values outside the training range: this checkpoint predates its record and its table file is not there unchanged", null);
        var rows = support.RowsOutside(samples);
        var columns = support.Outside(samples, table.Columns);
        return (rows == 0 ? TableSupport.Summary(columns)
            : $"{(100 * rows).ToString(rows < 0.001 ? "G2" : "F1", CultureInfo.InvariantCulture)} % of the rows have a value outside the training range; {TableSupport.Summary(columns)}", rows);
    }

    // The columns --log-columns names (positions in the flow's order), each checked to be strictly positive in the
    // training and validation rows; "positive" picks every column that is.
    private static IReadOnlyList<int>? LogColumns(TrainingRunConfig config, IReadOnlyList<string> names, Tensor trainRows, Tensor validationRows)
    {
        if (config.LogColumns is not { } spec) return null;
        var items = spec.Split(',').Select(t => t.Trim()).ToArray();
        if (items.Length == 0 || items.Any(t => t.Length == 0)) throw new InvalidSettingException("log-columns", $"log-columns '{spec}' has an empty item (give column names, 1-based positions, or positive)");
        using var all = cat([trainRows.to(float64), validationRows.to(float64)], 0);
        using var min = all.min(0).values;
        var smallest = min.data<double>().ToArray();
        if (items is [var only] && only.Equals("positive", StringComparison.OrdinalIgnoreCase))
            return [.. Enumerable.Range(0, names.Count).Where(j => smallest[j] > 0)];
        var columns = new List<int>();
        foreach (var item in items)
        {
            var j = names.ToList().FindIndex(n => n.Equals(item, StringComparison.OrdinalIgnoreCase));
            if (j < 0 && int.TryParse(item, NumberStyles.None, CultureInfo.InvariantCulture, out var k) && k >= 1 && k <= names.Count) j = k - 1;
            if (j < 0) throw new InvalidSettingException("log-columns", $"no feature column '{item}' (columns: {string.Join(", ", names)}; or positive)");
            if (!(smallest[j] > 0))
                throw new InvalidSettingException("log-columns", $"column {names[j]} holds {smallest[j]:G6} (training or validation rows): a log transform needs values > 0");
            if (!columns.Contains(j)) columns.Add(j);
        }
        return columns;
    }

    // A validation file's labels in the training file's class numbering; a class the training rows never saw is refused
    // as a bad --validation (the file does not fit this target).
    private static long[]? ValidationLabelsIn(TableData validation, IReadOnlyList<string>? classes)
    {
        if (classes is null) return null;
        try { return validation.LabelsIn(classes); }
        catch (DataFormatException e) { throw new InvalidSettingException("validation", e.Message); }
    }

    /// <summary>Column names, comma-separated, for messages.</summary>
    internal static string Names(IReadOnlyList<string> names, IReadOnlyList<int> columns) => string.Join(", ", columns.Select(c => names[c]));
}
