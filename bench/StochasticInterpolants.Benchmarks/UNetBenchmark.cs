using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using StochasticInterpolants.Couplings;
using StochasticInterpolants.Data;
using StochasticInterpolants.Files;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using StochasticInterpolants.Objectives;
using StochasticInterpolants.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Benchmarks;

/// <summary>
/// The library's U-Net training step (<see cref="TrainingStep"/>: velocity objective, linear interpolant, Adam lr 2e-4,
/// gradient clip 1, moving average 0.999) on a fixed synthetic set of 1x28x28 images with 10 classes, driven one call at a time.
/// </summary>
internal sealed class LibraryUNetStep : IDisposable
{
    private const double LearningRate = 2e-4;
    private readonly UNet _net;
    private readonly ICoupling _coupling;
    private readonly VelocityObjective _objective = new(new LinearInterpolant());
    private readonly TrainingStep _step;
    private readonly Generator _generator = new(0);
    private int _index;

    public LibraryUNetStep(UNetConfig config, IReadOnlyDictionary<string, Tensor> weights, ImageSet images, int batch)
    {
        _net = new UNet(config, seed: 0);
        ParameterCopy.CopyInto(_net, weights, "benchmark weights");
        _coupling = new IndependentCoupling(new StandardGaussian(images.Dimension), new ImageDistribution(images));
        var options = new TrainingOptions(Steps: int.MaxValue, BatchSize: batch, LearningRate: LearningRate, WarmupSteps: 0, Schedule: "constant",
            GradientClip: 1.0, EmaDecay: 0.999, Seed: 0);
        _step = new TrainingStep(_coupling, [new LearnedNetwork(_objective, _net)], options, CPU);
    }

    /// <summary>One full library step; returns its loss.</summary>
    public double Step() => _step.Run(_index++, _generator)[0];

    /// <summary>
    /// One step with the work of <see cref="TrainingStep.Run"/> done here in three timed parts (seconds): forward (batch draw,
    /// interpolant, network, loss), backward, optimiser (clip, Adam, moving average).
    /// </summary>
    public (double Forward, double Backward, double Optimizer) TimedStep()
    {
        var optimizer = _step.Optimizers[0];
        using var scope = NewDisposeScope();
        var watch = Stopwatch.StartNew();
        var batch = _coupling.DrawBatch(_step.Options.BatchSize, _generator, _objective.TimeClip);
        var loss = _objective.Loss(_net, batch);
        var forward = watch.Elapsed.TotalSeconds;
        optimizer.ZeroGrad();
        loss.backward();
        var backward = watch.Elapsed.TotalSeconds;
        optimizer.ClipGradientNorm(_step.Options.GradientClip);
        optimizer.Step(LearningRate);
        _step.Averages[0]?.Update(_index++);
        var end = watch.Elapsed.TotalSeconds;
        return (forward, backward - forward, end - backward);
    }

    public void Dispose() { foreach (var e in _step.Averages) e?.Dispose(); _step.Dispose(); _net.Dispose(); _generator.Dispose(); }
}

/// <summary>
/// <c>--unet</c>: the U-Net's training speed beside the same architecture in PyTorch (bench/pytorch/unet_torch.py) on the
/// same initial weights, after checking that both compute the same function. Batches 64 and 128 of 1x28x28 images, 10
/// classes, the same thread count on both sides (default 1). Rounds alternate k steps here and k steps there in a seeded
/// random order with a pause between them, so load drift on a shared machine lands on both sides; figures are the median and
/// interquartile range over rounds of steps/s and of the per-round ratio. Then each side's step split into forward,
/// backward and optimiser.
/// </summary>
internal static class UNetBenchmark
{
    private static readonly int[] Batches = [64, 128];

