using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Couplings;
using StochasticInterpolants.Distributed;
using StochasticInterpolants.Runs;
using StochasticInterpolants.Sampling;
using StochasticInterpolants.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Distributed;

/// <summary>Two tiny U-Nets on the 8 x 8 digits, trained once: a plain flow from noise and an in-painting with random masks.</summary>
public sealed class SmallImageCheckpoints : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-dp-images-").FullName;

    public SmallImageCheckpoints()
    {
        var model = new ModelOptions(Type: "unet", UNetPreset: "tiny");
        var training = new TrainingOptions(Steps: 10, BatchSize: 16, Seed: 3, LogEvery: 10);
        Plain = Path.Combine(_dir, "plain");
        TrainingRun.Execute(new TrainingRunConfig(Target: "digits8", Model: model, Training: training), Plain);
        Inpainting = Path.Combine(_dir, "inpaint");
        TrainingRun.Execute(new TrainingRunConfig(Target: "digits8", Model: model, Training: training, Coupling: "inpaint",
            CouplingOptions: new CouplingOptions(Mask: "random")), Inpainting);
    }

    /// <summary>The flow from N(0, I) to the digits.</summary>
    public string Plain { get; }
    /// <summary>The in-painting flow (random masks: the completion draws them from its generator).</summary>
    public string Inpainting { get; }

    public void Dispose() => Directory.Delete(_dir, true);
}

/// <summary>Image completions and bits per dimension shared across ranks equal one process's (docs/theory.md §13.4).</summary>
public sealed class DataParallelImageTests(SmallImageCheckpoints checkpoints) : IClassFixture<SmallImageCheckpoints>
{
    // As for the rows of a table: convolutions of a batch of another size may round differently (DataParallelSamplingTests).
    private const double Rounding = 1e-4;

    [Fact]
    public void Completions_shared_across_ranks_equal_the_one_process_completions()
    {
        using var data = ImageDatasets.Load("digits8");
        using var observed = data.Test.Pixels[..5].clone();
        // 5 observations, 2 completions each, in chunks of 4: three chunks (4, 4, 2) shared by 3 ranks.
        Completions expected;
        using (var one = Checkpoint.Load(checkpoints.Inpainting))
            expected = CheckpointCompletion.Complete(one, observed, new EulerSolver(4), 6, perObservation: 2, chunkSize: 4);
        using (expected)
        {
            var shared = ThreadProcessGroup.Run(3, g =>
            {
                using var c = Checkpoint.Load(checkpoints.Inpainting);
                return CheckpointCompletion.Complete(c, observed, new EulerSolver(4), 6, perObservation: 2, chunkSize: 4, processes: g);
            });
            foreach (var r in shared)
                using (r)
                {
                    // The random masks come from the shared generator: the ranks must have drawn them as one process does.
                    Assert.True(expected.Observed!.eq(r.Observed!).all().item<bool>(), "the masks differ");
                    Assert.Equal(expected.Pixels.shape, r.Pixels.shape);
                    // Pixels are rounded to 16 levels: a rounding difference can move one across a level boundary.
                    using var steps = (expected.Pixels.to(int32) - r.Pixels.to(int32)).abs();
                    Assert.True(steps.max().ToInt32() <= 1, "a completion differs by more than one pixel level");
                    Assert.True(steps.to(float32).mean().ToDouble() < 0.01, "completions differ in more than 1 % of the pixels");
                    Assert.Equal(expected.ObservedRms, r.ObservedRms, Rounding);
                    Assert.Equal(expected.FunctionEvaluations, r.FunctionEvaluations);
                    Assert.True(expected.Views.allclose(r.Views), "the network's views differ");
                }
        }
    }

    [Theory]
    [InlineData(7)]
    [InlineData(1)] // one image on two ranks: rank 0 has none
    public void Bits_per_dimension_shared_across_ranks_equal_one_process(int images)
    {
        using var data = ImageDatasets.Load("digits8");
        (double Nll, double NllErr, double Bpd, double BpdErr, int Scored, double Nfe) Score(Checkpoint c, IProcessGroup? g) =>
            ImageEvaluator.BitsPerDimension(c.Fields(), c.Manifest.TimeClip, data.Test, c.Manifest.Images!.Scaling(), new Rk4Solver(3),
                images, 2, 8, conditional: false, processes: g);
        (double Nll, double NllErr, double Bpd, double BpdErr, int Scored, double Nfe) expected;
        using (var one = Checkpoint.Load(checkpoints.Plain)) expected = Score(one, null);
        var shared = ThreadProcessGroup.Run(2, g =>
        {
            using var c = Checkpoint.Load(checkpoints.Plain);
            return Score(c, g);
        });
        foreach (var r in shared)
        {
            Assert.Equal(images, r.Scored);
            Assert.Equal(expected.Nll, r.Nll, Rounding * Math.Abs(expected.Nll));
            Assert.Equal(expected.Bpd, r.Bpd, Rounding * Math.Abs(expected.Bpd));
            if (images > 1) Assert.Equal(expected.NllErr, r.NllErr, Rounding * Math.Abs(expected.NllErr));
            Assert.Equal(expected.Nfe, r.Nfe);
            Assert.Equal(shared[0], r);
        }
    }
}
