using System.Collections;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Cli;
using StochasticInterpolants.Couplings;
using StochasticInterpolants.Data;
using StochasticInterpolants.Distributed;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using StochasticInterpolants.Mpi;
using StochasticInterpolants.Objectives;
using StochasticInterpolants.Runs;
using StochasticInterpolants.Runtime;
using StochasticInterpolants.Training;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Distributed;

/// <summary>The data-parallel pieces that need no second process: shares, checksums, refusals, the launcher's environment.</summary>
public sealed class DataParallelTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-dp-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    [Theory]
    [InlineData(10, 3)]
    [InlineData(1024, 2)]
    [InlineData(7, 8)]
    [InlineData(5, 1)]
    public void Shares_are_contiguous_in_rank_order_cover_the_batch_once_and_differ_by_at_most_a_row(int total, int size)
    {
        var shares = Enumerable.Range(0, size).Select(r => RowShare.For(total, r, size)).ToArray();
        Assert.Equal(0, shares[0].Start);
        for (var r = 1; r < size; r++) Assert.Equal(shares[r - 1].Start + shares[r - 1].Count, shares[r].Start);
        Assert.Equal(total, shares.Sum(s => s.Count));
        Assert.True(shares.Max(s => s.Count) - shares.Min(s => s.Count) <= 1);
        Assert.Equal(1.0, shares.Sum(s => s.Fraction), 12);
        using var rows = arange(total).reshape(total, 1);
        using var gathered = cat(shares.Select(s => s.Of(rows)).ToArray(), 0);
        Assert.True(gathered.eq(rows).all().item<bool>());
    }

    [Fact]
    public void The_checksum_sees_one_flipped_bit_and_ignores_nothing()
    {
        using var a = randn(1001);
        using var b = a.clone();
        Assert.Equal(TensorChecksum.Of(a), TensorChecksum.Of(b));
        var bytes = b.bytes;
        bytes[4001] ^= 0x01; // the last float's second byte: the tail after the 8-byte words
        Assert.NotEqual(TensorChecksum.Of(a), TensorChecksum.Of(b));
        using var c = a.clone();
        c.bytes[17] ^= 0x80;
        Assert.NotEqual(TensorChecksum.Of(a), TensorChecksum.Of(c));
        Assert.NotEqual(TensorChecksum.Of(a, b), TensorChecksum.Of(b, a));
    }

    // Rank 0 of a pretend pair whose partner holds other weights from the given check on (its sums are this rank's own,
    // doubled, which keeps the arithmetic of a real pair of identical shares).
    private sealed class DivergingPartner(int divergeAtCheck) : IProcessGroup
    {
        private int _checks;
        public int RankOverride { get; init; }
        public int Rank => RankOverride;
        public int Size => 2;
        public void SumInPlace(Tensor buffer, string operation) => buffer.mul_(2);
        public long[] AllGather(long value, string operation) => [value, ++_checks > divergeAtCheck ? value ^ 1 : value];
        public Tensor AllGatherRows(Tensor rows, string operation) => cat([rows, rows], 0);
    }

    [Fact]
    public void Weights_that_differ_between_ranks_stop_training_with_the_step_and_the_ranks()
    {
        var coupling = new IndependentCoupling(new StandardGaussian(2), new Checkerboard());
        using var net = new MlpNetwork(new MlpConfig(2, Width: 8, Depth: 1), seed: 1);
        var trainer = new Trainer(coupling, new VelocityObjective(new LinearInterpolant()), net, new TrainingOptions(Steps: 50, BatchSize: 16, Seed: 2))
        {
            Processes = new DivergingPartner(divergeAtCheck: 2), ChecksumEvery = 10,
        };
        var e = Assert.Throws<DataParallelException>(() => trainer.Run(out _));
        Assert.Contains("diverged by step 20", e.Message); // checks: before step 1 (ok), at 10 (ok), at 20 (differs)
        Assert.Contains("rank 1 differ from rank 0", e.Message);
    }

    [Fact]
    public void More_processes_than_rows_in_a_batch_are_refused_up_front()
    {
        var coupling = new IndependentCoupling(new StandardGaussian(2), new Checkerboard());
        using var net = new MlpNetwork(new MlpConfig(2, Width: 8, Depth: 1), seed: 1);
        var trainer = new Trainer(coupling, new VelocityObjective(new LinearInterpolant()), net, new TrainingOptions(Steps: 5, BatchSize: 1, Seed: 2))
        {
            Processes = new DivergingPartner(int.MaxValue),
        };
        var e = Assert.Throws<InvalidSettingException>(() => trainer.Run(out _));
        Assert.Equal("batch", e.Setting);
        Assert.Contains("a batch of 1 rows cannot be shared by 2 processes", e.Message);
    }

    [Fact]
    public void The_launcher_is_recognised_from_its_environment_and_open_mpi_is_refused()
    {
        Assert.Null(MpiJob.LaunchedSize(new Hashtable()));
        Assert.Equal(4, MpiJob.LaunchedSize(new Hashtable { ["PMI_SIZE"] = "4", ["PMI_RANK"] = "1" }));
        Assert.Contains("not a process count", Assert.Throws<MpiException>(() => MpiJob.LaunchedSize(new Hashtable { ["PMI_SIZE"] = "x" })).Message);
        Assert.Contains("Open MPI", Assert.Throws<MpiException>(() => MpiJob.LaunchedSize(new Hashtable { ["OMPI_COMM_WORLD_SIZE"] = "2" })).Message);
    }

    [Fact]
    public void Resuming_with_another_number_of_processes_says_what_changes()
    {
        var config = new TrainingRunConfig(Target: "moons", CheckpointEvery: 10, Model: new ModelOptions(Width: 8, Depth: 1),
            Training: new TrainingOptions(Steps: 40, BatchSize: 16, Seed: 1));
        using var cts = new CancellationTokenSource();
        var folder = Path.Combine(_dir, "run");
        TrainingRun.Execute(config, folder, new SyncProgress<TrainingProgress>(p => { if (p.Step == 15) cts.Cancel(); }), cts.Token);
        Assert.Null(TrainingRun.ResumeNote(folder, 1));
        var note = TrainingRun.ResumeNote(folder, 3);
        Assert.NotNull(note);
        Assert.Contains("written by 1 process, this job has 3 processes", note);
        Assert.Contains("to rounding, not bit for bit", note);
        Assert.Equal(1, TrainingStateFolder.ReadLoop(folder).Processes);

        // While rank 0 holds the folder's training lock, another rank reads the resumable configuration without touching the lock.
        using (OutputFolder.LockForTraining(folder))
        {
            Assert.Equal(40, TrainingRun.ResumableConfig(folder, new DivergingPartner(int.MaxValue) { RankOverride = 1 }).TrainingOrDefault.Steps);
            Assert.Contains("in use by another training process", Assert.Throws<IOException>(() => TrainingRun.ResumableConfig(folder)).Message);
        }
    }
}
