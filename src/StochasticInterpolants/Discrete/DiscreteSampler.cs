using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Discrete;

/// <summary>
/// The Euler discretisation of the continuous-time Markov chain of the mixture path (docs/theory.md §16.3): rates
/// u_t(y | x) = kappa'(t) / (1 - kappa(t)) (p_{1|t}(y | x) - delta_x(y)) per position. On a step h from t, every position
/// independently keeps its token with probability 1 - lambda and is redrawn from p_{1|t}(. | x) with probability
/// lambda = min(1, h kappa'(t) / (1 - kappa(t))); the last step uses lambda = 1, so it lands on a draw of the posterior at the
/// last grid time and every position holds a data token. N uniform steps on [0, 1] (<see cref="StepGrid"/>); all randomness from
/// the caller's generator (per step: one uniform per position for the jump, one for the inverse-CDF draw).
/// </summary>
public sealed class DiscreteSampler
{
    /// <summary>A sampler with <paramref name="steps"/> Euler steps on <paramref name="interpolant"/>'s schedule.</summary>
    public DiscreteSampler(MixtureInterpolant interpolant, int steps)
    {
        ArgumentNullException.ThrowIfNull(interpolant);
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), steps, "the sampler needs at least one step");
        Schedule = interpolant.Schedule; Steps = steps;
    }

    /// <summary>kappa(t).</summary>
    public DiscreteSchedule Schedule { get; }
    /// <summary>Euler steps N.</summary>
    public int Steps { get; }

    /// <summary>
    /// Runs the chain from <paramref name="x0"/> ([n, L] float ids drawn from the source) at t = 0 to t = 1 with
    /// <paramref name="posterior"/> given each row's <paramref name="condition"/> (class labels [n] or null); returns the final tokens [n, L] (float32 ids in 0..K-1). Non-finite posteriors throw
    /// <see cref="IntegrationException"/> naming the step and the time.
    /// </summary>
    public Tensor Sample(Tensor x0, LogPosterior posterior, Generator generator, Tensor? condition = null, IProgress<double>? progress = null)
    {
        var (final, _) = SamplePath(x0, posterior, generator, [], condition, progress);
        return final;
    }

    /// <summary>
    /// <see cref="Sample"/>, also keeping the chain's state at each of <paramref name="saveTimes"/> (grid times in [0, 1], as
    /// <see cref="StepGrid"/> saves them): the Lagrangian picture of a discrete path, tokens unmasked or changed along the way.
    /// </summary>
    public (Tensor Final, IReadOnlyList<Tensor> Saved) SamplePath(Tensor x0, LogPosterior posterior, Generator generator, IReadOnlyList<double> saveTimes,
        Tensor? condition = null, IProgress<double>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(posterior);
        if (x0.dim() != 2) throw new ArgumentException($"token rows must be [n, L], got [{string.Join(",", x0.shape)}]");
        return StepGrid.Run(x0, 0, 1, Steps, saveTimes, progress, (index, last, t, h, x) =>
        {
            var lambda = index == last ? 1.0 : Math.Min(1.0, h * Schedule.Rate(t));
            using var tt = tensor(t, dtype: float64);
            var logp = posterior(x, tt, condition);
            if (!logp.isfinite().any(-1).all().ToBoolean() || logp.isnan().any().ToBoolean())
                throw new IntegrationException($"the posterior gave no finite probabilities on step {index + 1} of {last + 1} (t = {t:G6})");
            var draw = Categorical(logp, generator).to(x.dtype);
            if (lambda >= 1) return draw;
            var jump = rand(x.shape, dtype: float64, generator: generator).lt(lambda);
            return where(jump, draw, x);
        }, "discrete posterior");
    }

    /// <summary>
    /// One draw per position from the categorical laws exp(<paramref name="logp"/>) [n, L, K] by inverse CDF: the first k whose
    /// cumulative probability exceeds u ~ U[0, 1) (probabilities renormalised by their sum). Returns int64 [n, L].
    /// </summary>
    public static Tensor Categorical(Tensor logp, Generator generator)
    {
        using var scope = NewDisposeScope();
        var p = logp.to(float64).exp();
        var cdf = p.cumsum(-1);
        var total = cdf[TensorIndex.Ellipsis, TensorIndex.Slice(-1, null)];
        var u = rand([logp.shape[0], logp.shape[1], 1], dtype: float64, generator: generator) * total;
        // Count of cumulative sums <= u: the index k with cdf[k-1] <= u < cdf[k]; clamped against rounding at the top.
        var k = cdf.le(u).sum(-1).clamp_max(logp.shape[2] - 1);
        return k.MoveToOuterDisposeScope();
    }
}
