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

namespace StochasticInterpolants.Benchmarks;

/// <summary>--throughput: this side only — training steps/s, sampling samples/s and a short resident-memory soak.</summary>
internal static class Throughput
{
    public static int Run(bool quick)
    {
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
    }

    private static ModelOptions DemoModel() => new(); // the demo uses the default MLP (see DemoCommand.Config)

    private static (double StepsPerSecond, double PeakMiB, double RssGrowthMiB) Train(int batch, int steps, int warmup)
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

    private static void Report(string what, double value, string unit, double peak) =>
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{what,-34} {value,14:N1} {unit,-12} {peak,12:N0}"));
}
