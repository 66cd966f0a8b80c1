using System.CommandLine;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Files;
using StochasticInterpolants.Runs;
using StochasticInterpolants.Runtime;
using StochasticInterpolants.Sampling;

namespace StochasticInterpolants.Cli;

/// <summary><c>si sample</c>: push base samples through the learned flow and write them as CSV.</summary>
internal static class SampleCommand
{
    internal sealed class SolverOptions
    {
        public readonly Option<string> Solver = new("--solver") { Description = "euler, heun, midpoint, rk4 or dopri5 (adaptive; under mpiexec its steps follow each process's rows, so it matches one process only to its tolerance)", DefaultValueFactory = _ => "rk4" };
        public readonly Option<int> Steps = new("--steps") { Description = $"steps of a fixed-step solver (default 50); on a flow-map checkpoint, its jumps (default {DefaultJumps}; --solver integrates its diagonal velocity instead)", DefaultValueFactory = _ => 50 };

        /// <summary>Jumps of a flow-map checkpoint when --steps is not given: two (docs/theory.md §14; the table of docs/guides/flow-maps.md).</summary>
        public const int DefaultJumps = 2;
        public readonly Option<double> Rtol = new("--rtol") { Description = "relative tolerance of dopri5", DefaultValueFactory = _ => 1e-4 };
        public readonly Option<double> Atol = new("--atol") { Description = "absolute tolerance of dopri5", DefaultValueFactory = _ => 1e-4 };
        public readonly Option<string?> Sampler = new("--sampler") { Description = "an SDE sampler instead of the ODE: em (Euler-Maruyama) or heun-sde; needs a score (si train --learn velocity,score, or a one-sided interpolant)" };
        public readonly Option<double> Eps = new("--eps") { Description = "diffusion coefficient eps of dX = [b + eps s] dt + sqrt(2 eps) dW (0 = the ODE path)", DefaultValueFactory = _ => 0.5 };
        public readonly Option<string> EpsSchedule = new("--eps-schedule") { Description = "constant (eps(t) = eps) or noise (eps(t) = eps sigma(t), finite score term at the ends)", DefaultValueFactory = _ => "constant" };
        public readonly Option<bool> Denoise = new("--denoise") { Description = "one-sided interpolants: make the last SDE step the Tweedie denoiser E[x1 | x_t]" };
        public IEnumerable<Option> All => [Solver, Steps, Rtol, Atol, Sampler, Eps, EpsSchedule, Denoise];
        public IOdeSolver Build(ParseResult r) => OdeSolvers.Create(r.GetValue(Solver)!, r.GetValue(Steps), r.GetValue(Rtol), r.GetValue(Atol));

        /// <summary>Validates the sampler options before any work (so a typo fails at once).</summary>
        public void Validate(ParseResult r)
        {
            if (r.GetValue(Sampler) is { } name) _ = SdeSolvers.Create(name, r.GetValue(Steps));
            else _ = Build(r);
            var eps = r.GetValue(Eps);
            if (!(eps >= 0) || !double.IsFinite(eps)) throw new UsageException($"--eps must be a finite number >= 0, got {eps}");
            _ = DiffusionCoefficient.Parse(r.GetValue(EpsSchedule)!, eps, new Interpolants.LinearInterpolant());
        }

        /// <summary>Samples from <paramref name="checkpoint"/> with the ODE solver or, when --sampler is given, the SDE sampler.</summary>
        public (TorchSharp.torch.Tensor Samples, double Nfe, string Description) Sample(ParseResult r, Checkpoint checkpoint, int count, long seed,
            TorchSharp.torch.Device device, IProgress<double> progress, SampleClasses? classes = null, Distributed.IProcessGroup? processes = null)
        {
            if (r.GetValue(Sampler) is { } name)
            {
                var sde = SdeSolvers.Create(name, r.GetValue(Steps));
                var eps = DiffusionCoefficient.Parse(r.GetValue(EpsSchedule)!, r.GetValue(Eps), checkpoint.Interpolant);
                var (x, nfe) = CheckpointSampler.Sample(checkpoint, count, sde, eps, seed, r.GetValue(Denoise), device, progress: progress, classes: classes, processes: processes);
                return (x, nfe, $"{sde.Name}, {eps.Describe()}");
            }
            if (UsesJumps(r, checkpoint.Manifest))
            {
                var jumps = Jumps(r);
                var (z, evaluations) = CheckpointSampler.SampleJumps(checkpoint, count, jumps, seed, device, progress: progress, classes: classes, processes: processes);
                return (z, evaluations, Evaluator.DescribeJumps(jumps));
            }
            var ode = Build(r);
            var (y, n) = CheckpointSampler.Sample(checkpoint, count, ode, seed, device, progress: progress, classes: classes, processes: processes);
            return (y, n, ode.Name);
        }

