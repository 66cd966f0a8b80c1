using System.Diagnostics;
using System.Globalization;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Runs;
using StochasticInterpolants.Sampling;
using StochasticInterpolants.Training;
using static TorchSharp.torch;

/// <summary>
/// Memory over a long job: the demo's configuration trained for 20,000 steps (with snapshots every 1,000 steps, as
/// `si train` writes them), then 1,000,000 points sampled in chunks. Prints resident and peak memory at 1k, 10k and 20k
/// steps and during sampling; the peak at 20k steps must stay within 5 % of the peak at 1k.
/// </summary>
internal static class MemorySoak
{
    public static int Run(bool quick)
    {
        var steps = quick ? 2000 : 20_000;
        var points = quick ? 100_000 : 1_000_000;
        int[] marks = quick ? [200, 1000, 2000] : [1000, 10_000, 20_000];
        var folder = Directory.CreateTempSubdirectory("si-memory-").FullName;
        try
        {
            var config = Presets.CheckerboardDemo(0) with { Training = Presets.CheckerboardDemo(0).TrainingOrDefault with { Steps = steps } };
            Console.WriteLine($"memory soak: demo model (MLP {config.ModelOrDefault.Width}x{config.ModelOrDefault.Depth}, batch {config.TrainingOrDefault.BatchSize}), " +
                              $"{steps} steps with a snapshot every {config.CheckpointEvery}, then {points} samples (Euler 20 steps, chunks of 50,000)");
            var peaks = TrainWithPeaks(config, folder, marks);
            var watch = Stopwatch.StartNew();

            using var checkpoint = Checkpoint.Load(folder);
            var field = checkpoint.Fields().Velocity();
            var solver = new EulerSolver(20);
            using var generator = new Generator(7);
            const int chunk = 50_000;
            double checksum = 0;
            for (var done = 0; done < points; done += chunk)
            {
                using var scope = NewDisposeScope();
                var x0 = randn(Math.Min(chunk, points - done), 2, generator: generator);
                using var solution = solver.Integrate(field, x0, 0, 1);
                checksum += solution.Final.mean().item<float>();
                var reached = done + chunk;
                if (reached == chunk || reached == points / 2 || reached >= points) Line($"sampled {Math.Min(reached, points)}", ProcessMemory.RssMiB(), ProcessMemory.PeakMiB());
            }
            Console.WriteLine($"  ({points} samples in {watch.Elapsed.TotalSeconds:F0} s; mean of chunk means {checksum * chunk / points:F4})");
            return Verdict(peaks, marks);
        }
        finally { Directory.Delete(folder, true); }
    }

    /// <summary>
    /// Runs <paramref name="config"/> through <c>TrainingRun</c> into <paramref name="folder"/>, printing resident and peak
    /// memory at each step of <paramref name="marks"/> (after a header line); returns the peak at each mark.
    /// </summary>
    internal static Dictionary<int, double> TrainWithPeaks(TrainingRunConfig config, string folder, int[] marks)
    {
        Console.WriteLine($"{"phase",-26} {"RSS MiB",9} {"peak MiB",9}");
        var peaks = new Dictionary<int, double>();
        var watch = Stopwatch.StartNew();
        TrainingRun.Execute(config, folder, new StochasticInterpolants.Runtime.SyncProgress<TrainingProgress>(p =>
        {
            if (!marks.Contains(p.Step)) return;
            peaks[p.Step] = ProcessMemory.PeakMiB();
            Line($"train step {p.Step}", ProcessMemory.RssMiB(), peaks[p.Step]);
        }), overwrite: true);
        Console.WriteLine($"  ({config.TrainingOrDefault.Steps} steps in {watch.Elapsed.TotalSeconds:F0} s)");
        return peaks;
    }

    /// <summary>Prints the growth of the peak from the first mark to the last against the 5 % target; 0 within it, 1 outside.</summary>
    internal static int Verdict(Dictionary<int, double> peaks, int[] marks)
    {
        var growth = (peaks[marks[^1]] - peaks[marks[0]]) / peaks[marks[0]];
        var verdict = Math.Abs(growth) <= 0.05 ? "within" : "OUTSIDE";
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"peak RSS at step {marks[^1]} vs step {marks[0]}: {peaks[marks[^1]]:F0} vs {peaks[marks[0]]:F0} MiB, {100 * growth:+0.0;-0.0} % ({verdict} the 5 % target)"));
        return verdict == "within" ? 0 : 1;
    }

    private static void Line(string phase, double rss, double peak) =>
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{phase,-26} {rss,9:F0} {peak,9:F0}"));
}
