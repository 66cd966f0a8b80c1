using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using StochasticInterpolants.Export;
using StochasticInterpolants.Models;
using StochasticInterpolants.Runtime;
using Xunit.Abstractions;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace StochasticInterpolants.Tests.Export;

/// <summary>
/// The ONNX export of a U-Net against the U-Net itself: ONNX Runtime's output on the same flattened images, times and labels
/// equals TorchSharp's float32 forward to <see cref="Tolerance"/> (absolute, on outputs of order 1), for the presets, several
/// blocks per level with two attention heads on RGB, classes with the "no class" entry (-1) in the same batch, and a two-time
/// (flow-map) U-Net off and on its diagonal. GroupNorm weights and biases are perturbed away from 1 and 0 first, so a wrong
/// per-channel scale or shift in the decomposed GroupNorm would show.
/// </summary>
public class UNetOnnxExportTests(ITestOutputHelper output)
{
    /// <summary>
    /// Max |ONNX Runtime - TorchSharp| allowed. Measured: 5.7e-7 .. 1.1e-6 on outputs of magnitude ~1-2 (convolution and group
    /// reductions accumulate in another order); 1e-4 leaves room for other CPUs' kernels while a wrong op is off by ~1e-1.
    /// </summary>
    private const double Tolerance = 1e-4;

    [Fact]
    public void A_tiny_class_conditional_unet_runs_in_onnx_runtime_as_in_torchsharp_with_no_class_rows_in_the_batch()
    {
        using var network = Perturbed(new UNet(UNetConfig.Preset("tiny", 1, 8, 8, 10), 3), 4);
        // Labels 0..9 and -1 (no class), twice each, in one batch.
        var labels = Enumerable.Range(0, 22).Select(i => (long)(i % 11) - 1).ToArray();
        Check(network, 22, labels, endTimes: null, "tiny 1x8x8, 10 classes");
    }

    [Fact]
    public void The_small_preset_at_28x28_with_attention_at_7x7_runs_in_onnx_runtime_as_in_torchsharp()
    {
        var config = UNetConfig.Preset("small", 1, 28, 28, 0);
        Assert.Equal(3, config.Levels);
        Assert.True(config.HasAttention(2) && !config.HasAttention(1));
        using var network = Perturbed(new UNet(config, 5), 6);
        Check(network, 6, null, null, "small 1x28x28");
    }

    [Fact]
    public void Two_blocks_per_level_and_two_attention_heads_on_rgb_run_in_onnx_runtime_as_in_torchsharp()
    {
        // Attention at both levels (16x16 and 8x8), two heads, three blocks per decoder level, a skip conv where channels change.
        var config = new UNetConfig(3, 16, 16, BaseChannels: 8, ChannelMultipliers: [1, 2], BlocksPerLevel: 2, AttentionBelow: 16,
            AttentionHeads: 2, Groups: 4, Classes: 4);
        using var network = Perturbed(new UNet(config, 7), 8);
        Check(network, 10, Enumerable.Range(0, 10).Select(i => (long)(i % 5) - 1).ToArray(), null, "3x16x16, 2 blocks, 2 heads, 4 classes");
    }

    [Fact]
    public void A_two_time_unet_runs_in_onnx_runtime_as_in_torchsharp_off_and_on_its_diagonal()
    {
        using var network = Perturbed(new UNet(UNetConfig.Preset("tiny", 1, 8, 8, 10) with { TwoTimes = true }, 9), 10);
        var labels = Enumerable.Range(0, 12).Select(i => (long)(i % 11) - 1).ToArray();
        using var scope = NewDisposeScope();
        var s = rand(12, generator: new Generator(11)) * 0.6;
        var later = s + rand(12, generator: new Generator(12)) * 0.4;
        Check(network, 12, labels, later, "two-time tiny, t_end > t", s);
        Check(network, 12, labels, s, "two-time tiny, t_end = t", s);
    }

    [Fact]
    public void A_unet_conditioned_on_an_image_is_refused_naming_the_condition()
    {
        using var network = new UNet(new UNetConfig(1, 8, 8, BaseChannels: 8, ChannelMultipliers: [1, 2], AttentionBelow: 4, Groups: 4, ConditionChannels: 1), 0);
        var e = Assert.Throws<InvalidSettingException>(() => OnnxExport.ToOnnx(network));
        Assert.Contains("a U-Net conditioned on an observed image (ConditionChannels = 1) is not exported", e.Message);
    }

