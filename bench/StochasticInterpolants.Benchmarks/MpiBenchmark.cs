using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace StochasticInterpolants.Benchmarks;

/// <summary>How the cores of this machine are shared out: <see cref="Ranks"/> processes of <see cref="Threads"/> libtorch threads each.</summary>
/// <param name="Ranks">Processes (1: a plain run, no MPI).</param>
/// <param name="Threads">libtorch threads per process.</param>
public readonly record struct Layout(int Ranks, int Threads)
{
    /// <summary>"2 ranks x 1 thread".</summary>
    public override string ToString() => $"{Ranks} rank{(Ranks == 1 ? "" : "s")} x {Threads} thread{(Threads == 1 ? "" : "s")}";

    /// <summary>
    /// The ways to run on <paramref name="cores"/> cores compared: one process with every core, two processes of half the
    /// cores, one process per core (each once; on one core, two processes share it).
    /// </summary>
    public static IReadOnlyList<Layout> For(int cores)
    {
        var c = Math.Max(1, cores);
        return new[] { new Layout(1, c), new Layout(2, Math.Max(1, c / 2)), new Layout(c, 1) }.Distinct().ToList();
    }
}

/// <summary>The figures <c>si train</c> and <c>si sample</c> print, read back from their output.</summary>
public static partial class SiOutput
{
    /// <summary>From <c>trained S steps in X s (Y steps/s), ...</c>: S and Y; null when no such line was printed.</summary>
    public static (int Steps, double StepsPerSecond)? Trained(string output)
    {
        var m = TrainedLine().Match(output);
        if (!m.Success) return null;
        return (int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), double.Parse(m.Groups[2].Value, NumberStyles.Float, CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// From <c>wrote N samples to FILE (..., X s)</c>: N and X, si's own time from the checkpoint loaded to the file written
    /// (the last "X s" of the line); null when no such line was printed.
    /// </summary>
    public static (long Count, double Seconds)? Wrote(string output)
    {
        foreach (var line in output.Split('\n'))
        {
            var m = WroteLine().Match(line);
            if (!m.Success) continue;
            var seconds = SecondsFigure().Matches(line);
            if (seconds.Count == 0) return null;
            return (long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), double.Parse(seconds[^1].Groups[1].Value, CultureInfo.InvariantCulture));
        }
        return null;
    }

    [GeneratedRegex(@"trained (\d+) steps in [0-9.]+ s \(([0-9.]+(?:[eE][+-]?[0-9]+)?) steps/s\)")]
    private static partial Regex TrainedLine();

    [GeneratedRegex(@"^wrote (\d+) samples to ")]
    private static partial Regex WroteLine();

    [GeneratedRegex(@"(\d+(?:\.\d+)?) s[,)]")]
    private static partial Regex SecondsFigure();
}

/// <summary>
/// <c>--mpi</c>: data-parallel training on this machine, in four tables.
/// (1) The same work as one process with every core against several processes of fewer threads: <c>si train</c> (the
/// demo's MLP, 4 hidden layers of 256, on the checkerboard, global batches 1024 and 4096) and <c>si sample</c> (RK4, 50
/// steps), each a child process (<c>dotnet si.dll ...</c> or <c>mpiexec -n N dotnet si.dll ...</c>), its figures read from
/// what si prints. (2) The library's training step timed from inside by this program as an MPI worker
/// (<see cref="MpiWorker"/>): one process, then two under mpiexec, the step and its all-reduce for the MLP at both batches
/// and the small U-Net (1x28x28, batch 64). (3) The all-reduce alone over 2 processes on this host, float32 buffers from
/// 4 bytes up, and its latency and bandwidth (<see cref="AllReduceFit"/>). (4) A projection to 2, 8 and 64 processes
/// (<see cref="ScalingModel"/>) with this host's figures and with an assumed 10 GbE network.
/// <para>
/// si is found as <c>src/Si.Cli/bin/CONFIGURATION/TFM/RID/si.dll</c> beside the benchmark's own build (the benchmark project
/// references Si.Cli without its assembly, so building the benchmark builds si), or at <c>SI_BENCH_SI_DLL</c>. Children
/// get tcmalloc preloaded, as the launchers do.
/// </para>
/// </summary>
public static class MpiBenchmark
{
    private const string TcmallocPath = "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4";