        /// <summary>True when a flow-map checkpoint samples by jumps: no --solver and no --sampler asked for another way.</summary>
        public bool UsesJumps(ParseResult r, CheckpointManifest manifest) =>
            manifest.Networks.Any(n => n.Represents == Interpolants.FieldKind.FlowMap) && r.GetValue(Sampler) is null && r.GetResult(Solver) is not { Implicit: false };

        /// <summary>The jumps asked for: --steps, or <see cref="DefaultJumps"/>.</summary>
        public int Jumps(ParseResult r)
        {
            var jumps = r.GetResult(Steps) is { Implicit: false } ? r.GetValue(Steps) : DefaultJumps;
            if (jumps < 1 || jumps > FlowMapSampler.MaxJumps) throw new UsageException($"--steps must be in 1..{FlowMapSampler.MaxJumps} jumps, got {jumps}");
            return jumps;
        }
    }

    public static Command Create(TextWriter output, TextWriter error, Distributed.IProcessGroup processes)
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "a training output folder (holding checkpoint.json)", Required = true };
        var count = new Option<int?>("--count") { Description = $"number of samples (default {DefaultRows:N0} rows; for images {DefaultImages}, or {DefaultImagesPerClass} per class with --class all)" };
        var outFile = new Option<string>("--out") { Description = "file to write: a CSV file, one sample per row, comma-separated, no header; for an image checkpoint FILE.npy or FILE.png, and both are written (uint8 [n, c, h, w] pixels and a grid picture; with classes also FILE.labels.npy)", Required = true };
        var noEma = new Option<bool>("--no-ema") { Description = "use the last-iterate weights instead of the moving average" };
        var force = new Option<bool>("--force") { Description = "overwrite --out if it exists" };
        var classOption = new Option<string?>("--class") { Description = "a class-conditional checkpoint: sample this class (its name or 0-based index), or all (--count samples of every class; the grid has one row per class); default: classes in the training proportions. A table's class index is written as the last column." };
        var guidance = new Option<double>("--guidance") { Description = "classifier-free guidance weight w of a class-conditional checkpoint: b(x|none) + w (b(x|c) - b(x|none)); 1 = the plain conditional model, 0 = unconditional, > 1 sharper classes", DefaultValueFactory = _ => 1.0 };
        var observed = new Option<string?>("--observed") { Description = "complete observed images with a checkpoint trained with a data-dependent coupling (inpaint, superres, denoise): a .npy of uint8 images [n, c, h, w] at the checkpoint's size (superres: also the low-resolution [n, c, h/f, w/f]); each is corrupted as in training and the ODE carries the corruption to a completion; in-painting pastes the observed pixels back. --out gets the completions [n k, c, h, w] and a grid" };
        var perObservation = new Option<int>("--per-observation") { Description = "with --observed: completions of each observation, with different noise (k)", DefaultValueFactory = _ => 1 };
        var solver = new SolverOptions();
        var seed = CommonOptions.Seed();
        var device = CommonOptions.Device();
        var threads = CommonOptions.Threads();
        var progress = CommonOptions.Progress();
        var mpiTimeout = CommonOptions.MpiTimeout();
        var command = new Command("sample", "Generate samples of rho1: draw X_0 ~ rho0 and integrate dX/dt = b(t, X) from t = 0 to 1. " +
            "Under mpiexec -n N, each process integrates 1/N of the samples and rank 0 writes them: the same samples as one process for the seed " +
            "(to float rounding; with dopri5 only to its tolerance, as its steps follow each process's rows).");
        foreach (var o in solver.All) command.Options.Add(o);
        foreach (var o in new Option[] { checkpoint, count, outFile, noEma, force, classOption, guidance, observed, perObservation, seed, device, threads, progress, mpiTimeout }) command.Options.Add(o);
        command.SetAction(r =>
        {
            CommonOptions.ApplyMpiTimeout(r.GetValue(mpiTimeout), processes);
            var mode = CommonOptions.ProgressOf(r, progress, processes);
            if (r.GetValue(observed) is { } observedFile)
                return Complete(r, observedFile, r.GetValue(perObservation), checkpoint, outFile, noEma, force, solver, seed, device, threads, mode, output, error, processes);
            if (r.GetResult(perObservation) is { Implicit: false }) throw new UsageException("--per-observation goes with --observed");
            if (r.GetValue(count) is < 1) throw new UsageException($"--count must be >= 1, got {r.GetValue(count)}");
            solver.Validate(r);
            var w = r.GetValue(guidance);
            if (!double.IsFinite(w)) throw new UsageException($"--guidance must be a finite number, got {w}");
            var outPath = r.GetValue(outFile)!;
            var manifest = Checkpoint.ReadManifest(r.GetValue(checkpoint)!);
            if (manifest.Sequences is not null)
                return SampleSequences(r, manifest, outPath, count, noEma, force, classOption, w, solver, seed, threads, mode, output, error, checkpoint, processes);
            var images = manifest.Images is not null ? ImageOutputs.For(outPath) : null;
            if (images is null && Path.GetExtension(outPath) is ".npy" or ".png")
                throw new UsageException($"--out: this checkpoint generates rows, written as CSV; '{outPath}' is for images");
            if (processes.Rank == 0) // rank 0 alone touches the output files
                foreach (var file in images?.Files(manifest.ConditionClasses() is not null) ?? [outPath]) OutputFolder.CheckFile(file, r.GetValue(force), "--out");
            var (classIndex, perClass) = ResolveClass(manifest, r.GetValue(classOption));
            // Image defaults fit images: a grid of 64, or 10 per class (10,000 rows is a table's default).
            var n = r.GetValue(count) ?? (images is null ? DefaultRows : perClass ? DefaultImagesPerClass : DefaultImages);
            if (perClass) n *= manifest.ConditionClasses()!.Count; // --count is per class: one grid row each
            var classes = new SampleClasses(classIndex, w, perClass);
            if (w != 1 && manifest.ConditionClasses() is null) throw new UsageException("--guidance needs a class-conditional checkpoint");
            var threadNote = CommonOptions.ApplyRuntime(r.GetValue(threads), processes);
            var dev = ComputeDevice.Resolve(r.GetValue(device)!);
            using var ckpt = Checkpoint.Load(r.GetValue(checkpoint)!, preferEma: !r.GetValue(noEma), device: dev);
            var display = new ProgressDisplay(mode, error, threadNote);
            if (images is not null && mode != ProgressMode.None)
            {
                var chunk = CheckpointSampler.ChunkRows(manifest, w);
                error.WriteLine($"si: {n} images in {(n + chunk - 1) / chunk} chunk{((n + chunk - 1) / chunk == 1 ? "" : "s")} of up to {chunk}{(manifest.ConditionClasses() is not null && w is not (1 or 0) ? " (guidance evaluates two network rows per image)" : "")}");
            }
            var watch = System.Diagnostics.Stopwatch.StartNew();
            var (samples, nfe, how) = display.Fraction("sample", p => solver.Sample(r, ckpt, n, r.GetValue(seed), dev, p, classes, processes));
            using (samples)
            using (var labels = CheckpointSampler.ClassesFor(ckpt.Manifest, n, r.GetValue(seed), classes))
            {
                if (processes.Rank != 0) return ExitCodes.Ok; // every rank holds the samples; rank 0 writes them
                if (images is not null)
                {
                    var written = images.Write(samples, labels, ckpt.Manifest, perClass, w);
                    output.WriteLine($"wrote {n} images to {string.Join(", ", written)} ({how}, {nfe:0.#} network evaluation{(nfe == 1 ? "" : "s")} per sample, {watch.Elapsed.TotalSeconds:F2} s{(labels is null ? "" : $", guidance w = {w:G3}")}{Processes(processes)})");
                    return ExitCodes.Ok;
                }
                // A conditional checkpoint's rows carry their class as the last column, as the label column came in.
                using var rows = labels is null ? samples.alias() : TorchSharp.torch.cat([samples, labels.to(samples.dtype).unsqueeze(1)], 1);
                CsvMatrix.Write(outPath, rows);
                output.WriteLine($"wrote {n} samples to {outPath} ({how}, {nfe:0.#} network evaluation{(nfe == 1 ? "" : "s")} per sample, {watch.Elapsed.TotalSeconds:F2} s{Processes(processes)})");
                if (ckpt.Manifest.Table is { } table)
                {
                    var (note, outside) = TablePieces.OutsideNote(table, samples);
                    error.WriteLine($"si: note: {note}");
                    // The ways to keep rows valid are training options: name them where rows came out invalid.
                    if (outside > 0)
                        error.WriteLine("si: to keep generated rows valid, train with --integers snap (columns of a few whole numbers keep to the values they hold) and/or --log-columns positive (positive columns stay positive); docs/theory.md §8");
                }
                if (labels is not null && ckpt.Manifest.ConditionClasses() is { } names)
                    output.WriteLine($"last column: class index ({string.Join(", ", names.Select((c, i) => $"{i} = {c}"))})");
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    private const int DefaultRows = 10_000, DefaultImages = 64, DefaultImagesPerClass = 10, DefaultWords = 1000;

    // Token sequences (docs/theory.md §16.3): the chain of the discrete path; words to a text file (one per line) or ids to a CSV.
    private static int SampleSequences(ParseResult r, CheckpointManifest manifest, string outPath, Option<int?> count, Option<bool> noEma, Option<bool> force,
        Option<string?> classOption, double w, SolverOptions solver, Option<long> seed, Option<int?> threads, ProgressMode mode, TextWriter output, TextWriter error,
        Option<string> checkpoint, Distributed.IProcessGroup processes)
    {
        foreach (var o in new Option[] { solver.Solver, solver.Sampler, solver.Eps, solver.EpsSchedule, solver.Denoise, solver.Rtol, solver.Atol })
            if (r.GetResult(o) is { Implicit: false }) throw new UsageException($"{o.Name} does not apply: token sequences are sampled by the chain of their discrete path (--steps sets its steps)");
        if (Path.GetExtension(outPath) is not (".txt" or ".csv")) throw new UsageException($"--out: this checkpoint generates words, written to FILE.txt (one per line) or FILE.csv (token ids); got '{outPath}'");
        if (processes.Rank == 0) OutputFolder.CheckFile(outPath, r.GetValue(force), "--out"); // rank 0 alone touches the output
        var steps = r.GetResult(solver.Steps) is { Implicit: false } ? r.GetValue(solver.Steps) : SequenceSampler.DefaultSteps;
        var (classIndex, perClass) = ResolveClass(manifest, r.GetValue(classOption));
        if (w != 1 && manifest.ConditionClasses() is null) throw new UsageException("--guidance needs a class-conditional checkpoint (train with --condition length)");
        var n = r.GetValue(count) ?? DefaultWords;
        if (perClass) n *= manifest.ConditionClasses()!.Count;
        var threadNote = CommonOptions.ApplyRuntime(r.GetValue(threads), processes);
        using var ckpt = Checkpoint.Load(r.GetValue(checkpoint)!, preferEma: !r.GetValue(noEma));
        var display = new ProgressDisplay(mode, error, threadNote);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var classes = new SampleClasses(classIndex, w, perClass);
        var (tokens, nfe) = display.Fraction("sample", p => SequenceSampler.Sample(ckpt, n, steps, r.GetValue(seed), manifest.ConditionClasses() is null ? null : classes, p));
        using (tokens)
        {
            // Every rank generates the same words from the seed (the chain is cheap); rank 0 writes them.
            if (processes.Rank != 0) return ExitCodes.Ok;
            var record = manifest.Sequences!;
            var alphabet = new Data.TokenSequences(record.Alphabet, record.Length);
            var decoded = alphabet.Decode(tokens);
            if (Path.GetExtension(outPath) == ".csv") CsvMatrix.Write(outPath, tokens);
            else AtomicFile.WriteText(outPath, string.Concat(decoded.Select(d => SequenceEvaluator.Show(d) + "\n")));
            var malformed = decoded.Count(d => d.IsMalformed);
            output.WriteLine($"wrote {n} sequences to {outPath} (discrete chain, {steps} steps, {nfe:0.#} network evaluations per sequence, {watch.Elapsed.TotalSeconds:F2} s; {malformed} malformed{(manifest.ConditionClasses() is null ? "" : $", guidance w = {w:G3}")})");
        }
        return ExitCodes.Ok;
    }

    // ", N processes" after a data-parallel run's figures; nothing for one process.
    private static string Processes(Distributed.IProcessGroup processes) => processes.Size > 1 ? $", {processes.Size} processes" : "";

    // si sample --observed: completions of observed images by a checkpoint trained with a data-dependent coupling.
    private static int Complete(ParseResult r, string observedFile, int perObservation, Option<string> checkpoint, Option<string> outFile, Option<bool> noEma,
        Option<bool> force, SolverOptions solver, Option<long> seed, Option<string> device, Option<int?> threads, ProgressMode progress, TextWriter output, TextWriter error,
        Distributed.IProcessGroup processes)
    {
        foreach (var o in new Option[] { solver.Sampler, solver.Eps, solver.EpsSchedule, solver.Denoise })
            if (r.GetResult(o) is { Implicit: false }) throw new UsageException($"{o.Name} does not go with --observed: completions integrate the ODE");
        foreach (var name in new[] { "--class", "--guidance", "--count" })
            if (r.CommandResult.Command.Options.First(o => o.Name == name) is { } o && r.GetResult(o) is { Implicit: false })
                throw new UsageException($"{name} does not go with --observed (the observation is the condition; use --per-observation for several completions)");
        if (perObservation < 1) throw new UsageException($"--per-observation must be >= 1, got {perObservation}");
        solver.Validate(r);
        var manifest = Checkpoint.ReadManifest(r.GetValue(checkpoint)!);
        var corruption = CheckpointCompletion.CorruptionOf(manifest);
        var images = ImageOutputs.For(r.GetValue(outFile)!);
        if (processes.Rank == 0) // rank 0 alone touches the output files
            foreach (var file in images.Files(withLabels: false)) OutputFolder.CheckFile(file, r.GetValue(force), "--out");
        if (!File.Exists(observedFile)) throw new UsageException($"--observed: file '{observedFile}' does not exist");
        using var pixels = NpyFile.Read(observedFile);
        var threadNote = CommonOptions.ApplyRuntime(r.GetValue(threads), processes);
        var dev = ComputeDevice.Resolve(r.GetValue(device)!);
        using var ckpt = Checkpoint.Load(r.GetValue(checkpoint)!, preferEma: !r.GetValue(noEma), device: dev);
        var display = new ProgressDisplay(progress, error, threadNote);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var ode = solver.Build(r);
        using var completions = display.Fraction("complete", p => CheckpointCompletion.Complete(ckpt, pixels, ode, r.GetValue(seed), perObservation, dev, progress: p, processes: processes));
        if (processes.Rank != 0) return ExitCodes.Ok; // every rank holds the completions; rank 0 writes them
        var n = completions.Pixels.shape[0];
        var written = images.WriteCompletions(completions, perObservation, ckpt.Manifest, $"{corruption.Describe()}: completions");
        var pasted = completions.Observed is null ? ""
            : FormattableString.Invariant($"; observed pixels pasted back (the raw output differed from them by RMS {completions.ObservedRms:G3} in [-1, 1] pixel units)");
        output.WriteLine(FormattableString.Invariant(
            $"wrote {n} completions of {n / perObservation} observations to {string.Join(", ", written)} ({corruption.Describe()}{pasted}; {ode.Name}, {completions.FunctionEvaluations:0.#} network evaluations each, {watch.Elapsed.TotalSeconds:F1} s{Processes(processes)})"));
        return ExitCodes.Ok;
    }

    // --class as a name of the checkpoint's classes, a 0-based index, or all; (null, false) without the option.
    private static (int? Index, bool All) ResolveClass(CheckpointManifest manifest, string? given)
    {
        if (given is null) return (null, false);
        var names = manifest.ConditionClasses() ?? throw new UsageException("--class needs a class-conditional checkpoint (a table trained with --label-column, or labelled images)");
        var byName = names.ToList().FindIndex(c => string.Equals(c, given.Trim(), StringComparison.OrdinalIgnoreCase));
        if (byName >= 0) return (byName, false);
        if (given.Trim().Equals("all", StringComparison.OrdinalIgnoreCase)) return (null, true);
        if (int.TryParse(given, out var index) && index >= 0 && index < names.Count) return (index, false);
        throw new UsageException($"--class: no class '{given}' (classes: {string.Join(", ", names)}, or all)");
    }
}
