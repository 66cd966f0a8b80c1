using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Couplings;
using StochasticInterpolants.Data;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Runs;
using StochasticInterpolants.Training;
using TorchSharp;
using static TorchSharp.torch;
using Registry = StochasticInterpolants.Couplings.Couplings;

namespace StochasticInterpolants.Tests.Training;

/// <summary>What a training run does with its coupling: records its solves through a resume, and disposes it at the end.</summary>
public sealed class CouplingRunTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-coupling-run-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void The_sinkhorn_convergence_record_covers_the_whole_run_across_a_resume()
    {
        var config = new TrainingRunConfig(Target: "checkerboard", Coupling: "sinkhorn", CouplingOptions: new CouplingOptions(Epsilon: 0.01),
            CheckpointEvery: 10, Model: new ModelOptions(Width: 16, Depth: 1), Training: new TrainingOptions(Steps: 24, BatchSize: 512, Seed: 2, LogEvery: 8, WarmupSteps: 0));
        var reference = Path.Combine(_dir, "reference");
        var whole = TrainingRun.Execute(config, reference).Manifest.Coupling!.Convergence!;
        Assert.Equal(24, whole.Batches);
        Assert.True(whole.UnconvergedBatches >= 1);

        var interrupted = Path.Combine(_dir, "interrupted");
        using var cts = new CancellationTokenSource();
        TrainingRun.Execute(config, interrupted, new Runtime.SyncProgress<TrainingProgress>(p => { if (p.Step == 15) cts.Cancel(); }), cts.Token);
        TrainingRun.Resume(interrupted);
        Assert.Equal(whole, Checkpoint.ReadManifest(interrupted).Coupling!.Convergence);
    }

    /// <summary>Independent pairs that count how often they were disposed.</summary>
    private sealed class DisposalProbe(IDistribution b, IDistribution t) : TwoDensityCoupling(b, t), IDisposable
    {
        public static int Disposed;
        public override CoupledSample Sample(int count, Generator generator) => DrawIndependent(count, generator);
        public void Dispose() => Interlocked.Increment(ref DisposalProbe.Disposed);
    }

    [Fact]
    public void A_disposable_coupling_is_disposed_when_the_run_ends()
    {
        Registry.Register("disposal-probe", (_, b, t, _) => new DisposalProbe(b, t));
        var config = new TrainingRunConfig(Target: "moons", Coupling: "disposal-probe", Model: new ModelOptions(Width: 8, Depth: 1),
            Training: new TrainingOptions(Steps: 3, BatchSize: 16, WarmupSteps: 0, LogEvery: 1));
        var before = DisposalProbe.Disposed;
        TrainingRun.Execute(config, Path.Combine(_dir, "probe"));
        Assert.Equal(before + 1, DisposalProbe.Disposed);
    }
}
