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

    private static (MlpNetwork Net, double Seconds) TrainGaussianMap(FlowMapMethod method, int steps, long seed = 7, FieldSet? teacher = null,
        double diagonalFraction = 0.25)
    {
        var it = new LinearInterpolant(GammaSchedule.None);
        var net = TwoTimeMlp(seed);
        var objective = new FlowMapObjective(it, new FlowMapOptions(method, DiagonalFraction: diagonalFraction), teacher: teacher);
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

    /// <summary>The exact flow map of the Gaussian case as a two-time "network": v(s, t, x) = (Phi_{s,t}(x) - x) / (t - s), b on the diagonal.</summary>
    private sealed class ExactGaussianMap : ITwoTimeNetwork
    {
        private readonly GaussianToGaussianVelocity _exact = new(TargetMean, TargetStd);
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
            var m = tensor(TargetMean, dtype: float64).unsqueeze(0);
            Tensor Variance(Tensor u) => (1 - u).square() + u.square() * (TargetStd * TargetStd);
            var x64 = x.to(float64);
            var gap = tt - ss;
            var velocity = m + (x64 - tt * m) * ((tt * (TargetStd * TargetStd) - (1 - tt)) / Variance(tt));
            var map = tt * m + (Variance(tt) / Variance(ss)).sqrt() * (x64 - ss * m);
            var onDiagonal = gap.abs() < 1e-12;
            var v = where(onDiagonal, velocity, (map - x64) / where(onDiagonal, ones_like(gap), gap));
            return v.to(x.dtype).MoveToOuterDisposeScope();
        }
    }

    /// <summary>
    /// The exact flow map is a minimiser: its off-diagonal residual (Lagrangian: the central difference against b; progressive:
    /// against the two-jump composition) vanishes to the finite-difference and float32 error, for the model's own diagonal and
    /// for a teacher alike. A wrong time, sign or stop-gradient in either term would leave an O(1) residual.
    /// </summary>
    [Theory]
    [InlineData(FlowMapMethod.Lagrangian)]
    [InlineData(FlowMapMethod.Progressive)]
    public void The_exact_flow_map_has_no_off_diagonal_residual(FlowMapMethod method)
    {
        var it = new LinearInterpolant(GammaSchedule.None);
        ICoupling coupling = new IndependentCoupling(new StandardGaussian(2), GaussianTarget());
        using var g = new Generator(3);
        using var scope = NewDisposeScope();
        var batch = coupling.DrawBatch(2048, g, 0).WithMapTimes(FlowMapObjective.MapTimeColumns, g);
        var offDiagonal = new FlowMapObjective(it, new FlowMapOptions(method, DiagonalFraction: 1e-9));
        var residual = offDiagonal.Loss(new ExactGaussianMap(), batch).ToDouble();
        // For scale: the same residual of a map that is off by 5 % of its velocity.
        var perturbed = offDiagonal.Loss(new ScaledMap(new ExactGaussianMap(), 1.05), batch).ToDouble();
        output.WriteLine($"{method}: exact map's off-diagonal loss {residual:E2}, a 5 % perturbed map's {perturbed:E2}");
        Assert.True(residual < 1e-6, $"the exact map leaves an off-diagonal residual of {residual}");
        Assert.True(perturbed > 1e3 * residual);
    }

    /// <summary>A two-time network whose off-diagonal velocity is scaled (the diagonal kept): a map that is not the flow of its diagonal.</summary>
    private sealed class ScaledMap(ITwoTimeNetwork inner, double factor) : ITwoTimeNetwork
    {
        public bool TakesTwoTimes => true;
        public nn.Module Module => inner.Module;
        public ModelSpec? Spec => null;
        public Tensor forward(Tensor x, Tensor t, Tensor? condition) => inner.forward(x, t, condition);
        public Tensor forward(Tensor x, Tensor s, Tensor t, Tensor? condition)
        {
            using var scope = NewDisposeScope();
            var gap = (t - s).to(x.dtype);
            var scale = 1 + (factor - 1) * (gap.dim() == 0 ? gap : gap.unsqueeze(1)).abs().clamp_max(1e-3) * 1e3; // factor off the diagonal only
            return (inner.forward(x, s, t, condition) * scale).MoveToOuterDisposeScope();
        }
    }

    /// <summary>
    /// The relative semigroup gap E|X_{u,t}(X_{s,u}(x)) - X_{s,t}(x)|^2 / E|X_{s,t}(x) - x|^2 (s = 0, u = 0.5, t = 1) is what the
    /// off-diagonal training removes: the same network and budget trained almost only on the diagonal (99.9 % of rows; the jumps
    /// left to the network's own extrapolation) against self-distillation (25 % diagonal) — and it falls as training goes on.
    /// </summary>
    [Fact]
    public void The_semigroup_gap_shrinks_with_training()
    {
        static double Gap(ITwoTimeNetwork net)
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var x = randn(4000, 2, generator: new Generator(17));
            var composed = net.Jump(net.Jump(x, 0.0, 0.5), 0.5, 1.0);
            var direct = net.Jump(x, 0.0, 1.0);
            return ((composed - direct).square().sum(1).mean() / (direct - x).square().sum(1).mean()).ToDouble();
        }
        var (diagonalOnly, _) = TrainGaussianMap(FlowMapMethod.Lagrangian, 1200, diagonalFraction: 0.999);
        var (early, _) = TrainGaussianMap(FlowMapMethod.Lagrangian, 300);
        var (late, _) = TrainGaussianMap(FlowMapMethod.Lagrangian, 1200);
        using (diagonalOnly) using (early) using (late)
        {
            var (untrained, before, after) = (Gap(diagonalOnly), Gap(early), Gap(late));
            output.WriteLine($"relative semigroup gap: {untrained:E3} trained on the diagonal only, {before:E3} after 300 steps of self-distillation, {after:E3} after 1,200");
            Assert.True(after < untrained / 5, $"self-distillation left a semigroup gap of {after} against {untrained} without it");
            Assert.True(after < before, $"the semigroup gap grew from {before} (300 steps) to {after} (1,200)");
        }
    }

    /// <summary>
    /// Distillation from a teacher: the flow of the teacher's velocity is learned. With the exact velocity as teacher the learned
    /// one-jump map is the closed form to within 1 %.
    /// </summary>
    [Fact]
    public void Distilling_the_exact_velocity_learns_its_flow_map()
    {
        var it = new LinearInterpolant(GammaSchedule.None);
        var teacher = new FieldSet(it, [new ExactGaussianDiagonal()]);
        var (net, _) = TrainGaussianMap(FlowMapMethod.Lagrangian, 800, teacher: teacher);
        using var _ = net;
        var error = RelativeMapError(net, 0, 1);
        output.WriteLine($"distilled from the exact velocity: relative map error 0 -> 1 in one jump {error:P3}");
        Assert.True(error < 0.01, $"one jump off the exact map by {error:P2}");
    }

    // The exact velocity with one time per row (the teacher's right-hand side is evaluated at per-row times).
    private sealed class ExactGaussianDiagonal : ITimeField
    {
        private readonly ExactGaussianMap _map = new();
        public FieldKind Kind => FieldKind.Velocity;
        public Tensor Evaluate(Tensor t, Tensor x) => _map.forward(x, t, null);
    }

    [Fact]
    public void Guiding_a_flow_map_blends_the_conditional_and_no_class_maps()
    {
        using var net = TwoTimeMlp(seed: 5, classes: 3);
        using var x = randn(6, 2, generator: new Generator(8));
        using var labels = tensor(new long[] { 0, 1, 2, 0, 1, 2 });
        using var none = full(6, -1L);
        using var s = tensor(0.2, dtype: float64);
        using var t = tensor(0.9, dtype: float64);
        using var conditional = net.forward(x, s, t, labels);
        using var unconditional = net.forward(x, s, t, none);
        var guided = new GuidedNetwork(net, 2.5);
        Assert.True(guided.TakesTwoTimes);
        using var blended = guided.forward(x, s, t, labels);
        using var expected = unconditional + 2.5 * (conditional - unconditional);
        Assert.True(blended.allclose(expected, rtol: 1e-5, atol: 1e-5));
        using var plain = new GuidedNetwork(net, 1).forward(x, s, t, labels);
        Assert.True(plain.allclose(conditional, rtol: 0, atol: 0));
    }

    [Fact]
    public void A_flow_map_is_refused_where_it_cannot_be_used_and_cannot_be_derived()
    {
        var it = new LinearInterpolant(GammaSchedule.None);
        using var oneTime = new MlpNetwork(new MlpConfig(2, Width: 16, Depth: 1), 1);
        var objective = new FlowMapObjective(it);
        ICoupling coupling = new IndependentCoupling(new StandardGaussian(2), GaussianTarget());
        using var g = new Generator(1);
        using var scope = NewDisposeScope();
        var batch = coupling.DrawBatch(8, g, 0);
        var noTimes = Assert.Throws<ArgumentException>(() => objective.Loss(TwoTimeMlp(), batch));
        Assert.Contains("DrawExtras", noTimes.Message);
        var notMap = Assert.Throws<ArgumentException>(() => objective.Loss(oneTime, objective.DrawExtras(batch, g)));
        Assert.Contains("needs a network of two times", notMap.Message);
        Assert.Throws<ArgumentException>(() => FlowMapSampler.Sample(new GuidedNetwork(oneTime, 2), batch.X0, 2));
        Assert.Throws<Runtime.InvalidSettingException>(() => new FlowMapObjective(it, null, new ObjectiveOptions(Antithetic: true)));
        Assert.Throws<Runtime.InvalidSettingException>(() => new FlowMapObjective(it, new FlowMapOptions(DiagonalFraction: 1)));
        // A velocity (or any field) does not give a flow map: it is learned.
        var fields = new FieldSet(it, [new NetworkField(oneTime, FieldKind.Velocity)]);
        Assert.False(fields.CanProvide(FieldKind.FlowMap));
        Assert.Contains("--learn flow-map", Assert.Throws<FieldConversionException>(() => fields.Get(FieldKind.FlowMap)).Message);
        // A flow map's field set gives its diagonal as the velocity.
        using var map = TwoTimeMlp();
        var mapFields = new FieldSet(it, [new NetworkField(map, FieldKind.FlowMap)]);
        using var y = mapFields.Velocity().Velocity(0.3, batch.X0);
        using var diagonal = map.Jump(batch.X0, 0.3, 0.3);
        using var direct = map.forward(batch.X0, tensor(0.3, dtype: float64), null);
        Assert.True(y.allclose(direct, rtol: 0, atol: 0));
        Assert.Throws<ArgumentException>(() => new FieldSet(it, [new NetworkField(oneTime, FieldKind.FlowMap)]));
    }

    /// <summary>A data-parallel rank's share of a batch carries its rows' flow-map times (each row's role stays its own).</summary>
    [Fact]
    public void A_share_of_a_flow_map_batch_keeps_its_rows_times()
    {
        ICoupling coupling = new IndependentCoupling(new StandardGaussian(2), GaussianTarget());
        using var g = new Generator(1);
        using var scope = NewDisposeScope();
        var batch = coupling.DrawBatch(10, g, 0).WithMapTimes(3, g);
        var share = new StochasticInterpolants.Distributed.RowShare(4, 3, 10);
        var part = batch.Rows(share);
        Assert.True(part.MapTimes!.equal(batch.MapTimes![4..7]).all().item<bool>());
    }

    /// <summary>
    /// Distilling a class-conditional teacher's guided velocity (w = 3): the student's plain conditional diagonal learns
    /// b_none + 3 (b_c - b_none), not the teacher's plain b_c, and its no-class rows learn b_none — so sampling the student at
    /// w = 1 follows the guided flow (docs/theory.md §14.3). The teacher is a fixed random class-conditional MLP (a smooth field
    /// whose classes differ), the student its two-time twin trained for 800 steps.
    /// </summary>
    [Fact]
    public void Distilling_a_guided_teacher_learns_the_guided_velocity_on_the_diagonal()
    {
        var it = new LinearInterpolant(GammaSchedule.None);
        using var teacherNet = new MlpNetwork(new MlpConfig(2, Width: 32, Depth: 2, TimeFrequencies: 2, Classes: 3), 21);
        foreach (var p in teacherNet.parameters()) p.requires_grad = false;
        teacherNet.eval();
        var teacher = new FieldSet(it, [new NetworkField(teacherNet, FieldKind.Velocity)]);
        using var student = TwoTimeMlp(seed: 4, classes: 3);
        var labels = new[] { 0L, 1L, 2L };
        var coupling = new IndependentCoupling(new StandardGaussian(2), new LabelledTarget());
        var objective = new FlowMapObjective(it, new FlowMapOptions(TeacherGuidance: 3), teacher: teacher);
        new Trainer(coupling, objective, student, new TrainingOptions(Steps: 800, BatchSize: 256, LearningRate: 3e-3, WarmupSteps: 50, EmaDecay: 0,
            Seed: 9, ConditionDropout: 0.2)).Run(out var ema);
        ema?.Dispose();
        student.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var x = randn(3000, 2, generator: new Generator(5)) * 1.5;
        var c = tensor(Enumerable.Range(0, 3000).Select(i => labels[i % 3]).ToArray());
        var t = rand(3000, dtype: float64, generator: new Generator(6));
        var learned = student.forward(x, t, c);
        var conditional = teacherNet.forward(x, t, c);
        var none = teacherNet.forward(x, t, full(3000, -1L));
        var guided = none + 3 * (conditional - none);
        var toGuided = (learned - guided).square().mean().ToDouble();
        var toPlain = (learned - conditional).square().mean().ToDouble();
        var noClass = (student.forward(x, t, full(3000, -1L)) - none).square().mean().ToDouble();
        var spread = (guided - conditional).square().mean().ToDouble();
        output.WriteLine($"student diagonal vs guided teacher {toGuided:E3}, vs plain teacher {toPlain:E3} (their difference {spread:E3}); no-class rows vs teacher's no-class {noClass:E3}");
        Assert.True(toGuided < 0.1 * toPlain, $"the student's diagonal is {toGuided} from the guided velocity and {toPlain} from the plain one");
        Assert.True(noClass < 0.1 * spread, $"the student's no-class diagonal is {noClass} from the teacher's no-class velocity");
    }

    // Three labelled Gaussian blobs: each draw's blob is its class label (what a labelled table or image set gives the coupling).
    private sealed class LabelledTarget : IDistribution
    {
        private static readonly float[] Means = [2f, 0f, -1f, 1.7f, -1f, -1.7f];
        public string Name => "labelled blobs";
        public int Dimension => 2;
        public bool HasLogDensity => false;
        public Tensor LogDensity(Tensor x) => throw new NotSupportedException();
        public Tensor Sample(int count, Generator generator)
        {
            var (samples, labels) = SampleWithCondition(count, generator);
            labels?.Dispose();
            return samples;
        }
        public (Tensor Samples, Tensor? Condition) SampleWithCondition(int count, Generator generator)
        {
            using var scope = NewDisposeScope();
            var labels = randint(0, 3, [count], dtype: int64, generator: generator);
            var means = tensor(Means).reshape(3, 2).index_select(0, labels);
            var samples = means + 0.45f * randn(count, 2, generator: generator);
            return (samples.MoveToOuterDisposeScope(), labels.MoveToOuterDisposeScope());
        }
    }

    /// <summary>
    /// Self-distillation that runs away (a quarter of the rows on the diagonal, measured to diverge on the checkerboard) is
    /// stopped with an error naming the step and the remedy, while its loss is still finite — not trained on to a loss of 1e25
    /// and saved. The default fraction trains the same network on the same data without tripping the bound.
    /// </summary>
    [Fact]
    public void Runaway_self_distillation_stops_the_run_with_the_step_and_the_remedy()
    {
        var it = new LinearInterpolant(GammaSchedule.None);
        ICoupling coupling = new IndependentCoupling(new StandardGaussian(2), new Checkerboard());
        TrainingOptions Options(int steps) => new(Steps: steps, BatchSize: 256, LearningRate: 2e-3, WarmupSteps: 20, EmaDecay: 0, Seed: 1, LogEvery: 50);
        using (var net = new MlpNetwork(new MlpConfig(2, Width: 64, Depth: 3, TwoTimes: true), 3))
        {
            var trainer = new Trainer(coupling, new FlowMapObjective(it, new FlowMapOptions(DiagonalFraction: 0.25)), net, Options(1500));
            var error = Assert.Throws<TrainingDivergedException>(() => trainer.Run(out _));
            output.WriteLine(error.Message);
            Assert.Matches(@"^training diverged at step \d+: the flow map's self-distillation ran away", error.Message);
            Assert.Contains("--diagonal-fraction", error.Message);
        }
        using (var net = new MlpNetwork(new MlpConfig(2, Width: 64, Depth: 3, TwoTimes: true), 3))
        {
            var result = new Trainer(coupling, new FlowMapObjective(it), net, Options(1500)).Run(out var ema);
            ema?.Dispose();
            Assert.Equal(1500, result.StepsCompleted);
            Assert.True(result.FinalLoss < 10, $"final loss {result.FinalLoss}");
        }
    }

    /// <summary>
    /// The EMA teacher: self-distillation from the moving average of the weights learns the closed-form Gaussian map too (the
    /// averaged copy is refreshed before every step), and asking for it without a moving average is refused before training.
    /// </summary>
    [Fact]
    public void The_ema_teacher_learns_the_gaussian_map_and_needs_a_moving_average()
    {
        var it = new LinearInterpolant(GammaSchedule.None);
        ICoupling coupling = new IndependentCoupling(new StandardGaussian(2), GaussianTarget());
        var objective = new FlowMapObjective(it, new FlowMapOptions(EmaTeacher: true, DiagonalFraction: 0.25));
        using (var net = TwoTimeMlp(seed: 7))
        {
            var refused = Assert.Throws<Runtime.InvalidSettingException>(() =>
                new Trainer(coupling, objective, net, new TrainingOptions(Steps: 10, BatchSize: 64, EmaDecay: 0)).Run(out _));
            Assert.Contains("needs the moving average on", refused.Message);
        }
        using var map = TwoTimeMlp(seed: 7);
        new Trainer(coupling, objective, map, new TrainingOptions(Steps: 1500, BatchSize: 256, LearningRate: 3e-3, WarmupSteps: 50, EmaDecay: 0.99,
            Seed: 7, LogEvery: 500)).Run(out var ema);
        ema?.Dispose();
        map.eval();
        var whole = RelativeMapError(map, 0, 1);
        var twoJumps = RelativeMapError(map, 0, 1, jumps: 2);
        output.WriteLine($"EMA teacher: relative map error 0->1 {whole:P3}, in 2 jumps {twoJumps:P3}");
        Assert.True(whole < 0.02 && twoJumps < 0.02, $"EMA-teacher map off the exact one by {whole:P2} (1 jump), {twoJumps:P2} (2 jumps)");
    }
}
