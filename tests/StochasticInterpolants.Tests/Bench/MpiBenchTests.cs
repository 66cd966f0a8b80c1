using System.Text.Json;
using StochasticInterpolants.Benchmarks;
using StochasticInterpolants.Distributed;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Bench;

/// <summary>The --mpi mode's pieces that need no MPI job: the scaling model, the all-reduce fit, reading si's output, the timed step.</summary>
public class MpiBenchTests
{
    [Fact]
    public void Ring_all_reduce_costs_2_N_minus_1_latencies_and_2_N_minus_1_over_N_buffers()
    {
        var ring = new RingAllReduce(LatencySeconds: 1e-5, BytesPerSecond: 1e9);
        Assert.Equal(0, ring.Seconds(1_000_000, 1));
        // N = 2: 2 * 1e-5 + 1 * 1e6 / 1e9 = 2e-5 + 1e-3
        Assert.Equal(1.02e-3, ring.Seconds(1_000_000, 2), 12);
        // N = 8: 14 * 1e-5 + (14 / 8) * 1e-3 = 1.4e-4 + 1.75e-3
        Assert.Equal(1.89e-3, ring.Seconds(1_000_000, 8), 12);
        Assert.Throws<ArgumentOutOfRangeException>(() => ring.Seconds(1, 0));
    }

    [Fact]
    public void Step_time_shares_the_divisible_work_and_adds_the_exchange()
    {
        var model = new ScalingModel(ComputeSeconds: 0.1, ReplicatedSeconds: 0.01, GradientBytes: 1_000_000, new RingAllReduce(1e-5, 1e9));
        Assert.Equal(0.1, model.StepSeconds(1), 12); // T_1 = C
        // T_8 = 0.01 + 0.09 / 8 + 1.89e-3 = 0.02314; efficiency = 0.1 / (8 * 0.02314)
        Assert.Equal(0.02314, model.StepSeconds(8), 12);
        Assert.Equal(1.89e-3, model.AllReduceSeconds(8), 12);
        Assert.Equal(0.1 / (8 * 0.02314), model.Efficiency(8), 12);
        // R = 0: T_N = C / N + allreduce; N = 2: 0.05 + 1.02e-3
        Assert.Equal(0.05102, (model with { ReplicatedSeconds = 0 }).StepSeconds(2), 12);
        Assert.Throws<ArgumentException>(() => (model with { ReplicatedSeconds = 0.2 }).StepSeconds(2));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(8)]
    [InlineData(64)]
    public void Efficiency_is_one_when_the_exchange_is_free_and_all_work_divides(int n)
    {
        var free = new RingAllReduce(LatencySeconds: 0, BytesPerSecond: double.PositiveInfinity); // alpha = 1 / beta = 0
        var model = new ScalingModel(ComputeSeconds: 0.05, ReplicatedSeconds: 0, GradientBytes: 800_000, free);
        Assert.Equal(1.0, model.Efficiency(n), 12);
        Assert.Equal(0.05 / n, model.StepSeconds(n), 15);
        // Work every process repeats caps the gain (Amdahl): with R = C / 2, T_N = C (1 + 1 / N) / 2.
        Assert.Equal(2.0 / (n + 1), (model with { ReplicatedSeconds = 0.025 }).Efficiency(n), 12);
    }

    [Fact]
    public void The_fit_reproduces_noise_free_measurements_and_ignores_the_middle_sizes()
    {
        const double a = 3e-6, b = 4.5e9;
        var sizes = Enumerable.Range(0, 13).Select(p => 4L << (2 * p)).ToList(); // 4 B .. 64 MiB
        var points = sizes.Select(s => (s, a + s / b)).ToList();
        var fit = AllReduceFit.Fit(points);
        Assert.Equal(a, fit.LatencySeconds, 15);
        Assert.Equal(b, fit.BytesPerSecond, 1e-3 * b);
        // A protocol switch in the middle (64 KiB taking 10x its due) moves neither parameter.
        var bumped = points.Select(p => p.s == 64 << 10 ? (p.s, p.Item2 * 10) : p).ToList();
        Assert.Equal(fit, AllReduceFit.Fit(bumped));
        // Two processes of a ring fitted to the measurement reproduce it: 2 (a / 2) + bytes / b.
        var ring = RingAllReduce.FromTwoProcesses(fit);
        foreach (var s in sizes) Assert.Equal(fit.Seconds(s), ring.Seconds(s, 2), 15);
        Assert.Throws<ArgumentException>(() => AllReduceFit.Fit(points.Where(p => p.s >= 1024).ToList()));
        Assert.Throws<ArgumentException>(() => AllReduceFit.Fit(points.Where(p => p.s < 1 << 20).ToList()));
    }

    [Theory]
    [InlineData("trained 1500 steps in 15.2 s (98.7 steps/s), final loss 1.2345\ncheckpoint: /tmp/x", 1500, 98.7)]
    [InlineData("trained 400 steps in 0.3 s (1.23E+03 steps/s), final loss 1.0000, 2 processes", 400, 1230)]
    public void Si_train_figures_are_read_back(string output, int steps, double rate)
    {
        Assert.Equal((steps, rate), SiOutput.Trained(output)!.Value);
        Assert.Null(SiOutput.Trained("si: error: something"));
    }

