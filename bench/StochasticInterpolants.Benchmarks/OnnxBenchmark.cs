using System.Diagnostics;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Export;
using StochasticInterpolants.Onnx;
using StochasticInterpolants.Runs;
using StochasticInterpolants.Sampling;
using StochasticInterpolants.Training;

namespace StochasticInterpolants.Benchmarks;

/// <summary>
/// --onnx: sampling speed of an exported model in ONNX Runtime (.NET, CPU, through <see cref="OnnxGenerator"/>: what an app
/// ships) against <c>si sample</c>'s sampler (<see cref="CheckpointSampler"/> on TorchSharp, in process: the same work without
/// the tool's start-up) on the same checkpoint, the same count, solver and steps, and the same number of threads, in
/// alternated rounds so that a slow spell of the machine hits both sides. Two parts: the checkerboard demo's MLP (256 x 4;
/// 10,000 points, RK4 50 steps, si sample's defaults) and the digits demo's small U-Net (28 x 28, 10 classes; 100 digits, one
/// per class in turn, guidance w = 2, Heun 10 steps). Training is cut short: speed does not depend on what was learned.
/// Both sides decode (pixels for the digits). Prints each side's median time, their ratio and the exported file's size.
/// </summary>
internal static class OnnxBenchmark
{
    private sealed record Part(string Name, TrainingRunConfig Config, int Count, string Solver, int Steps, double Guidance);

    public static int Run(bool quick, int threads, int? rounds)
    {
        if (quick) Console.WriteLine("QUICK RUN: counts cut (a smoke test of the benchmark); the figures below measure little");
        var r = rounds ?? (quick ? 1 : 3);
        var parts = new[]
        {
            new Part("checkerboard MLP 256x4", Presets.CheckerboardDemo() with { Training = Presets.CheckerboardDemo().TrainingOrDefault with { Steps = quick ? 20 : 200, LogEvery = 100 } },
                quick ? 1000 : 10_000, "rk4", 50, 1),
            new Part("digits small U-Net", Presets.DigitsDemo() with { Training = Presets.DigitsDemo().TrainingOrDefault with { Steps = quick ? 5 : 20, WarmupSteps = 1, LogEvery = 10 } },
                quick ? 10 : 100, "heun", 10, 2),
        };
        var work = Directory.CreateTempSubdirectory("si-bench-onnx-").FullName;
        Console.WriteLine($"checkpoints in {work} (deleted at the end); {r} alternated rounds per part; {threads} threads on each side (libtorch intra-op, ONNX Runtime intra-op)");
        Console.WriteLine($"{"part",-24} {"count",6} {"solver",-10} {"NFE/row",7} {"onnx KiB",9} {"si sample s",12} {"ONNX Runtime s",15} {"si / ORT",9}");
        try
        {
            foreach (var part in parts)
            {
                var folder = Path.Combine(work, part.Name.Split(' ')[0]);
                TrainingRun.Execute(part.Config, folder);
                using var checkpoint = Checkpoint.Load(folder);
                var file = Path.Combine(folder, "model.onnx");
                File.WriteAllBytes(file, OnnxExport.FromCheckpoint(checkpoint));
                using var generator = OnnxGenerator.Load(file, threads);
                var solver = OdeSolvers.Create(part.Solver, part.Steps);
                var conditional = generator.ClassNames is { Count: > 0 };
                var classes = conditional ? new SampleClasses(Guidance: part.Guidance, PerClass: true) : null;
                long[]? labels = conditional ? generator.EveryClass(part.Count / generator.ClassNames!.Count) : null;
                var torchTimes = new List<double>();
                var onnxTimes = new List<double>();
                for (var round = 0; round < r; round++)
                {
                    var watch = Stopwatch.StartNew();
                    var (samples, _) = CheckpointSampler.Sample(checkpoint, part.Count, solver, seed: round, classes: classes);
                    if (checkpoint.Manifest.Images is { } images) images.Scaling().Decode(samples).Dispose();
                    samples.Dispose();
                    torchTimes.Add(watch.Elapsed.TotalSeconds);
                    watch.Restart();
                    var rows = generator.Sample(part.Count, new Random(round), part.Solver, part.Steps, labels, part.Guidance);
                    if (generator.Decoding == SampleDecoding.Image) _ = generator.DecodeImages(rows, part.Count);
                    onnxTimes.Add(watch.Elapsed.TotalSeconds);
                }
                var (torch, onnx) = (MpiWorker.Median(torchTimes), MpiWorker.Median(onnxTimes));
                var nfe = (part.Solver == "rk4" ? 4 : part.Solver == "heun" ? 2 : 1) * part.Steps * (conditional && part.Guidance != 1 ? 2 : 1);
                Console.WriteLine($"{part.Name,-24} {part.Count,6} {$"{part.Solver} {part.Steps}",-10} {nfe,7} {new FileInfo(file).Length / 1024.0,9:F0} {torch,12:F2} {onnx,15:F2} {torch / onnx,9:F2}");
            }
            Console.WriteLine("times: the median over the rounds of one side's whole sampling (noise, solver, decoding); NFE/row counts a guided step's two rows. si sample's side is CheckpointSampler in this process (libtorch loaded, no start-up).");
            return 0;
        }
        finally { Directory.Delete(work, true); }
    }
}
