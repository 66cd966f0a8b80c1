using System.Diagnostics;
using System.Globalization;
using StochasticInterpolants.Couplings;
using StochasticInterpolants.Data;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using StochasticInterpolants.Objectives;
using StochasticInterpolants.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace StochasticInterpolants.Benchmarks;

/// <summary>
/// The same training step written as a plain TorchSharp loop, the way a TorchSharp user would: <c>Sequential</c>,
/// <c>torch.optim.Adam</c>, the same data draws, interpolant, time features and per-element loss — without the library's
/// clipping and moving average. The library's own overhead is its step against this one.
/// </summary>
internal sealed class BareTorchSharpLoop : IDisposable
{
    private readonly Sequential _net;
    private readonly optim.Optimizer _optimizer;
    private readonly Generator _generator = new(0);
    private readonly Tensor _frequencies;
    private readonly int _batch;

    public BareTorchSharpLoop(MlpConfig model, IReadOnlyDictionary<string, Tensor> weights, int batch)
    {
        _batch = batch;
        var layers = new List<(string, nn.Module<Tensor, Tensor>)>();
        var fanIn = model.Dimension + 1 + 2 * model.TimeFrequencies;
        for (var i = 0; i < model.Depth; i++) { layers.Add(($"linear{i}", nn.Linear(fanIn, model.Width))); layers.Add(($"act{i}", nn.SiLU())); fanIn = model.Width; }
        layers.Add(("out", nn.Linear(fanIn, model.Dimension)));
        _net = nn.Sequential(layers);
        using (no_grad())
            foreach (var (name, p) in _net.named_parameters()) p.copy_(weights.TryGetValue(name, out var w) ? w : weights[$"_layers.{name}"]); // MlpNetwork's names
        _optimizer = optim.Adam(_net.parameters(), lr: 2e-3);
        _frequencies = (arange(1, model.TimeFrequencies + 1, dtype: float32) * Math.PI).unsqueeze(0);
    }

    /// <summary>One step: draw, interpolate, forward, loss, backward, Adam.</summary>
    public float Step()
    {
        using var scope = NewDisposeScope();
        var n = _batch;
        var x0 = randn(n, 2, generator: _generator);
        var a = rand(n, generator: _generator) * 4 - 2;
        var b = rand(n, generator: _generator) - randint(0, 2, [n], generator: _generator).to(float32) * 2 + a.floor().remainder(2);
        var x1 = stack([a, b], 1) * 2;
        var z = randn(n, 2, generator: _generator); // drawn as the library draws it (gamma = 0 here)
        var t = rand(n, generator: _generator).unsqueeze(1);
        var xt = (1 - t) * x0 + t * x1;
        var target = x1 - x0;
        var angles = t * _frequencies;
        var output = _net.forward(cat([xt, t, angles.sin(), angles.cos()], 1));
        var loss = (output - target).square().mean();
        _optimizer.zero_grad();
        loss.backward();
        _optimizer.step();
        return loss.item<float>();
    }

    public void Dispose() { _net.Dispose(); _optimizer.Dispose(); _generator.Dispose(); _frequencies.Dispose(); }
}

/// <summary>The library's full training step (the demo's: clip 1, Adam, EMA 0.999) driven one call at a time.</summary>
internal sealed class LibraryStep : IDisposable
{
    private readonly MlpNetwork _net;
    private readonly TrainingStep _step;
    private readonly Generator _generator = new(0);
    private int _index;

    public LibraryStep(MlpConfig model, IReadOnlyDictionary<string, Tensor> weights, int batch)
    {
        _net = new MlpNetwork(model, seed: 0);
        ParameterCopy.CopyInto(_net, weights, "benchmark weights");
        var coupling = new IndependentCoupling(new StandardGaussian(2), new Checkerboard());
        var options = new TrainingOptions(Steps: int.MaxValue, BatchSize: batch, LearningRate: 2e-3, WarmupSteps: 0, Schedule: "constant", Seed: 0);
        _step = new TrainingStep(coupling, [new LearnedNetwork(new VelocityObjective(new LinearInterpolant()), _net)], options, CPU);
    }

    public double Step() => _step.Run(_index++, _generator)[0];

    public void Dispose() { foreach (var e in _step.Averages) e?.Dispose(); _step.Dispose(); _net.Dispose(); _generator.Dispose(); }
}

