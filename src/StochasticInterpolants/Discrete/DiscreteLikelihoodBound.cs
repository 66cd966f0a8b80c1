using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Data;
using StochasticInterpolants.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Discrete;

/// <summary>A Monte Carlo estimate of the likelihood bound.</summary>
/// <param name="BitsPerToken">The bound's estimate, averaged over rows and draws, in bits per position: E[B] / (L ln 2).</param>
/// <param name="StandardError">Its standard error (the spread of the per-draw values over the square root of their count), bits per position.</param>
/// <param name="NatsPerRow">The same estimate in nats per sequence (E[B]).</param>
/// <param name="Draws">Draws averaged.</param>
public readonly record struct LikelihoodBoundEstimate(double BitsPerToken, double StandardError, double NatsPerRow, long Draws);

/// <summary>
/// The continuous-time ELBO of the mixture path (docs/theory.md §16.4): for data x1 and the model chain with rates
/// kappa'/(1 - kappa) (p^theta_{1|t} - delta) started from the source p0,
/// -log p^theta(x1) &lt;= B(x1) = int_0^1 kappa'(t)/(1 - kappa(t)) E_{x_t ~ p_t(. | x1)} [ G(t, x_t, x1) ] dt,
/// G = sum_i ( 1 - p^theta(x_t^i | x_t) - 1[x_t^i != x1^i] (1 + log p^theta(x1^i | x_t)) ), with p^theta(MASK | x_t) = 0 (for the
/// masked source with the carry-over posterior of <see cref="DiscretePosterior.FromNetwork"/> G is sum over masked i of
/// -log p^theta(x1^i | x_t)).
/// <para>
/// Estimator (§16.4): x_t is x1 with the positions of a set S replaced by source draws, P(S | kappa) = (1 - kappa)^|S| kappa^(L - |S|);
/// in kappa the bound is B = int_0^1 sum_S (1 - kappa)^(m - 1) kappa^(L - m) E_{x0}[G] dkappa with m = |S|. Each draw takes m
/// uniform on 1..L (masked source; m = 0 gives G = 0) or on 0..L (uniform source), S a uniform m-subset, kappa ~ Beta(L - m + 1, m)
/// (the (L - m + 1)-th smallest of L uniforms) for m &gt;= 1 and kappa ~ Beta(L + 1, 1) (the largest of L + 1 uniforms) for m = 0,
/// t = kappa^{-1}(kappa), x0 from the source; its value G (M / m) for m &gt;= 1 and G / (1 - kappa) for m = 0 (M the number of
/// choices of m) has mean B. Unlike t ~ U[0, 1] with weight kappa'/(1 - kappa), whose variance is infinite
/// (E[(kappa'/(1-kappa))^2 1[i in S]] diverges at t = 1), its variance is finite when the posterior is confident near t = 1.
/// </para>
/// </summary>
public static class DiscreteLikelihoodBound
{
    /// <summary>
    /// The bound for rows <paramref name="x1"/> ([n, L] float ids in 0..K-1), with their <paramref name="condition"/> (class labels
    /// [n] or null) passed to the posterior, under <paramref name="posterior"/> (which receives
    /// one time per row), averaged over <paramref name="repeats"/> draws per row, <paramref name="batchSize"/> rows at a time, all
    /// randomness from <paramref name="generator"/>. A non-finite value throws <see cref="IntegrationException"/> naming the times.
    /// </summary>
    public static LikelihoodBoundEstimate Estimate(Tensor x1, LogPosterior posterior, MixtureInterpolant interpolant, ITokenSource source,
        Generator generator, Tensor? condition = null, int repeats = 1, int batchSize = 1024)
    {
        ArgumentNullException.ThrowIfNull(posterior);
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(interpolant);
        if (x1.dim() != 2 || x1.shape[1] != source.Length) throw new ArgumentException($"token rows must be [n, {source.Length}], got [{string.Join(",", x1.shape)}]");
        if (repeats < 1) throw new ArgumentOutOfRangeException(nameof(repeats), repeats, "at least one draw per row");
        if (condition is not null && (condition.dim() < 1 || condition.shape[0] != x1.shape[0]))
            throw new ArgumentException($"the condition must have one entry per row ({x1.shape[0]}), got [{string.Join(",", condition.shape)}]");
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "the batch size must be >= 1");
        var total = x1.shape[0] * repeats;
        double sum = 0, sumSquares = 0;
        using (var outer = NewDisposeScope())
        {
            var rows = x1.repeat(repeats, 1);
            var conditions = condition is null ? null : cat(Enumerable.Repeat(condition, repeats).ToArray(), 0);
            for (long start = 0; start < total; start += batchSize)
            {
                using var scope = NewDisposeScope();
                var count = (int)Math.Min(batchSize, total - start);
                var (values, t) = Draw(rows.narrow(0, start, count), conditions?.narrow(0, start, count), posterior, interpolant.Schedule, source, generator);
                if (!values.isfinite().all().ToBoolean())
                    throw new IntegrationException($"the likelihood bound is not finite at t in {DiscretePosterior.Describe(t)} (a data token has posterior probability 0)");
                sum += values.sum().ToDouble();
                sumSquares += values.square().sum().ToDouble();
            }
        }
        var mean = sum / total;
        var variance = total > 1 ? Math.Max(sumSquares - total * mean * mean, 0) / (total - 1) : 0;
        var toBits = 1 / (source.Length * Math.Log(2));
        return new LikelihoodBoundEstimate(mean * toBits, Math.Sqrt(variance / total) * toBits, mean, total);
    }

    // One draw per row of (m, S, kappa, x0): the weighted bracket and the times.
    private static (Tensor Values, Tensor T) Draw(Tensor x1, Tensor? condition, LogPosterior posterior, DiscreteSchedule schedule, ITokenSource source, Generator generator)
    {
        var (n, l) = (x1.shape[0], x1.shape[1]);
        var lowest = source.Kind == DiscreteSourceKind.Masked ? 1 : 0;
        var choices = l + 1 - lowest;
        var m = randint(lowest, l + 1, [n], dtype: int64, generator: generator);
        var ranks = rand([n, l], dtype: float64, generator: generator).argsort(1).argsort(1);
        var replaced = ranks.lt(m.unsqueeze(1));
        // The (L - m + 1)-th smallest of L uniforms ~ Beta(L - m + 1, m); for m = 0 the largest of L + 1 uniforms ~ Beta(L + 1, 1).
        var order = rand([n, l + 1], dtype: float64, generator: generator);
        var sorted = order.narrow(1, 0, l).sort(1).Values;
        var kappa = where(m.eq(0), order.max(1).values, sorted.gather(1, (l - m).clamp_max(l - 1).unsqueeze(1)).squeeze(1));
        var kappas = kappa.contiguous().data<double>().ToArray();
        var t = tensor(kappas.Select(schedule.Time).ToArray(), dtype: float64);
        var x0 = source.Sample((int)n, generator).to(x1.dtype);
        var xt = where(replaced, x0, x1);
        var bracket = Bracket(posterior(xt, t, condition), xt, x1);
        var mf = m.to(float64);
        var weight = where(m.eq(0), (1 - kappa).reciprocal(), choices / mf.clamp_min(1));
        return (bracket * weight, t);
    }

    /// <summary>
    /// G = sum_i (1 - p(x_t^i | x_t) - 1[x_t^i != x1^i] (1 + log p(x1^i | x_t))) per row (float64 [n]) from log-probabilities
    /// <paramref name="logp"/> [n, L, K] (p(MASK) = 0); 1 - p is evaluated as -expm1(log p), exact near p = 1.
    /// </summary>
    public static Tensor Bracket(Tensor logp, Tensor xt, Tensor x1)
    {
        using var scope = NewDisposeScope();
        var k = logp.shape[2];
        var ids = xt.to(int64);
        var isToken = ids.lt(k);
        var atCurrent = logp.gather(-1, ids.clamp_max(k - 1).unsqueeze(-1)).squeeze(-1);
        var stayMissing = where(isToken, atCurrent.expm1().neg(), ones_like(atCurrent)); // 1 - p(x_t^i | x_t), 1 for MASK
        var atTarget = logp.gather(-1, x1.to(int64).unsqueeze(-1)).squeeze(-1);
        var differs = ids.ne(x1.to(int64));
        var jumpTerm = where(differs, atTarget + 1, zeros_like(atTarget)); // where(): -inf at an equal position must not give NaN
        return (stayMissing - jumpTerm).sum(-1).MoveToOuterDisposeScope();
    }
}
