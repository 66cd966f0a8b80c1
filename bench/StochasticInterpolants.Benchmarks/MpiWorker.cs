using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
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

namespace StochasticInterpolants.Benchmarks;

/// <summary>One network and batch whose training step the worker times.</summary>
/// <param name="Model"><c>mlp</c> (the demo's MLP on the 2-D checkerboard) or <c>unet</c> (the small U-Net on synthetic 1x28x28 images, 10 classes).</param>
/// <param name="Batch">Global batch: rows per step over all processes.</param>
/// <param name="Steps">Timed steps.</param>
/// <param name="Warmup">Untimed steps before them.</param>
public sealed record MpiTrainCase(string Model, int Batch, int Steps, int Warmup);

/// <summary>What the worker is to measure.</summary>
/// <param name="Threads">libtorch threads per process.</param>
/// <param name="Train">The training steps to time.</param>
/// <param name="SweepElements">float32 buffer sizes (elements) whose all-reduce is timed; ignored in a one-process run.</param>
public sealed record MpiWorkerSpec(int Threads, IReadOnlyList<MpiTrainCase> Train, IReadOnlyList<long> SweepElements);

/// <summary>
/// The training step of one <see cref="MpiTrainCase"/> in one job, as rank 0 saw it; all times are medians over the timed
/// steps, in milliseconds.
/// </summary>
/// <param name="Model">As in the case.</param>
/// <param name="Batch">Global batch.</param>
/// <param name="Processes">Processes in the job.</param>
/// <param name="Parameters">The network's parameters.</param>
/// <param name="ExchangeBytes">Bytes of the buffer summed across processes each step (gradients, losses, stop flag); 0 in one process.</param>
/// <param name="StepMs">The whole step (<see cref="TrainingStep.Run"/>).</param>
/// <param name="AllReduceMs">The step's all-reduce (its one <see cref="IProcessGroup.SumInPlace"/>, waiting for the other ranks included).</param>
/// <param name="OptimizerMs">From the after-backward hook to the end of the step: clipping, Adam and the moving average, which every rank does on the whole model.</param>
/// <param name="DrawMs">Drawing the whole batch, timed apart (every rank draws the whole batch, then keeps its rows).</param>
/// <param name="TimedSteps">Steps the medians are over.</param>
public sealed record MpiTrainTiming(string Model, int Batch, int Processes, long Parameters, long ExchangeBytes, double StepMs, double AllReduceMs,
    double OptimizerMs, double DrawMs, int TimedSteps)
{
    /// <summary>The part of the step every process repeats whatever their number: drawing the batch and the optimiser.</summary>
    public double ReplicatedMs => DrawMs + OptimizerMs;
}

/// <summary>The all-reduce of one buffer size: the median over repeats, on rank 0.</summary>
/// <param name="Bytes">Buffer size.</param>
/// <param name="Repeats">Timed repeats.</param>
/// <param name="MedianSeconds">Median seconds of one <see cref="IProcessGroup.SumInPlace"/>.</param>
public sealed record MpiSweepPoint(long Bytes, int Repeats, double MedianSeconds);

/// <summary>What one worker job measured.</summary>
/// <param name="Processes">Processes in the job.</param>
/// <param name="Threads">libtorch threads per process.</param>
/// <param name="Train">One timing per case.</param>
/// <param name="Sweep">The all-reduce sweep (empty in one process).</param>
public sealed record MpiWorkerResult(int Processes, int Threads, IReadOnlyList<MpiTrainTiming> Train, IReadOnlyList<MpiSweepPoint> Sweep);

/// <summary>
/// An <see cref="IProcessGroup"/> that passes every call to another and adds up the wall time of its sums: how long the
/// training step's all-reduce takes, measured where the step makes it.
/// </summary>
public sealed class TimedProcessGroup(IProcessGroup inner) : IProcessGroup
{
    /// <summary>Seconds spent in <see cref="SumInPlace"/> so far.</summary>
    public double SumSeconds { get; private set; }
    /// <summary>Calls of <see cref="SumInPlace"/> so far.</summary>
    public int Sums { get; private set; }
    /// <summary>Bytes of the last buffer summed.</summary>
    public long LastBytes { get; private set; }

    /// <inheritdoc />
    public int Rank => inner.Rank;
    /// <inheritdoc />
    public int Size => inner.Size;

    /// <inheritdoc />
    public void SumInPlace(Tensor buffer, string operation)
    {
        var start = Stopwatch.GetTimestamp();
        inner.SumInPlace(buffer, operation);
        SumSeconds += Stopwatch.GetElapsedTime(start).TotalSeconds;
        Sums++;
        LastBytes = buffer.numel() * buffer.element_size();
    }

