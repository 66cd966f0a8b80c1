using System.CommandLine;
using StochasticInterpolants.Data;
using StochasticInterpolants.Distributed;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using StochasticInterpolants.Runs;
using StochasticInterpolants.Training;

namespace StochasticInterpolants.Cli;

/// <summary><c>si train</c>: learn the velocity b(t, x) carrying rho0 to rho1, and write a checkpoint.</summary>
internal static class TrainCommand
{
    private static readonly TrainingRunConfig D = new();
    private static readonly TrainingOptions DT = new();
    private static readonly ModelOptions DM = new();
    private static readonly Couplings.CouplingOptions DC = new();

    /// <summary>The options of a training run; every one is optional and overrides --config, which overrides the defaults.</summary>
    internal sealed class RunOptions
    {
        public readonly Option<string?> Target = new("--target") { Description = $"target rho1: {string.Join(", ", Distributions.Names)}; on a manifold: {string.Join(", ", [.. ManifoldTargets.Names, .. ProteinAngles.Names])} (or a CSV with --manifold); token sequences: {string.Join(", ", Runs.WordList.Names)} (Debian's English word list, fetched on first use); a CSV file (a table); images: {string.Join(", ", ImageDatasets.Names)} (fetched from Debian packages on first use), a folder with one sub-folder of PNG/JPEG images per class, or a .npy / .npz file (default {D.Target})" };
        public readonly Option<string?> Base = new("--base") { Description = $"base rho0: gaussian or a CSV file; on a manifold: uniform (the default there) or wrapped-gaussian[:SIGMA] on a torus; words: masked (the default there) or uniform tokens (default {D.Base})" };
        public readonly Option<string?> Interpolant = new("--interpolant") { Description = $"{string.Join(", ", InterpolantSpec.Families)} (default {D.Interpolant})" };
        public readonly Option<string?> Gamma = new("--gamma") { Description = $"latent noise gamma(t): none, sqrt (sqrt(a t(1-t))), quadratic (a t(1-t)), sin2 (a sin^2(pi t)) (default {D.Gamma})" };
        public readonly Option<double?> GammaScale = new("--gamma-scale") { Description = $"the scale a of gamma(t) (default {D.GammaScale})" };
        public readonly Option<bool?> Antithetic = new("--antithetic") { Description = "antithetic loss: average over x_t = I + gamma z and I - gamma z" };
        public readonly Option<double?> TimeClip = new("--t-clip") { Description = "draw t from [c, 1 - c] (default: 1e-3 where a derivative is singular at the ends, else 0)" };
        public readonly Option<string?> Model = new("--model") { Description = "network: mlp or unet (default: unet for images, mlp otherwise)" };
        public readonly Option<string?> UNetPreset = new("--unet") { Description = $"U-Net size: {string.Join(", ", UNetConfig.PresetNames)} (default {DM.UNetPreset})" };
        public readonly Option<int?> UNetChannels = new("--unet-channels") { Description = "U-Net channels at full resolution (default: the preset's)" };
        public readonly Option<string?> UNetMultipliers = new("--unet-multipliers") { Description = "U-Net channel multiplier per level, e.g. 1,2,2 (one level per entry; default: the preset's)" };
        public readonly Option<int?> UNetAttention = new("--unet-attention") { Description = "U-Net self-attention at levels of at most this many pixels a side; 0 = none (default: the preset's)" };
        public readonly Option<string?> Condition = new("--condition") { Description = "images: class (condition on the labels, with a learned no-class entry for guidance) or none (default: class when the images are labelled); words: length (each word's length is its class) or none (default)" };
        public readonly Option<double?> CondDrop = new("--cond-drop") { Description = $"probability of dropping a row's class label in training, so guidance can use the unconditional field (default {TrainingRunConfig.ImageTrainingDefaults.ConditionDropout} for images, {DT.ConditionDropout} for tables)" };
        public readonly Option<string?> Coupling = new("--coupling") { Description = "how x0 and x1 are paired: independent, ot (exact minibatch optimal transport; within each class for a class-conditional model), sinkhorn (entropic OT: the Schrödinger bridge with --gamma sqrt --gamma-scale EPS), mirror; data-dependent, for images (x0 is a corruption of x1 and the network sees the observation; complete with si sample --observed): inpaint, superres, denoise (default: mirror for the mirror interpolant, else independent)" };
        public readonly Option<int?> OtBlock = new("--ot-block") { Description = "ot: rows per exact solve; 0 = the whole batch (each class) at once, B > 0 = blocks of at most B rows, each optimal (faster at large batches, only blockwise optimal) (default 0)" };
        public readonly Option<double?> Epsilon = new("--epsilon") { Description = $"sinkhorn: entropic regularisation eps, in squared data units; the plan is exp(-|x0 - x1|^2 / (2 eps)) (default {DC.Epsilon})" };
        public readonly Option<int?> SinkhornIterations = new("--sinkhorn-iterations") { Description = $"sinkhorn: iterations per batch at most (default {DC.SinkhornIterations})" };
        public readonly Option<double?> SinkhornTolerance = new("--sinkhorn-tolerance") { Description = $"sinkhorn: stop when the plan's marginals are within this (L1) of uniform (default {DC.SinkhornTolerance})" };
        public readonly Option<string?> Mask = new("--mask") { Description = $"inpaint: the hidden region: center (the central square of half the side), random (such a square at a random place per image), left or top (half the image) (default {DC.Mask})" };
        public readonly Option<int?> Factor = new("--factor") { Description = $"super-resolution: the downsampling factor (default {DC.Factor})" };
        public readonly Option<double?> CorruptionNoise = new("--corruption-noise") { Description = $"denoise: the noise std added to x1; superres: the noise added to the upsampled x0 (flow's units, pixels in [-1, 1]) (default {DC.Noise})" };
        public readonly Option<int?> Width = new("--width") { Description = $"MLP hidden width (default {DM.Width})" };
        public readonly Option<int?> Depth = new("--depth") { Description = $"MLP hidden layers (default {DM.Depth})" };
        public readonly Option<string?> Activation = new("--activation") { Description = $"silu, gelu, relu, tanh, softplus (default {DM.Activation})" };
        public readonly Option<int?> TimeFrequencies = new("--time-frequencies") { Description = $"Fourier time-embedding frequencies (default {DM.TimeFrequencies})" };
        public readonly Option<int?> Steps = new("--steps") { Description = $"optimiser steps (default {DT.Steps})" };
        public readonly Option<int?> Batch = new("--batch") { Description = $"batch size (default {DT.BatchSize})" };
        public readonly Option<double?> Lr = new("--lr") { Description = $"peak learning rate (default {DT.LearningRate})" };
        public readonly Option<string?> Optimizer = new("--optimizer") { Description = $"adam or adamw (default {DT.Optimizer})" };
        public readonly Option<double?> WeightDecay = new("--weight-decay") { Description = $"weight decay (default {DT.WeightDecay})" };
        public readonly Option<int?> Warmup = new("--warmup") { Description = $"learning-rate warm-up steps (default {DT.WarmupSteps})" };
        public readonly Option<string?> Schedule = new("--schedule") { Description = $"cosine, linear or constant decay after warm-up (default {DT.Schedule})" };
        public readonly Option<double?> GradClip = new("--grad-clip") { Description = $"clip the gradient norm; 0 = off (default {DT.GradientClip})" };
        public readonly Option<double?> Ema = new("--ema") { Description = $"EMA decay of the weights used for sampling; 0 = off (default {DT.EmaDecay})" };
        public readonly Option<long?> Seed = new("--seed") { Description = $"random seed (default {DT.Seed})" };
        public readonly Option<int?> LogEvery = new("--log-every") { Description = $"steps per loss-log row (default {DT.LogEvery})" };
        public readonly Option<string?> Device = new("--device") { Description = "cpu, cuda or cuda:N (default cpu)" };
        public readonly Option<string?> Learn = new("--learn") { Description = "fields to learn: velocity, score, or velocity,score (the score is learned as the denoiser E[noise | x_t]; one network each), or flow-map (a two-time network whose jumps sample in 1-8 steps; its diagonal is the velocity) (default velocity)" };
        public readonly Option<string?> MapObjective = new("--map-objective") { Description = "flow map: lsd (Lagrangian self-distillation, a time derivative by finite difference) or psd (progressive self-distillation, no derivative) (default lsd)" };
        public readonly Option<double?> DiagonalFraction = new("--diagonal-fraction") { Description = $"flow map: the share of each batch trained on the diagonal (the velocity) by the interpolant regression (default {Objectives.FlowMapOptions.DefaultDiagonalFraction})" };
        public readonly Option<bool?> EmaTeacher = new("--ema-teacher") { Description = "flow map: self-distil from the moving average of the weights (needs --ema > 0) instead of the current weights" };
        public readonly Option<double?> TeacherGuidance = new("--teacher-guidance") { Description = "flow map with a class-conditional --teacher: distil the teacher's velocity guided with this weight w (the student's plain conditional map then jumps along the guided flow; sample it with guidance 1) (default 1)" };
        public readonly Option<string?> Teacher = new("--teacher") { Description = "flow map: distil the flow of this trained checkpoint's velocity (same interpolant, data and classes) instead of the model's own diagonal" };
        public readonly Option<int?> CheckpointEvery = new("--checkpoint-every") { Description = $"steps between resumable snapshots in OUT/train-state (also written on Ctrl-C) (default {D.CheckpointEvery})" };
        public readonly Option<string?> Normalize = new("--normalize") { Description = "scale a table's columns before training: standard, whiten or none; undone when sampling, likelihoods in the data's units (default: standard for a CSV target, none for a built-in one)" };
        public readonly Option<string?> Validation = new("--validation") { Description = "validation rows of a CSV target: a fraction held out (seeded by --seed), 0 for none, or a CSV file (default 0.1 for a CSV target; built-in targets have none)" };
        public readonly Option<string?> Columns = new("--columns") { Description = "columns of a CSV target to use: 1-based indices, ranges and header names, e.g. 1-4 or sepal_length,petal_width; prefix drop: to remove them, e.g. drop:last (default: all)" };
        public readonly Option<int?> SkipRows = new("--skip-rows") { Description = "leading lines of the CSV files to skip (e.g. a metadata line) (default 0)" };
        public readonly Option<string?> LabelColumn = new("--label-column") { Description = "a CSV column of class labels (index, last or name) that conditions generation; removed from the features" };
        public readonly Option<string?> Integers = new("--integers") { Description = $"columns holding only whole numbers: dequantize (add u ~ U[0,1) on every draw), snap (dequantize, and move generated values of a column of at most {TableSupport.FewValues} whole numbers to the nearest value the training rows hold) or refuse (default {D.Integers})" };
        public readonly Option<string?> LogColumns = new("--log-columns") { Description = "strictly positive table columns to model through y = log x (generated values stay > 0; NLLs stay in the data's units): names or 1-based positions among the features, comma-separated, or positive (every column whose values are all > 0) (default: none)" };
        public readonly Option<int?> ValidateEvery = new("--validate-every") { Description = "steps between validations (default: --log-every)" };
        public readonly Option<string?> Manifold = new("--manifold") { Description = "the manifold a CSV target's points live on: sphere:3 (unit vectors in R^3), torus:2 (two angles in radians in [-pi, pi)), torus:DxR:K ...; the geodesic interpolant is used, with a uniform base (or --base wrapped-gaussian on a torus). The targets vmf-mixture, von-mises-mixture and ramachandran know their manifold" };
        public readonly Option<int?> Length = new("--length") { Description = $"token sequences (--target words): the positions L, the longest word kept (default {Runs.WordList.DefaultMaxLength})" };
        public readonly Option<int?> Patience = new("--patience") { Description = $"validations without improvement before training stops; 0 never stops early (default {D.Patience})" };

