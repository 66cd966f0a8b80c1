using StochasticInterpolants.Discrete;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using StochasticInterpolants.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Discrete;

public class DiscreteSamplerTests
{
    private static readonly double[,] Joint = { { 0.30, 0.05, 0.05 }, { 0.02, 0.20, 0.08 }, { 0.10, 0.04, 0.16 } };

    private static double[] Frequencies(Tensor ids, int states)
    {
        var counts = bincount(ids.to(int64).flatten(), minlength: states).to(float64);
        return (counts / ids.shape[0]).data<double>().ToArray();
    }

    private static double TotalVariation(double[] a, double[] b) => 0.5 * a.Zip(b).Sum(p => Math.Abs(p.First - p.Second));

    [Theory]
    [InlineData(DiscreteSourceKind.Masked, 3)]
    [InlineData(DiscreteSourceKind.Uniform, 4)]
    public void One_position_with_the_exact_posterior_lands_on_the_data_law(DiscreteSourceKind kind, int steps)
    {
        // Linear kappa, one position: an Euler step keeps p_t's form exactly, (1 - lambda) p_t + lambda pi = p_{t+h}
        // (docs/theory.md §16.3), so any number of steps gives pi.
        using var scope = NewDisposeScope();
        var pi = new[] { 0.5, 0.3, 0.15, 0.05 };
        ITokenSource source = kind == DiscreteSourceKind.Masked ? new MaskedSource(1, 4) : new UniformTokens(1, 4);
        using var g = new Generator(13);
        const int n = 40000;
        var x = new DiscreteSampler(new MixtureInterpolant(), steps).Sample(source.Sample(n, g), ExactPosteriors.OnePosition(pi, kind, DiscreteSchedule.Linear), g);
        Assert.True(x.lt(4).all().item<bool>(), "every position ends on a data token");
        var tv = TotalVariation(Frequencies(x, 4), pi);
        Assert.True(tv < 0.012, $"TV {tv:F4} (the sampling noise of {n} draws is ~0.004)");
    }

    [Fact]
    public void Many_steps_recover_a_joint_law_that_one_step_factorises()
    {
        // Two positions, masked source, exact posterior: one step unmasks both at once from the marginals (the product law);
        // 100 steps unmask them almost surely one at a time, which samples the joint exactly in the limit.
        using var scope = NewDisposeScope();
        var joint = Joint.Cast<double>().ToArray();
        var row = Enumerable.Range(0, 3).Select(a => Enumerable.Range(0, 3).Sum(b => Joint[a, b])).ToArray();
        var col = Enumerable.Range(0, 3).Select(b => Enumerable.Range(0, 3).Sum(a => Joint[a, b])).ToArray();
        var product = Enumerable.Range(0, 9).Select(i => row[i / 3] * col[i % 3]).ToArray();
        Assert.True(TotalVariation(joint, product) > 0.25);
        var source = new MaskedSource(2, 3);
        using var g = new Generator(2);
        const int n = 30000;
        double Tv(int steps, double[] law)
        {
            var x = new DiscreteSampler(new MixtureInterpolant(), steps).Sample(source.Sample(n, g), ExactPosteriors.TwoPositionsMasked(Joint), g);
            return TotalVariation(Frequencies(x[.., 0] * 3 + x[.., 1], 9), law);
        }
        Assert.True(Tv(1, product) < 0.015, "one step draws the product of the marginals");
        // With N steps both positions unmask in the same step with probability ~ 1/N (here 1/100): TV to the joint <= ~0.01 + noise.
        var many = Tv(100, joint);
        Assert.True(many < 0.02, $"TV to the joint after 100 steps: {many:F4}");
    }

    [Fact]
    public void A_posterior_that_returns_nan_stops_the_sampler_at_its_step()
    {
        using var g = new Generator(1);
        LogPosterior broken = (x, t, _) => t.ToDouble() > 0.4 ? full(x.shape[0], x.shape[1], 2, double.NaN, dtype: float64) : full(x.shape[0], x.shape[1], 2, -Math.Log(2), dtype: float64);
        var e = Assert.Throws<IntegrationException>(() => new DiscreteSampler(new MixtureInterpolant(), 5).Sample(full(3, 2, 2f), broken, g));
        Assert.Contains("step 4 of 5 (t = 0.6", e.Message);
    }