    /// <summary>The network of the second projection: an assumption, not a measurement (10 Gb/s Ethernet, TCP, typical figures).</summary>
    public static RingAllReduce Assumed10GbE { get; } = new(LatencySeconds: 20e-6, BytesPerSecond: 1.1e9);

    /// <summary>Process counts of the projection.</summary>
    public static IReadOnlyList<int> ProjectedSizes { get; } = [2, 8, 64];

    /// <summary>How much of everything is run: the full measurement or a short one (--quick).</summary>
    private sealed record Budget(int TrainSteps1024, int TrainSteps4096, int SampleCount, int WorkerSteps1024, int WorkerSteps4096, int WorkerStepsUNet,
        int LargestSweepPower)
    {
        public static Budget Full { get; } = new(1500, 400, 20_000, 300, 80, 40, 12);
        public static Budget Quick { get; } = new(300, 80, 5_000, 60, 16, 8, 10);

        /// <summary>
        /// Every step and sample count times <paramref name="f"/> (at least 2 each): a smoke test of the harness
        /// (SI_BENCH_MPI_SCALE). The sweep keeps its sizes: the fit needs sizes of 1 MiB and more.
        /// </summary>
        public Budget Scaled(double f)
        {
            int S(int n) => Math.Max(2, (int)Math.Round(n * f));
            return new(S(TrainSteps1024), S(TrainSteps4096), S(SampleCount), S(WorkerSteps1024), S(WorkerSteps4096), S(WorkerStepsUNet), LargestSweepPower);
        }
    }

    /// <summary>Runs the mode on <paramref name="cores"/> cores (default: all); 0 when every measurement ran.</summary>
    public static int Run(bool quick, int? cores)
    {
        var budget = quick ? Budget.Quick : Budget.Full;
        if (Environment.GetEnvironmentVariable("SI_BENCH_MPI_SCALE") is { Length: > 0 } scale)
        {
            if (!double.TryParse(scale, NumberStyles.Float, CultureInfo.InvariantCulture, out var f) || !(f > 0) || f > 1)
            {
                Console.WriteLine($"SI_BENCH_MPI_SCALE must be a number in (0, 1], got '{scale}'");
                return 2;
            }
            budget = budget.Scaled(f);
            Console.WriteLine(Invariant($"SI_BENCH_MPI_SCALE = {f:G3}: step and sample counts scaled down (a smoke test; the figures are not the benchmark's)"));
        }
        var c = cores ?? Environment.ProcessorCount;
        var mpiexec = FindOnPath("mpiexec");
        if (mpiexec is null)
        {
            Console.WriteLine("mpiexec was not found: install Debian's mpich (scripts/setup.sh does); nothing measured");
            return 1;
        }
        var si = LocateSi(out var searched);
        if (si is null)
        {
            Console.WriteLine($"si.dll was not found at {searched}: build it (dotnet build src/Si.Cli -c Release) or set SI_BENCH_SI_DLL; nothing measured");
            return 1;
        }
        Console.WriteLine($"MPI: {MpiVersion(mpiexec)} ({mpiexec}); si: {si}; children with {(File.Exists(TcmallocPath) ? "tcmalloc" : "glibc malloc")}");
        var work = Directory.CreateTempSubdirectory("si-bench-mpi-").FullName;
        var failures = 0;
        try
        {
            failures += RanksAgainstThreads(si, mpiexec, Layout.For(c), budget, work);
            var threads = Math.Max(1, c / 2);
            var spec = new MpiWorkerSpec(threads,
            [
                new MpiTrainCase("mlp", 1024, budget.WorkerSteps1024, Warmup: Math.Min(10, budget.WorkerSteps1024)),
                new MpiTrainCase("mlp", 4096, budget.WorkerSteps4096, Warmup: Math.Min(3, budget.WorkerSteps4096)),
                new MpiTrainCase("unet", 64, budget.WorkerStepsUNet, Warmup: Math.Min(3, budget.WorkerStepsUNet)),
            ], Enumerable.Range(0, budget.LargestSweepPower + 1).Select(p => 1L << (2 * p)).ToList());
            Console.WriteLine();
            Console.WriteLine($"timing the training step from inside: one process of {threads} thread{(threads == 1 ? "" : "s")}, then 2 ranks of {threads} under mpiexec");
            var one = Worker(spec, mpiexec, ranks: 1);
            var two = one is null ? null : Worker(spec, mpiexec, ranks: 2);
            if (one is null || two is null) return 1;
            if (two.Processes != 2)
            {
                // Each process ran alone: the launcher did not tell them they were a job (PMI_SIZE), as MPICH's does.
                Console.WriteLine($"  FAILED: {mpiexec} -n 2 started processes that were not one MPI job (is it MPICH's mpiexec?)");
                return 1;
            }
            AllReduceFit fit;
            try { fit = AllReduceFit.Fit(two.Sweep.Select(p => (p.Bytes, p.MedianSeconds)).ToList()); }
            catch (ArgumentException e) { Console.WriteLine($"  FAILED: {e.Message}"); return 1; }
            PrintStepTable(one, two, fit);
            PrintSweep(two.Sweep, fit);
            PrintProjection(one, two, fit);
        }
        finally { Directory.Delete(work, recursive: true); }
        return failures == 0 ? 0 : 1;
    }

