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
/// <param name="Draws">Draws of (t, x_t) averaged.</param>
public readonly record struct LikelihoodBoundEstimate(double BitsPerToken, double StandardError, double NatsPerRow, long Draws);

/// <summary>
/// The continuous-time ELBO of the mixture path (docs/theory.md §17.4): for data x1 and a model whose chain has rates
/// kappa'/(1 - kappa) (p^theta_{1|t} - delta) from the source p0,
/// -log p^theta(x1) &lt;= B(x1) = int_0^1 kappa'(t)/(1 - kappa(t)) E_{x_t ~ p_t(. | x1)} [ sum_i ( 1 - p^theta(x_t^i | x_t)
///   - 1[x_t^i != x1^i] (1 + log p^theta(x1^i | x_t)) ) ] dt,
/// with p^theta(MASK | x_t) = 0. For the masked source with the carry-over posterior the unmasked terms vanish and B is
/// int kappa'/(1 - kappa) E[ sum_{i masked} -log p^theta(x1^i | x_t) ] dt; for the uniform source every term stays. One draw per
/// row and repeat: t from a stratified uniform grid (t_j = (j + u_j) / m over the m = n * repeats draws, shuffled to rows), x0
/// from the source, x_t from the <see cref="MixturePath"/> with z ~ N(0, I), all from the caller's generator.
/// </summary>
public static class DiscreteLikelihoodBound
{
    /// <summary>
    /// The bound for rows <paramref name="x1"/> ([n, L] float ids in 0..K-1) under <paramref name="posterior"/> (which receives
    /// one time per row), averaged over <paramref name="repeats"/> draws of (t, x_t) per row. Rows are processed
    /// <paramref name="batchSize"/> at a time. A non-finite integrand throws <see cref="IntegrationException"/> naming the times.
    /// </summary>
    public static LikelihoodBoundEstimate Estimate(Tensor x1, LogPosterior posterior, MixtureInterpolant interpolant, ITokenSource source,
        Generator generator, int repeats = 1, int batchSize = 1024)
    {
        ArgumentNullException.ThrowIfNull(posterior);
        if (x1.dim() != 2 || x1.shape[1] != source.Length) throw new ArgumentException($"token rows must be [n, {source.Length}], got [{string.Join(",", x1.shape)}]");
        if (repeats < 1) throw new ArgumentOutOfRangeException(nameof(repeats), repeats, "at least one draw per row");
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "the batch size must be >= 1");
        var n = (int)x1.shape[0];
        var total = (long)n * repeats;
        var path = new MixturePath(interpolant);
        double sum = 0, sumSquares = 0;
        using (var outer = NewDisposeScope())
        {
            // Stratified times over all draws, in a random order so every row sees the whole range across repeats.
            var strata = (arange(total, dtype: float64) + rand(total, dtype: float64, generator: generator)) / total;
            var times = strata.index_select(0, randperm(total, generator: generator));
            var rows = x1.repeat(repeats, 1);
            for (long start = 0; start < total; start += batchSize)
            {
                using var scope = NewDisposeScope();
                var count = (int)Math.Min(batchSize, total - start);
                var target = rows.narrow(0, start, count);
                var t = times.narrow(0, start, count).contiguous();
                var x0 = source.Sample(count, generator).to(target.dtype);
                var z = randn(target.shape, dtype: target.dtype, generator: generator);
                var (xt, _) = path.Interpolate(new TrainingBatch(x0, target, z, t));
                var values = Integrand(posterior(xt, t), xt, target, t, interpolant.Schedule);
                if (!values.isfinite().all().ToBoolean())
                    throw new IntegrationException($"the likelihood bound's integrand is not finite at t in {DiscretePosterior.Describe(t)} (posterior probability 0 for a data token, or infinite rate)");
                sum += values.sum().ToDouble();
                sumSquares += values.square().sum().ToDouble();
            }
        }
        var mean = sum / total;
        var variance = total > 1 ? Math.Max(sumSquares - total * mean * mean, 0) / (total - 1) : 0;
        var toBits = 1 / (source.Length * Math.Log(2));
        return new LikelihoodBoundEstimate(mean * toBits, Math.Sqrt(variance / total) * toBits, mean, total);
    }

    /// <summary>
    /// The integrand per row, kappa'(t)/(1 - kappa(t)) sum_i (1 - p(x_t^i | x_t) - 1[x_t^i != x1^i] (1 + log p(x1^i | x_t))) (float64 [n]),
    /// from log-probabilities <paramref name="logp"/> [n, L, K] (p(MASK) = 0); 1 - p is evaluated as -expm1(log p), exact near p = 1.
    /// </summary>
    public static Tensor Integrand(Tensor logp, Tensor xt, Tensor x1, Tensor t, DiscreteSchedule schedule)
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
        var perRow = (stayMissing - jumpTerm).sum(-1);
        var rate = t.to(float64).cpu().data<double>().Select(schedule.Rate).ToArray();
        return (perRow * tensor(rate, dtype: float64, device: perRow.device)).MoveToOuterDisposeScope();
    }
}
