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
        using var net = new MlpNetwork(new MlpConfig(Dimension: 2, Width: 32, Depth: 2), seed: 0);
        var trainer = new Trainer(coupling, objective, net, new TrainingOptions(Steps: 30, BatchSize: 64));
        var result = trainer.Run(out var ema);
        ema?.CopyTo(net);                                                    // sample with the averaged weights
        ema?.Dispose();

        using var g = new Generator(1);
        using var x0 = new StandardGaussian(2).Sample(100, g);
        using var solution = new Rk4Solver(steps: 5).Integrate(new NetworkVelocityField(net), x0, 0.0, 1.0);
        var inside = Checkerboard.FractionInside(solution.Final);
        Assert.InRange(inside, 0.0, 1.0);
        Assert.Equal(30, result.StepsCompleted);
    }
}
