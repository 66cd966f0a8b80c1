using StochasticInterpolants.Runtime;

namespace StochasticInterpolants.Benchmarks;

/// <summary>
/// The benchmark command: parses the one mode (<see cref="BenchOptions"/>), prints the machine (CPU model, ISA flags, cores,
/// threads, allocator) and runs that mode — and only that mode.
/// </summary>
public static class BenchCommand
{
    /// <summary>Runs the benchmark; 2 for a bad command line.</summary>
    public static int Run(string[] args)
    {
        // The --mpi mode's worker (a child of that mode, alone or as one rank of an MPI job): no banner, one JSON line out.
        if (args is [MpiWorker.Flag, var spec]) return MpiWorker.Run(spec);
        BenchOptions o;
        try { o = BenchOptions.Parse(args); }
        catch (ArgumentException e) { Console.Error.WriteLine($"bench: {e.Message}"); return 2; }
        var allocator = NativeRuntime.ConfigureAllocator();
        NativeRuntime.EnsureTorchLoads();
        // The U-Net comparison runs one thread per side unless told otherwise (2 threads on a shared 2-core machine stall; STACK.md).
        var threads = NativeRuntime.ConfigureThreads(o.Mode == BenchMode.UNet ? o.Threads ?? 1 : o.Threads);
        Console.WriteLine($"mode: {BenchOptions.Flag(o.Mode)}{(o.Quick ? " (quick)" : "")}");
        Console.WriteLine($"machine: {Machine.Describe()}; libtorch threads {threads}, allocator {allocator}");
        return o.Mode switch
        {
            BenchMode.SdeTable => SdeTable.Run(o.Checkpoint, o.Quick),
            BenchMode.NllCurve => NllCurve.Run(o.Quick),
            BenchMode.Memory => MemorySoak.Run(o.Quick),
            BenchMode.Fuzz => Fuzz(o.FuzzInputs),
            BenchMode.Throughput => Throughput.Run(o.Quick),
            BenchMode.Profile => Profile.Run(o.Quick, threads, o.WithPyTorch),
            BenchMode.Tables => TableBenchmark.Run(o.Seeds, o.Quick),
            BenchMode.ImageCurve => ImageCurve.Run(o.Quick, o.Data ?? "fashion-mnist", threads),
            BenchMode.ImageMemory => ImageSoak.Run(o.Quick, o.Data ?? "digits8", preset: o.Preset?.Trim().ToLowerInvariant() ?? "tiny"),
            BenchMode.OtSolver => TransportSolverBenchmark.Run(o.Quick),
            BenchMode.ImageChunks => ImageChunks.Run(o.Checkpoint!, o.Quick),
            BenchMode.CouplingSpeed => CouplingSpeed.Run(o.Couplings, o.Quick),
            BenchMode.CouplingQuality => CouplingQuality.Run(o.Couplings, o.Quick),
            BenchMode.Mpi => MpiBenchmark.Run(o.Quick, o.Threads),
            BenchMode.FlowMap => FlowMapBenchmark.Run(o.Parts, o.Quick, o.Steps, o.MapObjective),
            BenchMode.Manifolds => ManifoldBenchmark.Run(o.Quick),
            BenchMode.Words => WordsBenchmark.Run(o.Quick),
            BenchMode.Onnx => OnnxBenchmark.Run(o.Quick, threads, o.Rounds),
            BenchMode.UNet => UNetBenchmark.Run(o.Preset?.Trim().ToLowerInvariant() ?? "small", o.Quick, threads, o.Rounds, o.WithPyTorch),
            _ => Compare.Run(o.Quick, threads, o.Rounds, o.WithPyTorch, o.PyTorchGlibc),
        };
    }

    private static int Fuzz(int inputs)
    {
        var work = Directory.CreateTempSubdirectory("si-fuzz-").FullName;
        try
        {
            var report = ReaderFuzzer.Run(inputs, seed: 1, work, Console.WriteLine);
            Console.WriteLine($"{"reader",-20} {"tried",8} {"parsed",8} {"refused",8}");
            foreach (var (reader, (tried, parsed, refused)) in report.Readers) Console.WriteLine($"{reader,-20} {tried,8} {parsed,8} {refused,8}");
            Console.WriteLine($"{report.Total} inputs in {report.Elapsed.TotalSeconds:F1} s, no crash; slowest input {report.SlowestInput.TotalMilliseconds:F0} ms");
            return 0;
        }
        catch (FuzzFailure e) { Console.WriteLine($"FUZZ FAILURE: {e.Message}"); Console.WriteLine(e.InnerException?.StackTrace); return 1; }
        finally { Directory.Delete(work, true); }
    }
}

/// <summary>The machine a figure was measured on: CPU model, the vector ISA flags that decide kernel choice, and cores.</summary>
public static class Machine
{
    /// <summary>"Intel(R) Xeon(R) Processor, 2 cores, avx2 fma avx512f ..." (from /proc/cpuinfo on Linux).</summary>
    public static string Describe()
    {
        string model = "unknown CPU"; var flags = new HashSet<string>();
        try
        {
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
            {
                if (line.StartsWith("model name", StringComparison.Ordinal) && model == "unknown CPU") model = line[(line.IndexOf(':') + 1)..].Trim();
                if (line.StartsWith("flags", StringComparison.Ordinal) && flags.Count == 0)
                    foreach (var f in line[(line.IndexOf(':') + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries)) flags.Add(f);
            }
        }
        catch (IOException) { }
        string[] interesting = ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "amx_tile"];
        var isa = interesting.Where(flags.Contains).ToList();
        return $"{model}, {Environment.ProcessorCount} cores, ISA {(isa.Count == 0 ? "unknown" : string.Join(" ", isa))}";
    }
}
