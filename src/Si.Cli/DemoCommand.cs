using System.CommandLine;
using System.Diagnostics;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Data;
using StochasticInterpolants.Files;
using StochasticInterpolants.Runs;
using StochasticInterpolants.Runtime;
using StochasticInterpolants.Sampling;
using StochasticInterpolants.Visualization;

namespace StochasticInterpolants.Cli;

/// <summary>
/// <c>si demo</c>: the main job. Learns the map from N(0, I) to the 2-D checkerboard, draws 10,000 samples, and
/// reports the fraction that lands inside the checkerboard's squares.
/// </summary>
internal static class DemoCommand
{
    /// <summary>The demo's training configuration (see <see cref="Presets.CheckerboardDemo"/>).</summary>
    public static TrainingRunConfig Config(long seed) => Presets.CheckerboardDemo(seed);

    public static Command Create(TextWriter output, TextWriter error)
    {
        var outDir = new Option<string>("--out") { Description = "output folder (checkpoint, loss.csv, samples.csv, samples.png)", DefaultValueFactory = _ => "out/demo" };
        var count = new Option<int>("--count") { Description = "samples to generate", DefaultValueFactory = _ => 10_000 };
        var steps = new Option<int?>("--steps") { Description = "override the number of training steps" };
        var seed = CommonOptions.Seed();
        var threads = CommonOptions.Threads();
        var device = CommonOptions.Device();
        var progress = CommonOptions.Progress();
        var solver = new SampleCommand.SolverOptions();
        var command = new Command("demo", "Learn N(0, I) -> checkerboard end to end; write samples.csv, samples.png, eval.json and report.html; print the fraction inside the squares.");
        foreach (var o in new Option[] { outDir, count, steps, seed, threads, device, progress }) command.Options.Add(o);
        command.Options.Add(solver.Solver); command.Options.Add(solver.Rtol); command.Options.Add(solver.Atol);
        var force = new Option<bool>("--force") { Description = "replace an earlier demo in --out" };
        command.Options.Add(force);
        var noReport = new Option<bool>("--no-report") { Description = "skip report.html (figures, animations, metrics)" };
        command.Options.Add(noReport);
        var evalCount = new Option<int>("--eval-count") { Description = "held-out points for the likelihood check (0 skips it)", DefaultValueFactory = _ => 1000 };
        command.Options.Add(evalCount);
        var sampleSteps = new Option<int>("--sample-steps") { Description = "steps of a fixed-step solver", DefaultValueFactory = _ => 25 };
        command.Options.Add(sampleSteps);
        command.SetAction(r =>
        {
            var total = Stopwatch.StartNew();
            var cfg = Config(r.GetValue(seed)) with { Device = r.GetValue(device)! };
            if (r.GetValue(steps) is { } s) cfg = cfg with { Training = cfg.TrainingOrDefault with { Steps = s } };
            var n = r.GetValue(count);
            if (n < 1) throw new UsageException($"--count must be >= 1, got {n}");
            var ode = OdeSolvers.Create(r.GetValue(solver.Solver)!, r.GetValue(sampleSteps), r.GetValue(solver.Rtol), r.GetValue(solver.Atol));
            RunPieces.Build(cfg);
            var folder = r.GetValue(outDir)!;
            OutputFolder.CheckForRun(folder, r.GetValue(force));
            var threadNote = CommonOptions.ApplyRuntime(r.GetValue(threads));
            var dev = ComputeDevice.Resolve(cfg.Device);
            var display = new ProgressDisplay(r.GetValue(progress), error, threadNote);
            output.WriteLine($"si demo: learning N(0, I) -> checkerboard ({cfg.TrainingOrDefault.Steps} steps, batch {cfg.TrainingOrDefault.BatchSize}, MLP {cfg.ModelOrDefault.Width}x{cfg.ModelOrDefault.Depth}, {cfg.Interpolant} interpolant)");
            using var cts = CommonOptions.CancelOnCtrlC();
            var run = display.Train("train", cfg.TrainingOrDefault.Steps, p => TrainingRun.Execute(cfg, folder, p, cts.Token, overwrite: r.GetValue(force)));
            if (!run.Result.Completed) return ExitCodes.Cancelled;
            output.WriteLine($"trained in {run.Result.Elapsed.TotalSeconds:F1} s ({run.Result.StepsPerSecond:F0} steps/s), final loss {run.Result.FinalLoss:F4}");

            using var ckpt = Checkpoint.Load(folder, device: dev);
            var sampleWatch = Stopwatch.StartNew();
            var (samples, nfe) = display.Fraction("sample", p => CheckpointSampler.Sample(ckpt, n, ode, r.GetValue(seed) + 1, dev, progress: p));
            using (samples)
            {
                CsvMatrix.Write(Path.Combine(folder, "samples.csv"), samples);
                var inside = Checkerboard.FractionInside(samples);
                using var generator = new TorchSharp.torch.Generator((ulong)r.GetValue(seed) + 2);
                using var reference = new Checkerboard().Sample(n, generator);
                SampleScatterPlot.SaveSideBySide(Path.Combine(folder, "samples.png"),
                    [new ScatterPanel("target: checkerboard", reference), new ScatterPanel($"generated ({ode.Name}, {nfe:0.#} NFE)", samples)]);
                output.WriteLine($"sampled {n} points in {sampleWatch.Elapsed.TotalSeconds:F1} s ({ode.Name}, {nfe:0.#} evaluations of b per sample)");
                output.WriteLine($"wrote {Path.Combine(folder, "samples.csv")} and {Path.Combine(folder, "samples.png")}");
                output.WriteLine($"fraction of generated samples inside the checkerboard squares: {inside:F4}");
            }
            if (r.GetValue(evalCount) < 0) throw new UsageException($"--eval-count must be >= 0, got {r.GetValue(evalCount)}");
            if (r.GetValue(evalCount) > 0)
            {
                // A quick likelihood check: held-out NLL against the entropy ln 32 (RK4 25 steps; `si eval` for more points and steps).
                var report = display.Fraction("eval", p => Evaluator.Evaluate(ckpt, new Checkerboard(),
                    new EvaluationOptions(r.GetValue(evalCount), new Rk4Solver(25), Seed: r.GetValue(seed) + 3, MetricPoints: 1000), p));
                EvalCommand.Print(output, report);
                AtomicFile.WriteText(Path.Combine(folder, "eval.json"), System.Text.Json.JsonSerializer.Serialize(report, new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
            }
            if (!r.GetValue(noReport))
            {
                using var teaching = ThreeGaussians.Train(r.GetValue(seed));
                var html = display.Fraction("report", p => TransportReport.Write(folder, folder, new ReportOptions(Seed: r.GetValue(seed)), p, teaching));
                output.WriteLine($"wrote {html}");
            }
            output.WriteLine($"total time {total.Elapsed.TotalSeconds:F1} s");
            return ExitCodes.Ok;
        });
        command.Subcommands.Add(Images(output, error));
        return command;
    }

    /// <summary>
    /// <c>si demo images</c>: the image path end to end — a class-conditional U-Net trained on the handwritten digits
    /// (<see cref="Presets.DigitsDemo"/>), a grid per class with and without guidance, the image metrics and the report.
    /// </summary>
    private static Command Images(TextWriter output, TextWriter error)
    {
        var outDir = new Option<string>("--out") { Description = "output folder (checkpoint, samples-w*.npy/png, eval.json, report.html)", DefaultValueFactory = _ => "out/demo-images" };
        var steps = new Option<int?>("--steps") { Description = $"override the number of training steps (default {Presets.DigitsDemo().TrainingOrDefault.Steps})" };
        var guidance = new Option<double>("--guidance") { Description = "the guidance weight sampled and scored beside w = 1", DefaultValueFactory = _ => 2.0 };
        var perClass = new Option<int>("--per-class") { Description = "generated images per class for the classifier figures", DefaultValueFactory = _ => 50 };
        var evalCount = new Option<int>("--eval-count") { Description = "test images whose bits/dim are computed (0 skips the likelihood)", DefaultValueFactory = _ => 100 };
        var force = new Option<bool>("--force") { Description = "replace an earlier demo in --out" };
        var noReport = new Option<bool>("--no-report") { Description = "skip report.html" };
        var seed = CommonOptions.Seed();
        var threads = CommonOptions.Threads();
        var device = CommonOptions.Device();
        var progress = CommonOptions.Progress();
        var command = new Command("images", "Learn noise -> handwritten digits with a class-conditional U-Net; write a grid per class with and without guidance, the image metrics (eval.json) and report.html.");
        foreach (var o in new Option[] { outDir, steps, guidance, perClass, evalCount, force, noReport, seed, threads, device, progress }) command.Options.Add(o);
        command.SetAction(r =>
        {
            var total = Stopwatch.StartNew();
            var cfg = Presets.DigitsDemo(r.GetValue(seed)) with { Device = r.GetValue(device)! };
            if (r.GetValue(steps) is { } s) cfg = cfg with { Training = cfg.TrainingOrDefault with { Steps = s } };
            var w = r.GetValue(guidance);
            if (!double.IsFinite(w)) throw new UsageException($"--guidance must be a finite number, got {w}");
            if (r.GetValue(perClass) < 2) throw new UsageException($"--per-class must be >= 2, got {r.GetValue(perClass)}");
            if (r.GetValue(evalCount) < 0) throw new UsageException($"--eval-count must be >= 0, got {r.GetValue(evalCount)}");
            var pieces = RunPieces.Build(cfg, m => error.WriteLine($"si: {m}"));
            var folder = r.GetValue(outDir)!;
            OutputFolder.CheckForRun(folder, r.GetValue(force));
            var threadNote = CommonOptions.ApplyRuntime(r.GetValue(threads));
            var dev = ComputeDevice.Resolve(cfg.Device);
            var display = new ProgressDisplay(r.GetValue(progress), error, threadNote);
            var t = cfg.TrainingOrDefault;
            var images = pieces.Images!.Record;
            output.WriteLine($"si demo images: learning noise -> {images.TrainingImages} handwritten digits ({string.Join("x", images.Shape)}, {images.ClassNames!.Count} classes), " +
                $"class-conditional U-Net '{cfg.ModelOrDefault.UNetPreset}', {t.Steps} steps at batch {t.BatchSize}, labels dropped with p = {t.ConditionDropout}");
            using var cts = CommonOptions.CancelOnCtrlC();
            var run = display.Train("train", t.Steps, p => TrainingRun.Execute(cfg, folder, p, cts.Token, overwrite: r.GetValue(force)));
            if (!run.Result.Completed) return ExitCodes.Cancelled;
            output.WriteLine($"trained in {run.Result.Elapsed.TotalSeconds:F1} s ({run.Result.StepsPerSecond:F2} steps/s), final loss {run.Result.FinalLoss:F4}");

            using var ckpt = Checkpoint.Load(folder, device: dev);
            var solver = new Rk4Solver(20);
            foreach (var weight in w == 1 ? new[] { 1.0 } : [1.0, w])
            {
                var classes = new SampleClasses(Guidance: weight, PerClass: true);
                var count = 10 * images.ClassNames.Count;
                var (pixels, nfe) = display.Fraction($"sample w={weight:G3}", p => CheckpointSampler.Sample(ckpt, count, solver, r.GetValue(seed) + 1, dev, progress: p, classes: classes));
                using (pixels)
                using (var labels = CheckpointSampler.ClassesFor(ckpt.Manifest, count, r.GetValue(seed) + 1, classes))
                {
                    var name = Path.Combine(folder, $"samples-w{weight.ToString("0.#", System.Globalization.CultureInfo.InvariantCulture).Replace('.', '_')}.png");
                    var written = ImageOutputs.For(name).Write(pixels, labels, ckpt.Manifest, perClass: true, weight);
                    output.WriteLine($"wrote {string.Join(", ", written)} ({solver.Name}, {nfe:0} evaluations per image)");
                }
            }
            var options = new ImageEvaluationOptions(r.GetValue(evalCount), solver, Generated: r.GetValue(perClass), Guidance: w, Seed: r.GetValue(seed) + 3);
            var report = display.Fraction("eval", p => ImageEvaluator.Evaluate(ckpt, options, p, m => error.WriteLine($"si: {m}")));
            EvalCommand.PrintImages(output, report);
            AtomicFile.WriteText(Path.Combine(folder, "eval.json"), System.Text.Json.JsonSerializer.Serialize(report, new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
            if (!r.GetValue(noReport))
            {
                var html = display.Fraction("report", p => TransportReport.Write(folder, folder, new ReportOptions(Seed: r.GetValue(seed)), p));
                output.WriteLine($"wrote {html}");
            }
            output.WriteLine($"total time {total.Elapsed.TotalSeconds:F1} s");
            return ExitCodes.Ok;
        });
        return command;
    }
}
