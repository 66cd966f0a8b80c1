using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using StochasticInterpolants.Benchmarks;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Couplings;
using StochasticInterpolants.Data;
using StochasticInterpolants.Fields;
using StochasticInterpolants.Files;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Likelihood;
using StochasticInterpolants.Models;
using StochasticInterpolants.Objectives;
using StochasticInterpolants.Runs;
using StochasticInterpolants.Sampling;
using StochasticInterpolants.Training;
using static TorchSharp.torch;

/// <summary>
/// The speed benchmark: for the demo's model (MLP, SiLU, Fourier time features, on (x, t)) at batch 256 and 4096,
/// float32, all cores — training steps/s of the full step, sampling points/s (Euler 100 steps, dopri5), likelihood
/// points/s (exact divergence, RK4 100 steps), the matrix-multiply GFLOP/s of the same library on the layer shapes and
/// the fraction of it the training step reaches, peak memory of each phase — and the same figures from the identical
/// step and samplers in PyTorch (bench/pytorch/bench_torch.py, run on the same initial weights), with the ratio.
/// Every rate is the median over repeats after warm-up.
/// </summary>
internal static class Compare
{
    private sealed record Figures(Dictionary<string, double> Values, string Blas, string Version);

    public static int Run(bool quick, int threads, int? rounds, bool withPyTorch = true, bool pytorchGlibc = true)
    {
        var model = new MlpConfig(2, Width: 256, Depth: 4, Activation: "silu", TimeFrequencies: 8); // the demo's (Presets.CheckerboardDemo)
        var batches = new[] { 256, 4096 };
        var s = new Settings(quick ? new[] { 60, 8 } : new[] { 300, 40 }, quick ? 3 : 5, quick ? 4096 : 8192, quick ? 500 : 2000, 1e-4, threads);
        var work = Directory.CreateTempSubdirectory("si-bench-").FullName;
        try
        {
            var weightsFile = Path.Combine(work, "init.safetensors");
            using (var net = new MlpNetwork(model, seed: 0))
                SafeTensors.Save(weightsFile, net.named_parameters().Select(p => new KeyValuePair<string, Tensor>(p.name, p.parameter)));
            var weights = SafeTensors.Load(weightsFile);
            Console.WriteLine($"model: MLP {model.Width}x{model.Depth} ({model.Activation}, {model.TimeFrequencies} time frequencies), linear interpolant, checkerboard; float32, {threads} threads");
            Console.WriteLine($"rates: median of {s.Repeats} repeats after warm-up; sampling timed over {s.SamplePoints} points per repeat, likelihood {s.NllPoints} points, dopri5 rtol = atol = {s.DopriTol:G}");
            // Training: many short rounds alternating the library's step, the bare TorchSharp loop and a long-lived PyTorch
            // process, with per-round ratios (TrainingAlternation).
            var trainingRounds = rounds ?? (quick ? 6 : 20);
            var alternation = new List<TrainingAlternation.Result>();
            string trainingWhy = "";
            var worker = withPyTorch ? PyTorchWorker.Start(weightsFile, model, threads, tcmalloc: true, out trainingWhy) : null;
            if (!withPyTorch) trainingWhy = "PyTorch side skipped (--no-pytorch)";
            using (worker)
                foreach (var b in batches)
                    alternation.Add(TrainingAlternation.Run(model, weights, b, trainingRounds, worker, Console.WriteLine));
            TrainingAlternation.Print(alternation, model, Console.WriteLine);
            if (worker is null) Console.WriteLine($"PyTorch: {trainingWhy}");
            else Console.WriteLine($"PyTorch: {worker.Version}, {worker.Blas}, tcmalloc (as ours)");
            Console.WriteLine();
            Console.WriteLine("sampling and likelihood: each phase runs here, then at once in PyTorch on the same initial weights (medians over repeats)");
            // Interleaved phases: a paired measurement is seconds apart, so drifting load on a shared machine hits both sides alike.
            var phases = batches.Select(b => (Kind: "sample", Size: b, Index: 0)).Append(("nll", 0, 0)).ToList();
            var ours = new Dictionary<string, List<double>>();
            var theirs = new Dictionary<string, List<double>>();
            var theirsGlibc = new Dictionary<string, List<double>>();
            string why = "", theirVersion = "", theirBlas = "";
            try
            {
                foreach (var (kind, size, index) in phases)
                    {
                        var label = kind == "nll" ? "nll" : $"{kind}:{size}";
                        Console.WriteLine($"  {label}");
                        var mine = kind == "sample" ? MeasureSampling(model, weights, weightsFile, size, s) : MeasureLikelihood(model, weights, weightsFile, s);
                        Add(ours, mine);
                        if (why != "") continue;
                        if (!withPyTorch) { why = "PyTorch side skipped (--no-pytorch)"; continue; }
                        // PyTorch with this side's allocator (tcmalloc): the paired measurement the targets apply to.
                        var other = MeasurePyTorch(weightsFile, model, label, 0, s, tcmalloc: true, out why, out theirVersion, out theirBlas);
                        if (other is not null) Add(theirs, other);
                    }
                // Then PyTorch as Debian runs it (glibc malloc), once, after everything else: its page-fault storm slows
                // whatever runs next on this VM for seconds (measured: our batch-4096 sampling at a third of its speed).
                if (pytorchGlibc && why == "")
                    foreach (var (kind, size, index) in phases)
                    {
                        var label = kind == "nll" ? "nll" : $"{kind}:{size}";
                        Console.WriteLine($"  PyTorch with glibc malloc: {label}");
                        var other = MeasurePyTorch(weightsFile, model, label, 0, s, tcmalloc: false, out var whyNot, out _, out _);
                        if (other is not null) Add(theirsGlibc, other);
                        else break;
                    }
            }
            finally { foreach (var w in weights.Values) w.Dispose(); }
            Print(new Figures(Medians(ours), "MKL (libtorch 2.10 as shipped in libtorch-cpu-linux-x64) + oneDNN", $"TorchSharp 0.107.0 / libtorch {__version__}"),
                theirs.Count == 0 ? null : new Figures(Medians(theirs), theirBlas, theirVersion),
                theirsGlibc.Count == 0 ? null : new Figures(Medians(theirsGlibc), theirBlas, theirVersion), why, model, batches);
            return 0;
        }
        finally { Directory.Delete(work, true); }

        static void Add(Dictionary<string, List<double>> into, Dictionary<string, double> values)
        {
            foreach (var (k, v) in values) { if (!into.TryGetValue(k, out var list)) into[k] = list = []; list.Add(v); }
        }
        static Dictionary<string, double> Medians(Dictionary<string, List<double>> all) =>
            all.ToDictionary(kv => kv.Key, kv => { var l = kv.Value.OrderBy(v => v).ToList(); return l[l.Count / 2]; });
    }

