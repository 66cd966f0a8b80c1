using StochasticInterpolants.Couplings;
using StochasticInterpolants.Data;
using StochasticInterpolants.Fields;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Likelihood;
using StochasticInterpolants.Models;
using StochasticInterpolants.Objectives;
using StochasticInterpolants.Sampling;
using StochasticInterpolants.Training;
using TorchSharp.Modules;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Core;

/// <summary>
/// The acceptance test of the reshaped core: image-shaped data [n, 1, 8, 8] with a class condition goes through the same
/// coupling, objective, <see cref="Trainer"/>, ODE/SDE samplers and Hutchinson likelihood as flat data, with a small
/// convolutional network the library knows nothing about (wrapped by <see cref="ConditionedModule"/>).
/// </summary>
public class ShapedDataTests
{
    private const int Size = 8;

    /// <summary>
    /// Two classes of 8x8 grey images: class 0 a bright horizontal bar (rows 3-4 at 1, background 0), class 1 a bright
    /// vertical bar (columns 3-4), each plus N(0, 0.2^2) pixel noise. Labels are int64 [n].
    /// </summary>
    private sealed class BarImages : IDistribution
    {
        public const double Noise = 0.2;
        public string Name => "bars";
        public int Dimension => Size * Size;
        public IReadOnlyList<long> Shape => [1, Size, Size];
        public bool HasLogDensity => false;
        public Tensor LogDensity(Tensor x) => throw new NotSupportedException("bars: no closed-form density");

        public Tensor Sample(int count, Generator generator)
        {
            var (images, labels) = SampleWithCondition(count, generator);
            labels!.Dispose();
            return images;
        }

        public (Tensor Samples, Tensor? Condition) SampleWithCondition(int count, Generator generator)
        {
            using var scope = NewDisposeScope();
            var labels = randint(0, 2, [count], generator: generator); // int64
            var images = Templates().index_select(0, labels) + Noise * randn([count, 1, Size, Size], generator: generator);
            return (images.MoveToOuterDisposeScope(), labels.MoveToOuterDisposeScope());
        }

        /// <summary>[2, 1, 8, 8]: the noiseless images of class 0 and class 1.</summary>
        public static Tensor Templates()
        {
            var t = zeros([2, 1, Size, Size]);
            using (no_grad())
            {
                t[0, 0, TensorIndex.Slice(3, 5), TensorIndex.Colon].fill_(1.0);
                t[1, 0, TensorIndex.Colon, TensorIndex.Slice(3, 5)].fill_(1.0);
            }
            return t;
        }
    }

    /// <summary>
    /// f(x, t, c) on [n, 1, 8, 8]: three 3x3 convolutions (padding 1, SiLU) over the input channels
    /// [x, t, sin(pi t), cos(pi t), class embedding (4), row and column coordinates] -> width -> width -> 1.
    /// The class embedding has a third entry for "no class" (a null condition or a label &lt; 0). Initialised from an
    /// explicit generator (as <see cref="MlpNetwork"/> does), so a seed fixes the network.
    /// </summary>
    private sealed class TinyConvNet : nn.Module<Tensor, Tensor, Tensor?, Tensor>
    {
        private const int Classes = 2, EmbeddingWidth = 4;
        private readonly Conv2d _c1, _c2, _c3;
        private readonly Embedding _classes;
        private readonly Tensor _coordinates;

        public TinyConvNet(int width, long seed) : base("tiny-conv")
        {
            _c1 = nn.Conv2d(1 + 3 + EmbeddingWidth + 2, width, 3, padding: 1);
            _c2 = nn.Conv2d(width, width, 3, padding: 1);
            _c3 = nn.Conv2d(width, 1, 3, padding: 1);
            _classes = nn.Embedding(Classes + 1, EmbeddingWidth);
            using (var r = linspace(-1, 1, Size))
            {
                var grid = meshgrid([r, r], indexing: "ij");
                _coordinates = stack(grid, 0).unsqueeze(0); // [1, 2, 8, 8]: row, column
                foreach (var g in grid) g.Dispose();
            }
            register_buffer("coordinates", _coordinates, persistent: false);
            RegisterComponents();
            using var generator = new Generator((ulong)seed);
            using var noGrad = no_grad();
            using (var e = randn(_classes.weight!.shape, generator: generator)) _classes.weight!.copy_(e);
            foreach (var conv in new[] { _c1, _c2, _c3 })
            {
                var bound = 1.0 / Math.Sqrt(conv.weight!.shape[1] * 9); // U(-1/sqrt(fan_in), 1/sqrt(fan_in))
                using (var w = rand(conv.weight!.shape, generator: generator) * (2 * bound) - bound) conv.weight!.copy_(w);
                using (var b = rand(conv.bias!.shape, generator: generator) * (2 * bound) - bound) conv.bias!.copy_(b);
            }
        }