    /// <inheritdoc />
    public long[] AllGather(long value, string operation) => inner.AllGather(value, operation);
    /// <inheritdoc />
    public Tensor AllGatherRows(Tensor rows, string operation) => inner.AllGatherRows(rows, operation);
}

/// <summary>
/// The benchmark as a worker (<c>--mpi-worker SPEC</c>, hidden; started by <see cref="MpiBenchmark"/>): under
/// <c>mpiexec -n N</c> one rank of an MPI job, otherwise a single process. Times the library's <see cref="TrainingStep"/>
/// for each case of the JSON <see cref="MpiWorkerSpec"/> through a <see cref="TimedProcessGroup"/>, then, in a job of
/// several, the all-reduce of float32 buffers of each sweep size. Rank 0 writes one JSON line, an <see cref="MpiWorkerResult"/>.
/// </summary>
public static class MpiWorker
{
    /// <summary>The hidden flag that starts the worker.</summary>
    public const string Flag = "--mpi-worker";

    /// <summary>The JSON form of the spec and the result.</summary>
    public static JsonSerializerOptions Json { get; } = new(JsonSerializerDefaults.Web);

    /// <summary>Runs the worker on <paramref name="specJson"/>; returns the exit code.</summary>
    public static int Run(string specJson)
    {
        var spec = JsonSerializer.Deserialize<MpiWorkerSpec>(specJson, Json) ?? throw new ArgumentException("the worker's spec is empty");
        NativeRuntime.ConfigureAllocator();
        NativeRuntime.EnsureTorchLoads();
        NativeRuntime.ConfigureThreads(spec.Threads);
        // PMI_SIZE is how MPICH's mpiexec (and Slurm) tell a process it is one of a job; without it the worker is one process.
        var launched = int.TryParse(Environment.GetEnvironmentVariable("PMI_SIZE"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n > 1;
        if (!launched) return Report(Measure(spec, SingleProcess.Instance, Console.Error.WriteLine), 0);
        using var group = MpiProcessGroup.Initialize(TimeSpan.FromSeconds(300), m => Console.Error.WriteLine($"bench worker: {m}"));
        try
        {
            var result = Measure(spec, group, m => { if (group.Rank == 0) Console.Error.WriteLine(m); });
            return Report(result, group.Rank);
        }
        catch (Exception e)
        {
            // One rank's failure would leave the others waiting in their next all-reduce: end the job.
            Console.Error.WriteLine($"bench worker: rank {group.Rank}: {e}");
            group.Abort(1);
            return 1;
        }

        static int Report(MpiWorkerResult result, int rank)
        {
            if (rank == 0) Console.Out.WriteLine(JsonSerializer.Serialize(result, Json));
            return 0;
        }
    }

    /// <summary>Every case of <paramref name="spec"/> in <paramref name="processes"/>, then the sweep when there are several.</summary>
    public static MpiWorkerResult Measure(MpiWorkerSpec spec, IProcessGroup processes, Action<string> log)
    {
        var train = new List<MpiTrainTiming>();
        foreach (var c in spec.Train)
        {
            log($"  worker ({processes.Size} process{(processes.Size == 1 ? "" : "es")}): {c.Model} batch {c.Batch}, {c.Warmup} + {c.Steps} steps");
            train.Add(MeasureTraining(c, processes));
        }
        var sweep = processes.Size > 1 ? spec.SweepElements.Select(e => MeasureAllReduce(e, processes)).ToList() : [];
        return new MpiWorkerResult(processes.Size, get_num_threads(), train, sweep);
    }

    /// <summary>Times <paramref name="c"/>'s training step in <paramref name="processes"/> (see <see cref="MpiTrainTiming"/>).</summary>
    public static MpiTrainTiming MeasureTraining(MpiTrainCase c, IProcessGroup processes)
    {
        if (c.Steps < 1 || c.Warmup < 0 || c.Batch < processes.Size) throw new ArgumentException($"a case needs steps >= 1, warm-up >= 0 and a row per process: {c}");
        var interpolant = new LinearInterpolant();
        var objective = new VelocityObjective(interpolant);
        ITimeConditionedNetwork net;
        ICoupling coupling;
        TrainingOptions options;
        ImageSet? images = null;
        ImageDistribution? imageDistribution = null;
        switch (c.Model)
        {
            case "mlp":
                var m = new ModelOptions(); // the demo's MLP, 4 hidden layers of 256
                net = new MlpNetwork(new MlpConfig(2, m.Width, m.Depth, m.Activation, m.TimeFrequencies), seed: 0);
                coupling = new IndependentCoupling(new StandardGaussian(2), new Checkerboard());
                // Steps far beyond what is taken: the learning rate follows warm-up and the top of the cosine, as early in a run.
                options = new TrainingOptions(Steps: 1_000_000, BatchSize: c.Batch, Seed: 0);
                break;
            case "unet":
                images = UNetBenchmark.SyntheticImages(1000);
                net = new UNet(UNetConfig.Preset("small", 1, 28, 28, 10), seed: 0);
                imageDistribution = new ImageDistribution(images);
                coupling = new IndependentCoupling(new StandardGaussian(images.Dimension), imageDistribution);
                options = new TrainingOptions(Steps: 1_000_000, BatchSize: c.Batch, LearningRate: 2e-4, WarmupSteps: 0, Schedule: "constant", Seed: 0);
                break;
            default: throw new ArgumentException($"unknown model '{c.Model}' (mlp or unet)");
        }
        var timed = new TimedProcessGroup(processes);
        var hookAt = 0L;
        TrainingStep? step = null;
        using var generator = new Generator(0);
        try
        {
            step = new TrainingStep(coupling, [new LearnedNetwork(objective, net)], options, CPU,
                new TrainingHooks((_, _) => hookAt = Stopwatch.GetTimestamp()), timed);
            var index = 0;
            for (var i = 0; i < c.Warmup; i++) Step();
            var steps = new double[c.Steps];
            var sums = new double[c.Steps];
            var tails = new double[c.Steps];
            for (var i = 0; i < c.Steps; i++)
            {
                var before = timed.SumSeconds;
                var start = Stopwatch.GetTimestamp();
                Step();
                var end = Stopwatch.GetTimestamp();
                steps[i] = Stopwatch.GetElapsedTime(start, end).TotalMilliseconds;
                sums[i] = (timed.SumSeconds - before) * 1000;
                tails[i] = Stopwatch.GetElapsedTime(hookAt, end).TotalMilliseconds;
            }
            if (processes.Size > 1 && timed.Sums != c.Warmup + c.Steps)
                throw new InvalidOperationException($"the step made {timed.Sums} all-reduces in {c.Warmup + c.Steps} steps; one per step was expected");
            var parameters = net.Module.parameters().Sum(p => p.numel());
            return new MpiTrainTiming(c.Model, c.Batch, processes.Size, parameters, processes.Size > 1 ? timed.LastBytes : 0,
                Median(steps), Median(sums), Median(tails), DrawMilliseconds(coupling, c.Batch, objective.TimeClip), c.Steps);

            void Step()
            {
                var losses = step!.Run(index++, generator);
                if (!double.IsFinite(losses[0])) throw new InvalidOperationException($"the {c.Model} loss at batch {c.Batch} became {losses[0]} at step {index}");
            }
        }
        finally
        {
            foreach (var average in step?.Averages ?? []) average?.Dispose(); // the step hands its moving averages to its owner
            step?.Dispose();
            net.Module.Dispose();
            imageDistribution?.Dispose();
            images?.Dispose();
        }
    }

    // Median wall time of drawing the whole batch, as each rank does every step before keeping its rows.
    private static double DrawMilliseconds(ICoupling coupling, int batch, double timeClip)
    {
        using var g = new Generator(1);
        var times = new double[7];
        for (var i = 0; i < times.Length; i++)
        {
            using var scope = NewDisposeScope();
            var start = Stopwatch.GetTimestamp();
            coupling.DrawBatch(batch, g, timeClip);
            times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        return Median(times);
    }

    /// <summary>
    /// The median seconds of summing a float32 buffer of <paramref name="elements"/> across <paramref name="processes"/>, after
    /// three untimed sums; more repeats for small buffers (their times are short and noisy), fewer for large ones. Every rank
    /// takes the same number of calls, as a collective needs. The buffer holds zeros, so the sums stay zeros (no overflow).
    /// </summary>
    public static MpiSweepPoint MeasureAllReduce(long elements, IProcessGroup processes)
    {
        using var buffer = zeros(elements, dtype: float32);
        var bytes = elements * sizeof(float);
        var repeats = bytes <= 64 << 10 ? 200 : bytes <= 4 << 20 ? 40 : 10;
        for (var i = 0; i < 3; i++) processes.SumInPlace(buffer, "the all-reduce sweep (warm-up)");
        var times = new double[repeats];
        for (var i = 0; i < repeats; i++)
        {
            var start = Stopwatch.GetTimestamp();
            processes.SumInPlace(buffer, "the all-reduce sweep");
            times[i] = Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        return new MpiSweepPoint(bytes, repeats, Median(times));
    }

    internal static double Median(IReadOnlyList<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