    private sealed record Settings(int[] TrainSteps, int Repeats, int SamplePoints, int NllPoints, double DopriTol, int Threads);

    private static MlpNetwork Network(MlpConfig model, Dictionary<string, Tensor> weights, string weightsFile)
    {
        var net = new MlpNetwork(model, seed: 0);
        Checkpoint.LoadInto(net, weights, weightsFile);
        return net;
    }

    private static Dictionary<string, double> MeasureSampling(MlpConfig model, Dictionary<string, Tensor> weights, string weightsFile, int n, Settings s)
    {
        var v = new Dictionary<string, double>();
        using var net = Network(model, weights, weightsFile);
        net.eval();
        var field = new NetworkVelocityField(net);
        using var g = new Generator(1);
        using var x = randn(n, 2, generator: g);
        using (new EulerSolver(5).Integrate(field, x, 0, 1)) { }
        var reps = Math.Max(1, s.SamplePoints / n); // several batches per timing so small batches are timed over similar work
        ProcessMemory.ResetPeak();
        v[$"euler100_points_per_s_{n}"] = Median(s.Repeats, () => { for (var r = 0; r < reps; r++) new EulerSolver(100).Integrate(field, x, 0, 1).Dispose(); }, reps * n);
        v[$"euler100_peak_mib_{n}"] = ProcessMemory.PeakMiB();
        ProcessMemory.ResetPeak();
        double nfe = 0;
        v[$"dopri5_points_per_s_{n}"] = Median(s.Repeats, () =>
        {
            for (var r = 0; r < reps; r++)
            {
                using var solution = new DormandPrince5Solver(s.DopriTol, s.DopriTol).Integrate(field, x, 0, 1);
                nfe = solution.FunctionEvaluations;
            }
        }, reps * n);
        v[$"dopri5_nfe_{n}"] = nfe;
        v[$"dopri5_peak_mib_{n}"] = ProcessMemory.PeakMiB();
        return v;
    }