        public override Tensor forward(Tensor x, Tensor t, Tensor? condition)
        {
            if (x.dim() != 4 || x.shape[1] != 1 || x.shape[2] != Size || x.shape[3] != Size)
                throw new ArgumentException($"expected [n, 1, {Size}, {Size}], got [{string.Join(",", x.shape)}]");
            if (t.dim() != 1 || t.shape[0] != x.shape[0]) throw new ArgumentException("expected one time per row");
            using var scope = NewDisposeScope();
            var n = x.shape[0];
            var tt = t.to(x.dtype).view(n, 1, 1, 1);
            var time = cat([tt, (Math.PI * tt).sin(), (Math.PI * tt).cos()], 1).expand(n, 3, Size, Size);
            var labels = condition is null ? full(n, Classes, dtype: int64, device: x.device)
                : where(condition.lt(0), full_like(condition, Classes), condition).to(int64);
            var embedding = _classes.forward(labels).to(x.dtype).view(n, EmbeddingWidth, 1, 1).expand(n, EmbeddingWidth, Size, Size);
            var coordinates = _coordinates.to(x.dtype, x.device).expand(n, 2, Size, Size);
            var h = nn.functional.silu(_c1.forward(cat([x, time, embedding, coordinates], 1)));
            h = nn.functional.silu(_c2.forward(h));
            return _c3.forward(h).MoveToOuterDisposeScope();
        }
    }

    /// <summary>Mean of the horizontal-bar region (rows 3-4 outside the crossing) minus the vertical-bar region (columns 3-4
    /// outside the crossing), per image: +1 for a clean class-0 image, -1 for class 1, 0 for a blend.</summary>
    private static double[] BarContrast(Tensor images)
    {
        using var scope = NewDisposeScope();
        var x = images.to(float64).reshape(-1, Size, Size);
        var outside = new long[] { 0, 1, 2, 5, 6, 7 };
        using var idx = tensor(outside);
        var rowBar = x[TensorIndex.Colon, TensorIndex.Slice(3, 5), TensorIndex.Colon].index_select(2, idx).mean([1, 2]);
        var colBar = x[TensorIndex.Colon, TensorIndex.Colon, TensorIndex.Slice(3, 5)].index_select(1, idx).mean([1, 2]);
        return (rowBar - colBar).data<double>().ToArray();
    }

    private static void AssertClassRespected(Tensor samples, Tensor labels, string what)
    {
        var contrast = BarContrast(samples);
        var label = labels.data<long>().ToArray();
        foreach (var c in new[] { 0L, 1L })
        {
            var mine = contrast.Where((_, i) => label[i] == c).ToArray();
            var sign = c == 0 ? 1.0 : -1.0;
            var mean = mine.Average();
            var correct = mine.Count(v => sign * v > 0) / (double)mine.Length;
            // A clean image scores +-1; samples that ignored the class would be a 50/50 blend: mean ~0, half of the signs right.
            // Bounds: mean contrast beyond 0.6 in the right direction, and at least 95% of the images with the right sign.
            Assert.True(sign * mean > 0.6, $"{what}: class {c} mean bar contrast {mean:F3} (expected {sign:+0;-0} beyond 0.6)");
            Assert.True(correct >= 0.95, $"{what}: class {c} has only {correct:P1} of samples with the right bar");
        }
    }

