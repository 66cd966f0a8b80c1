using System.CommandLine;
using StochasticInterpolants.Distributed;
using StochasticInterpolants.Mpi;
using StochasticInterpolants.Runtime;

namespace StochasticInterpolants.Cli;

/// <summary>Options shared by several commands.</summary>
internal static class CommonOptions
{
    public static Option<string> Device() => new("--device") { Description = "cpu, cuda or cuda:N (cuda needs a CUDA build of libtorch and a GPU)", DefaultValueFactory = _ => "cpu" };

    public static Option<int?> Threads() => new("--threads") { Description = "CPU threads for libtorch (default: one per core that other processes leave idle, measured at start; 1 is best when other work shares the cores)" };

    public static Option<ProgressMode> Progress() => new("--progress") { Description = "auto (a bar on a terminal, plain lines otherwise), plain, or none", DefaultValueFactory = _ => ProgressMode.Auto };

    /// <summary>The progress this process shows: what --progress asks on rank 0 (or one process), none on the other ranks of a job.</summary>
    public static ProgressMode ProgressOf(ParseResult r, Option<ProgressMode> progress, IProcessGroup processes) =>
        processes.Rank == 0 ? r.GetValue(progress) : ProgressMode.None;

    public static Option<double?> MpiTimeout() => new("--mpi-timeout") { Description = $"under mpiexec: seconds a process waits in one exchange for the others before the job is stopped as hung (default {MpiJob.DefaultTimeout.TotalSeconds:0})" };

    /// <summary>Applies --mpi-timeout to an MPI job (refused without one, and when not positive).</summary>
    public static void ApplyMpiTimeout(double? seconds, IProcessGroup processes)
    {
        if (seconds is not { } s) return;
        if (!(s > 0) || !double.IsFinite(s)) throw new UsageException($"--mpi-timeout must be a positive number of seconds, got {s}");
        if (processes is not MpiProcessGroup mpi) throw new UsageException("--mpi-timeout applies to a job launched by mpiexec (this is one process)");
        mpi.CollectiveTimeout = TimeSpan.FromSeconds(s);
    }

    public static Option<long> Seed(long defaultValue = 0) => new("--seed") { Description = "random seed (same seed, same machine, same threads: same result)", DefaultValueFactory = _ => defaultValue };

    /// <summary>
    /// Applies --threads and checks that libtorch loads, before any work. Without --threads, libtorch gets one thread per
    /// core that other processes leave idle (at least one); the returned note says so when that is fewer than the cores
    /// (null otherwise), for the progress display to show once work starts. With two threads on a machine whose other core
    /// is busy, libtorch's threads wait for each other at every operation (measured here: a U-Net step took 5.7 s with 2
    /// threads against 1.0 s with 1, STACK.md).
    /// </summary>
    public static string? ApplyRuntime(int? threads, IProcessGroup? processes = null)
    {
        NativeRuntime.EnsureTorchLoads();
        string? note = null;
        if (threads is null && processes is MpiProcessGroup { Size: > 1 } mpi)
        {
            // The ranks on one host start together and would each see the others' start-up as load: share the cores evenly.
            var sharing = mpi.RanksOnThisHost;
            threads = Math.Max(1, Environment.ProcessorCount / sharing);
            note = $"{sharing} processes share this host's {Environment.ProcessorCount} cores: {threads} libtorch thread{(threads == 1 ? "" : "s")} each (give --threads N to choose)";
        }
        else if (threads is null && IdleCores() is { } idle && idle < Environment.ProcessorCount)
        {
            threads = Math.Max(1, idle);
            note = $"other processes keep {Environment.ProcessorCount - idle} of {Environment.ProcessorCount} cores busy: using {threads} libtorch thread{(threads == 1 ? "" : "s")} (give --threads N to choose)";
        }
        NativeRuntime.ConfigureThreads(threads);
        return note;
    }

    /// <summary>
    /// Cores left idle by other processes, from two reads of /proc/stat 200 ms apart (busy = all jiffies but idle and
    /// iowait), rounded down; null where /proc/stat cannot be read. This process is idle while it measures.
    /// </summary>
    internal static int? IdleCores()
    {
        static (long Busy, long Total)? Read()
        {
            try
            {
                var line = File.ReadLines("/proc/stat").FirstOrDefault(l => l.StartsWith("cpu ", StringComparison.Ordinal));
                if (line is null) return null;
                var v = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(long.Parse).ToArray();
                if (v.Length < 5) return null;
                var total = v.Take(Math.Min(v.Length, 8)).Sum(); // user nice system idle iowait irq softirq steal
                return (total - v[3] - v[4], total);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or OverflowException) { return null; }
        }
        if (Read() is not { } a) return null;
        Thread.Sleep(200);
        if (Read() is not { } b || b.Total <= a.Total) return null;
        var busyCores = (double)(b.Busy - a.Busy) / (b.Total - a.Total) * Environment.ProcessorCount;
        return Environment.ProcessorCount - (int)Math.Round(busyCores);
    }

    /// <summary>Cancels the token on Ctrl+C (the first press; a second kills the process as usual).</summary>
    public static CancellationTokenSource CancelOnCtrlC()
    {
        var cts = new CancellationTokenSource();
        ConsoleCancelEventHandler? handler = null;
        handler = (_, e) => { e.Cancel = true; cts.Cancel(); Console.CancelKeyPress -= handler; };
        Console.CancelKeyPress += handler;
        return cts;
    }
}

/// <summary>How progress is shown.</summary>
public enum ProgressMode
{
    /// <summary>A live bar on an interactive terminal, plain lines otherwise.</summary>
    Auto,
    /// <summary>Periodic plain lines.</summary>
    Plain,
    /// <summary>Nothing.</summary>
    None,
}