    private static Dictionary<string, double> MeasureLikelihood(MlpConfig model, Dictionary<string, Tensor> weights, string weightsFile, Settings s)
    {
        using var net = Network(model, weights, weightsFile);
        net.eval();
        using var g = new Generator(1);
        using var xn = new Checkerboard().Sample(s.NllPoints, g);
        var likelihood = new FlowLikelihood(new NetworkVelocityField(net), new StandardGaussian(2), new Rk4Solver(100));
        using (var warm = xn[..50]) new FlowLikelihood(new NetworkVelocityField(net), new StandardGaussian(2), new Rk4Solver(5)).LogDensity(warm).Dispose();
        ProcessMemory.ResetPeak();
        var rate = Median(Math.Max(1, s.Repeats / 2), () => { using var r = likelihood.LogDensity(xn); }, s.NllPoints);
        return new Dictionary<string, double> { ["nll_points_per_s"] = rate, ["nll_peak_mib"] = ProcessMemory.PeakMiB() };
    }

    private static double Median(int repeats, Action work, double units)
    {
        var rates = new List<double>();
        for (var i = 0; i < repeats; i++)
        {
            var watch = Stopwatch.StartNew();
            work();
            rates.Add(units / watch.Elapsed.TotalSeconds);
        }
        rates.Sort();
        return rates[rates.Count / 2];
    }

    private const string TcmallocPath = "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4";