        public IEnumerable<Option> All => [Target, Base, Interpolant, Gamma, GammaScale, Antithetic, TimeClip, Model, UNetPreset, UNetChannels, UNetMultipliers,
            UNetAttention, Condition, CondDrop, Coupling, OtBlock, Epsilon, SinkhornIterations, SinkhornTolerance, Mask, Factor, CorruptionNoise, Width, Depth, Activation, TimeFrequencies,
            Steps, Batch, Lr, Optimizer, WeightDecay, Warmup, Schedule, GradClip, Ema, Seed, LogEvery, Device, Learn, MapObjective, DiagonalFraction, Teacher, TeacherGuidance, EmaTeacher, CheckpointEvery,
            Normalize, Validation, Columns, SkipRows, LabelColumn, Integers, LogColumns, ValidateEvery, Patience, Manifold, Length];

        /// <summary>Overlays the options given on the command line onto <paramref name="c"/>.</summary>
        public TrainingRunConfig Apply(ParseResult r, TrainingRunConfig c)
        {
            // First: the training defaults depend on the target (images or not) and the coupling (an image condition drops no labels).
            c = c with { Target = r.GetValue(Target) ?? c.Target, Coupling = r.GetValue(Coupling) ?? c.Coupling, Condition = r.GetValue(Condition) ?? c.Condition };
            var m = c.ModelOrDefault; var t = c.TrainingOrDefault;
            m = m with
            {
                Width = r.GetValue(Width) ?? m.Width, Depth = r.GetValue(Depth) ?? m.Depth,
                Activation = r.GetValue(Activation) ?? m.Activation, TimeFrequencies = r.GetValue(TimeFrequencies) ?? m.TimeFrequencies,
                Type = r.GetValue(Model) ?? m.Type, UNetPreset = r.GetValue(UNetPreset) ?? m.UNetPreset, UNetChannels = r.GetValue(UNetChannels) ?? m.UNetChannels,
                UNetMultipliers = r.GetValue(UNetMultipliers) ?? m.UNetMultipliers, UNetAttention = r.GetValue(UNetAttention) ?? m.UNetAttention,
            };
            t = t with
            {
                Steps = r.GetValue(Steps) ?? t.Steps, BatchSize = r.GetValue(Batch) ?? t.BatchSize, LearningRate = r.GetValue(Lr) ?? t.LearningRate,
                Optimizer = r.GetValue(Optimizer) ?? t.Optimizer, WeightDecay = r.GetValue(WeightDecay) ?? t.WeightDecay,
                WarmupSteps = r.GetValue(Warmup) ?? t.WarmupSteps, Schedule = r.GetValue(Schedule) ?? t.Schedule,
                GradientClip = r.GetValue(GradClip) ?? t.GradientClip, EmaDecay = r.GetValue(Ema) ?? t.EmaDecay,
                Seed = r.GetValue(Seed) ?? t.Seed, LogEvery = r.GetValue(LogEvery) ?? t.LogEvery, ConditionDropout = r.GetValue(CondDrop) ?? t.ConditionDropout,
            };
            var fm = c.FlowMap;
            if (r.GetValue(MapObjective) is not null || r.GetValue(DiagonalFraction) is not null || r.GetValue(Teacher) is not null || r.GetValue(EmaTeacher) is not null
                || r.GetValue(TeacherGuidance) is not null)
            {
                fm ??= new FlowMapRunOptions();
                fm = fm with
                {
                    Objective = r.GetValue(MapObjective) ?? fm.Objective, DiagonalFraction = r.GetValue(DiagonalFraction) ?? fm.DiagonalFraction,
                    Teacher = r.GetValue(Teacher) is { } teacher ? Path.GetFullPath(teacher) : fm.Teacher,
                    EmaTeacher = r.GetValue(EmaTeacher) ?? fm.EmaTeacher, TeacherGuidance = r.GetValue(TeacherGuidance) ?? fm.TeacherGuidance,
                };
            }
            var co = c.CouplingOptions ?? new Couplings.CouplingOptions();
            co = co with
            {
                OtBlock = r.GetValue(OtBlock) ?? co.OtBlock, Epsilon = r.GetValue(Epsilon) ?? co.Epsilon, SinkhornIterations = r.GetValue(SinkhornIterations) ?? co.SinkhornIterations,
                SinkhornTolerance = r.GetValue(SinkhornTolerance) ?? co.SinkhornTolerance,
                Mask = r.GetValue(Mask) ?? co.Mask, Factor = r.GetValue(Factor) ?? co.Factor, Noise = r.GetValue(CorruptionNoise) ?? co.Noise,
            };
            return c with
            {
                Coupling = r.GetValue(Coupling) ?? c.Coupling, CouplingOptions = co == new Couplings.CouplingOptions() && c.CouplingOptions is null ? null : co,
                Base = r.GetValue(Base) ?? c.Base, Condition = r.GetValue(Condition) ?? c.Condition, Interpolant = r.GetValue(Interpolant) ?? c.Interpolant,
                Gamma = r.GetValue(Gamma) ?? c.Gamma, GammaScale = r.GetValue(GammaScale) ?? c.GammaScale,
                Antithetic = r.GetValue(Antithetic) ?? c.Antithetic, TimeClip = r.GetValue(TimeClip) ?? c.TimeClip,
                Device = r.GetValue(Device) ?? c.Device, Learn = r.GetValue(Learn) ?? c.Learn, Model = m, Training = t, FlowMap = fm,
                CheckpointEvery = r.GetValue(CheckpointEvery) ?? c.CheckpointEvery,
                Normalize = r.GetValue(Normalize) ?? c.Normalize, Validation = r.GetValue(Validation) ?? c.Validation,
                Columns = r.GetValue(Columns) ?? c.Columns, SkipRows = r.GetValue(SkipRows) ?? c.SkipRows, LabelColumn = r.GetValue(LabelColumn) ?? c.LabelColumn,
                Integers = r.GetValue(Integers) ?? c.Integers, LogColumns = r.GetValue(LogColumns) ?? c.LogColumns, ValidateEvery = r.GetValue(ValidateEvery) ?? c.ValidateEvery, Patience = r.GetValue(Patience) ?? c.Patience,
                Manifold = r.GetValue(Manifold) ?? c.Manifold, SequenceLength = r.GetValue(Length) ?? c.SequenceLength,
            };
        }
    }

