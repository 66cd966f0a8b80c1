using StochasticInterpolants.Models;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Models;

public class MlpNetworkTests
{
    [Theory]
    [InlineData(8, "silu")]
    [InlineData(0, "silu")]
    [InlineData(3, "tanh")]
    public void Evaluation_at_one_time_equals_the_batched_forward_with_and_without_autograd(int frequencies, string activation)
    {
        using var net = new MlpNetwork(new MlpConfig(3, Width: 32, Depth: 3, activation, frequencies), seed: 4);
        using var g = new Generator(2);
        foreach (var t in new[] { 0.0, 0.37, 1.0 })
        {
            using var x = randn(50, 3, generator: g);
            using var tt = full(50, t);
            using (no_grad())
            {
                using var a = net.forward(x, tt);
                using var b = ((ITimeConditionedNetwork)net).ForwardAt(x, t);
                // The fast path folds the time embedding (computed in double) into the first layer's bias: float rounding only.
                Assert.True(a.allclose(b, rtol: 1e-5, atol: 1e-5), $"t = {t}: max difference {(a - b).abs().max().item<float>()}");
            }
            // With autograd (the likelihood's divergence): same values and the same gradient with respect to x.
            using var xa = x.detach().requires_grad_(true);
            using var xb = x.detach().requires_grad_(true);
            using var ga = autograd.grad([net.forward(xa, tt).sum()], [xa])[0];
            using var gb = autograd.grad([net.ForwardAt(xb, t).sum()], [xb])[0];
            Assert.True(ga.allclose(gb, rtol: 1e-5, atol: 1e-5));
        }
        Assert.Contains("[n, 3]", Assert.Throws<ArgumentException>(() => net.ForwardAt(zeros(4, 2), 0.5)).Message);
    }
}
