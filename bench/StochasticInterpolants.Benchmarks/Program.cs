using System.Diagnostics;
using System.Globalization;
using StochasticInterpolants.Couplings;
using StochasticInterpolants.Data;
using StochasticInterpolants.Fields;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using StochasticInterpolants.Objectives;
using StochasticInterpolants.Runs;
using StochasticInterpolants.Runtime;
using StochasticInterpolants.Sampling;
using StochasticInterpolants.Training;
using static TorchSharp.torch;

// The benchmark command (scripts/bench.sh). Default: the speed comparison with PyTorch (Compare.cs). Modes:
// --throughput  training steps/s, sampling samples/s and a short resident-memory soak of this side only;
// --memory      20,000 training steps + 1,000,000 samples, RSS at 1k/10k/20k steps (MemorySoak.cs);
// --fuzz N      N fuzzed inputs through every file reader (ReaderFuzzer.cs);
// --sde-table, --nll-curve  sample quality vs NFE, and NLL vs training time.
var allocator = NativeRuntime.ConfigureAllocator();
int? threads = null; var quick = false; var sdeTable = false; var nllCurve = false; string? checkpointDir = null; int? fuzz = null; var memory = false; var compare = false; var legacy = false; var rounds = 1; var noPyTorch = false; var noGlibc = false;
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--threads" when i + 1 < args.Length: threads = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--quick": quick = true; break;
        case "--sde-table": sdeTable = true; break;
        case "--nll-curve": nllCurve = true; break;
        case "--checkpoint" when i + 1 < args.Length: checkpointDir = args[++i]; break;
        case "--fuzz" when i + 1 < args.Length: fuzz = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--memory": memory = true; break;
        case "--compare": compare = true; break;
        case "--throughput": legacy = true; break;
        case "--no-pytorch": noPyTorch = true; break;
        case "--no-glibc-pytorch": noGlibc = true; break;
        case "--rounds" when i + 1 < args.Length: rounds = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        default: Console.Error.WriteLine($"bench: unknown argument '{args[i]}' (expected --threads N, --quick, --sde-table [--checkpoint DIR], --nll-curve, --memory, --fuzz N, --compare (default) [--rounds R] [--no-pytorch] [--no-glibc-pytorch], --throughput)"); return 2;
    }
}
NativeRuntime.EnsureTorchLoads();
var nThreads = NativeRuntime.ConfigureThreads(threads);
Console.WriteLine($"machine: {Environment.ProcessorCount} cores, libtorch threads {nThreads}, allocator {allocator}, {(quick ? "quick" : "full")} run");
if (sdeTable) return SdeTable.Run(checkpointDir, quick);
if (nllCurve) return NllCurve.Run(quick);
if (memory) return MemorySoak.Run(quick);
if (compare || !legacy) return Compare.Run(quick, nThreads, rounds, !noPyTorch, !noGlibc);
if (fuzz is { } inputs)
{
    var work = Directory.CreateTempSubdirectory("si-fuzz-").FullName;
    try
    {
        var report = StochasticInterpolants.Benchmarks.ReaderFuzzer.Run(inputs, seed: 1, work, Console.WriteLine);
        Console.WriteLine($"{"reader",-20} {"tried",8} {"parsed",8} {"refused",8}");
        foreach (var (reader, (tried, parsed, refused)) in report.Readers) Console.WriteLine($"{reader,-20} {tried,8} {parsed,8} {refused,8}");
        Console.WriteLine($"{report.Total} inputs in {report.Elapsed.TotalSeconds:F1} s, no crash; slowest input {report.SlowestInput.TotalMilliseconds:F0} ms");
        return 0;
    }
    catch (StochasticInterpolants.Benchmarks.FuzzFailure e) { Console.WriteLine($"FUZZ FAILURE: {e.Message}"); Console.WriteLine(e.InnerException?.StackTrace); return 1; }
    finally { Directory.Delete(work, true); }
}
var model = DemoModel();
Console.WriteLine($"model: MLP {model.Width}x{model.Depth} ({model.Activation}), linear interpolant, checkerboard target");
Console.WriteLine();
Console.WriteLine($"{"measurement",-34} {"value",14} {"unit",-12} {"peak RSS MiB",12}");

foreach (var batch in new[] { 256, 4096 })
{
    var steps = quick ? (batch == 256 ? 100 : 20) : (batch == 256 ? 600 : 120);
    var (rate, peak, _) = Train(batch, steps, warmup: 10);
    Report($"train steps/s (batch {batch})", rate, "steps/s", peak);
    Report($"train samples/s (batch {batch})", rate * batch, "samples/s", peak);
}

{
    using var net = new MlpNetwork(new MlpConfig(2, model.Width, model.Depth, model.Activation, model.TimeFrequencies), seed: 0);
    net.eval();
    var field = new NetworkVelocityField(net);
    var count = quick ? 2000 : 10_000;
    using var g = new Generator(1);
    using var x0 = randn(count, 2, generator: g);
    using (new EulerSolver(5).Integrate(field, x0, 0, 1)) { } // warm-up
    ProcessMemory.ResetPeak();
    var watch = Stopwatch.StartNew();
    using var solution = new EulerSolver(100).Integrate(field, x0, 0, 1);
    var seconds = watch.Elapsed.TotalSeconds;
    Report($"sample samples/s (Euler 100, n={count})", count / seconds, "samples/s", ProcessMemory.PeakMiB());
    Report("sample velocity evals/s", 100.0 * count / seconds, "points/s", ProcessMemory.PeakMiB());
}

{
    // Soak: resident memory after warm-up vs after many more steps; flat means every step's tensors are released.
    var soakSteps = quick ? 300 : 2000;
    var (_, _, growth) = Train(1024, soakSteps, warmup: 100);
    Report($"soak RSS growth ({soakSteps} steps, batch 1024)", growth, "MiB", ProcessMemory.PeakMiB());
}
return 0;

static ModelOptions DemoModel() => new(); // the demo uses the default MLP (see DemoCommand.Config)

static (double StepsPerSecond, double PeakMiB, double RssGrowthMiB) Train(int batch, int steps, int warmup)
{
    var m = DemoModel();
    using var net = new MlpNetwork(new MlpConfig(2, m.Width, m.Depth, m.Activation, m.TimeFrequencies), seed: 0);
    var coupling = new IndependentCoupling(new StandardGaussian(2), new Checkerboard());
    var objective = new VelocityObjective(new LinearInterpolant());
    var options = new TrainingOptions(Steps: warmup + steps, BatchSize: batch, Seed: 0, LogEvery: 1_000_000);
    var trainer = new Trainer(coupling, objective, net, options);
    var watch = new Stopwatch();
    double rssAfterWarmup = 0;
    ProcessMemory.ResetPeak();
    var result = trainer.Run(out var ema, new SyncProgress<TrainingProgress>(p =>
    {
        if (p.Step == warmup) { watch.Start(); rssAfterWarmup = ProcessMemory.RssMiB(); }
    }));
    watch.Stop();
    ema?.Dispose();
    return (steps / watch.Elapsed.TotalSeconds, ProcessMemory.PeakMiB(), ProcessMemory.RssMiB() - rssAfterWarmup);
}

static void Report(string what, double value, string unit, double peak) =>
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{what,-34} {value,14:N1} {unit,-12} {peak,12:N0}"));