    [Fact]
    public void Labelled_images_train_sample_and_score_through_the_same_core_as_flat_data()
    {
        var interpolant = new LinearInterpolant();
        var target = new BarImages();
        // The base is the flat N(0, I_64); the independent coupling reshapes its samples to [n, 1, 8, 8].
        ICoupling coupling = new IndependentCoupling(new StandardGaussian(Size * Size), target);
        using (var probe = new Generator(0))
        {
            var batch = coupling.DrawBatch(3, probe, 0);
            Assert.Equal(new long[] { 3, 1, Size, Size }, batch.X0.shape);
            Assert.Equal(batch.X0.shape, batch.Z.shape);
            Assert.Equal(new long[] { 3 }, batch.Condition!.shape);
        }

        using var module = new TinyConvNet(width: 32, seed: 7);
        Assert.All(module.parameters(), p => Assert.True(p.isfinite().all().item<bool>()));
        var network = new ConditionedModule(module);
        var trainer = new Trainer(coupling, new VelocityObjective(interpolant), network,
            new TrainingOptions(Steps: 400, BatchSize: 64, LearningRate: 3e-3, WarmupSteps: 50, EmaDecay: 0.99, Seed: 3, LogEvery: 50));
        var result = trainer.Run(out var ema);
        using (ema) ema!.CopyTo(module);
        Assert.True(result.Completed);
        // The loss went down: the last 50-step window below 0.7 x the first (the initial loss is ~1.3 = E|x1 - x0|^2 / 64).
        var first = result.Log[0].Loss; var last = result.Log[^1].Loss;
        Assert.True(last < 0.7 * first, $"loss {first:F4} in the first window, {last:F4} in the last");

        var field = new NetworkField(network, FieldKind.Velocity);
        const int perClass = 200;
        using var labels = cat([zeros(perClass, dtype: int64), ones(perClass, dtype: int64)]);
        using var gen = new Generator(11);
        using var start = randn([2 * perClass, 1, Size, Size], generator: gen);
        var conditioned = new FieldSet(interpolant, [field]).WithCondition(labels);

        // (a) RK4 on the probability-flow ODE with the class bound through the field set.
        using (var ode = new Rk4Solver(20).Integrate(conditioned.Velocity(), start, 0, 1))
        {
            Assert.Equal(start.shape, ode.Final.shape);
            Assert.True(ode.Final.isfinite().all().item<bool>());
            AssertClassRespected(ode.Final, labels, "rk4");
            // The class means are the templates: mean |class mean - template| below 0.15 per pixel (noise 0.2 / sqrt(200) is 0.014).
            using var templates = BarImages.Templates();
            for (var c = 0; c < 2; c++)
            {
                using var mean = ode.Final[TensorIndex.Slice(c * perClass, (c + 1) * perClass)].mean([0]);
                var err = (mean - templates[c]).abs().mean().ToDouble();
                Assert.True(err < 0.15, $"class {c}: mean |sample mean - template| = {err:F3}");
            }
        }

        // (b) Euler-Maruyama through the same field set: eps = 0 (the ODE path), and eps = sigma(t) through the one-sided view.
        using (var em = new EulerMaruyamaSampler(20).Integrate(conditioned, DiffusionCoefficient.Constant(0), start, 0, 1, gen))
        {
            Assert.Equal(start.shape, em.Final.shape);
            Assert.True(em.Final.isfinite().all().item<bool>());
            AssertClassRespected(em.Final, labels, "em, eps = 0");
        }
        // With x0 ~ N(0, I) the linear interpolant is the one-sided linear one (x_t = (1 - t) z + t x1, docs/theory.md §1.3),
        // so the same velocity network gives the denoiser eta = x - t b and an SDE with eps = sigma(t) = 1 - t needs no score network.
        var oneSided = new OneSidedLinearInterpolant();
        var oneSidedFields = new FieldSet(oneSided, [field]).WithCondition(labels);
        using (var sde = new EulerMaruyamaSampler(40).Integrate(oneSidedFields, DiffusionCoefficient.ProportionalToNoise(1, oneSided), start, 0, 1, gen,
                   new SdeOptions(DenoiseLastStep: true)))
        {
            Assert.Equal(start.shape, sde.Final.shape);
            Assert.True(sde.Final.isfinite().all().item<bool>());
            AssertClassRespected(sde.Final, labels, "em, eps = 1 - t");
        }

        // (c) Hutchinson likelihood of held-out images: the right label must explain them better than the wrong one.
        using var heldOutGen = new Generator(99);
        var (images, trueLabels) = target.SampleWithCondition(16, heldOutGen);
        using (images) using (trueLabels)
        {
            using var wrongLabels = 1 - trueLabels!;
            double[] LogDensity(Tensor condition)
            {
                var velocity = new FieldSet(interpolant, [field]).WithCondition(condition).Velocity();
                var likelihood = new FlowLikelihood(velocity, new StandardGaussian(Size * Size), new Rk4Solver(20),
                    new LikelihoodOptions(DivergenceEstimator.HutchinsonRademacher, Probes: 4, Seed: 5));
                using var r = likelihood.LogDensity(images);
                Assert.Equal(new long[] { 16 }, r.LogDensity.shape);
                Assert.Equal(ScalarType.Float64, r.LogDensity.dtype);
                Assert.True(r.LogDensity.isfinite().all().item<bool>());
                Assert.Equal(images.shape, r.BasePoints.shape);
                return r.LogDensity.data<double>().ToArray();
            }
            var right = LogDensity(trueLabels!);
            var wrong = LogDensity(wrongLabels);
            // The exact conditional density is N(template_c, 0.2^2 I_64): its mean over these images is ~12 nats. The learned
            // flow's likelihood must land within 6 nats of it (measured ~1.3 below): a missing divergence term, a base
            // density evaluated on the wrong shape or normalised in the wrong dimension would be off by tens to hundreds.
            using var templates = BarImages.Templates();
            using var residual = images - templates.index_select(0, trueLabels!);
            using var truthT = -0.5 * residual.to(float64).square().flatten(1).sum(1) / (BarImages.Noise * BarImages.Noise)
                               - 0.5 * Size * Size * Math.Log(2 * Math.PI * BarImages.Noise * BarImages.Noise);
            var truth = truthT.data<double>().ToArray();
            Assert.True(Math.Abs(right.Average() - truth.Average()) < 6,
                $"mean log-density {right.Average():F2} with the right label, the exact conditional density gives {truth.Average():F2}");
            // Mean log-density with the right label above the wrong one by at least 20 nats (the two classes differ in 24
            // pixels by 1 against noise 0.2, so a model that uses the label separates them by hundreds of nats), and
            // every single image prefers its own label.
            Assert.True(right.Average() > wrong.Average() + 20, $"mean log-density {right.Average():F1} with the right label, {wrong.Average():F1} with the wrong one");
            for (var i = 0; i < right.Length; i++) Assert.True(right[i] > wrong[i], $"image {i}: {right[i]:F1} (right) vs {wrong[i]:F1} (wrong)");
        }
    }
}
