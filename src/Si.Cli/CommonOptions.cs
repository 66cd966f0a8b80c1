using System.CommandLine;
using StochasticInterpolants.Runtime;

namespace StochasticInterpolants.Cli;

/// <summary>Options shared by several commands.</summary>
internal static class CommonOptions
{
    public static Option<string> Device() => new("--device") { Description = "cpu, cuda or cuda:N (cuda needs a CUDA build of libtorch and a GPU)", DefaultValueFactory = _ => "cpu" };

    public static Option<int?> Threads() => new("--threads") { Description = "CPU threads for libtorch (default: one per core; 1 is best when other work shares the cores)" };

    public static Option<ProgressMode> Progress() => new("--progress") { Description = "auto (a bar on a terminal, plain lines otherwise), plain, or none", DefaultValueFactory = _ => ProgressMode.Auto };

    public static Option<long> Seed(long defaultValue = 0) => new("--seed") { Description = "random seed (same seed, same machine, same threads: same result)", DefaultValueFactory = _ => defaultValue };

    /// <summary>Applies --threads and checks that libtorch loads, before any work.</summary>
    public static void ApplyRuntime(int? threads)
    {
        NativeRuntime.EnsureTorchLoads();
        NativeRuntime.ConfigureThreads(threads);
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
