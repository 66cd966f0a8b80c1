using System.Diagnostics;
using System.Globalization;
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
/// --profile: one training step of the demo's model taken apart, ours beside PyTorch's (the <c>profile</c> command of the
/// PyTorch worker, same names): data, interpolant, time features, each linear layer's forward and backward, the activation,
/// loss, the whole forward and backward, clipping, Adam, EMA, zeroing, and the whole step. Median milliseconds over
/// repeats after warm-up, at batch 256 and 4096.
/// </summary>
internal static class Profile
{
    public static int Run(bool quick, int threads, bool withPyTorch)
    {
        var model = new MlpConfig(2, Width: 256, Depth: 4, Activation: "silu", TimeFrequencies: 8);
        var repeats = quick ? 20 : 100;
        var work = Directory.CreateTempSubdirectory("si-profile-").FullName;
        try
        {
            var weightsFile = Path.Combine(work, "init.safetensors");
            using (var net = new MlpNetwork(model, seed: 0))
                SafeTensors.Save(weightsFile, net.named_parameters().Select(p => new KeyValuePair<string, Tensor>(p.name, p.parameter)));
            var weights = SafeTensors.Load(weightsFile);
            string why = "";
            using var worker = withPyTorch ? PyTorchWorker.Start(weightsFile, model, threads, tcmalloc: true, out why) : null;
            Console.WriteLine(worker is null ? $"PyTorch: {(withPyTorch ? why : "skipped (--no-pytorch)")}" : $"PyTorch: {worker.Version}, tcmalloc");
            Console.WriteLine($"median ms over {repeats} repeats after warm-up; model MLP {model.Width}x{model.Depth}, {model.TimeFrequencies} time frequencies");
            foreach (var batch in new[] { 256, 4096 })
            {
                var ours = Measure(model, weights, batch, repeats);
                var theirs = worker?.Profile(batch, repeats);
                Console.WriteLine();
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"batch {batch}: {"operation",-20} {"ours ms",9} {"PyTorch ms",11} {"ours/PyT",9}"));
                foreach (var (name, ms) in ours)
                {
                    var t = theirs is not null && theirs.TryGetValue(name, out var v) ? v : double.NaN;
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{"",11}{name,-20} {ms,9:F3} {t,11:F3} {ms / t,9:F2}"));
                }
            }
            foreach (var w in weights.Values) w.Dispose();
            return 0;
        }
        finally { Directory.Delete(work, true); }
    }

    /// <summary>The library's pieces, in the PyTorch worker's names.</summary>
    private static List<(string Name, double Ms)> Measure(MlpConfig model, IReadOnlyDictionary<string, Tensor> weights, int batch, int repeats)
    {
        var rows = new List<(string, double)>();
        using var net = new MlpNetwork(model, seed: 0);
        ParameterCopy.CopyInto(net, weights, "profile weights");
        ICoupling coupling = new IndependentCoupling(new StandardGaussian(2), new Checkerboard());
        var objective = new VelocityObjective(new LinearInterpolant());
        var options = new TrainingOptions(Steps: int.MaxValue, BatchSize: batch, LearningRate: 2e-3, WarmupSteps: 0, Schedule: "constant", Seed: 0);
        using var step = new TrainingStep(coupling, [new LearnedNetwork(objective, net)], options, CPU);
        using var g = new Generator(0);
        var index = 0;
        for (var i = 0; i < 5; i++) step.Run(index++, g);
        var adam = step.Optimizers[0];
        var ema = step.Averages[0]!;

        // Fixed tensors for the pieces.
        var fixedBatch = coupling.DrawBatch(batch, g, 0);
        var (xt, target) = objective.Path.Interpolate(fixedBatch);
        var k = model.TimeFrequencies;
        using var frequencies = cat([arange(1, k + 1, dtype: float32), arange(1, k + 1, dtype: float32)]).unsqueeze(0) * Math.PI;
        using var phase = cat([zeros(k), full(k, Math.PI / 2)]).unsqueeze(0);
        using var t32 = fixedBatch.T.to(float32).reshape(-1, 1);
        using var one = 1.0.ToScalar(); // held: a temporary Scalar can be finalised mid-call

        rows.Add(("data", Ms(repeats, () => { using var s = NewDisposeScope(); coupling.DrawBatch(batch, g, 0); })));
        rows.Add(("interpolant", Ms(repeats, () => { using var s = NewDisposeScope(); objective.Path.Interpolate(fixedBatch); })));
        rows.Add(("features", Ms(repeats, () => { using var s = NewDisposeScope(); cat([xt, t32, addcmul(phase, t32, frequencies, one).sin()], 1); })));
        var widths = Enumerable.Range(0, model.Depth + 1).Select(i => (In: i == 0 ? model.Dimension + 1 + 2 * k : model.Width, Out: i == model.Depth ? model.Dimension : model.Width)).ToList();
        for (var i = 0; i < widths.Count; i++)
        {
            using var layer = nn.Linear(widths[i].In, widths[i].Out);
            // The first layer's input is data: no gradient flows into it (as in the PyTorch worker's profile).
            using var input = randn(batch, widths[i].In).requires_grad_(i > 0);
            rows.Add(($"linear{i}.forward", Ms(repeats, () => { using var s = NewDisposeScope(); layer.forward(input); })));
            using var output = layer.forward(input);
            using var gradOut = ones_like(output);
            rows.Add(($"linear{i}.backward", Ms(repeats, () => { using var s = NewDisposeScope(); autograd.backward([output], [gradOut], retain_graph: true); })));
        }
        {
            using var act = nn.SiLU();
            using var input = randn(batch, model.Width).requires_grad_(true);
            rows.Add(("silu.forward", Ms(repeats, () => { using var s = NewDisposeScope(); act.forward(input); })));
            using var output = act.forward(input);
            using var gradOut = ones_like(output);
            rows.Add(("silu.backward", Ms(repeats, () => { using var s = NewDisposeScope(); autograd.backward([output], [gradOut], retain_graph: true); })));
        }
        using (var prediction = net.forward(xt, fixedBatch.T, null))
            rows.Add(("loss", Ms(repeats, () => { using var s = NewDisposeScope(); Objective.RowMeanSquaredError(prediction, target).mean(); })));
        rows.Add(("forward", Ms(repeats, () => { using var s = NewDisposeScope(); net.forward(xt, fixedBatch.T, null); })));
        rows.Add(("backward", MsExcluding(repeats, () => objective.Loss(net, fixedBatch), loss => loss.backward())));
        rows.Add(("clip", Ms(repeats, () => adam.ClipGradientNorm(1.0))));
        rows.Add(("adam", Ms(repeats, () => adam.Step(2e-3))));
        rows.Add(("ema", Ms(repeats, () => ema.Update(1000))));
        rows.Add(("zero_grad", Ms(repeats, adam.ZeroGrad)));
        rows.Add(("step", Ms(repeats, () => step.Run(index++, g))));
        foreach (var e in step.Averages) e?.Dispose();
        xt.Dispose(); target.Dispose();
        return rows;
    }

    private static double Ms(int repeats, Action work)
    {
        for (var i = 0; i < 3; i++) work();
        var times = new double[repeats];
        for (var i = 0; i < repeats; i++)
        {
            var watch = Stopwatch.StartNew();
            work();
            times[i] = watch.Elapsed.TotalMilliseconds;
        }
        Array.Sort(times);
        return times[repeats / 2];
    }

    // Times only `timed`, on a fresh result of `prepare` each repetition (e.g. a backward pass needs a fresh forward).
    private static double MsExcluding(int repeats, Func<Tensor> prepare, Action<Tensor> timed)
    {
        var times = new double[repeats];
        for (var i = -3; i < repeats; i++)
        {
            using var scope = NewDisposeScope();
            var input = prepare();
            var watch = Stopwatch.StartNew();
            timed(input);
            if (i >= 0) times[i] = watch.Elapsed.TotalMilliseconds;
        }
        Array.Sort(times);
        return times[repeats / 2];
    }
}
