using System.Diagnostics;
using System.Globalization;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Data;
using StochasticInterpolants.Metrics;
using StochasticInterpolants.Runs;
using StochasticInterpolants.Sampling;
using static TorchSharp.torch;

/// <summary>
/// Sample quality against the number of network evaluations (NFE) for the ODE and the SDE with eps in {0.1, 0.5, 1}:
/// fraction of samples inside the checkerboard's squares and energy distance to fresh target samples.
/// The model is the demo's preset on the one-sided linear interpolant, whose score follows from the velocity in closed
/// form, so one network evaluation per step serves both the ODE and the SDE.
/// </summary>
internal static class SdeTable
{
    public static int Run(string? checkpointDir, bool quick)
    {
        var folder = checkpointDir ?? Path.Combine(Path.GetTempPath(), "si-bench-sde-table");
        if (checkpointDir is null)
        {
            var config = Presets.CheckerboardDemo(seed: 0);
            if (quick) config = config with { Training = config.TrainingOrDefault with { Steps = 1500 } };
            Console.WriteLine($"training the checkerboard preset on the one-sided linear interpolant ({config.TrainingOrDefault.Steps} steps) into {folder}");
            var watch = Stopwatch.StartNew();
            TrainingRun.Execute(config, folder, overwrite: true);
            Console.WriteLine($"trained in {watch.Elapsed.TotalSeconds:F0} s");
        }
        using var checkpoint = Checkpoint.Load(folder);
        var fields = checkpoint.Fields();
        var count = quick ? 2000 : 5000;
        using var generator = new Generator(123);
        using var reference = new Checkerboard().Sample(count, generator);
        var nfes = new[] { 4, 8, 16, 32, 100 };
        var columns = new List<(string Name, Func<int, Tensor, Generator, OdeSolution> Sample)>
        {
            ("ODE (Euler)", (n, x, g) => new EulerSolver(n).Integrate(fields.Velocity(), x, 0, 1)),
            ("ODE (Heun)", (n, x, g) => new HeunSolver(Math.Max(1, n / 2)).Integrate(fields.Velocity(), x, 0, 1)),
        };
        foreach (var eps in new[] { 0.1, 0.5, 1.0 })
        {
            var coefficient = DiffusionCoefficient.Constant(eps);
            var (start, end) = CheckpointSampler.SdeInterval(fields, coefficient, checkpoint.Manifest.TimeClip, denoiseLastStep: false);
            columns.Add(($"SDE EM eps={eps}", (n, x, g) => new EulerMaruyamaSampler(n).Integrate(fields, coefficient, x, start, end, g)));
        }
        Console.WriteLine();
        Console.WriteLine($"quality vs NFE ({count} samples; inside = fraction in the squares, ED = energy distance to {count} target samples)");
        Console.WriteLine($"{"NFE",5} | " + string.Join(" | ", columns.Select(c => $"{c.Name,-22}")));
        Console.WriteLine($"{"",5} | " + string.Join(" | ", columns.Select(_ => $"{"inside",8} {"ED",13}")));
        foreach (var nfe in nfes)
        {
            var cells = new List<string>();
            foreach (var (_, sample) in columns)
            {
                using var g = new Generator(7);
                using var x0 = new StandardGaussian(2).Sample(count, g);
                using var solution = sample(nfe, x0, g);
                var inside = Checkerboard.FractionInside(solution.Final);
                var ed = EnergyDistance.Compute(solution.Final, reference);
                cells.Add(string.Create(CultureInfo.InvariantCulture, $"{inside,8:F3} {ed,13:F4}"));
            }
            Console.WriteLine($"{nfe,5} | " + string.Join(" | ", cells));
        }
        using var g2 = new Generator(99);
        using var other = new Checkerboard().Sample(count, g2);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"reference: two independent target samples: inside 1.000, ED {EnergyDistance.Compute(other, reference):F4}"));
        return 0;
    }
}