/// <summary>
/// Training speed measured as many short rounds. Each round has three slots in a seeded random order with a pause between
/// them: the library's step and the bare TorchSharp loop interleaved step by step (<see cref="Interleaved"/>), k steps in
/// PyTorch, and each side's matmul limit. Every figure is reported as the median and the spread (interquartile range) of
/// the per-round ratio, so a load change between rounds shows as spread, not as a ratio.
/// </summary>
internal static class TrainingAlternation
{
    public sealed record Result(int Batch, int Rounds, int StepsPerSlot, List<double> Ours, List<double> Bare, List<double> Theirs,
        List<double> OurMatmul, List<double> TheirMatmul);

    public static Result Run(MlpConfig model, IReadOnlyDictionary<string, Tensor> weights, int batch, int rounds, PyTorchWorker? worker, Action<string> log)
    {
        // About 0.2 s per slot on a 2-core machine (~200 steps/s at 256, ~25 at 4096).
        var k = batch <= 512 ? 40 : Math.Max(4, 25 * 4096 / (batch * 4));
        var matmulReps = Math.Max(4, (int)(5e8 / (2.0 * batch * model.Width * model.Width)));
        using var ours = new LibraryStep(model, weights, batch);
        using var bare = new BareTorchSharpLoop(model, weights, batch);
        using var a = randn(batch, model.Width);
        using var w = randn(model.Width, model.Width);
        using var bias = randn(model.Width);
        for (var i = 0; i < 10; i++) { ours.Step(); bare.Step(); }
        worker?.Train(batch, 2);
        Matmul(2);
        worker?.Matmul(batch, model.Width, 2);
        var r = new Result(batch, rounds, k, [], [], [], [], []);
        var flops = 2.0 * batch * model.Width * model.Width * matmulReps;
        var currentRound = 0;
        var slots = new (string Name, Action Run)[]
        {
            ("ours and bare, step by step", () =>
            {
                var (oursSeconds, bareSeconds) = Interleaved(ours.Step, bare.Step, k, currentRound);
                r.Ours.Add(k / oursSeconds);
                r.Bare.Add(k / bareSeconds);
            }),
            ("theirs", () => { if (worker is not null) r.Theirs.Add(k / worker.Train(batch, k)); }),
            ("matmul", () => r.OurMatmul.Add(flops / Time(() => Matmul(matmulReps)) / 1e9)),
            ("their matmul", () => { if (worker is not null) r.TheirMatmul.Add(flops / worker.Matmul(batch, model.Width, matmulReps) / 1e9); }),
        };
        var order = new Random(batch); // a seeded shuffle: same order every run, and no side always follows the same one
        for (var round = 0; round < rounds; round++)
        {
            currentRound = round;
            foreach (var s in Enumerable.Range(0, slots.Length).OrderBy(_ => order.Next()).ToList())
            {
                // A pause between slots: OpenMP threads spin for a while after a parallel region, and would steal the cores
                // from whichever side runs next (measured: the slot after PyTorch's ran ~10 % slower without it).
                Thread.Sleep(50);
                slots[s].Run();
            }
            if ((round + 1) % 5 == 0 || round + 1 == rounds) log($"  batch {batch}: round {round + 1} of {rounds}");
        }
        return r;

        void Matmul(int reps) { for (var i = 0; i < reps; i++) nn.functional.linear(a, w, bias).Dispose(); }
    }

    /// <summary>
    /// Runs <paramref name="a"/> and <paramref name="b"/> <paramref name="k"/> times each, one step of each in turn
    /// (a b, b a, a b, ... or b a, a b, ... on alternate rounds: neither side always runs first) and returns each side's summed time. Two TorchSharp loops in
    /// one process can be paired this finely, so a change of load on the machine lands on both sides of the ratio
    /// within milliseconds instead of between slots (per-slot pairing left a ±5 % spread on a shared VM).
    /// </summary>
    private static (double A, double B) Interleaved(Func<double> a, Func<float> b, int k, int round)
    {
        // One untimed step of each first: the slot before may have left OpenMP threads spinning or caches cold, and
        // whichever side ran first would pay for it (measured: ~1 % against the first side at batch 4096 without this).
        a(); b();
        double ta = 0, tb = 0;
        for (var i = 0; i < k; i++)
        {
            if ((i + round) % 2 == 0) { ta += Time(() => a()); tb += Time(() => b()); }
            else { tb += Time(() => b()); ta += Time(() => a()); }
        }
        return (ta, tb);
    }

    private static double Time(Action work)
    {
        var watch = Stopwatch.StartNew();
        work();
        return watch.Elapsed.TotalSeconds;
    }