    // Table 1: si train and si sample as one process with every core against several processes of fewer threads.
    private static int RanksAgainstThreads(string si, string mpiexec, IReadOnlyList<Layout> layouts, Budget budget, string work)
    {
        var failures = 0;
        Console.WriteLine();
        Console.WriteLine("si train (MLP 4 x 256, checkerboard, velocity, Adam, EMA) and si sample (RK4 50 steps) in each layout, as child processes");
        var train = new List<(int Batch, Layout Layout, int Steps, double? Rate, double Wall)>();
        string? checkpoint = null;
        foreach (var (batch, steps) in new[] { (1024, budget.TrainSteps1024), (4096, budget.TrainSteps4096) })
            foreach (var layout in layouts)
            {
                var folder = Path.Combine(work, $"train-{batch}-{layout.Ranks}x{layout.Threads}");
                var run = Child(Launch(si, mpiexec, layout,
                [
                    "train", "--target", "checkerboard", "--width", "256", "--depth", "4", "--batch", Text(batch), "--steps", Text(steps),
                    "--checkpoint-every", Text(steps), "--threads", Text(layout.Threads), "--progress", "none", "--out", folder,
                ]), TimeSpan.FromMinutes(20));
                var parsed = run.ExitCode == 0 ? SiOutput.Trained(run.Output) : null;
                if (parsed is null) { failures++; Failed($"si train, batch {batch}, {layout}", run); }
                else
                {
                    Console.WriteLine(Invariant($"  batch {batch,5}, {layout}: {parsed.Value.StepsPerSecond:G4} steps/s ({parsed.Value.Steps} steps; {run.WallSeconds:F1} s from start to exit)"));
                    checkpoint ??= folder; // any trained MLP will do for timing the sampler
                }
                train.Add((batch, layout, steps, parsed?.StepsPerSecond, run.WallSeconds));
            }

        var sample = new List<(int Requested, Layout Layout, long? Count, double? Seconds, double Wall, string Line)>();
        if (checkpoint is null) Console.WriteLine("  no checkpoint was trained: sampling skipped");
        else
            // The training batch sizes as sample counts, then a larger count (one chunk each: the sampler's chunk is 65,536).
            foreach (var count in new[] { Math.Min(1024, budget.SampleCount), Math.Min(4096, budget.SampleCount), budget.SampleCount }.Distinct())
                foreach (var layout in layouts)
                {
                    var run = Child(Launch(si, mpiexec, layout,
                    [
                        "sample", "--checkpoint", checkpoint, "--count", Text(count), "--solver", "rk4", "--steps", "50", "--seed", "0",
                        "--threads", Text(layout.Threads), "--progress", "none", "--force", "--out", Path.Combine(work, $"samples-{count}-{layout.Ranks}x{layout.Threads}.csv"),
                    ]), TimeSpan.FromMinutes(20));
                    var parsed = run.ExitCode == 0 ? SiOutput.Wrote(run.Output) : null;
                    if (parsed is null) { failures++; Failed($"si sample, {count} samples, {layout}", run); }
                    var line = run.Output.Split('\n').FirstOrDefault(l => l.StartsWith("wrote ", StringComparison.Ordinal))?.Trim() ?? "";
                    if (parsed is not null) Console.WriteLine($"  sample, {layout}: rank 0 printed: {line}");
                    sample.Add((count, layout, parsed?.Count, parsed?.Seconds, run.WallSeconds, line));
                }

        Console.WriteLine();
        Console.WriteLine("table 1: ranks x threads on this machine (si's own figures; wall = child process start to exit, start-up included)");
        Console.WriteLine($"{"si train",-10} {"batch",6} {"layout",-22} {"steps",6} {"steps/s",9} {"x first",8} {"wall s",7}");
        foreach (var r in train)
        {
            var first = train.First(t => t.Batch == r.Batch).Rate;
            Console.WriteLine(Invariant($"{"",-10} {r.Batch,6} {r.Layout,-22} {r.Steps,6} {Cell(r.Rate, "F1"),9} {Cell(r.Rate / first, "F3"),8} {r.Wall,7:F1}"));
        }
        Console.WriteLine($"{"si sample",-10} {"count",6} {"layout",-22} {"",6} {"samples/s",9} {"x first",8} {"wall s",7}");
        foreach (var r in sample)
        {
            var rate = r.Count / r.Seconds;
            var firstRun = sample.First(x => x.Requested == r.Requested);
            var first = firstRun.Count / firstRun.Seconds;
            Console.WriteLine(Invariant($"{"",-10} {Cell(r.Count, "F0"),6} {r.Layout,-22} {"",6} {Cell(rate, "F0"),9} {Cell(rate / first, "F3"),8} {r.Wall,7:F1}"));
        }
        Console.WriteLine("steps/s: si train's (over its whole loop); samples/s: the count rank 0 reports over its time from checkpoint loaded to file written;");
        Console.WriteLine("x first: relative to the first layout. Under mpiexec the figures are rank 0's: what each rank sampled is in the lines above.");
        return failures;
    }

