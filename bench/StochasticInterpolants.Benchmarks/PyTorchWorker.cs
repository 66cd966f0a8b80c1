using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using StochasticInterpolants.Models;

namespace StochasticInterpolants.Benchmarks;

/// <summary>
/// A long-lived PyTorch process (<c>bench_torch.py --serve</c>) that takes one JSON command per line and answers with one
/// JSON line: the comparison alternates short rounds between this process and the library without restarting either,
/// so both see the same machine load, round by round.
/// </summary>
internal sealed class PyTorchWorker : IDisposable
{
    private const string TcmallocPath = "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4";
    private readonly Process _process;

    private PyTorchWorker(Process process, string version, string blas) { _process = process; Version = version; Blas = blas; }

    /// <summary>"PyTorch 1.13.0" as the worker reports it.</summary>
    public string Version { get; }
    /// <summary>The BLAS it calls.</summary>
    public string Blas { get; }

    /// <summary>Starts the worker on the weights in <paramref name="weightsFile"/>; null (and the reason) when PyTorch cannot run here.</summary>
    public static PyTorchWorker? Start(string weightsFile, MlpConfig model, int threads, bool tcmalloc, out string why) =>
        Start("bench_torch.py", new JsonObject
        {
            ["op"] = "setup", ["weights"] = weightsFile, ["width"] = model.Width, ["depth"] = model.Depth, ["freqs"] = model.TimeFrequencies, ["threads"] = threads,
        }, threads, tcmalloc, out why);

    /// <summary>
    /// Starts <paramref name="script"/> (beside the benchmark's dll) as a <c>--serve</c> worker and sends it <paramref name="setup"/>;
    /// null (and the reason) when PyTorch cannot run here or the setup fails. The setup's reply is kept in <see cref="SetupReply"/>.
    /// </summary>
    public static PyTorchWorker? Start(string script, JsonObject setup, int threads, bool tcmalloc, out string why)
    {
        why = "";
        var path = Path.Combine(AppContext.BaseDirectory, script);
        var python = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
        var start = new ProcessStartInfo(python)
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        start.ArgumentList.Add(path);
        start.ArgumentList.Add("--serve");
        // Debian's OpenBLAS misdetects this virtual CPU; name the core so it takes its AVX2 kernels.
        start.Environment["OPENBLAS_CORETYPE"] = Environment.GetEnvironmentVariable("OPENBLAS_CORETYPE") ?? "Haswell";
        start.Environment["OMP_NUM_THREADS"] = $"{threads}";
        if (tcmalloc && File.Exists(TcmallocPath)) start.Environment["LD_PRELOAD"] = TcmallocPath;
        else start.Environment.Remove("LD_PRELOAD");
        Process process;
        try { process = Process.Start(start)!; }
        catch (System.ComponentModel.Win32Exception e) { why = $"PyTorch side skipped: cannot start {python}: {e.Message}"; return null; }
        process.ErrorDataReceived += (_, _) => { }; // drained so a chatty stderr never blocks the worker
        process.BeginErrorReadLine();
        var worker = new PyTorchWorker(process, "", "");
        try
        {
            var reply = worker.Ask(setup);
            return new PyTorchWorker(process, $"PyTorch {reply["torch"]?.GetValue<string>()}", reply["blas"]?.ToString() ?? "?") { SetupReply = reply };
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or JsonException)
        {
            why = $"PyTorch side failed to start: {e.Message} (scripts/bench.sh installs Debian's python3-torch as root)";
            try { process.Kill(); } catch (InvalidOperationException) { }
            process.Dispose();
            return null;
        }
    }

    /// <summary>The worker's reply to its setup command.</summary>
    public JsonObject SetupReply { get; private init; } = [];

    /// <summary>Seconds for <paramref name="steps"/> full training steps at <paramref name="batch"/> (state kept per batch size).</summary>
    public double Train(int batch, int steps) => Seconds(new JsonObject { ["op"] = "train", ["batch"] = batch, ["steps"] = steps });

    /// <summary>Seconds for <paramref name="reps"/> calls of linear([batch, width] x [width, width]).</summary>
    public double Matmul(int batch, int width, int reps) => Seconds(new JsonObject { ["op"] = "matmul", ["batch"] = batch, ["width"] = width, ["reps"] = reps });

    /// <summary>Median milliseconds per operation of one training step (names as in <see cref="Profile"/>).</summary>
    public Dictionary<string, double> Profile(int batch, int repeats)
    {
        var reply = Ask(new JsonObject { ["op"] = "profile", ["batch"] = batch, ["repeats"] = repeats });
        return reply["ms"]!.AsObject().ToDictionary(kv => kv.Key, kv => kv.Value!.GetValue<double>());
    }

    private double Seconds(JsonObject command) => Ask(command)["seconds"]!.GetValue<double>();

    /// <summary>Sends one command and returns its reply; throws <see cref="InvalidOperationException"/> for an error reply, <see cref="IOException"/> when the worker is gone.</summary>
    public JsonObject Ask(JsonObject command)
    {
        _process.StandardInput.WriteLine(command.ToJsonString());
        _process.StandardInput.Flush();
        var line = _process.StandardOutput.ReadLine() ?? throw new IOException($"the PyTorch worker exited (code {(_process.HasExited ? _process.ExitCode.ToString(CultureInfo.InvariantCulture) : "?")})");
        var reply = JsonNode.Parse(line)?.AsObject() ?? throw new IOException("the PyTorch worker sent an empty reply");
        if (reply["error"] is { } error) throw new InvalidOperationException($"PyTorch worker: {error}");
        return reply;
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.StandardInput.WriteLine("""{"op":"quit"}""");
                _process.StandardInput.Flush();
                if (!_process.WaitForExit(5000)) _process.Kill();
            }
        }
        catch (IOException) { }
        _process.Dispose();
    }
}
