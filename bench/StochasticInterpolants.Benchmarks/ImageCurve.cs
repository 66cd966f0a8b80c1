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

/// <summary>
/// Bits per dimension on Fashion-MNIST's test images against training time (issue 14's curve): one unconditional run of
/// the small U-Net (linear interpolant, Adam at batch 64, learning rate 1e-3 after a 200-step warm-up, constant, EMA
/// 0.999), paused at each CPU-time budget (wall time x libtorch threads, training only) to score the moving-average
/// weights on the same seeded 200 test images (RK4 20 steps, Hutchinson with one Rademacher probe fixed along each path).
/// The evaluations are not counted in the budgets. A constant learning rate, so one run gives every point of the curve.
/// </summary>
internal static class ImageCurve
{
    public static int Run(bool quick, string dataset, int threads)
    {
        double[] cpuMinutes = quick ? [0.5, 1] : [7.5, 15, 30, 60];
        var scored = quick ? 20 : 200;
        var solver = new Rk4Solver(20);
        using var data = ImageDatasets.Load(dataset, m => Console.Error.WriteLine($"[bench] {m}"));
        var train = data.Train;
        using var target = new ImageDistribution(train, withLabels: false);
        var scaling = target.Scaling;
        var config = UNetConfig.Preset("small", (int)train.Shape[0], (int)train.Shape[1], (int)train.Shape[2], classes: 0);
        var interpolant = new LinearInterpolant();
        var objective = new VelocityObjective(interpolant);
        using var network = new UNet(config, 0);
        var options = new TrainingOptions(Steps: int.MaxValue, BatchSize: 64, LearningRate: 1e-3, WarmupSteps: 200, Schedule: "constant", EmaDecay: 0.999, Seed: 0);
        var coupling = new IndependentCoupling(new StandardGaussian(train.Dimension), target);
        using var step = new TrainingStep(coupling, [new LearnedNetwork(objective, network)], options, CPU);
        using var generator = new Generator(0x5151_4E54UL);
        Console.WriteLine($"{dataset}: bits/dim of {scored} test images against training CPU time; U-Net small ({network.ParameterCount:N0} parameters), " +
                          $"{train.Count} training images, batch 64, {threads} thread(s); RK4 20 steps, Hutchinson 1 probe");
        Console.WriteLine($"{"CPU min",8} {"wall s",7} {"steps",7} {"loss",8} {"bits/dim",9} {"± se",6} {"eval s",7}");
        var watch = new Stopwatch();
        var stepIndex = 0;
        double lossSum = 0; var lossCount = 0;
        foreach (var budget in cpuMinutes)
        {
            watch.Start();
            while (watch.Elapsed.TotalMinutes * threads < budget)
            {
                var loss = step.Run(stepIndex++, generator)[0];
                if (!double.IsFinite(loss)) throw new TrainingDivergedException($"the loss is {loss} at step {stepIndex}");
                lossSum += loss; lossCount++;
            }
            watch.Stop();
            var evalWatch = Stopwatch.StartNew();
            using var averaged = new UNet(config, 0);
            step.Averages[0]!.CopyTo(averaged);
            averaged.eval();
            var fields = new FieldSet(interpolant, [new NetworkField(averaged, FieldKind.Velocity)]);
            var (_, _, bpd, se, _, _) = ImageEvaluator.BitsPerDimension(fields, 0, data.Test, scaling, solver, scored, 1, 0, conditional: false);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{budget,8:F1} {watch.Elapsed.TotalSeconds,7:F0} {stepIndex,7} {lossSum / Math.Max(1, lossCount),8:F4} {bpd,9:F3} {se,6:F3} {evalWatch.Elapsed.TotalSeconds,7:F0}"));
            lossSum = 0; lossCount = 0;
        }
        step.Averages[0]?.Dispose();
        return 0;
    }
}