    private static Dictionary<string, double>? MeasurePyTorch(string weights, MlpConfig m, string phase, int trainSteps, Settings s, bool tcmalloc,
        out string why, out string version, out string blas)
    {
        why = ""; version = ""; blas = "";
        var script = Path.Combine(AppContext.BaseDirectory, "bench_torch.py");
        var python = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
        var start = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[]
                 {
                     script, "--phase", phase, "--weights", weights, "--width", $"{m.Width}", "--depth", $"{m.Depth}", "--freqs", $"{m.TimeFrequencies}",
                     "--threads", $"{s.Threads}", "--train-steps", $"{Math.Max(trainSteps, 1)}", "--repeats", $"{s.Repeats}",
                     "--sample-points", $"{s.SamplePoints}", "--nll-points", $"{s.NllPoints}", "--dopri-tol", s.DopriTol.ToString(CultureInfo.InvariantCulture),
                 })
            start.ArgumentList.Add(a);
        // Debian's OpenBLAS misdetects this virtual CPU; name the core so it takes its AVX2 kernels.
        start.Environment["OPENBLAS_CORETYPE"] = Environment.GetEnvironmentVariable("OPENBLAS_CORETYPE") ?? "Haswell";
        start.Environment["OMP_NUM_THREADS"] = $"{s.Threads}";
        // With tcmalloc: the same allocator as this side (the launchers preload it). Without: Debian's PyTorch as a user
        // runs it, where glibc malloc serves 4 MB activations as fresh mmaps that fault in every page on each call
        // (measured here: a batch-4096 forward pass 60 ms instead of 11 ms).
        if (tcmalloc && File.Exists(TcmallocPath)) start.Environment["LD_PRELOAD"] = TcmallocPath;
        else start.Environment.Remove("LD_PRELOAD");
        try
        {
            using var p = Process.Start(start)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            p.WaitForExit();
            var last = stdout.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? "";
            if (p.ExitCode != 0 || !last.StartsWith('{'))
            {
                why = $"PyTorch side failed (exit {p.ExitCode}): {stderr.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault()} (scripts/bench.sh installs Debian's python3-torch as root)";
                return null;
            }
            using var doc = JsonDocument.Parse(last);
            var values = new Dictionary<string, double>();
            foreach (var prop in doc.RootElement.EnumerateObject())
                if (prop.Value.ValueKind == JsonValueKind.Number && prop.Name != "threads") values[prop.Name] = prop.Value.GetDouble();
            blas = $"{doc.RootElement.GetProperty("blas").GetString()} -> {BlasLibrary()} (OPENBLAS_CORETYPE={start.Environment["OPENBLAS_CORETYPE"]})";
            version = $"PyTorch {doc.RootElement.GetProperty("torch").GetString()}";
            return values;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            why = $"PyTorch side skipped: cannot start {python}: {e.Message}";
            return null;
        }
    }

    // Which library Debian's libblas.so.3 alternative points at (the BLAS PyTorch's "generic" build calls).
    private static string BlasLibrary()
    {
        try
        {
            var link = new FileInfo("/etc/alternatives/libblas.so.3-x86_64-linux-gnu").LinkTarget;
            return link is null ? "libblas.so.3" : link.Replace("/usr/lib/x86_64-linux-gnu/", "");
        }
        catch (IOException) { return "libblas.so.3"; }
    }

    private static void Print(Figures ours, Figures? theirs, Figures? glibc, string why, MlpConfig m, int[] batches)
    {
        Console.WriteLine();
        Console.WriteLine($"ours:    {ours.Version}, BLAS {ours.Blas}, allocator tcmalloc");
        Console.WriteLine(theirs is null ? $"PyTorch: {why}" : $"PyTorch: {theirs.Version}, BLAS {theirs.Blas}; run with tcmalloc (as ours) and with Debian's default glibc malloc");
        Console.WriteLine("targets apply to the ratio against PyTorch with the same allocator (tcmalloc)");
        Console.WriteLine();
        Console.WriteLine($"{"figure",-38} {"ours",10} {"PyTorch",10} {"ratio",6} {"target",-10} {"PyT glibc",10} {"ratio",6}  {"peak MiB ours / PyT",20}");
        foreach (var b in batches)
        {
            Row($"sample points/s (Euler 100, batch {b})", $"euler100_points_per_s_{b}", b == 256 ? 1.3 : 1.0, $"euler100_peak_mib_{b}");
            Row($"sample points/s (dopri5, batch {b})", $"dopri5_points_per_s_{b}", b == 256 ? 1.3 : 1.0, $"dopri5_peak_mib_{b}");
            Row("  dopri5 NFE", $"dopri5_nfe_{b}", null, null);
        }
        Row("likelihood points/s (exact, RK4 100)", "nll_points_per_s", null, "nll_peak_mib");

        void Row(string label, string key, double? target, string? peakKey, double scale = 1)
        {
            var o = ours.Values[key] * scale;
            var t = theirs?.Values.GetValueOrDefault(key, double.NaN) * scale ?? double.NaN;
            var tg = glibc?.Values.GetValueOrDefault(key, double.NaN) * scale ?? double.NaN;
            var ratio = o / t;
            var peaks = peakKey is null ? "" : $"{ours.Values[peakKey],8:F0} / {(theirs?.Values.GetValueOrDefault(peakKey, double.NaN) ?? double.NaN),-8:F0}";
            var mark = target is { } x && double.IsFinite(ratio) ? (ratio >= x ? $">={x:0.0#} ok" : $">={x:0.0#} MISS") : "";
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{label,-38} {o,10:N1} {t,10:N1} {ratio,6:F2} {mark,-10} {tg,10:N1} {o / tg,6:F2}  {peaks}"));
        }
    }
}
