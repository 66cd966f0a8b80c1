using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Files;
using StochasticInterpolants.Likelihood;
using StochasticInterpolants.Metrics;
using StochasticInterpolants.Runs;
using StochasticInterpolants.Sampling;
using Spectre.Console;

namespace StochasticInterpolants.Cli;

/// <summary><c>si eval</c>: likelihood of held-out target points and sample distances, as a table and optionally JSON.</summary>
internal static class EvalCommand
{
    public static Command Create(TextWriter output, TextWriter error, Distributed.IProcessGroup processes)
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "a training output folder", Required = true };
        var target = new Option<string?>("--target") { Description = "the target to score against: a built-in name or a CSV file (its rows are the held-out set); a table checkpoint defaults to its training file when unchanged; an image checkpoint is scored on its data set's test split and takes no --target" };
        var json = new Option<string?>("--json") { Description = "also write the figures to this JSON file" };
        var count = new Option<int?>("--count") { Description = $"held-out points scored, and as many generated samples (default 5000); images: the test images whose bits/dim is computed (default {ImageEvaluationOptions.DefaultLikelihoodImages}, at least 2) — the generated images are set by --generated" };
        var guidance = new Option<double>("--guidance") { Description = "images: a guidance weight w whose conditional accuracy is scored beside w = 1 (the plain conditional model)", DefaultValueFactory = _ => 1.0 };
        var generated = new Option<int?>("--generated") { Description = $"images: generated images for the classifier and memorisation figures, per class for a class-conditional checkpoint (default {ImageEvaluationOptions.DefaultGenerated}; at a guidance weight w != 1 as many again)" };
        var estimator = new Option<string>("--estimator") { Description = "exact (d autograd passes), hutchinson (Rademacher) or hutchinson-gaussian", DefaultValueFactory = _ => "exact" };
        var force = new Option<bool>("--force") { Description = "overwrite --json if it exists" };
        var probes = new Option<int>("--probes") { Description = "Hutchinson probes per point", DefaultValueFactory = _ => 1 };
        var perObservation = new Option<int>("--per-observation") { Description = "a checkpoint trained with a data-dependent coupling: completions of each test image (k > 1 also scores their pixel-wise mean)", DefaultValueFactory = _ => 1 };
        var skipRows = new Option<int?>("--skip-rows") { Description = "a table checkpoint: leading lines of --target to skip (default: as in training; the columns are always read as in training)" };
        var solver = new SampleCommand.SolverOptions();
        var seed = CommonOptions.Seed();
        var threads = CommonOptions.Threads();
        var progress = CommonOptions.Progress();
        var mpiTimeout = CommonOptions.MpiTimeout();
        var command = new Command("eval", "Score a checkpoint: NLL of held-out target points (nats per sample, bits per dimension), distances between generated and target samples. " +
            "Under mpiexec -n N, each process scores and generates 1/N of the points and rank 0 prints and writes: the same figures as one process for the seed " +
            "(to float rounding; with dopri5 only to its tolerance, as its steps follow each process's rows).");
        foreach (var o in new Option[] { checkpoint, target, json, force, count, guidance, generated, estimator, probes, perObservation, skipRows, solver.Solver, solver.Steps, solver.Rtol, solver.Atol, seed, threads, progress, mpiTimeout }) command.Options.Add(o);
        solver.Steps.DefaultValueFactory = _ => PointSteps;
        solver.Steps.Description = $"steps of a fixed-step solver, for the likelihood and the generated samples (default {PointSteps}; images {ImageSteps}); " +
            $"on a flow-map checkpoint, the jumps of its generated samples (default {SampleCommand.SolverOptions.DefaultJumps}), its likelihood integrating the diagonal velocity at the default steps; " +
            "with --solver, a flow map's samples follow its diagonal velocity too and --steps counts the solver's steps";
        command.SetAction(r =>
        {
            CommonOptions.ApplyMpiTimeout(r.GetValue(mpiTimeout), processes);
            var mode = CommonOptions.ProgressOf(r, progress, processes);
            var ode = solver.Build(r);
            var est = r.GetValue(estimator)!.Trim().ToLowerInvariant() switch
            {
                "exact" => DivergenceEstimator.Exact,
                "hutchinson" or "hutchinson-rademacher" => DivergenceEstimator.HutchinsonRademacher,
                "hutchinson-gaussian" => DivergenceEstimator.HutchinsonGaussian,
                var other => throw new UsageException($"unknown --estimator '{other}' (expected exact, hutchinson, hutchinson-gaussian)"),
            };
            var jsonPath = r.GetValue(json);
            if (jsonPath is not null && processes.Rank == 0) OutputFolder.CheckFile(jsonPath, r.GetValue(force), "--json"); // rank 0 alone touches it
            var manifest = Checkpoint.ReadManifest(r.GetValue(checkpoint)!);
            if (r.GetResult(perObservation) is { Implicit: false } && !CheckpointCompletion.IsCompletion(manifest))
                throw new UsageException("--per-observation goes with a checkpoint trained with a data-dependent coupling (inpaint, superres, denoise)");
            if (manifest.Images is not null)
                return CheckpointCompletion.IsCompletion(manifest) ? EvaluateCompletions(r, manifest, mode, output, error) : EvaluateImages(r, manifest, mode, output, error);
            if (manifest.Manifold is not null) return EvaluateOnManifold(r, manifest, mode, output, error);
            if (manifest.Sequences is not null) return EvaluateSequences(r, manifest, mode, output, error);
            var targetSpec = r.GetValue(target) ?? TrainingFile(manifest, processes.Rank == 0 ? error : TextWriter.Null);
            // A table checkpoint scores a table file read as in training; anything else goes through the distributions.
            var targetDistribution = manifest.Table is null ? DataSources.Parse(targetSpec) : null;
            if (r.GetValue(skipRows) is { } skip && (skip < 0 || manifest.Table is null))
                throw new UsageException(skip < 0 ? $"--skip-rows must be 0 or more, got {skip}" : "--skip-rows goes with a checkpoint trained on a table");
            if (manifest.Table is not null && !File.Exists(targetSpec))
                throw new UsageException($"--target: this checkpoint was trained on a table; give a CSV file of rows to score ('{targetSpec}' is not a file)");
            // A flow map's samples are its jumps (--steps of them, as si sample makes them) unless --solver asks for the ODE of
            // its diagonal; the likelihood integrates that diagonal velocity either way, with the solver at its default steps.
            var jumps = Jumps(r, manifest);
            if (jumps is not null) ode = OdeSolvers.Create(r.GetValue(solver.Solver)!, PointSteps, r.GetValue(solver.Rtol), r.GetValue(solver.Atol));
            var threadNote = CommonOptions.ApplyRuntime(r.GetValue(threads), processes);
            using var ckpt = Checkpoint.Load(r.GetValue(checkpoint)!);
            var display = new ProgressDisplay(mode, error, threadNote);
            var options = new EvaluationOptions(r.GetValue(count) ?? 5000, ode, new LikelihoodOptions(est, r.GetValue(probes), r.GetValue(seed)), r.GetValue(seed), Jumps: jumps);
            var report = display.Fraction("eval", p => targetDistribution is null
                ? Evaluator.EvaluateTable(ckpt, targetSpec, options, p, r.GetValue(skipRows), processes)
                : Evaluator.Evaluate(ckpt, targetDistribution, options, p, processes));
            if (processes.Rank != 0) return ExitCodes.Ok; // every rank has the report; rank 0 prints and writes it
            foreach (var note in report.Notes ?? []) error.WriteLine($"si: note: {note}");
            Print(output, report);
            if (jsonPath is not null)
                AtomicFile.WriteText(jsonPath, JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));
            return ExitCodes.Ok;
        });
        return command;

        // The jumps of a flow-map checkpoint's samples (si sample's rule: --steps, default 2, unless --solver asks for the ODE); null otherwise.
        int? Jumps(ParseResult r, CheckpointManifest manifest) => solver.UsesJumps(r, manifest) ? solver.Jumps(r) : null;

        // A checkpoint on a manifold: its named target's entropy, or its held-out points beside fitted baselines (docs/theory.md §15.8).
        int EvaluateOnManifold(ParseResult r, CheckpointManifest manifest, ProgressMode mode, TextWriter output, TextWriter error)
        {
            if (r.GetValue(skipRows) is not null) throw new UsageException("--skip-rows goes with a checkpoint trained on a table");
            if (r.GetValue(guidance) != 1 || r.GetValue(generated) is not null) throw new UsageException("--guidance and --generated go with image checkpoints");
            var ode = solver.Build(r);
            var threadNote = CommonOptions.ApplyRuntime(r.GetValue(threads), processes);
            using var ckpt = Checkpoint.Load(r.GetValue(checkpoint)!);
            var display = new ProgressDisplay(mode, error, threadNote);
            var est = r.GetValue(estimator)!.Trim().ToLowerInvariant() switch
            {
                "exact" => DivergenceEstimator.Exact,
                "hutchinson" or "hutchinson-rademacher" => DivergenceEstimator.HutchinsonRademacher,
                _ => DivergenceEstimator.HutchinsonGaussian,
            };
            var options = new EvaluationOptions(r.GetValue(count) ?? 5000, ode, new LikelihoodOptions(est, r.GetValue(probes), r.GetValue(seed)), r.GetValue(seed));
            var report = display.Fraction("eval", p => ManifoldEvaluator.Evaluate(ckpt, r.GetValue(target), options, p, processes, m => error.WriteLine($"si: {m}")));
            if (processes.Rank != 0) return ExitCodes.Ok;
            foreach (var note in report.Notes ?? []) error.WriteLine($"si: note: {note}");
            Print(output, report);
            if (r.GetValue(json) is { } jsonFile)
                AtomicFile.WriteText(jsonFile, JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));
            return ExitCodes.Ok;
        }

        // Token sequences (docs/theory.md §16.4): the bound on held-out words beside an n-gram, and the generated words.
        int EvaluateSequences(ParseResult r, CheckpointManifest manifest, ProgressMode mode, TextWriter output, TextWriter error)
        {
            if (r.GetValue(target) is { } given) throw new UsageException($"--target: a word model is scored on its own held-out words, not '{given}'");
            foreach (var o in new Option[] { skipRows, estimator, probes, solver.Solver, solver.Rtol, solver.Atol })
                if (r.GetResult(o) is { Implicit: false }) throw new UsageException($"{o.Name} does not apply to token sequences: their likelihood is a bound (docs/theory.md §16.4) and their sampler the chain (--steps)");
            var w = r.GetValue(guidance);
            if (w != 1 && manifest.ConditionClasses() is null) throw new UsageException("--guidance needs a class-conditional checkpoint (train with --condition length)");
            var steps = r.GetResult(solver.Steps) is { Implicit: false } ? r.GetValue(solver.Steps) : SequenceSampler.DefaultSteps;
            var jsonPath = r.GetValue(json);
            var threadNote = CommonOptions.ApplyRuntime(r.GetValue(threads), processes);
            using var ckpt = Checkpoint.Load(r.GetValue(checkpoint)!);
            var display = new ProgressDisplay(mode, error, threadNote);
            var report = display.Fraction("eval", p => SequenceEvaluator.Evaluate(ckpt, r.GetValue(count), r.GetValue(generated) ?? 2000, steps, r.GetValue(seed), w,
                progress: p, message: m => error.WriteLine($"si: {m}")));
            if (processes.Rank != 0) return ExitCodes.Ok;
            PrintSequences(output, report);
            if (jsonPath is not null)
                AtomicFile.WriteText(jsonPath, JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));
            return ExitCodes.Ok;
        }

        // An image checkpoint: bits/dim on its test split, the reference classifier's figures, memorisation (docs/theory.md §9, §11).
        int EvaluateImages(ParseResult r, CheckpointManifest manifest, ProgressMode mode, TextWriter output, TextWriter error)
        {
            if (r.GetValue(target) is { } given) throw new UsageException($"--target: an image checkpoint is scored on its own data set's test split ('{manifest.Images!.Source}'), not '{given}'");
            if (r.GetValue(skipRows) is not null) throw new UsageException("--skip-rows goes with a checkpoint trained on a table");
            if (r.GetResult(estimator) is { Implicit: false } && r.GetValue(estimator)!.Trim().ToLowerInvariant() is not ("hutchinson" or "hutchinson-rademacher"))
                throw new UsageException("images are scored with Hutchinson's estimator (an exact divergence would need one backward pass per pixel); give --estimator hutchinson or leave it out");
            var w = r.GetValue(guidance);
            if (w != 1 && manifest.ConditionClasses() is null) throw new UsageException("--guidance needs a class-conditional checkpoint");
            // 20 RK4 steps unless --steps is given: each step of the likelihood is a forward and a backward pass of the U-Net.
            // A flow map's --steps are its jumps, and its likelihood keeps the 20 steps.
            var jumps = Jumps(r, manifest);
            var steps = jumps is null && r.GetResult(solver.Steps) is { Implicit: false } ? r.GetValue(solver.Steps) : ImageSteps;
            var ode = OdeSolvers.Create(r.GetValue(solver.Solver)!, steps, r.GetValue(solver.Rtol), r.GetValue(solver.Atol));
            var jsonPath = r.GetValue(json);
            if (jsonPath is not null && processes.Rank == 0) OutputFolder.CheckFile(jsonPath, r.GetValue(force), "--json");
            if (r.GetValue(count) is < 2 and var tooFew) throw new UsageException($"--count: bits/dim needs at least 2 test images (its standard error is over images), got {tooFew}");
            var options = new ImageEvaluationOptions(r.GetValue(count) ?? ImageEvaluationOptions.DefaultLikelihoodImages, ode, r.GetValue(probes),
                r.GetValue(generated) ?? ImageEvaluationOptions.DefaultGenerated, w, Seed: r.GetValue(seed), Jumps: jumps);
            options.Validate();
            var threadNote = CommonOptions.ApplyRuntime(r.GetValue(threads), processes);
            using var ckpt = Checkpoint.Load(r.GetValue(checkpoint)!);
            // What the run will cost, before it starts (rank 0 speaks for the job).
            if (processes.Rank == 0) error.WriteLine($"si: {ImageEvaluator.Plan(ckpt, options).Describe()}");
            var display = new ProgressDisplay(mode, error, threadNote);
            var report = display.Fraction("eval", p => ImageEvaluator.Evaluate(ckpt, options, p, m => error.WriteLine($"si: {m}"), processes));
            if (processes.Rank != 0) return ExitCodes.Ok; // rank 0 prints and writes the report (and alone has the classifier's figures)
            PrintImages(output, report);
            if (jsonPath is not null)
                AtomicFile.WriteText(jsonPath, JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));
            return ExitCodes.Ok;
        }

        // A data-dependent checkpoint: completions of corrupted test images against the truth (docs/theory.md §12.4).
        int EvaluateCompletions(ParseResult r, CheckpointManifest manifest, ProgressMode mode, TextWriter output, TextWriter error)
        {
            if (r.GetValue(target) is { } given) throw new UsageException($"--target: an image checkpoint is scored on its own data set's test split ('{manifest.Images!.Source}'), not '{given}'");
            foreach (var o in new Option[] { skipRows, estimator, probes, guidance, generated })
                if (r.GetResult(o) is { Implicit: false })
                    throw new UsageException($"{o.Name} does not apply: a checkpoint trained with the '{manifest.Coupling!.Name}' coupling completes observations and has no likelihood or guidance (docs/theory.md §12.4)");
            var steps = r.GetResult(solver.Steps) is { Implicit: false } ? r.GetValue(solver.Steps) : ImageSteps;
            var ode = OdeSolvers.Create(r.GetValue(solver.Solver)!, steps, r.GetValue(solver.Rtol), r.GetValue(solver.Atol));
            // Completions carry the corruption along the ODE (CheckpointCompletion): a flow map's diagonal velocity, not its jumps.
            if (solver.UsesJumps(r, manifest) && processes.Rank == 0)
                error.WriteLine($"si: note: this flow map completes observations by integrating its diagonal velocity ({ode.Name}, {steps} steps); its jumps are not used for completions, and --steps counts the ODE's steps");
            var jsonPath = r.GetValue(json);
            var threadNote = CommonOptions.ApplyRuntime(r.GetValue(threads), processes);
            using var ckpt = Checkpoint.Load(r.GetValue(checkpoint)!);
            var display = new ProgressDisplay(mode, error, threadNote);
            var report = display.Fraction("eval", p => CompletionEvaluator.Evaluate(ckpt, r.GetValue(count) ?? 200, ode, r.GetValue(seed), p, m => error.WriteLine($"si: {m}"),
                r.GetValue(perObservation), processes));
            if (processes.Rank != 0) return ExitCodes.Ok; // rank 0 prints and writes the report (and alone has the classifier's figures)
            PrintCompletions(output, report);
            if (jsonPath is not null)
                AtomicFile.WriteText(jsonPath, JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));
            return ExitCodes.Ok;
        }
    }

    // Steps of the likelihood's solver (and of generation by the ODE) when --steps is not given: points and tables; images.
    private const int PointSteps = 100, ImageSteps = 20;

    // Without --target, a table checkpoint scores the file it was trained on (its validation rows), when that file is still
    // there and unchanged (the checkpoint records its SHA-256); anything else needs --target.
    private static string TrainingFile(CheckpointManifest manifest, TextWriter error)
    {
        if (manifest.Table is not { } table) throw new UsageException("--target is required: the points to score (a built-in name or a CSV file)");
        if (!File.Exists(table.File))
            throw new UsageException($"--target is required: the training file recorded in the checkpoint, '{table.File}', no longer exists");
        if (CsvTable.Sha256(table.File) != table.Sha256)
            throw new UsageException($"--target is required: the training file '{table.File}' changed since training (its SHA-256 differs from the checkpoint's), so its validation rows are no longer known");
        error.WriteLine($"si: scoring the training file recorded in the checkpoint, '{table.File}' (unchanged since training)");
        return table.File;
    }

    internal static void PrintCompletions(TextWriter output, CompletionEvaluationReport r)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        var table = new Table().AddColumn("figure").AddColumn(new TableColumn("value").RightAligned()).AddColumn("note");
        string F(double? v, string format = "F4") => v is { } x ? x.ToString(format, CultureInfo.InvariantCulture) : "-";
        var region = r.HiddenFraction < 1 ? $"on the hidden pixels ({F(r.HiddenFraction * 100, "F0")} % of each image)" : "on every pixel";
        Row(table, "bits/dim", "-", $"not computed: {r.BitsPerDimSkipped}");
        var times = r.CompletionsPerImage == 1 ? "once" : $"{r.CompletionsPerImage} times";
        Row(table, "completion MSE", $"{F(r.CompletionMse)} ± {F(r.CompletionMseStdErr)}", $"{r.Corruption}: {r.TestImages} test images completed {times}, vs the truth {region}, brightness in [0, 1]; {r.Solver}, {F(r.Nfe, "F0")} NFE");
        if (r.AverageCompletionMse is { } average) Row(table, "MSE of the completions' mean", F(average), $"the pixel-wise mean of each image's {r.CompletionsPerImage} completions: an estimate of E[x1 | observation]");
        Row(table, "training mean image MSE", F(r.MeanImageMse), "the same pixels filled with the mean training image: a trivial baseline");
        Row(table, "observation MSE", F(r.ObservationMse), "the observation as the network sees it (in-painting: a mid-grey hole; super-resolution: the blocky upsampling; denoising: the noisy image)");
        if (r.ObservedRms is { } rms) Row(table, "raw output on observed pixels", F(rms), "RMS difference in [-1, 1] units before the observed pixels were pasted back");
        if (r.ClassifierTestAccuracy is { } acc) Row(table, "reference classifier", F(acc), "its accuracy on the test split");
        if (r.CompletionAccuracy is { } ca) Row(table, "accuracy on completions", F(ca), "completed test images classified as their true class");
        if (r.MeanImageAccuracy is { } ma) Row(table, "accuracy, mean image filled in", F(ma), "the hidden pixels set to the training mean image instead");
        Row(table, "seconds", F(r.Seconds, "F1"), "");
        console.Write(table);
    }

    internal static void PrintSequences(TextWriter output, SequenceEvaluationReport r)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        var table = new Table().AddColumn("figure").AddColumn(new TableColumn("model").RightAligned()).AddColumn(new TableColumn($"{r.NgramOrder}-gram").RightAligned()).AddColumn("note");
        string F(double v, string format = "F4") => v.ToString(format, CultureInfo.InvariantCulture);
        string P(double v) => (100 * v).ToString("F1", CultureInfo.InvariantCulture) + " %";
        Row(table, "bits per character", $"{F(r.BitsPerCharacter, "F3")} ± {F(r.BitsPerCharacterStdErr, "F3")}", F(r.NgramBitsPerCharacter, "F3"),
            $"{r.HeldOut} held-out words; a word's bits over its letters plus one end. The model's is an upper bound (ELBO, {r.Source} source); the n-gram's is exact");
        Row(table, "bits per position", $"{F(r.BitsPerPosition, "F3")} ± {F(r.BitsPerPositionStdErr, "F3")}", "", "the bound over all L positions, padding included");
        Row(table, "valid words", P(r.Valid), P(r.NgramValid), $"of {r.Generated} generated ({r.Steps} chain steps), in the word list");
        Row(table, "novel and valid", P(r.NovelValid), P(r.NgramNovelValid), "in the word list and not among the training words");
        Row(table, "copied", P(r.Copied), P(r.NgramCopied), "training words generated again");
        Row(table, "malformed", P(r.Malformed), "", "a letter after the padding, or no letter");
        Row(table, "distinct", P(r.Distinct), "", "distinct sequences among the generated");
        if (r.ClassAccuracy is { } accuracy) Row(table, $"length asked for, w = {r.Guidance:G3}", P(accuracy), "", "generated words of the length their class names");
        Row(table, "seconds", F(r.Seconds, "F1"), "", "");
        console.Write(table);
        output.WriteLine("examples: " + string.Join(" ", r.Examples.Take(20)));
    }

    internal static void PrintImages(TextWriter output, ImageEvaluationReport r)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        var table = new Table().AddColumn("figure").AddColumn(new TableColumn("value").RightAligned()).AddColumn("note");
        string F(double? v, string format = "F4") => v is { } x ? x.ToString(format, CultureInfo.InvariantCulture) : "-";
        if (r.BitsPerDim is null) Row(table, "bits/dim", "-", "not computed (no test images scored)");
        else
        {
            Row(table, "bits/dim", $"{F(r.BitsPerDim)} ± {F(r.BitsPerDimStdErr)}", $"{r.HeldOut} test images, uniform dequantisation{(r.LikelihoodCondition == "class" ? ", given each image's class" : "")}; {r.Solver}, {r.Estimator}, {F(r.Nfe, "F0")} NFE");
            Row(table, "NLL (nats/image)", $"{F(r.NllMean, "F1")} ± {F(r.NllStdErr, "F1")}", "of the scaled images y in [-1, 1]");
        }
        if (r.ClassifierTestAccuracy is { } acc) Row(table, "reference classifier", F(acc), "its accuracy on the test split: the ceiling of the figures below");
        if (r.ConditionalAccuracyUnguided is { } plain) Row(table, "conditional accuracy, w = 1", F(plain), "generated images classified as the class asked for");
        if (r.Guidance != 1 && r.ConditionalAccuracy is { } guided) Row(table, $"conditional accuracy, w = {r.Guidance:G3}", F(guided), "with classifier-free guidance");
        if (r.FrechetClassifierDistance is { } fcd) Row(table, "Fréchet classifier distance", F(fcd, "F3"), $"generated (w = 1) vs test, in the reference classifier's features (not FID); training vs test: {F(r.FrechetClassifierDistanceFloor, "F3")}");
        Row(table, "nearest training image", F(r.NearestTrainDistance, "F3"), $"median distance from a generated image; from a test image: {F(r.NearestTrainDistanceTest, "F3")} " +
            (r.MemorisationRatio is { } ratio ? $"(ratio {F(ratio, "F2")}; << 1 would mean copying)" : "(no ratio: at least half the test images have an exact copy among the training images)"));
        Row(table, "generated", r.Generated.ToString(CultureInfo.InvariantCulture), (r.Sampling is { } how && how != r.Solver ? $"{how}: " : "") + $"{F(r.SamplingNfe, "F0")} NFE each");
        Row(table, "seconds", F(r.Seconds, "F1"), "");
        console.Write(table);
    }

    // A table row of plain text: Spectre would read "[-1, 1]", or a file named data[1].csv, as markup and throw.
    private static void Row(Table table, params string[] cells) => table.AddRow(cells.Select(Markup.Escape).ToArray());

    internal static void Print(TextWriter output, EvaluationReport r)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        var table = new Table().AddColumn("figure").AddColumn(new TableColumn("value").RightAligned()).AddColumn("note");
        string F(double v, string format = "F4") => v.ToString(format, CultureInfo.InvariantCulture);
        Row(table, "NLL (nats/sample)", $"{F(r.NllMean)} ± {F(r.NllStdErr)}", r.Rows is { } rows ? $"{r.HeldOut} {rows}" : $"{r.HeldOut} held-out points of {r.Target}");
        if (r.BaselineNll is { } baseline)
        {
            var name = r.Baseline ?? "Gaussian";
            Row(table, $"{name} baseline NLL", $"{F(baseline)} ± {F(r.BaselineNllStdErr ?? double.NaN)}", r.Baseline is null ? "full covariance, fitted to the training rows; same rows" : "maximum likelihood on the training points; same points");
            Row(table, "model - baseline", $"{F(r.NllMinusBaseline ?? double.NaN)} ± {F(r.NllMinusBaselineStdErr ?? double.NaN)}",
                (r.NllMinusBaseline < 0 ? $"negative: the flow beats the {name}" : $"not below zero: the flow does not beat the {name}") + (r.Baseline is null ? " (paired standard error)" : " (standard errors combined)"));
        }
        if (r.UniformNll is { } uniform) Row(table, "uniform NLL", F(uniform), "log of the manifold's volume: a model that learned nothing");
        if (r.TrainingRowsNll is { } trainNll) Row(table, "NLL on training rows", F(trainNll), "trained on: compare with the line above to see overfitting");
        if (r.KeptStep is { } kept) Row(table, "kept step", kept.ToString(CultureInfo.InvariantCulture), "chosen on the validation rows");
        Row(table, "bits/dim", F(r.BitsPerDim), "");
        if (r.TrueEntropy is { } h) Row(table, "true entropy (nats)", F(h), $"gap {F(r.NllGap!.Value)}: no model goes below it");
        // The floor is a mean over pairs of true samples of the figure's sizes, with its spread from pair to pair (sd).
        var pairs = $"two true samples of {r.MetricPoints} ({r.FloorDraws} draws, mean ± sd)";
        Row(table, "energy distance^2", F(r.EnergyDistance, "G4"), $"{r.MetricPoints} generated vs {r.MetricPoints} held-out; {pairs}: {F(r.EnergyDistanceFloor, "G3")} ± {F(r.EnergyDistanceFloorSd, "G3")}");
        Row(table, "MMD^2 (RBF)", F(r.Mmd, "G4"), $"bandwidths {string.Join(", ", r.MmdBandwidths)}; {pairs}: {F(r.MmdFloor, "G3")} ± {F(r.MmdFloorSd, "G3")}");
        Row(table, "sliced W2", F(r.SlicedW2), $"{r.SlicedW2Projections} projections" + (r.MetricUnits is { } units ? $"; {units}" : ""));
        if (r.SupportFraction is { } s) Row(table, "inside the support", F(s, "F3"), "");
        if (r.RowsOutsideRange is { } outside && r.OutsideRange is { } columns)
            Row(table, "outside training range", F(outside, "F3"), $"share of generated rows with a value outside it (or off a column's few observed values); by column: {Data.TableSupport.Summary(columns, 4, lead: "")}");
        if (r.Nfe > 0) Row(table, "NFE", F(r.Nfe, "F0"), $"{r.Solver}, {r.Estimator}");
        else Row(table, "solver", "", $"{r.Solver}, {r.Estimator}");
        if (r.Sampling is { } sampling) Row(table, "sampling NFE", F(r.SamplingNfe ?? 0, "F0"), $"{sampling}, per generated sample");
        Row(table, "seconds", F(r.Seconds, "F1"), "");
        console.Write(table);
        output.WriteLine("energy distance^2 and MMD^2 are unbiased estimates of squared distances: a value within about two sd of the two-true-samples figure, or below zero, means indistinguishable at this sample size.");
    }
}
