using System.Diagnostics;
using System.Text;

namespace StochasticInterpolants.Tests;

/// <summary>
/// Runs a program the way a user's shell would (dotnet run of an example, dotnet pack, scripts/docs.sh, node), from
/// the test host. The host's environment is not a user's: <c>dotnet test</c> sets MSBuild variables that would steer a
/// child build, and scripts/test.sh preloads tcmalloc for TorchSharp, under which docfx crashes. Both are removed; the
/// programs that need a steady allocator configure their own (<c>NativeRuntime.ConfigureAllocator</c>).
/// </summary>
internal static class ChildProcess
{
    /// <summary>The exit code (-1 on timeout, after killing the process tree), the interleaved standard output and
    /// error, and the wall-clock time.</summary>
    public static (int Code, string Output, TimeSpan Elapsed) Run(string program, IEnumerable<string> arguments, string workingDirectory, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(program)
        {
            WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase) || k == "LD_PRELOAD").ToList())
            start.Environment.Remove(key);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        var text = new StringBuilder();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (text) text.Append(e.Data).Append('\n'); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (text) text.Append(e.Data).Append('\n'); };
        var clock = Stopwatch.StartNew();
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            lock (text) return (-1, $"{text}\n(killed: '{program} {string.Join(' ', arguments)}' did not finish in {timeout.TotalSeconds:F0} s)", clock.Elapsed);
        }
        process.WaitForExit(); // drains the output readers
        lock (text) return (process.ExitCode, text.ToString(), clock.Elapsed);
    }

    /// <summary>The last <paramref name="lines"/> lines of <paramref name="text"/>, for a failure message.</summary>
    public static string Tail(string text, int lines = 40) => string.Join('\n', text.TrimEnd().Split('\n').TakeLast(lines));
}