    public static int Run(string preset, bool quick, int threads, int? rounds, bool withPyTorch)
    {
        var config = UNetConfig.Preset(preset, 1, 28, 28, 10);
        var roundCount = rounds ?? (quick ? 3 : 10);
        var stepsPerSlot = quick ? 2 : 4;
        var splitSteps = quick ? 3 : 8;
        var work = Directory.CreateTempSubdirectory("si-bench-unet-").FullName;
        try
        {
            var weightsFile = Path.Combine(work, "init.safetensors");
            var imagesFile = Path.Combine(work, "images.safetensors");
            long parameters;
            using (var net = new UNet(config, seed: 0))
            {
                parameters = net.ParameterCount;
                SafeTensors.Save(weightsFile, net.named_parameters().Select(p => new KeyValuePair<string, Tensor>(p.name, p.parameter)));
            }
            var weights = SafeTensors.Load(weightsFile);
            using var images = SyntheticImages(1000);
            using (var pixels = images.Pixels.to(float32))
            using (var labels = tensor(images.Labels!).to(float32))
                SafeTensors.Save(imagesFile, [new("pixels", pixels), new("labels", labels)]);
            Console.WriteLine($"model: unet '{preset}' ({Describe(config)}), {parameters:N0} parameters; float32, {threads} thread{(threads == 1 ? "" : "s")} each side");
            Console.WriteLine($"step: velocity objective, linear interpolant, Adam lr 2e-4, clip 1, moving average 0.999; {images.Count} synthetic 1x28x28 images, 10 classes");

            var why = "PyTorch side skipped (--no-pytorch)";
            var worker = withPyTorch ? PyTorchWorker.Start("unet_torch.py", new JsonObject
            {
                ["op"] = "setup", ["weights"] = weightsFile, ["config"] = JsonNode.Parse(config.ToJson()), ["images"] = imagesFile,
                ["levels"] = images.Levels, ["threads"] = threads,
            }, threads, tcmalloc: true, out why) : null;
            using (worker)
            {
                if (worker is null) Console.WriteLine($"PyTorch: {why}");
                else
                {
                    Console.WriteLine($"PyTorch: {worker.Version}, {worker.Blas}, tcmalloc (as ours); {worker.SetupReply["parameters"]} parameters");
                    var (difference, scale) = ForwardCheck(config, weights, work, worker);
                    var verdict = difference <= 1e-4 ? "ok" : "MISMATCH";
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"forward equality: max |ours - PyTorch| = {difference:E2} over 8 images (max |output| {scale:F3}) {verdict}"));
                    if (verdict != "ok") return 1;
                }
                var results = Batches.Select(b => Alternate(config, weights, images, b, roundCount, stepsPerSlot, splitSteps, worker)).ToList();
                Print(results, roundCount, stepsPerSlot, splitSteps);
            }
            foreach (var w in weights.Values) w.Dispose();
            return 0;
        }
        finally { Directory.Delete(work, true); }
    }

    private sealed record Result(int Batch, List<double> Ours, List<double> Theirs, (double F, double B, double O) OurSplit, (double F, double B, double O)? TheirSplit);

    private static Result Alternate(UNetConfig config, IReadOnlyDictionary<string, Tensor> weights, ImageSet images, int batch, int rounds, int k, int splitSteps, PyTorchWorker? worker)
    {
        using var ours = new LibraryUNetStep(config, weights, images, batch);
        for (var i = 0; i < 2; i++) ours.Step(); // warm-up, as the worker's first use of a batch size
        worker?.Ask(new JsonObject { ["op"] = "train", ["batch"] = batch, ["steps"] = 1 });
        var r = new Result(batch, [], [], default, null);
        var order = new Random(batch); // a seeded order: the same every run, and neither side always runs first
        for (var round = 0; round < rounds; round++)
        {
            foreach (var side in new[] { 0, 1 }.OrderBy(_ => order.Next()).ToList())
            {
                // OpenMP threads spin for a while after a parallel region and would steal the cores from the next side.
                Thread.Sleep(50);
                if (side == 0)
                {
                    var watch = Stopwatch.StartNew();
                    for (var i = 0; i < k; i++) ours.Step();
                    r.Ours.Add(k / watch.Elapsed.TotalSeconds);
                }
                else if (worker is not null)
                    r.Theirs.Add(k / worker.Ask(new JsonObject { ["op"] = "train", ["batch"] = batch, ["steps"] = k })["seconds"]!.GetValue<double>());
            }
            Console.WriteLine($"  batch {batch}: round {round + 1} of {rounds}");
        }
        var parts = Enumerable.Range(0, splitSteps).Select(_ => ours.TimedStep()).ToList();
        (double, double, double) ourSplit = (Median(parts.Select(p => p.Forward)) * 1000, Median(parts.Select(p => p.Backward)) * 1000, Median(parts.Select(p => p.Optimizer)) * 1000);
        (double, double, double)? theirSplit = null;
        if (worker is not null)
        {
            var reply = worker.Ask(new JsonObject { ["op"] = "split", ["batch"] = batch, ["steps"] = splitSteps });
            theirSplit = (reply["forward_ms"]!.GetValue<double>(), reply["backward_ms"]!.GetValue<double>(), reply["optimizer_ms"]!.GetValue<double>());
        }
        return r with { OurSplit = ourSplit, TheirSplit = theirSplit };
    }

    // The C# network's output on a fixed input, written beside the input for the worker, which evaluates its copy on it.
    private static (double Difference, double Scale) ForwardCheck(UNetConfig config, IReadOnlyDictionary<string, Tensor> weights, string work, PyTorchWorker worker)
    {
        using var scope = NewDisposeScope();
        using var net = new UNet(config, seed: 1);
        ParameterCopy.CopyInto(net, weights, "benchmark weights");
        using var g = new Generator(2);
        var x = randn([8, config.Channels, config.Height, config.Width], generator: g);
        var t = rand(8, generator: g);
        var labels = tensor(new long[] { 0, 1, 2, 3, 7, 8, 9, -1 });
        Tensor output;
        using (no_grad()) output = net.forward(x, t, labels);
        var file = Path.Combine(work, "check.safetensors");
        SafeTensors.Save(file, [new("x", x), new("t", t), new("labels", labels.to(float32)), new("output", output)]);
        var reply = worker.Ask(new JsonObject { ["op"] = "check", ["input"] = file });
        return (reply["max_abs_diff"]!.GetValue<double>(), reply["max_abs"]!.GetValue<double>());
    }

    /// <summary>
    /// n uint8 images 1x28x28, image i of class i mod 10: a Gaussian blob (sigma 3 px, peak 230) centred on a circle of radius 8 px at
    /// angle 2 pi class / 10, jittered by up to 1.5 px, over uniform noise 0..25 (seeded: the same set every run).
    /// </summary>
    internal static ImageSet SyntheticImages(int n)
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(1);
        var labels = Enumerable.Range(0, n).Select(i => (long)(i % 10)).ToArray();
        var angle = tensor(labels).to(float32).mul_(2 * Math.PI / 10);
        var cx = angle.cos().mul_(8).add_(13.5).add_(rand(n, generator: g).sub_(0.5).mul_(3)).view(n, 1, 1, 1);
        var cy = angle.sin().mul_(8).add_(13.5).add_(rand(n, generator: g).sub_(0.5).mul_(3)).view(n, 1, 1, 1);
        var grid = arange(28, dtype: float32);
        var dx = grid.view(1, 1, 1, 28) - cx;
        var dy = grid.view(1, 1, 28, 1) - cy;
        var blob = (dx.square() + dy.square()).mul_(-1.0 / (2 * 9)).exp_().mul_(230);
        var pixels = blob.add_(rand([n, 1, 28, 28], generator: g).mul_(25)).clamp_(0, 255).to(ScalarType.Byte);
        return new ImageSet(pixels, labels, Enumerable.Range(0, 10).Select(c => c.ToString(CultureInfo.InvariantCulture)).ToList(), 256, "synthetic blobs");
    }

    private static string Describe(UNetConfig c) =>
        $"base {c.BaseChannels}, multipliers [{string.Join(", ", c.ChannelMultipliers)}], {c.BlocksPerLevel} block{(c.BlocksPerLevel == 1 ? "" : "s")} per level, attention at <= {c.AttentionBelow}, groups {c.Groups}";

    private static double Median(IEnumerable<double> values) => TrainingAlternation.Spread(values.ToList()).Median;

    private static void Print(IReadOnlyList<Result> results, int rounds, int k, int splitSteps)
    {
        Console.WriteLine();
        Console.WriteLine("unet training, alternated in rounds (median [interquartile range] over rounds)");
        Console.WriteLine($"{"batch",6} {"rounds x steps",15}  {"ours steps/s",22}  {"PyTorch steps/s",22}  {"ours / PyTorch",22}");
        foreach (var r in results)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.Batch,6} {$"{rounds} x {k}",15}  {Fmt(r.Ours, "F2"),22}  {Fmt(r.Theirs, "F2"),22}  {Fmt(TrainingAlternation.Ratios(r.Ours, r.Theirs), "F3"),22}"));
        Console.WriteLine();
        Console.WriteLine($"ms per step, median of {splitSteps} steps: forward (draw, interpolant, network, loss) / backward / optimiser (clip, Adam, average)");
        foreach (var r in results)
        {
            var theirs = r.TheirSplit is { } s ? Split(s) : "-";
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{r.Batch,6}  ours {Split(r.OurSplit),-28}  PyTorch {theirs}"));
        }

        static string Split((double F, double B, double O) s) => string.Create(CultureInfo.InvariantCulture, $"{s.F:F1} / {s.B:F1} / {s.O:F1}");
    }

    private static string Fmt(IReadOnlyList<double> values, string format)
    {
        if (values.Count == 0) return "-";
        var (m, q1, q3, _, _) = TrainingAlternation.Spread(values);
        return $"{m.ToString(format, CultureInfo.InvariantCulture)} [{q1.ToString(format, CultureInfo.InvariantCulture)}-{q3.ToString(format, CultureInfo.InvariantCulture)}]";
    }
}