    // Table 2: the step and its all-reduce, one process against two.
    private static void PrintStepTable(MpiWorkerResult one, MpiWorkerResult two, AllReduceFit fit)
    {
        Console.WriteLine();
        Console.WriteLine($"table 2: the training step and its all-reduce (rank 0's medians; {one.Threads} thread{(one.Threads == 1 ? "" : "s")} per process)");
        Console.WriteLine($"{"model",-14} {"batch",6} {"params",9} {"exchange",10} {"1 proc ms",10} {"2 ranks ms",11} {"all-reduce",11} {"share",6} {"fit(bytes)",11} {"replicated",11} {"speed-up",9} {"eff.",6}");
        foreach (var t2 in two.Train)
        {
            var t1 = one.Train.First(t => t.Model == t2.Model && t.Batch == t2.Batch);
            var speedUp = t1.StepMs / t2.StepMs;
            Console.WriteLine(Invariant(
                $"{Describe(t2.Model),-14} {t2.Batch,6} {t2.Parameters,9:N0} {Bytes(t2.ExchangeBytes),10} {t1.StepMs,10:F2} {t2.StepMs,11:F2} {t2.AllReduceMs,8:F2} ms {t2.AllReduceMs / t2.StepMs,6:P0} {fit.Seconds(t2.ExchangeBytes) * 1000,8:F2} ms {t1.ReplicatedMs,8:F2} ms {speedUp,9:F2} {speedUp / 2,6:P0}"));
        }
        Console.WriteLine("exchange: the buffer summed each step (gradients, losses, stop flag); all-reduce: the step's sum, waiting for the other rank included;");
        Console.WriteLine("share: all-reduce / step; fit(bytes): the same sum from table 3's fit (the transfer alone); replicated: the one-process step's batch draw");
        Console.WriteLine("and optimiser (clip, Adam, EMA), which every rank repeats on the whole batch and model; speed-up: 1 proc / 2 ranks; eff.: speed-up / 2");
    }