    // One line on what a flow-map run learns: the objective, its diagonal share and where the right-hand side comes from.
    private static string FlowMapSummary(TrainingRunConfig config)
    {
        var fm = config.FlowMapOrDefault;
        var source = fm.Teacher is { } teacher ? $"distilled from the velocity of '{teacher}'{(fm.TeacherGuidance != 1 ? FormattableString.Invariant($" guided with w = {fm.TeacherGuidance:G3}") : "")}" : fm.EmaTeacher ? "self-distilled from the moving average of its weights" : "self-distilled from its own diagonal";
        return FormattableString.Invariant($"learning the flow map X_s,t(x) = x + (t - s) v(s, t, x): {fm.DiagonalFraction:P0} of each batch on the diagonal (the velocity), the rest by {Objectives.FlowMapOptions.Name(Objectives.FlowMapOptions.ParseMethod(fm.Objective))}, {source}");
    }

    public static Command Create(TextWriter output, TextWriter error, IProcessGroup processes)
    {
        var run = new RunOptions();
        var config = new Option<string?>("--config") { Description = "JSON file with a training configuration (options given on the command line override it)" };
        var preset = new Option<string?>("--preset") { Description = $"a named configuration: {string.Join(", ", Presets.Names)} (options given on the command line override it)" };
        var outDir = new Option<string?>("--out") { Description = "output folder for the checkpoint, loss.csv and config.json (required unless --resume)" };
        var resume = new Option<string?>("--resume") { Description = "continue the interrupted run in this output folder from its last snapshot, with its stored configuration" };
        var force = new Option<bool>("--force") { Description = "replace a training run already in --out" };
        var threads = CommonOptions.Threads();
        var progress = CommonOptions.Progress();
        var mpiTimeout = CommonOptions.MpiTimeout();
        var command = new Command("train", "Learn the velocity b(t, x) of a stochastic interpolant from rho0 to rho1 by regression; write a checkpoint. Under mpiexec -n N, data-parallel: each process takes 1/N of every batch, rank 0 writes.");
        foreach (var o in run.All) command.Options.Add(o);
        foreach (var o in new Option[] { config, preset, outDir, resume, force, threads, progress, mpiTimeout }) command.Options.Add(o);
        command.SetAction(r =>
        {
            using var cts = CommonOptions.CancelOnCtrlC();
            CommonOptions.ApplyMpiTimeout(r.GetValue(mpiTimeout), processes);
            var display = new ProgressDisplay(CommonOptions.ProgressOf(r, progress, processes), error);
            TrainingRunResult result;
            string folder;
            if (r.GetValue(resume) is { } resumeFolder)
            {
                // The stored configuration is the run's; changing any of it would make the result differ from the uninterrupted run.
                var given = run.All.Concat([config, preset, outDir, force]).FirstOrDefault(o => r.GetResult(o) is { Implicit: false });
                if (given is not null) throw new UsageException($"--resume continues the stored configuration; {given.Name} cannot be combined with it");
                folder = resumeFolder;
                var cfg = TrainingRun.ResumableConfig(folder, processes); // reads and checks the snapshot before the native runtime starts
                if (TrainingRun.ResumeNote(folder, processes.Size) is { } note) error.WriteLine($"si: note: {note}");
                display.Note = CommonOptions.ApplyRuntime(r.GetValue(threads), processes);
                result = display.Train("train", cfg.TrainingOrDefault.Steps, p => TrainingRun.Resume(folder, p, cts.Token, processes));
            }
            else
            {
                if (r.GetValue(config) is not null && r.GetValue(preset) is not null) throw new UsageException("give --config or --preset, not both");
                folder = r.GetValue(outDir) ?? throw new UsageException("--out is required (or --resume DIR to continue a run)");
                var baseConfig = r.GetValue(config) is { } path ? TrainingRunConfig.FromJsonFile(path)
                    : r.GetValue(preset) is { } name ? Presets.Get(name, r.GetValue(run.Seed) ?? 0)
                    : new TrainingRunConfig();
                var cfg = run.Apply(r, baseConfig);
                var pieces = RunPieces.Build(cfg, m => error.WriteLine($"si: {m}")); // validate everything before the native runtime starts
                if (processes.Rank == 0) Checkpoints.OutputFolder.CheckForRun(folder, r.GetValue(force)); // rank 0 alone touches the folder
                display.Note = CommonOptions.ApplyRuntime(r.GetValue(threads), processes);
                foreach (var w in TrainingRun.Warnings(cfg, pieces)) error.WriteLine($"si: note: {w}");
                if (pieces.Table is { } table)
                    error.WriteLine(table.Record.ValidationRows > 0
                        ? $"si: {table.Record.TrainingRows} training rows, {table.Record.ValidationRows} validation rows ({(table.Record.ValidationFile is null ? $"a seeded {table.Record.ValidationFraction:G3} split" : "the validation file")}); columns scaled: {table.Record.Encoding.Normalization.ToString().ToLowerInvariant()}{TablePieces.TransformNote(table.Record)}"
                        : $"si: {table.Record.TrainingRows} training rows, no validation rows (every step trains; the last weights are kept); columns scaled: {table.Record.Encoding.Normalization.ToString().ToLowerInvariant()}{TablePieces.TransformNote(table.Record)}");
                if (pieces.Images is { } imageData) error.WriteLine($"si: {imageData.Summary()}");
                if (cfg.LearnsFlowMap) error.WriteLine($"si: {FlowMapSummary(cfg)}");
                pieces.Release(); // the run builds its own pieces (a teacher's networks, a solver's state)
                result = display.Train("train", cfg.TrainingOrDefault.Steps, p => TrainingRun.Execute(cfg, folder, p, cts.Token, overwrite: r.GetValue(force), processes: processes));
            }
            var t = result.Result;
            output.WriteLine($"trained {t.StepsCompleted} steps in {t.Elapsed.TotalSeconds:F1} s ({t.StepsPerSecond:G3} steps/s), final loss {t.FinalLoss:F4}{(processes.Size > 1 ? $", {processes.Size} processes" : "")}");
            if (t.Selection is { } kept) output.WriteLine(kept.Describe(result.Manifest.Training.Steps));
            // Once per run: plans used above their tolerance (recorded in the checkpoint's coupling).
            if (result.Manifest.Coupling?.Convergence is { UnconvergedBatches: > 0 } solves && processes.Rank == 0)
                error.WriteLine($"si: note: {solves.Describe(SiApp.FlagOf)}. Recorded in {Checkpoints.Checkpoint.ManifestFileName} (coupling.convergence).");
            output.WriteLine($"checkpoint: {Path.GetFullPath(folder)}");
            if (t.Completed && result.Manifest.Networks.Any(n => n.Represents == Interpolants.FieldKind.FlowMap))
                output.WriteLine($"sample in a few jumps: si sample --checkpoint {folder} --steps {SampleCommand.SolverOptions.DefaultJumps} --out FILE");
            if (!t.Completed) error.WriteLine($"si: interrupted at step {t.StepsCompleted}; continue with: si train --resume {folder}");
            return t.Completed ? ExitCodes.Ok : ExitCodes.Cancelled;
        });
        return command;
    }
}