    // logits = log pi_c for class c (-1: the unconditional law), whatever x and t: an exact "network" for one masked position.
    private sealed class ClassLaw(double[][] laws, double[] unconditional) : ITimeConditionedNetwork
    {
        private readonly nn.Module _module = nn.Linear(1, 1);
        public Tensor forward(Tensor x, Tensor t, Tensor? condition)
        {
            using var scope = NewDisposeScope();
            var table = tensor(laws.Append(unconditional).SelectMany(l => l).ToArray(), [laws.Length + 1, unconditional.Length]).log().to(float32);
            var c = (condition ?? full(x.shape[0], -1L)).to(int64);
            var rows = where(c.lt(0), full_like(c, laws.Length), c);
            return table.index_select(0, rows).unsqueeze(1).expand(x.shape[0], x.shape[1], unconditional.Length).contiguous().MoveToOuterDisposeScope();
        }
        public nn.Module Module => _module;
        public ModelSpec? Spec => null;
    }

    [Fact]
    public void Guidance_one_is_the_conditional_posterior_and_larger_weights_sharpen_the_class()
    {
        using var scope = NewDisposeScope();
        // Class 0 favours token 0, class 1 token 2; the unconditional law is their even mixture.
        double[][] laws = [[0.6, 0.3, 0.1], [0.1, 0.3, 0.6]];
        double[] none = [0.35, 0.3, 0.35];
        var net = new ClassLaw(laws, none);
        var x = full(6, 1, 3f);
        var t = tensor(0.3, dtype: float64);
        var labels = tensor(new long[] { 0, 0, 0, 1, 1, 1 });
        var plain = DiscretePosterior.FromNetwork(net, DiscreteSourceKind.Masked, 3)(x, t, labels);
        var w1 = DiscretePosterior.FromNetwork(net, DiscreteSourceKind.Masked, 3, guidance: 1)(x, t, labels);
        Assert.True(w1.equal(plain).all().item<bool>(), "w = 1 is the plain conditional model, bit for bit");
        Assert.True((plain[0, 0].exp() - tensor(laws[0], dtype: float64)).abs().max().item<double>() < 1e-6);
        // w = 3: log p_w = 3 log p(.|c) - 2 log p(.|none), renormalised.
        var w3 = DiscretePosterior.FromNetwork(net, DiscreteSourceKind.Masked, 3, guidance: 3)(x, t, labels);
        var expected = (3 * tensor(laws[0], dtype: float64).log() - 2 * tensor(none, dtype: float64).log()).log_softmax(0);
        Assert.True((w3[0, 0] - expected).abs().max().item<double>() < 1e-5);
        // Sampling: the class's favoured token gains share as w grows (closed forms: 0.6 at w = 1, exp(expected)[0] at w = 3).
        using var g = new Generator(8);
        const int n = 20000;
        var cls = zeros(n, dtype: int64);
        double Share(double w) => new DiscreteSampler(new MixtureInterpolant(), 4)
            .Sample(full(n, 1, 3f), DiscretePosterior.FromNetwork(net, DiscreteSourceKind.Masked, 3, w), g, cls).eq(0).to(float64).mean().item<double>();
        var (s1, s3) = (Share(1), Share(3));
        var p3 = expected[0].exp().item<double>();
        Assert.True(Math.Abs(s1 - 0.6) < 0.015 && Math.Abs(s3 - p3) < 0.015 && p3 > 0.8, $"shares {s1:F3} (w = 1) and {s3:F3} (w = 3, exact {p3:F3})");
    }

    [Fact]
    public void Non_finite_logits_are_reported_with_the_time()
    {
        var net = new ClassLaw([[0.5, 0.5]], [0.0, 1.0]); // log 0 = -inf in the no-class entry
        var e = Assert.Throws<IntegrationException>(() => DiscretePosterior.FromNetwork(net, DiscreteSourceKind.Masked, 2)(full(2, 1, 2f), tensor(0.25, dtype: float64), null));
        Assert.Contains("non-finite logits at t = 0.25", e.Message);
    }
}
