using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Couplings;
using StochasticInterpolants.Data;
using StochasticInterpolants.Fields;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using StochasticInterpolants.Objectives;
using StochasticInterpolants.Sampling;
using StochasticInterpolants.Training;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Objectives;

/// <summary>
/// The flow map v(s, t, x), X_{s,t}(x) = x + (t - s) v (docs/theory.md §14): identity on the diagonal by construction of the
/// jump, the training time derivative against the exact one, convergence to the closed-form Gaussian map, the semigroup gap,
/// guidance, checkpoints and refusals.
/// </summary>
public class FlowMapTests(ITestOutputHelper output)
{
    private static readonly double[] TargetMean = [2.0, -1.0];
    private const double TargetStd = 0.5;

    private static MlpNetwork TwoTimeMlp(long seed = 3, int classes = 0) =>
        new(new MlpConfig(2, Width: 64, Depth: 3, TimeFrequencies: 4, Classes: classes, TwoTimes: true), seed);

    private static GaussianMixture GaussianTarget() => GaussianMixture.Isotropic([1.0], [TargetMean], TargetStd, "gaussian target");

    [Fact]
    public void A_jump_of_length_zero_is_the_identity_exactly_for_random_weights()
    {
        using var net = TwoTimeMlp();
        using var x = randn(64, 2, generator: new Generator(1)) * 3;
        foreach (var t in new[] { 0.0, 0.3, 1.0 })
        {
            using var y = net.Jump(x, t, t);
            Assert.True(y.equal(x).all().item<bool>(), $"X_{{t,t}} differs from the identity at t = {t}");
        }
        using var unet = new UNet(UNetConfig.Preset("tiny", 1, 8, 8, 3) with { TwoTimes = true }, 5);
        using var images = randn(4, 1, 8, 8, generator: new Generator(2));
        using var same = unet.Jump(images, 0.4, 0.4, tensor(new long[] { 0, 1, 2, -1 }));
        Assert.True(same.equal(images).all().item<bool>());
    }

    [Fact]
    public void The_one_time_forward_of_a_two_time_network_is_its_diagonal()
    {
        using var net = TwoTimeMlp();
        using var x = randn(16, 2, generator: new Generator(1));
        using var perRow = rand(16, dtype: float64, generator: new Generator(2));
        using var diagonal = net.forward(x, perRow, perRow, null);
        using var oneTime = net.forward(x, perRow, null);
        Assert.True(diagonal.allclose(oneTime, rtol: 0, atol: 0));
        // The fast path (one time for the batch) agrees with the per-row path to float rounding.
        using var shared = net.forward(x, tensor(0.35, dtype: float64), tensor(0.8, dtype: float64), null);
        using var s = full(16, 0.35, dtype: float64);
        using var t = full(16, 0.8, dtype: float64);
        using var rows = net.forward(x, s, t, null);
        Assert.True(shared.allclose(rows, rtol: 1e-5, atol: 1e-5));
    }

    /// <summary>
    /// The central difference d/dt X_{s,t} the Lagrangian objective trains with (h = 1e-3, float32 network) against the exact
    /// derivative by double backward in float64: grad_t (v . w) is w . dv/dt per row, and its gradient in the dummy w is dv/dt.
    /// </summary>
    [Fact]
    public void The_training_time_derivative_matches_the_exact_one_from_double_backward()
    {
        using var net = TwoTimeMlp(seed: 11);
        using var x = randn(32, 2, generator: new Generator(4));
        using var s = rand(32, dtype: float64, generator: new Generator(5)) * 0.5;
        using var t = s + rand(32, dtype: float64, generator: new Generator(6)) * 0.5;

        // Exact, in float64: d/dt X = v + (t - s) dv/dt.
        using var net64 = TwoTimeMlp(seed: 11);
        net64.to(float64);
        Tensor exact;
        using (var scope = NewDisposeScope())
        {
            var x64 = x.to(float64);
            var tt = t.clone().requires_grad_(true);
            var v = net64.forward(x64, s, tt, null);
            var w = zeros_like(v).requires_grad_(true);
            var first = autograd.grad([(v * w).sum()], [tt], create_graph: true, retain_graph: true)[0];
            var dvdt = autograd.grad([first.sum()], [w], retain_graph: true)[0];
            exact = (v + (t - s).unsqueeze(1) * dvdt).detach().MoveToOuterDisposeScope();
        }
        using var _ = exact;
        using var noGrad = no_grad();
        var (plus, minus) = FlowMapObjective.DerivativeTimes(s, t, 1e-3);
        using var forward = net.Jump(x, s, plus);
        using var backward = net.Jump(x, s, minus);
        using var difference = (forward - backward).to(float64) / (plus - minus).unsqueeze(1);
        var error = (difference - exact).abs().max().ToDouble();
        var scale = exact.abs().max().ToDouble();
        output.WriteLine($"max |FD - exact| = {error:E3} (max |dX/dt| = {scale:F3})");
        Assert.True(error < 2e-3 * Math.Max(1, scale), $"finite difference off the exact derivative by {error}");
    }