    [Theory]
    [InlineData("wrote 20000 samples to /tmp/a b/s.csv (rk4, 200 network evaluations per sample, 10.3 s)", 20000, 10.3)]
    [InlineData("si: note\nwrote 5000 samples to s.csv (rk4, 200 network evaluations per sample, 2.0 s, 2 processes)\n", 5000, 2.0)]
    public void Si_sample_figures_are_read_back(string output, long count, double seconds)
    {
        Assert.Equal((count, seconds), SiOutput.Wrote(output)!.Value);
        Assert.Null(SiOutput.Wrote("trained 4 steps in 0.1 s (40 steps/s)"));
    }

    [Fact]
    public void Layouts_share_the_cores_between_one_process_two_and_one_per_core()
    {
        Assert.Equal([new Layout(1, 2), new Layout(2, 1)], Layout.For(2));
        Assert.Equal([new Layout(1, 4), new Layout(2, 2), new Layout(4, 1)], Layout.For(4));
        Assert.Equal([new Layout(1, 1), new Layout(2, 1)], Layout.For(1));
        Assert.Equal("2 ranks x 1 thread", new Layout(2, 1).ToString());
    }

    [Fact]
    public void The_timed_step_makes_one_exchange_per_step_of_every_gradient_and_the_losses_and_stop_flag()
    {
        var lone = new LoneRankOfTwo();
        var t = MpiWorker.MeasureTraining(new MpiTrainCase("mlp", 64, Steps: 3, Warmup: 1), lone);
        Assert.Equal(4, lone.Sums);
        Assert.Equal((t.Parameters + 2) * sizeof(float), t.ExchangeBytes); // one network: its gradients, its loss, the stop flag
        Assert.Equal((2, 3), (t.Processes, t.TimedSteps));
        Assert.True(t.StepMs > 0 && t.AllReduceMs >= 0 && t.AllReduceMs <= t.StepMs && t.OptimizerMs > 0 && t.DrawMs > 0, $"{t}");
        var one = MpiWorker.MeasureTraining(new MpiTrainCase("mlp", 64, Steps: 2, Warmup: 0), SingleProcess.Instance);
        Assert.Equal((0L, 0.0, 1), (one.ExchangeBytes, one.AllReduceMs, one.Processes));
        Assert.Equal(t.Parameters, one.Parameters);
        var point = MpiWorker.MeasureAllReduce(16, lone);
        Assert.Equal((64L, 200), (point.Bytes, point.Repeats));
    }

    [Fact]
    public void The_worker_spec_and_result_survive_their_json_form()
    {
        var spec = new MpiWorkerSpec(1, [new MpiTrainCase("unet", 64, 40, 3)], [1, 4, 16]);
        var back = JsonSerializer.Deserialize<MpiWorkerSpec>(JsonSerializer.Serialize(spec, MpiWorker.Json), MpiWorker.Json)!;
        Assert.Equal(spec.Threads, back.Threads);
        Assert.Equal(spec.Train, back.Train);
        Assert.Equal(spec.SweepElements, back.SweepElements);
        var result = new MpiWorkerResult(2, 1, [new MpiTrainTiming("mlp", 1024, 2, 203_010, 812_048, 20, 1, 1.5, 0.2, 300)], [new MpiSweepPoint(4, 200, 1e-6)]);
        var again = JsonSerializer.Deserialize<MpiWorkerResult>(JsonSerializer.Serialize(result, MpiWorker.Json), MpiWorker.Json)!;
        Assert.Equal(result.Train, again.Train);
        Assert.Equal(result.Sweep, again.Sweep);
        Assert.Equal(1.7, again.Train[0].ReplicatedMs, 12);
    }

    [Fact]
    public void Si_is_found_beside_the_build()
    {
        var dll = MpiBenchmark.LocateSi(out var searched);
        Assert.True(dll is not null && File.Exists(dll) && dll.EndsWith("si.dll", StringComparison.Ordinal), $"looked at {searched}");
        Assert.Contains("--mpi", BenchOptions.Usage);
        Assert.Equal(BenchMode.Mpi, BenchOptions.Parse(["--mpi", "--quick"]).Mode);
    }

    // Rank 0 of a job of two whose partner's gradients are zero: each sum leaves the buffer as it is. The step then shares
    // the batch and exchanges as in a real job, without MPI.
    private sealed class LoneRankOfTwo : IProcessGroup
    {
        public int Sums { get; private set; }
        public int Rank => 0;
        public int Size => 2;
        public void SumInPlace(Tensor buffer, string operation) => Sums++;
        public long[] AllGather(long value, string operation) => [value, value];
        public Tensor AllGatherRows(Tensor rows, string operation) => cat([rows, rows]);
    }
}