    /// <summary>Median, quartiles and range of <paramref name="values"/>.</summary>
    public static (double Median, double Q1, double Q3, double Min, double Max) Spread(IReadOnlyList<double> values)
    {
        var v = values.OrderBy(x => x).ToArray();
        if (v.Length == 0) return (double.NaN, double.NaN, double.NaN, double.NaN, double.NaN);
        double Q(double p)
        {
            var pos = p * (v.Length - 1);
            var lo = (int)Math.Floor(pos); var hi = (int)Math.Ceiling(pos);
            return v[lo] + (v[hi] - v[lo]) * (pos - lo);
        }
        return (Q(0.5), Q(0.25), Q(0.75), v[0], v[^1]);
    }

    /// <summary>Per-round ratios a_i / b_i.</summary>
    public static List<double> Ratios(IReadOnlyList<double> a, IReadOnlyList<double> b) => a.Zip(b, (x, y) => x / y).ToList();

    public static void Print(IReadOnlyList<Result> results, MlpConfig model, Action<string> line)
    {
        line("");
        line("training, alternated in rounds (each figure: median [interquartile range] over rounds)");
        line(string.Create(CultureInfo.InvariantCulture, $"{"batch",6} {"rounds x steps",15}  {"ours steps/s",26}  {"bare TorchSharp",26}  {"PyTorch",26}"));
        foreach (var r in results)
            line(string.Create(CultureInfo.InvariantCulture, $"{r.Batch,6} {$"{r.Rounds} x {r.StepsPerSlot}",15}  {Fmt(r.Ours, "F1"),26}  {Fmt(r.Bare, "F1"),26}  {Fmt(r.Theirs, "F1"),26}"));
        line("");
        line(string.Create(CultureInfo.InvariantCulture, $"{"batch",6}  {"ours / PyTorch",26}  {"ours / bare TorchSharp",26}  {"bare / PyTorch",26}  targets"));
        foreach (var r in results)
        {
            var vsTheirs = Ratios(r.Ours, r.Theirs); var vsBare = Ratios(r.Ours, r.Bare); var bareVsTheirs = Ratios(r.Bare, r.Theirs);
            var t1 = r.Theirs.Count == 0 ? "" : Spread(vsTheirs).Median >= 1.0 ? ">= 1.00 vs PyTorch ok" : ">= 1.00 vs PyTorch MISS";
            var t2 = Spread(vsBare).Median >= 0.97 ? "within 3 % of bare ok" : "within 3 % of bare MISS";
            line(string.Create(CultureInfo.InvariantCulture, $"{r.Batch,6}  {Fmt(vsTheirs, "F3"),26}  {Fmt(vsBare, "F3"),26}  {Fmt(bareVsTheirs, "F3"),26}  {t1}{(t1 == "" ? "" : "; ")}{t2}"));
        }
        line("");
        line(string.Create(CultureInfo.InvariantCulture, $"{"matmul GFLOP/s",-26}  {"ours",26}  {"PyTorch",26}  step as % of own limit (ours / PyTorch)"));
        double flopsPerSample = 3 * (2.0 * (model.Dimension + 1 + 2 * model.TimeFrequencies) * model.Width + 2.0 * (model.Depth - 1) * model.Width * model.Width + 2.0 * model.Width * model.Dimension);
        foreach (var r in results)
        {
            var ourShare = Spread(r.Ours.Zip(r.OurMatmul, (s, g) => 100 * s * r.Batch * flopsPerSample / 1e9 / g).ToList()).Median;
            var theirShare = r.Theirs.Count == 0 ? double.NaN : Spread(r.Theirs.Zip(r.TheirMatmul, (s, g) => 100 * s * r.Batch * flopsPerSample / 1e9 / g).ToList()).Median;
            line(string.Create(CultureInfo.InvariantCulture, $"{$"[{r.Batch}x{model.Width}]x[{model.Width}x{model.Width}]",-26}  {Fmt(r.OurMatmul, "F1"),26}  {Fmt(r.TheirMatmul, "F1"),26}  {ourShare:F0} % / {theirShare:F0} %"));
        }
    }

    private static string Fmt(IReadOnlyList<double> values, string format)
    {
        if (values.Count == 0) return "-";
        var (m, q1, q3, lo, hi) = Spread(values);
        return string.Create(CultureInfo.InvariantCulture, $"{m.ToString(format, CultureInfo.InvariantCulture)} [{q1.ToString(format, CultureInfo.InvariantCulture)}-{q3.ToString(format, CultureInfo.InvariantCulture)}]");
    }
}
