using StochasticInterpolants.Models;
using StochasticInterpolants.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Training;

public class AdamOptimizerTests
{
    [Theory]
    [InlineData(false, 0.0)]
    [InlineData(false, 0.01)]
    [InlineData(true, 0.01)]
    public void Flat_buffer_adam_with_clipping_matches_libtorch_adam(bool adamw, double weightDecay)
    {
        // Two copies of one network: ours (parameters moved into a flat buffer) and libtorch's Adam/AdamW + clip_grad_norm_.
        using var a = new MlpNetwork(new MlpConfig(2, Width: 16, Depth: 2), seed: 3);
        using var b = new MlpNetwork(new MlpConfig(2, Width: 16, Depth: 2), seed: 3);
        using var ours = new AdamOptimizer(a.named_parameters().Select(p => (p.name, p.parameter)), adamw, weightDecay);
        var bParams = b.parameters().ToList();
        using optim.Optimizer reference = adamw ? optim.AdamW(bParams, 1e-2, weight_decay: weightDecay) : optim.Adam(bParams, 1e-2, weight_decay: weightDecay);
        using var g = new Generator(5);
        for (var step = 0; step < 20; step++)
        {
            using var scope = NewDisposeScope();
            var x = randn(64, 2, generator: g); var t = rand(64, generator: g); var y = randn(64, 2, generator: g);
            ours.ZeroGrad();
            (a.forward(x, t) - y).square().mean().backward();
            ours.ClipGradientNorm(0.5);
            ours.Step(1e-2);
            reference.zero_grad();
            (b.forward(x, t) - y).square().mean().backward();
            nn.utils.clip_grad_norm_(bParams, 0.5);
            reference.step();
        }
        foreach (var ((name, pa), (_, pb)) in a.named_parameters().Zip(b.named_parameters()))
            Assert.True(pa.allclose(pb, rtol: 1e-4, atol: 1e-5), $"{name}: max difference {(pa - pb).abs().max().item<float>()}");
        Assert.Equal(20, ours.StepCount);
    }

    [Fact]
    public void Parameters_and_their_gradients_live_in_the_flat_buffers()
    {
        using var net = new MlpNetwork(new MlpConfig(2, Width: 8, Depth: 1), seed: 1);
        var before = net.parameters().Select(p => p.detach().clone()).ToList();
        using var opt = new AdamOptimizer(net.named_parameters().Select(p => (p.name, p.parameter)));
        // Values kept, storage moved: writing the flat buffer changes the parameters.
        foreach (var (p, q) in net.parameters().Zip(before)) Assert.True(p.allclose(q, rtol: 0, atol: 0));
        Assert.Equal(net.parameters().Sum(p => p.numel()), opt.FlatParameters.numel());
        using (no_grad()) opt.FlatParameters.fill_(0.25);
        Assert.All(net.parameters(), p => Assert.Equal(0.25f, p.max().item<float>()));
        // Gradients accumulate into the flat gradient buffer: zeroing it (one call) clears every parameter's .grad.
        using (var x = randn(5, 2)) using (var t = rand(5)) net.forward(x, t).square().sum().backward();
        Assert.Contains(net.parameters(), p => p.grad!.abs().max().item<float>() > 0);
        opt.ZeroGrad();
        Assert.All(net.parameters(), p => Assert.Equal(0f, p.grad!.abs().max().item<float>()));
        foreach (var q in before) q.Dispose();
    }
}
