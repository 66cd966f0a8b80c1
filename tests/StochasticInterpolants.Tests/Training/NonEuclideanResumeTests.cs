using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Runs;
using StochasticInterpolants.Training;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Training;

/// <summary>
/// Runs on the Ramachandran torus and on words resume from their snapshot to the same weights as the run never
/// interrupted (docs/theory.md §13.2): the manifold and discrete pieces are rebuilt from the stored configuration, the
/// held-out split with them.
/// </summary>
public sealed class NonEuclideanResumeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-noneuclidean-resume-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    [Theory]
    [InlineData("ramachandran")]
    [InlineData("words")]
    public void An_interrupted_run_resumes_to_the_uninterrupted_weights(string target)
    {
        var config = new TrainingRunConfig(Target: target, CheckpointEvery: 10, Model: new ModelOptions(Width: 32, Depth: 2),
            Training: new TrainingOptions(Steps: 24, BatchSize: 128, Seed: 2, LogEvery: 8, WarmupSteps: 0), Patience: 0);
        var reference = Path.Combine(_dir, $"{target}-reference");
        TrainingRun.Execute(config, reference);
        var interrupted = Path.Combine(_dir, $"{target}-interrupted");
        using (var cts = new CancellationTokenSource())
            TrainingRun.Execute(config, interrupted, new Runtime.SyncProgress<TrainingProgress>(p => { if (p.Step == 15) cts.Cancel(); }), cts.Token);
        Assert.True(TrainingStateFolder.Exists(interrupted), "no snapshot was left to resume from");
        TrainingRun.Resume(interrupted);
        using var a = Checkpoint.Load(reference);
        using var b = Checkpoint.Load(interrupted);
        foreach (var (p, q) in a.Networks[0].Network.Module.parameters().Zip(b.Networks[0].Network.Module.parameters()))
            Assert.Equal(0.0, (p - q).abs().max().item<float>());
        Assert.Equal(a.Manifest.Manifold, b.Manifest.Manifold);
        Assert.Equal(a.Manifest.Sequences?.Sha256, b.Manifest.Sequences?.Sha256);
    }
}
