using StochasticInterpolants.Couplings;
using StochasticInterpolants.Data;
using StochasticInterpolants.Fields;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using StochasticInterpolants.Objectives;
using StochasticInterpolants.Sampling;
using StochasticInterpolants.Training;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Docs;

/// <summary>The library example of README.md, verbatim but for smaller sizes, so the documentation keeps compiling and running.</summary>
public class ReadmeExampleTests
{
    [Fact]
    public void Library_example_runs()
    {
        var target = new Checkerboard();
        var interpolant = new LinearInterpolant(GammaSchedule.None);        // x_t = (1 - t) x0 + t x1
        var coupling = new IndependentCoupling(new StandardGaussian(2), target);
        var objective = new VelocityObjective(interpolant);                  // E |b(t, x_t) - (x1 - x0)|^2
        using var net = new MlpNetwork(new MlpConfig(Dimension: 2, Width: 64, Depth: 3), seed: 0);
        using var untrained = new MlpNetwork(new MlpConfig(Dimension: 2, Width: 64, Depth: 3), seed: 0);
        var trainer = new Trainer(coupling, objective, net, new TrainingOptions(Steps: 600, BatchSize: 256, LearningRate: 3e-3));
        var result = trainer.Run(out var ema);
        ema?.CopyTo(net);                                                    // sample with the averaged weights
        ema?.Dispose();

        using var g = new Generator(1);
        using var x0 = new StandardGaussian(2).Sample(2000, g);
        using var solution = new Rk4Solver(steps: 20).Integrate(new NetworkVelocityField(net), x0, 0.0, 1.0);
        var inside = Checkerboard.FractionInside(solution.Final);
        using var before = new Rk4Solver(steps: 20).Integrate(new NetworkVelocityField(untrained), x0, 0.0, 1.0);
        // A few seconds of training move the flow's samples from a blob at the origin towards the 8 x 8 box of squares:
        // their squared energy distance to true samples must fall well below the untrained flow's (measured 0.0086 vs 0.634,
        // seed 0, 1 thread; the bound 1/20 of the untrained figure leaves a factor 3.7 of room).
        using var reference = target.Sample(2000, g);
        var trained = StochasticInterpolants.Metrics.EnergyDistance.Compute(solution.Final, reference);
        var initial = StochasticInterpolants.Metrics.EnergyDistance.Compute(before.Final, reference);
        Assert.True(trained < 0.05 * initial, $"energy distance^2 {trained} after training vs {initial} untrained; inside {inside}");
        Assert.Equal(600, result.StepsCompleted);
    }
}

/// <summary>The flow-map example of README.md ("Using the library"), verbatim but for smaller sizes.</summary>
public class ReadmeFlowMapExampleTests
{
    [Fact]
    public void Flow_map_example_runs()
    {
        var target = new Checkerboard();
        var interpolant = new LinearInterpolant(GammaSchedule.None);
        var coupling = new IndependentCoupling(new StandardGaussian(2), target);
        using var map = new MlpNetwork(new MlpConfig(Dimension: 2, Width: 64, Depth: 3, TwoTimes: true), seed: 0);
        var mapObjective = new FlowMapObjective(interpolant, new FlowMapOptions(FlowMapMethod.Lagrangian));
        var mapTrainer = new Trainer(coupling, mapObjective, map, new TrainingOptions(Steps: 600, BatchSize: 256, LearningRate: 3e-3));
        mapTrainer.Run(out var mapEma);
        mapEma?.CopyTo(map);
        mapEma?.Dispose();

        using var g = new Generator(1);
        using var x0 = new StandardGaussian(2).Sample(2000, g);
        using var twoJumps = FlowMapSampler.Sample(map, x0, jumps: 2);
        var diagonal = new FieldSet(interpolant, [new NetworkField(map, FieldKind.FlowMap)]).Velocity();
        using var ode = new Rk4Solver(steps: 20).Integrate(diagonal, x0, 0.0, 1.0);
        // A short run: two jumps land as close to the checkerboard as the diagonal's RK4 20 (80 evaluations) does, within a
        // factor 2 of its energy distance, and far closer than x0 itself.
        using var reference = target.Sample(2000, g);
        var jumps = StochasticInterpolants.Metrics.EnergyDistance.Compute(twoJumps, reference);
        var rk4 = StochasticInterpolants.Metrics.EnergyDistance.Compute(ode.Final, reference);
        var start = StochasticInterpolants.Metrics.EnergyDistance.Compute(x0, reference);
        Assert.True(jumps < 2 * rk4 + 0.01 && jumps < 0.1 * start, $"energy distance^2: 2 jumps {jumps}, RK4 20 on the diagonal {rk4}, x0 {start}");
    }
}