    private static (MlpNetwork Net, double Seconds) TrainGaussianMap(FlowMapMethod method, int steps, long seed = 7, FieldSet? teacher = null)
    {
        var it = new LinearInterpolant(GammaSchedule.None);
        var net = TwoTimeMlp(seed);
        var objective = new FlowMapObjective(it, new FlowMapOptions(method), teacher: teacher);
        var trainer = new Trainer(new IndependentCoupling(new StandardGaussian(2), GaussianTarget()), objective, net,
            new TrainingOptions(Steps: steps, BatchSize: 256, LearningRate: 3e-3, WarmupSteps: 50, EmaDecay: 0, Seed: seed, LogEvery: 500));
        var watch = System.Diagnostics.Stopwatch.StartNew();
        trainer.Run(out var ema);
        ema?.Dispose();
        net.eval();
        return (net, watch.Elapsed.TotalSeconds);
    }

    /// <summary>Relative map error E|X(x) - Phi(x)|^2 / E|Phi(x) - x|^2 of the learned jump from s to t against the exact map.</summary>
    private static double RelativeMapError(ITwoTimeNetwork net, double s, double t, int jumps = 1)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var exact = new GaussianToGaussianVelocity(TargetMean, TargetStd);
        var x0 = randn(4000, 2, generator: new Generator(99));
        var xs = exact.ExactFlow(s, x0);
        var learned = FlowMapSampler.Sample(net, xs, jumps, start: s, end: t);
        var truth = exact.FlowMap(s, t, xs);
        return ((learned - truth).square().sum(1).mean() / (truth - xs).square().sum(1).mean()).ToDouble();
    }

    [Theory]
    [InlineData(FlowMapMethod.Lagrangian)]
    [InlineData(FlowMapMethod.Progressive)]
    public void On_gaussian_to_gaussian_the_learned_map_converges_to_the_closed_form(FlowMapMethod method)
    {
        var (net, seconds) = TrainGaussianMap(method, 1500);
        using var _ = net;
        var whole = RelativeMapError(net, 0, 1);
        var firstHalf = RelativeMapError(net, 0, 0.5);
        var secondHalf = RelativeMapError(net, 0.5, 1);
        var twoJumps = RelativeMapError(net, 0, 1, jumps: 2);
        output.WriteLine($"{method}: relative map error 0->1 {whole:P2}, 0->0.5 {firstHalf:P2}, 0.5->1 {secondHalf:P2}, 0->1 in 2 jumps {twoJumps:P2} ({seconds:F1} s)");
        Assert.True(whole < 0.01, $"one jump 0 -> 1 off the exact map by {whole:P2}");
        Assert.True(twoJumps < 0.01, $"two jumps off the exact map by {twoJumps:P2}");
        Assert.True(firstHalf < 0.02 && secondHalf < 0.02);
    }
}

public class FlowMapScratch2(ITestOutputHelper output)
{
    private sealed class ExactMap : ITwoTimeNetwork
    {
        public bool TakesTwoTimes => true;
        public nn.Module Module => throw new NotSupportedException();
        public ModelSpec? Spec => null;
        public Tensor forward(Tensor x, Tensor t, Tensor? condition) => forward(x, t, t, condition);
        public Tensor forward(Tensor x, Tensor s, Tensor t, Tensor? condition)
        {
            using var scope = NewDisposeScope();
            var n = x.shape[0];
            var ss = (s.dim() == 0 ? s.expand(n) : s).to(float64).unsqueeze(1);
            var tt = (t.dim() == 0 ? t.expand(n) : t).to(float64).unsqueeze(1);
            var m = tensor(new[] { 2.0, -1.0 }, dtype: float64).unsqueeze(0);
            Tensor V(Tensor u) => (1 - u).square() + u.square() * 0.25;
            var x64 = x.to(float64);
            var gap = tt - ss;
            var diag = m + (x64 - tt * m) * ((tt * 0.25 - (1 - tt)) / V(tt));
            var phi = tt * m + (V(tt) / V(ss)).sqrt() * (x64 - ss * m);
            var v = where(gap.abs() < 1e-12, diag, (phi - x64) / where(gap.abs() < 1e-12, ones_like(gap), gap));
            return v.to(x.dtype).MoveToOuterDisposeScope();
        }
    }

    [Fact]
    public void Exact_map_has_small_loss()
    {
        var it = new LinearInterpolant(GammaSchedule.None);
        var coupling = new IndependentCoupling(new StandardGaussian(2), GaussianMixture.Isotropic([1.0], [[2.0, -1.0]], 0.5));
        using var g = new Generator(3);
        var batch = ((ICoupling)coupling).DrawBatch(2048, g, 0).WithMapTimes(3, g);
        foreach (var method in new[] { FlowMapMethod.Lagrangian, FlowMapMethod.Progressive })
        {
            var objective = new FlowMapObjective(it, new FlowMapOptions(method));
            output.WriteLine($"{method}: exact-map loss {objective.Loss(new ExactMap(), batch).ToDouble():E3}");
        }
    }
}