    /// <summary>
    /// The file holds each parameter once as float32: 4 bytes a parameter plus the graph (under 64 KB) for the three presets at
    /// 28x28 with 10 classes; prints the sizes and ONNX Runtime's time for one batch of 100 against TorchSharp's (one thread
    /// each, best of 5 alternated runs; timings are informative, not asserted).
    /// </summary>
    [Fact]
    public void An_exported_unet_holds_its_float32_weights_once()
    {
        foreach (var preset in UNetConfig.PresetNames)
        {
            using var network = new UNet(UNetConfig.Preset(preset, 1, 28, 28, 10), 1);
            var bytes = OnnxExport.ToOnnx(network);
            var weights = 4 * network.ParameterCount;
            output.WriteLine($"{preset}: {network.ParameterCount:N0} parameters, {bytes.Length:N0} bytes ({bytes.Length - weights:N0} beside the weights)");
            Assert.InRange(bytes.Length, weights, weights + 64 * 1024);
        }
        using var small = new UNet(UNetConfig.Preset("small", 1, 28, 28, 10), 1);
        using var scope = NewDisposeScope();
        var x = randn(100, 784, generator: new Generator(1));
        var t = rand(100, generator: new Generator(2));
        var labels = tensor(Enumerable.Range(0, 100).Select(i => (long)(i % 11) - 1).ToArray());
        using var options = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1 };
        using var session = new InferenceSession(OnnxExport.ToOnnx(small), options);
        var inputs = OnnxInputs.Of(x, t, classes: labels);
        double onnx = double.MaxValue, torch = double.MaxValue;
        for (var round = 0; round < 5; round++)
        {
            var clock = Stopwatch.StartNew();
            using (session.Run(inputs)) onnx = Math.Min(onnx, clock.Elapsed.TotalMilliseconds);
            clock.Restart();
            using (no_grad()) using (small.forward(x, t, labels)) torch = Math.Min(torch, clock.Elapsed.TotalMilliseconds);
        }
        output.WriteLine($"small 28x28, batch 100, best of 5, alternated: ONNX Runtime {onnx:F0} ms, TorchSharp {torch:F0} ms (threads: {get_num_threads()})");
    }

    // ONNX Runtime's y against the network's forward on the same inputs; for a two-time network, endTimes is t_end and starts t.
    private void Check(UNet network, int n, long[]? labels, Tensor? endTimes, string what, Tensor? starts = null)
    {
        using var scope = NewDisposeScope();
        var c = network.Config;
        var d = c.Channels * c.Height * c.Width;
        var x = randn(n, d, generator: new Generator(21));
        var t = starts ?? rand(n, generator: new Generator(22));
        var classes = labels is null ? null : tensor(labels);
        Tensor expected;
        using (no_grad()) expected = endTimes is null ? network.forward(x, t, classes) : network.forward(x, t, endTimes, classes);
        using var session = new InferenceSession(OnnxExport.ToOnnx(network));
        using var results = session.Run(OnnxInputs.Of(x, t, endTimes, classes));
        var y = results.Single(r => r.Name == "y");
        Assert.Equal([n, d], y.AsTensor<float>().Dimensions.ToArray());
        var actual = y.AsEnumerable<float>().ToArray();
        var reference = expected.data<float>().ToArray();
        var error = reference.Zip(actual, (a, b) => Math.Abs(a - b)).Max();
        var scale = reference.Max(Math.Abs);
        output.WriteLine($"{what}: max |ONNX Runtime - TorchSharp| = {error:G3} (max |y| = {scale:G3})");
        Assert.True(scale > 0.1, $"{what}: the output is nearly zero ({scale}); the comparison would be vacuous");
        Assert.True(error < Tolerance, $"{what}: ONNX Runtime differs from TorchSharp by {error}");
    }

    // GroupNorm weights 1 + 0.3 z and biases 0.2 z (the initialisation leaves them at 1 and 0, where a mix-up would not show).
    private static UNet Perturbed(UNet network, long seed)
    {
        using var generator = new Generator((ulong)seed);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        foreach (var (name, p) in network.named_parameters())
        {
            if (!name.Contains("norm")) continue;
            using var z = randn(p.shape, generator: generator);
            if (name.EndsWith(".weight")) p.copy_(z.mul(0.3).add_(1.0)); else p.copy_(z.mul(0.2));
        }
        network.eval();
        return network;
    }
}
