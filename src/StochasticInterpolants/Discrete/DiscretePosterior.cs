using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using StochasticInterpolants.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Discrete;

/// <summary>
/// log p_{1|t}(x1^i = k | x_t = x, c) per position: x [n, L] float ids, t 0-dim (one time) or [n], the rows' condition c (class
/// labels [n]) or null -> [n, L, K] float64 log-probabilities, normalised over k. What the sampler (<see cref="DiscreteSampler"/>) and the bound
/// (<see cref="DiscreteLikelihoodBound"/>) consume: a trained network through <see cref="DiscretePosterior.FromNetwork"/>, or an
/// exact posterior written as a function (tests).
/// </summary>
public delegate Tensor LogPosterior(Tensor x, Tensor t, Tensor? condition);

/// <summary>Builds <see cref="LogPosterior"/>s from networks (docs/theory.md §16.2, §16.5).</summary>
public static class DiscretePosterior
{
    /// <summary>
    /// The posterior of a network trained as <see cref="Interpolants.FieldKind.Posterior"/> (logits [n, L, K]) for the rows'
    /// condition (class labels [n] or null, passed at each call), guided with weight <paramref name="guidance"/> (docs/theory.md §16.5):
    /// log p_w = log_softmax(w l(x, t, c) + (1 - w) l(x, t, none)) = w log p(.|c) + (1 - w) log p(.|none) renormalised per position,
    /// through <see cref="GuidedNetwork"/> (w = 1: the plain conditional model, one evaluation). For the masked source
    /// (<paramref name="source"/> = Masked) a position that holds a token keeps it: its posterior is delta_{x^i} (log 0 at x^i,
    /// -infinity elsewhere), which is exact — an unmasked position of x_t is its data token — so the network is consulted only
    /// on MASK positions. Non-finite logits throw <see cref="IntegrationException"/> naming the time.
    /// </summary>
    public static LogPosterior FromNetwork(ITimeConditionedNetwork network, DiscreteSourceKind source, int vocabulary, double guidance = 1)
    {
        ArgumentNullException.ThrowIfNull(network);
        var guided = guidance != 1 ? new GuidedNetwork(network, guidance) : network;
        return (x, t, condition) =>
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var logits = guided.forward(x, t, condition);
            if (logits.dim() != 3 || logits.shape[0] != x.shape[0] || logits.shape[1] != x.shape[1] || logits.shape[2] != vocabulary)
                throw new ArgumentException($"a posterior network must return logits [n, L, K] = [{x.shape[0]}, {x.shape[1]}, {vocabulary}], got [{string.Join(",", logits.shape)}]");
            if (!logits.isfinite().all().ToBoolean())
                throw new IntegrationException($"the posterior network gave non-finite logits at t = {Describe(t)}");
            var logp = logits.to(float64).log_softmax(-1);
            if (source == DiscreteSourceKind.Masked) logp = KeepUnmasked(logp, x, vocabulary);
            return logp.MoveToOuterDisposeScope();
        };
    }

    /// <summary>
    /// The masked source's carry-over: rows of <paramref name="logp"/> [n, L, K] at positions where x^i &lt; K (not MASK) become
    /// log delta_{x^i}; MASK positions are left as they are.
    /// </summary>
    public static Tensor KeepUnmasked(Tensor logp, Tensor x, int vocabulary)
    {
        using var scope = NewDisposeScope();
        var ids = x.to(int64);
        var unmasked = ids.lt(vocabulary).unsqueeze(-1);
        var hit = nn.functional.one_hot(ids.clamp_max(vocabulary - 1), vocabulary).to(ScalarType.Bool);
        var delta = zeros_like(logp).masked_fill_(hit.logical_not(), double.NegativeInfinity);
        return where(unmasked, delta, logp).MoveToOuterDisposeScope();
    }

    internal static string Describe(Tensor t) => t.dim() == 0 ? t.ToDouble().ToString("G6", System.Globalization.CultureInfo.InvariantCulture)
        : $"[{t.min().ToDouble().ToString("G6", System.Globalization.CultureInfo.InvariantCulture)}, {t.max().ToDouble().ToString("G6", System.Globalization.CultureInfo.InvariantCulture)}] (one time per row)";
}
