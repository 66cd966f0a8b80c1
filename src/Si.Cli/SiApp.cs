using System.CommandLine;
using StochasticInterpolants.Data;
using StochasticInterpolants.Distributed;
using StochasticInterpolants.Fields;
using StochasticInterpolants.Files;
using StochasticInterpolants.Runtime;
using StochasticInterpolants.Training;

namespace StochasticInterpolants.Cli;

/// <summary>Exit codes of <c>si</c>.</summary>
public static class ExitCodes
{
    /// <summary>Success.</summary>
    public const int Ok = 0;
    /// <summary>The work failed (bad data, corrupt checkpoint, divergence, missing device).</summary>
    public const int Failed = 1;
    /// <summary>The command line was malformed (unknown option, bad value).</summary>
    public const int Usage = 2;
    /// <summary>Interrupted by Ctrl+C.</summary>
    public const int Cancelled = 130;
}

/// <summary>The <c>si</c> command line: a thin layer over the library.</summary>
public static class SiApp
{
    /// <summary>
    /// Parses <paramref name="args"/>, runs the command and returns the exit code. Errors are one line on <paramref name="error"/>.
    /// <paramref name="processes"/> is the MPI job this process is a rank of (null: one process); train, sample and eval
    /// share their work across it, and the other commands refuse to run in a job of several.
    /// </summary>
    public static int Run(string[] args, TextWriter output, TextWriter error, IProcessGroup? processes = null)
    {
        processes ??= SingleProcess.Instance;
        var root = new RootCommand("si: stochastic interpolants and flow matching for .NET. Learn a map from rho0 (noise, t = 0) to rho1 (data, t = 1).")
        {
            TrainCommand.Create(output, error, processes),
            SampleCommand.Create(output, error, processes),
            DemoCommand.Create(output, error),
            EvalCommand.Create(output, error, processes),
            ReportCommand.Create(output, error),
            ExportCommand.Create(output, error),
        };
        ParseResult parsed;
        try { parsed = root.Parse(args); }
        catch (Exception e) { return Fail(error, e.Message, ExitCodes.Usage); }
        if (parsed.Errors.Count > 0)
        {
            var command = parsed.CommandResult.Command;
            var name = command == root ? "si" : $"si {command.Name}";
            return Fail(error, $"{parsed.Errors[0].Message} (see '{name} --help')", ExitCodes.Usage);
        }
        if (processes.Size > 1 && parsed.CommandResult.Command is { } chosen && chosen != root && chosen.Name is not ("train" or "sample" or "eval"))
            return Fail(error, $"si {chosen.Name} runs in one process: start it without mpiexec (train, sample and eval share their work across an MPI job)", ExitCodes.Usage);
        var config = new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false };
        try
        {
            return parsed.Invoke(config);
        }
        catch (Exception e)
        {
            return Report(e, CommandPath(parsed.CommandResult), error);
        }
    }

    /// <summary>
    /// Reports a failure of <c>si <paramref name="command"/></c> on <paramref name="error"/> and returns the exit code. A failure a
    /// user can cause is one line. Anything else — an error raised inside libtorch, a bug — is one line too, naming the
    /// operation of ours that was running (a native stack trace means nothing to a user), with the full trace kept in a
    /// file named on a second line for a bug report.
    /// </summary>
    internal static int Report(Exception e, string command, TextWriter error)
    {
        if (Describe(e) is { } message)
            return Fail(error, message, e switch { OperationCanceledException => ExitCodes.Cancelled, UsageException or InvalidSettingException => ExitCodes.Usage, _ => ExitCodes.Failed });
        var what = e is System.Runtime.InteropServices.ExternalException
            ? $"libtorch failed in {Operation(e)}: {FirstLine(e.Message)}"
            : $"internal error ({e.GetType().Name}: {FirstLine(e.Message)}) in {Operation(e)}";
        Fail(error, $"si {command}: {what}", ExitCodes.Failed);
        if (KeepTrace(e, command) is { } file) error.WriteLine($"si: the full trace is in {file} (please attach it to a bug report)");
        return ExitCodes.Failed;
    }

    private static string FirstLine(string text) => text.Split('\n')[0].TrimEnd();

    // The innermost frames of our own code, innermost first: what was being done when the failure arose.
    private static string Operation(Exception e)
    {
        var ours = new System.Diagnostics.StackTrace(e, false).GetFrames()
            .Select(f => f.GetMethod())
            .Where(m => m?.DeclaringType?.Namespace?.StartsWith("StochasticInterpolants", StringComparison.Ordinal) == true && !m.DeclaringType.Name.StartsWith('<'))
            .Select(m => $"{m!.DeclaringType!.Name}.{m.Name}")
            .Distinct().Take(3).ToList();
        return ours.Count == 0 ? "libtorch itself" : string.Join(" <- ", ours);
    }

    private static string? KeepTrace(Exception e, string command)
    {
        try
        {
            var file = Path.Combine(Path.GetTempPath(), $"si-{command.Replace(' ', '-')}-error-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Environment.ProcessId}.txt");
            File.WriteAllText(file, $"si {command} ({typeof(SiApp).Assembly.GetName().Version}), {DateTime.UtcNow:O}\n{e}\n");
            return file;
        }
        catch (Exception) { return null; } // the report must not fail in turn: the one line above stands
    }

    private static string CommandPath(System.CommandLine.Parsing.CommandResult result)
    {
        var names = new List<string>();
        for (var r = result; r is not null && r.Parent is not null; r = r.Parent as System.CommandLine.Parsing.CommandResult) names.Insert(0, r.Command.Name);
        return names.Count == 0 ? "" : string.Join(' ', names);
    }

    // The library names its settings in its own terms; the command line points at the flag that sets each.
    private static readonly Dictionary<string, string> Flags = new()
    {
        ["steps"] = "--steps", ["solver-steps"] = "--steps", ["batch"] = "--batch", ["lr"] = "--lr", ["optimizer"] = "--optimizer",
        ["weight-decay"] = "--weight-decay", ["warmup"] = "--warmup", ["schedule"] = "--schedule", ["grad-clip"] = "--grad-clip",
        ["ema"] = "--ema", ["log-every"] = "--log-every", ["width"] = "--width", ["depth"] = "--depth", ["activation"] = "--activation",
        ["time-frequencies"] = "--time-frequencies", ["count"] = "--count", ["rtol"] = "--rtol", ["atol"] = "--atol", ["eps"] = "--eps",
        ["map-objective"] = "--map-objective", ["diagonal-fraction"] = "--diagonal-fraction", ["teacher"] = "--teacher", ["ema-teacher"] = "--ema-teacher", ["teacher-guidance"] = "--teacher-guidance",
        ["antithetic"] = "--antithetic",
        ["eps-schedule"] = "--eps-schedule", ["learn"] = "--learn", ["checkpoint-every"] = "--checkpoint-every", ["threads"] = "--threads",
        ["normalize"] = "--normalize", ["validation"] = "--validation", ["columns"] = "--columns", ["skip-rows"] = "--skip-rows",
        ["label-column"] = "--label-column", ["integers"] = "--integers", ["log-columns"] = "--log-columns", ["validate-every"] = "--validate-every", ["patience"] = "--patience",
        ["class"] = "--class", ["base"] = "--base",
        ["t-clip"] = "--t-clip", ["probes"] = "--probes", ["gamma-scale"] = "--gamma-scale", ["gamma"] = "--gamma", ["interpolant"] = "--interpolant",
        ["solver"] = "--solver", ["sampler"] = "--sampler",
        ["model"] = "--model", ["unet"] = "--unet", ["model preset"] = "--unet", ["base-channels"] = "--unet-channels", ["channel-multipliers"] = "--unet-multipliers",
        ["unet-multipliers"] = "--unet-multipliers", ["attention-below"] = "--unet-attention", ["condition"] = "--condition", ["cond-drop"] = "--cond-drop",
        ["guidance"] = "--guidance", ["out"] = "--out", ["generated"] = "--generated",
        ["coupling"] = "--coupling", ["ot-block"] = "--ot-block", ["epsilon"] = "--epsilon", ["sinkhorn-iterations"] = "--sinkhorn-iterations", ["sinkhorn-tolerance"] = "--sinkhorn-tolerance",
        ["mask"] = "--mask", ["factor"] = "--factor", ["corruption-noise"] = "--corruption-noise", ["observed"] = "--observed",
    };

    /// <summary>The flag that sets the library's setting <paramref name="setting"/> (the setting's own name when no flag does).</summary>
    internal static string FlagOf(string setting) => Flags.TryGetValue(setting, out var flag) ? flag : setting;

    internal static int Fail(TextWriter error, string message, int code)
    {
        error.WriteLine($"si: error: {message.Split('\n')[0].TrimEnd()}");
        return code;
    }

    // The table reader names a column of text or a line that may be metadata; the flags that deal with them are the command line's.
    private static string DataHint(DataFormatException d) =>
        d.TextColumn is { } c ? $" (a column of text? leave it out with --columns drop:{c}, or use it as the class with --label-column {c})"
        : d.MetadataLine is { } line ? $" (--skip-rows {line} skips it)"
        : "";

    /// <summary>A one-line message for the failures a user can cause, or null for the rest (see <see cref="Report"/>).</summary>
    private static string? Describe(Exception e) => e switch
    {
        OperationCanceledException => "cancelled",
        UsageException u => u.Message,
        InvalidSettingException s => Flags.TryGetValue(s.Setting, out var flag) ? $"{flag}: {s.Message}" : s.Message,
        ArgumentException a => a.Message.Split(" (Parameter '")[0],
        DataFormatException d => d.Message + DataHint(d),
        CheckpointException or DeviceUnavailableException or TrainingDivergedException or FieldConversionException or Sampling.IntegrationException
            or TrainingStateException or Models.WeightsMismatchException or DataParallelException or Mpi.MpiException => e.Message,
        FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException => e.Message,
        IOException io => io.Message,
        DllNotFoundException d => d.Message,
        _ => null,
    };
}

/// <summary>An invalid combination of options detected after parsing.</summary>
public sealed class UsageException(string message) : Exception(message);