    // Table 3: the all-reduce alone against buffer size.
    private static void PrintSweep(IReadOnlyList<MpiSweepPoint> sweep, AllReduceFit fit)
    {
        Console.WriteLine();
        Console.WriteLine("table 3: all-reduce (MPI_Allreduce, sum, in place) of float32 buffers over 2 ranks on this host (rank 0's median)");
        Console.WriteLine($"{"bytes",10} {"repeats",8} {"median us",11} {"fit us",10} {"GB/s",8}");
        foreach (var p in sweep)
            Console.WriteLine(Invariant($"{Bytes(p.Bytes),10} {p.Repeats,8} {p.MedianSeconds * 1e6,11:F1} {fit.Seconds(p.Bytes) * 1e6,10:F1} {p.Bytes / p.MedianSeconds / 1e9,8:F3}"));
        var ring = RingAllReduce.FromTwoProcesses(fit);
        Console.WriteLine(Invariant($"fit t(bytes) = a + bytes / b: a = {fit.LatencySeconds * 1e6:F2} us, from the sizes <= {AllReduceFit.SmallBytes} B (their mean residual 0);"));
        Console.WriteLine(Invariant($"b = {fit.BytesPerSecond / 1e9:F3} GB/s, from the sizes >= {Bytes(AllReduceFit.LargeBytes)} (least squares in 1/b); sizes between: not fitted."));
        Console.WriteLine(Invariant($"As a ring of 2 (2 alpha + bytes / beta): alpha = a / 2 = {ring.LatencySeconds * 1e6:F2} us, beta = b. GB/s column: bytes / median."));
    }

