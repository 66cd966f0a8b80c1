using System.Diagnostics;
using System.Globalization;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Data;
using StochasticInterpolants.Runs;
using StochasticInterpolants.Sampling;

/// <summary>
/// Held-out checkerboard NLL against training time: the checkerboard-best preset trained to several step budgets (each a
/// full run with its own cosine schedule), each scored on the same 5,000 held-out points with RK4 (100 steps) and the
/// exact divergence, the measurement issue 4's target names.
/// </summary>
internal static class NllCurve
{
    public static int Run(bool quick)
    {
        int[] budgets = quick ? [1000, 3000] : [2500, 5000, 10000, 20000, 40000];
        var heldOut = quick ? 1000 : 5000;
        const int rk4Steps = 100;
        Console.WriteLine($"checkerboard NLL vs training time (preset checkerboard-best, held-out {heldOut}, RK4 {rk4Steps} steps, exact divergence); entropy ln 32 = {Math.Log(32):F4}");
        Console.WriteLine($"{"steps",7} {"train s",8} {"NLL",8} {"± se",7} {"gap",7} {"inside",7} {"eval s",7}");
        foreach (var steps in budgets)
        {
            var config = Presets.CheckerboardBest() with { Training = Presets.CheckerboardBest().TrainingOrDefault with { Steps = steps } };
            var folder = Path.Combine(Path.GetTempPath(), $"si-bench-nll-{steps}");
            var watch = Stopwatch.StartNew();
            TrainingRun.Execute(config, folder, overwrite: true);
            var train = watch.Elapsed.TotalSeconds;
            using var checkpoint = Checkpoint.Load(folder);
            var report = Evaluator.Evaluate(checkpoint, new Checkerboard(), new EvaluationOptions(heldOut, new Rk4Solver(rk4Steps), Seed: 0, MetricPoints: 1000));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{steps,7} {train,8:F0} {report.NllMean,8:F4} {report.NllStdErr,7:F4} {report.NllGap,7:F4} {report.SupportFraction,7:F3} {report.Seconds,7:F0}"));
        }
        return 0;
    }
}
