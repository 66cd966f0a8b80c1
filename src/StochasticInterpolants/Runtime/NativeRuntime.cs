using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace StochasticInterpolants.Runtime;

/// <summary>
/// Process-wide native settings that keep TorchSharp fast and its memory flat. Call <see cref="ConfigureAllocator"/> once at
/// the start of a program, before the first tensor is created.
/// </summary>
public static class NativeRuntime
{
    private const int M_ARENA_MAX = -8;

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int MallOpt(int param, int value);

    /// <summary>
    /// When tcmalloc or jemalloc is not preloaded (the launchers preload tcmalloc where it is installed), limits glibc
    /// malloc to two arenas: with one arena per thread glibc keeps growing the resident set by megabytes per training
    /// step even when every tensor is disposed (STACK.md, "Memory"). A low mmap threshold also keeps memory flat but
    /// was measured 15x slower here (every large tensor becomes a fresh mmap), so it is not used.
    /// Set SI_MALLOC=default to leave glibc untouched. Returns a short description of the allocator in use.
    /// </summary>
    public static string ConfigureAllocator()
    {
        var preload = Environment.GetEnvironmentVariable("LD_PRELOAD") ?? "";
        if (preload.Contains("tcmalloc", StringComparison.Ordinal)) return "tcmalloc";
        if (preload.Contains("jemalloc", StringComparison.Ordinal)) return "jemalloc";
        if (!OperatingSystem.IsLinux()) return "system";
        if (Environment.GetEnvironmentVariable("SI_MALLOC") == "default") return "glibc (default)";
        try
        {
            MallOpt(M_ARENA_MAX, 2);
            return "glibc (2 arenas)";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return "system";
        }
    }

    /// <summary>Sets the number of intra-op threads libtorch uses (null: one per core).</summary>
    public static int ConfigureThreads(int? threads)
    {
        var n = threads ?? Environment.ProcessorCount;
        if (n < 1 || n > 1024) throw new InvalidSettingException("threads", $"thread count must be in 1..1024, got {n}");
        set_num_threads(n);
        return n;
    }

    /// <summary>Checks that TorchSharp's native library loads, turning its misleading error into an actionable one.</summary>
    public static void EnsureTorchLoads()
    {
        try
        {
            using var probe = zeros(1);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            var hint = OperatingSystem.IsLinux()
                ? " On Debian 12 libstdc++ lacks GLIBCXX_3.4.32: run scripts/setup.sh as root (it installs libstdc++6 from Debian 13)."
                : "";
            throw new DllNotFoundException($"TorchSharp's native library failed to load ({e.GetBaseException().Message.Split('\n')[0]}).{hint}", e);
        }
    }
}
