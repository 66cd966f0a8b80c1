using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using StochasticInterpolants.Export;
using StochasticInterpolants.Models;
using StochasticInterpolants.Runtime;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Export;

/// <summary>
/// The ONNX export of a network against the network itself: ONNX Runtime's output on the same inputs equals TorchSharp's
/// float32 forward to 2e-5 (absolute, on outputs of order 1), for every activation, with and without classes, including the
/// "no class" entry (-1) used by guidance.
/// </summary>
public class OnnxExportTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("silu", 0)]
    [InlineData("gelu", 0)]
    [InlineData("relu", 3)]
    [InlineData("tanh", 0)]
    [InlineData("softplus", 4)]
    public void Onnx_runtime_evaluates_an_exported_mlp_as_torchsharp_does(string activation, int classes)
    {
        using var scope = NewDisposeScope();
        var network = new MlpNetwork(new MlpConfig(Dimension: 3, Width: 48, Depth: 3, Activation: activation, TimeFrequencies: 5, Classes: classes), seed: 7);
        var g = new Generator(2);
        const int n = 64;
        var x = randn(n, 3, generator: g);
        var t = rand(n, generator: g);
        // Classes 0..C-1 and the "no class" entry (-1), in turn.
        var labels = classes > 0 ? tensor(Enumerable.Range(0, n).Select(i => (long)(i % (classes + 1)) - 1).ToArray()) : null;
        TorchSharp.torch.Tensor expected;
        using (no_grad()) expected = network.forward(x, t, labels);
        var model = OnnxExport.ToOnnx(network, new Dictionary<string, string> { ["field"] = "velocity" });
        using var session = new InferenceSession(model);
        using var results = session.Run(OnnxInputs.Of(x, t, classes: labels));
        var actual = results.Single(r => r.Name == "y").AsEnumerable<float>().ToArray();
        var reference = expected.data<float>().ToArray();
        Assert.Equal(reference.Length, actual.Length);
        var error = reference.Zip(actual, (a, b) => Math.Abs(a - b)).Max();
        output.WriteLine($"{activation}, {classes} classes: max |ONNX Runtime - TorchSharp| = {error:G3}");
        Assert.True(error < 2e-5, $"ONNX Runtime differs from TorchSharp by {error}");
        Assert.Equal("velocity", session.ModelMetadata.CustomMetadataMap["field"]);
    }

    [Fact]
    public void A_network_without_an_exporter_is_refused_by_name()
    {
        using var posterior = new PosteriorNetwork(new PosteriorConfig(3, 4, Width: 8, Heads: 2), 0);
        var e = Assert.Throws<InvalidSettingException>(() => OnnxExport.ToOnnx(posterior));
        Assert.Contains("no ONNX exporter for the network 'posterior'", e.Message);
    }
}