    // Table 4: the projection to more processes.
    private static void PrintProjection(MpiWorkerResult one, MpiWorkerResult two, AllReduceFit fit)
    {
        var localhost = RingAllReduce.FromTwoProcesses(fit);
        Console.WriteLine();
        Console.WriteLine("table 4: PROJECTION, not a measurement: T_N = R + (C - R) / N + 2 (N-1) alpha + 2 (N-1)/N * bytes / beta (ring all-reduce),");
        Console.WriteLine("C = the one-process step (table 2), R = its replicated part, bytes = the exchange; efficiency = T_1 / (N T_N); 'R = 0' treats all of C as divisible");
        Console.WriteLine(Invariant($"networks: this host's fit (alpha {localhost.LatencySeconds * 1e6:F2} us, beta {localhost.BytesPerSecond / 1e9:F2} GB/s: as if every rank were linked like two processes here),"));
        Console.WriteLine(Invariant($"and an ASSUMED 10 GbE cluster (alpha {Assumed10GbE.LatencySeconds * 1e6:F0} us, beta {Assumed10GbE.BytesPerSecond / 1e9:F1} GB/s), one process per node"));
        Console.WriteLine($"{"model",-14} {"batch",6} {"network",-16} {"N",4} {"rows/rank",10} {"T_N ms",9} {"all-reduce ms",14} {"efficiency",11} {"(R = 0)",8} {"measured",9}");
        // The MLP at its largest batch and the U-Net: the cases a cluster would be used for.
        var cases = one.Train.GroupBy(t => t.Model).Select(g => g.MaxBy(t => t.Batch)!).ToList();
        foreach (var t1 in cases)
        {
            var exchange = two.Train.First(t => t.Model == t1.Model && t.Batch == t1.Batch).ExchangeBytes;
            var measured2 = two.Train.First(t => t.Model == t1.Model && t.Batch == t1.Batch).StepMs;
            foreach (var (name, network) in new[] { ("this host (fit)", localhost), ("10 GbE (assumed)", Assumed10GbE) })
            {
                var model = new ScalingModel(t1.StepMs / 1000, Math.Min(t1.ReplicatedMs, t1.StepMs) / 1000, exchange, network);
                var divisible = model with { ReplicatedSeconds = 0 };
                foreach (var n in ProjectedSizes)
                {
                    var measured = n == 2 && network == localhost ? Invariant($"{measured2:F2}") : "";
                    Console.WriteLine(Invariant(
                        $"{Describe(t1.Model),-14} {t1.Batch,6} {name,-16} {n,4} {(double)t1.Batch / n,10:G4} {model.StepSeconds(n) * 1000,9:F2} {model.AllReduceSeconds(n) * 1000,14:F3} {model.Efficiency(n),11:P0} {divisible.Efficiency(n),8:P0} {measured,9}"));
                }
            }
        }
        Console.WriteLine("measured: table 2's two-rank step on this host, beside its projection. The model ignores slower kernels on fewer rows per rank");
        Console.WriteLine("and waiting for the slowest rank; at 64 ranks the U-Net's batch of 64 leaves one image per rank.");
    }

