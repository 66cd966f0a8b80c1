using StochasticInterpolants.Discrete;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Discrete;

public class PosteriorNetworkTests
{
    [Theory]
    [InlineData("transformer")]
    [InlineData("mlp")]
    public void The_network_maps_tokens_to_logits_and_rebuilds_from_its_spec(string architecture)
    {
        using var scope = NewDisposeScope();
        var config = new PosteriorConfig(5, 7, architecture, Width: 16, Layers: 2, Heads: 2, Hidden: 32, Classes: 3);
        var net = new PosteriorNetwork(config, seed: 11);
        using var g = new Generator(1);
        var x = randint(0, 8, [4, 5], generator: g).to(float32); // ids 0..7, 7 = MASK
        var t = tensor(new[] { 0.1, 0.5, 0.9, 0.3 }, dtype: float64);
        var labels = tensor(new long[] { 0, 2, -1, 1 });
        // The read-out starts at 0: an untrained network predicts the uniform posterior.
        var logits = net.forward(x, t, labels);
        Assert.Equal(new long[] { 4, 5, 7 }, logits.shape);
        Assert.Equal(0, logits.abs().max().item<float>());
        // Every parameter is finite and the same seed gives the same network; the spec rebuilds it.
        foreach (var p in net.parameters()) Assert.True(p.isfinite().all().item<bool>());
        var rebuilt = NetworkRegistry.Build(net.Spec, seed: 11);
        var copy = Assert.IsType<PosteriorNetwork>(rebuilt);
        Assert.Equal(config, copy.Config);
        foreach (var ((name, a), (_, b)) in net.named_parameters().Zip(copy.named_parameters()))
            Assert.True(a.equal(b).all().item<bool>(), name);
        var other = new PosteriorNetwork(config, seed: 12);
        Assert.False(net.parameters().Zip(other.parameters()).All(p => p.First.equal(p.Second).all().item<bool>()));

        // After perturbing the read-out the output depends on tokens, time and class, and rows do not mix.
        using (no_grad()) foreach (var p in net.parameters()) p.add_(randn(p.shape, generator: g) * 0.1);
        var y = net.forward(x, t, labels);
        var single = net.forward(x[1..2], t[1..2], labels[1..2]);
        Assert.True((y[1..2] - single).abs().max().item<float>() < 1e-5);
        Assert.False(net.forward(x, t + 0.1, labels).allclose(y));
        Assert.False(net.forward(x, t, labels.fill_(-1)).allclose(y));
        var oneTime = net.forward(x, tensor(0.5, dtype: float64), null);
        Assert.True((oneTime - net.forward(x, full(4, 0.5, dtype: float64), null)).abs().max().item<float>() < 1e-6);
    }

    [Fact]
    public void Bad_inputs_are_refused_with_a_reason()
    {
        var net = new PosteriorNetwork(new PosteriorConfig(3, 4, Width: 8, Heads: 2), 0);
        Assert.Contains("tokens [n, 3]", Assert.Throws<ArgumentException>(() => net.forward(zeros(2, 4), zeros(2), null)).Message);
        Assert.Contains("without classes", Assert.Throws<ArgumentException>(() => net.forward(zeros(2, 3), zeros(2), zeros(2, dtype: int64))).Message);
        Assert.ThrowsAny<ArgumentException>(() => new PosteriorConfig(3, 4, Width: 10, Heads: 3).Validate());
        Assert.ThrowsAny<ArgumentException>(() => new PosteriorConfig(3, 4, "rnn").Validate());
        Assert.Equal(new PosteriorConfig(3, 4, "mlp", 8), PosteriorConfig.FromJson(new PosteriorConfig(3, 4, "mlp", 8).ToJson()));
    }
}
