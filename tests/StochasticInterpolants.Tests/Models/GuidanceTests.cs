using StochasticInterpolants.Data;
using StochasticInterpolants.Fields;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Models;

public class GuidanceTests
{
    // f(x, t, c) = x (c + 2) + t: label -1 ("no class") gives x + t, so every guided value has a closed form.
    private sealed class LabelScaled : ITimeConditionedNetwork
    {
        private readonly nn.Module _module = nn.Linear(1, 1);
        public int Calls { get; private set; }
        public int RowsSeen { get; private set; }
        public Tensor forward(Tensor x, Tensor t, Tensor? condition)
        {
            Calls++; RowsSeen += (int)x.shape[0];
            using var scope = NewDisposeScope();
            var c = (condition ?? full(x.shape[0], -1L)).to(x.dtype).reshape(-1, 1);
            var tt = (t.dim() == 0 ? t.expand(x.shape[0]) : t).to(x.dtype).reshape(-1, 1);
            return (x * (c + 2) + tt).MoveToOuterDisposeScope();
        }
        public nn.Module Module => _module;
        public ModelSpec? Spec => null;
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.0)]
    [InlineData(2.5)]
    [InlineData(-0.5)]
    public void Guided_output_is_unconditional_plus_w_times_the_difference(double w)
    {
        var inner = new LabelScaled();
        var guided = new GuidedNetwork(inner, w);
        using var x = tensor(new[] { 1.0, -2.0, 0.5, 3.0 }, [4, 1]);
        using var labels = tensor(new long[] { 0, 1, 3, -1 });
        using var t = tensor(new[] { 0.1, 0.2, 0.3, 0.4 });
        using var y = guided.forward(x, t, labels);
        var xs = new[] { 1.0, -2.0, 0.5, 3.0 }; var cs = new[] { 0, 1, 3, -1 }; var ts = new[] { 0.1, 0.2, 0.3, 0.4 };
        for (var i = 0; i < 4; i++)
        {
            var uncond = xs[i] + ts[i];
            var cond = xs[i] * (cs[i] + 2) + ts[i];
            Assert.Equal(uncond + w * (cond - uncond), y[i, 0].item<double>(), 12);
        }
        // w = 1 and w = 0 need one evaluation of n rows; other weights one evaluation of 2n rows.
        Assert.Equal(1, inner.Calls);
        Assert.Equal(w is 0 or 1 ? 4 : 8, inner.RowsSeen);
    }

    [Fact]
    public void Without_a_condition_guidance_is_the_unconditional_network_and_a_shared_time_is_kept()
    {
        var guided = new GuidedNetwork(new LabelScaled(), 3.0);
        using var x = tensor(new[] { 1.0, 2.0 }, [2, 1]);
        using var y = guided.ForwardAt(x, 0.25);
        Assert.Equal(new[] { 1.25, 2.25 }, y.flatten().data<double>().ToArray());
        using var labels = tensor(new long[] { 2, 0 });
        using var yc = guided.ForwardAt(x, 0.25, labels);
        // uncond x + t, cond 4x + t / 2x + t: w = 3 -> x + t + 3 (3x), x + t + 3 x
        Assert.Equal(1.25 + 9, yc[0, 0].item<double>(), 12);
        Assert.Equal(2.25 + 6, yc[1, 0].item<double>(), 12);
        Assert.Throws<ArgumentException>(() => new GuidedNetwork(new LabelScaled(), double.NaN));
    }

    [Fact]
    public void Fields_converted_from_guided_networks_are_the_guided_conversions()
    {
        // A denoiser network on the one-sided linear interpolant: the velocity is converted (affine in eta at fixed t, x),
        // so the guided velocity must equal u + w (c - u) of the unguided conversions with and without labels.
        var interpolant = new InterpolantSpec("one-sided-linear", "none", 1.0).Build();
        var fields = new FieldSet(interpolant, [new NetworkField(new LabelScaled(), FieldKind.Denoiser)]);
        using var x = tensor(new[] { 0.3, -1.1, 2.0 }, [3, 1]);
        using var labels = tensor(new long[] { 0, 2, 1 });
        using var none = full(3, -1L);
        const double t = 0.4, w = 1.7;
        using var guided = fields.WithGuidance(labels, w).Get(FieldKind.Velocity).Evaluate(t, x);
        using var cond = fields.WithCondition(labels).Get(FieldKind.Velocity).Evaluate(t, x);
        using var uncond = fields.WithCondition(none).Get(FieldKind.Velocity).Evaluate(t, x);
        using var expected = uncond + w * (cond - uncond);
        Assert.True(guided.allclose(expected, rtol: 1e-12, atol: 1e-12));
        Assert.False(cond.allclose(uncond)); // the labels matter, so the check above can fail
    }

    [Fact]
    public void Condition_dropout_replaces_about_p_of_the_labels_and_nothing_else()
    {
        using var g = new Generator(11);
        const int n = 20000;
        using var labels = randint(0, 10, [n], dtype: int64, generator: g);
        using var x = zeros(n, 2);
        var batch = new TrainingBatch(x, x, x, zeros(n, dtype: float64), labels);
        var dropped = batch.WithConditionDropped(0.1, g);
        using var changed = dropped.Condition!.ne(labels);
        var fraction = changed.sum().item<long>() / (double)n;
        Assert.InRange(fraction, 0.1 - 0.012, 0.1 + 0.012); // 5.6 standard deviations of a binomial proportion
        using var kept = dropped.Condition!.masked_select(changed.logical_not());
        using var replaced = dropped.Condition!.masked_select(changed);
        Assert.True(replaced.eq(-1).all().item<bool>());
        using var original = labels.masked_select(changed.logical_not());
        Assert.True(kept.equal(original).all().item<bool>());
    }

    [Fact]
    public void Condition_dropout_of_zero_or_without_labels_draws_nothing()
    {
        using var x = zeros(5, 2);
        using var labels = tensor(new long[] { 1, 2, 3, 4, 5 });
        using var g1 = new Generator(3); using var g2 = new Generator(3);
        var batch = new TrainingBatch(x, x, x, zeros(5, dtype: float64), labels);
        Assert.Same(batch, batch.WithConditionDropped(0, g1));
        var unlabelled = batch with { Condition = null };
        Assert.Same(unlabelled, unlabelled.WithConditionDropped(0.5, g1));
        using var a = rand(3, generator: g1); using var b = rand(3, generator: g2);
        Assert.True(a.equal(b).all().item<bool>());
        using var mask = zeros(5, 2);
        Assert.Throws<ArgumentException>(() => (batch with { Condition = mask }).WithConditionDropped(0.1, g1));
        Assert.Throws<ArgumentOutOfRangeException>(() => batch.WithConditionDropped(1.0, g1));
    }
}