    // Runs the worker in one process (a plain child) or in an MPI job of `ranks`; its result, or null after reporting the failure.
    private static MpiWorkerResult? Worker(MpiWorkerSpec spec, string mpiexec, int ranks)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "StochasticInterpolants.Benchmarks.dll");
        List<string> command = [DotnetHost(), dll, MpiWorker.Flag, JsonSerializer.Serialize(spec, MpiWorker.Json)];
        if (ranks > 1) command.InsertRange(0, [mpiexec, "-n", Text(ranks)]);
        var run = Child(command, TimeSpan.FromMinutes(30), echoErrors: true);
        var json = run.Output.Split('\n').LastOrDefault(l => l.StartsWith('{'));
        if (run.ExitCode != 0 || json is null) { Failed($"the worker ({ranks} process{(ranks == 1 ? "" : "es")})", run); return null; }
        return JsonSerializer.Deserialize<MpiWorkerResult>(json, MpiWorker.Json);
    }

    private static List<string> Launch(string si, string mpiexec, Layout layout, IEnumerable<string> args)
    {
        List<string> command = [DotnetHost(), si, .. args];
        if (layout.Ranks > 1) command.InsertRange(0, [mpiexec, "-n", Text(layout.Ranks)]);
        return command;
    }

    private sealed record ChildRun(int ExitCode, string Output, string Error, double WallSeconds);

    // Runs a command to its end (killed with its children after `timeout`), with tcmalloc preloaded and the launchers' GC
    // budget; stderr is kept, and also echoed line by line with echoErrors (the worker's progress).
    private static ChildRun Child(IReadOnlyList<string> command, TimeSpan timeout, bool echoErrors = false)
    {
        var start = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in command.Skip(1)) start.ArgumentList.Add(a);
        var preload = Environment.GetEnvironmentVariable("LD_PRELOAD") ?? "";
        if (File.Exists(TcmallocPath) && !preload.Contains("tcmalloc", StringComparison.Ordinal))
            start.Environment["LD_PRELOAD"] = preload.Length == 0 ? TcmallocPath : $"{TcmallocPath}:{preload}";
        start.Environment["DOTNET_GCgen0size"] = Environment.GetEnvironmentVariable("DOTNET_GCgen0size") ?? "0x1000000";
        var watch = Stopwatch.StartNew();
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {command[0]}");
        var errors = new System.Text.StringBuilder();
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (errors) errors.AppendLine(e.Data);
            if (echoErrors) Console.WriteLine(e.Data);
        };
        process.BeginErrorReadLine();
        var output = process.StandardOutput.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            lock (errors) errors.AppendLine($"(stopped after {timeout.TotalMinutes:F0} min)");
        }
        process.WaitForExit(); // drains the asynchronous stderr reader
        var seconds = watch.Elapsed.TotalSeconds;
        string text;
        lock (errors) text = errors.ToString();
        return new ChildRun(process.ExitCode, output.Result, text, seconds);
    }

    private static void Failed(string what, ChildRun run)
    {
        var last = run.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).TakeLast(3);
        Console.WriteLine($"  FAILED: {what}: exit code {run.ExitCode}; {string.Join(" | ", last)}");
    }

    /// <summary>
    /// si.dll: <c>SI_BENCH_SI_DLL</c> when set; otherwise under the repository that holds this build
    /// (<c>src/Si.Cli/</c> plus this program's own path below <c>bench/StochasticInterpolants.Benchmarks/</c>, e.g.
    /// <c>bin/Release/net10.0/linux-x64/</c>). Null when it is not there; <paramref name="searched"/> says where it looked.
    /// </summary>
    public static string? LocateSi(out string searched)
    {
        if (Environment.GetEnvironmentVariable("SI_BENCH_SI_DLL") is { Length: > 0 } given)
        {
            searched = $"{given} (SI_BENCH_SI_DLL)";
            return File.Exists(given) ? Path.GetFullPath(given) : null;
        }
        var here = AppContext.BaseDirectory;
        for (var dir = new DirectoryInfo(here); dir is not null; dir = dir.Parent)
        {
            if (!File.Exists(Path.Combine(dir.FullName, "StochasticInterpolants.slnx"))) continue;
            var project = Path.Combine(dir.FullName, "bench", "StochasticInterpolants.Benchmarks");
            var tail = Path.GetRelativePath(project, here);
            if (tail.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(tail)) tail = Path.Combine("bin", "Release", "net10.0", "linux-x64");
            var dll = Path.Combine(dir.FullName, "src", "Si.Cli", tail, "si.dll");
            searched = dll;
            return File.Exists(dll) ? dll : null;
        }
        searched = $"no StochasticInterpolants.slnx above {here}";
        return null;
    }

    // The dotnet host this program runs under (so children use the same runtime), or dotnet from PATH.
    private static string DotnetHost() =>
        Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path) == "dotnet" ? path : "dotnet";

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

    // "HYDRA 4.0.2" from mpiexec --version (MPICH's launcher), or what the first line says.
    private static string MpiVersion(string mpiexec)
    {
        var run = Child([mpiexec, "--version"], TimeSpan.FromSeconds(20));
        var lines = run.Output.Split('\n', StringSplitOptions.TrimEntries);
        var version = lines.FirstOrDefault(l => l.StartsWith("Version:", StringComparison.Ordinal));
        return version is not null ? $"MPICH (Hydra) {version["Version:".Length..].Trim()}" : lines.FirstOrDefault(l => l.Length > 0) ?? "unknown MPI";
    }

    private static string Describe(string model) => model == "mlp" ? "mlp 4x256" : model == "unet" ? "unet small" : model;

    /// <summary>A byte count as B, KiB or MiB (powers of 1024).</summary>
    public static string Bytes(long bytes) =>
        bytes >= 1 << 20 ? Invariant($"{bytes / 1048576.0:G4} MiB") : bytes >= 1 << 10 ? Invariant($"{bytes / 1024.0:G4} KiB") : Invariant($"{bytes} B");

    private static string Cell(double? value, string format) => value is { } v && double.IsFinite(v) ? v.ToString(format, CultureInfo.InvariantCulture) : "-";
    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);
    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
