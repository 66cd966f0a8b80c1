using StochasticInterpolants.Discrete;
using StochasticInterpolants.Interpolants;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Discrete;

/// <summary>Exact posteriors p_{1|t} of small token laws, written without a network (docs/theory.md §16.2).</summary>
internal static class ExactPosteriors
{
    /// <summary>
    /// One position, data law pi [K]: masked source — log pi at MASK, delta at a token (carry-over); uniform source —
    /// p(k | x) proportional to pi(k) (kappa delta_{x,k} + (1 - kappa) / K).
    /// </summary>
    public static LogPosterior OnePosition(double[] pi, DiscreteSourceKind source, DiscreteSchedule schedule) => (x, t, _) =>
    {
        using var scope = NewDisposeScope();
        var k = pi.Length;
        var n = x.shape[0];
        var logPi = tensor(pi, dtype: float64).log().expand(n, 1, k);
        if (source == DiscreteSourceKind.Masked) return DiscretePosterior.KeepUnmasked(logPi.clone(), x, k).MoveToOuterDisposeScope();
        var times = (t.dim() == 0 ? t.expand(n) : t).to(float64).data<double>().ToArray();
        var kappa = tensor(times.Select(schedule.Kappa).ToArray(), dtype: float64).reshape(n, 1, 1);
        var same = nn.functional.one_hot(x.to(int64), k).to(float64);                // [n, 1, K]
        var weight = kappa * same + (1 - kappa) / k;
        return (logPi + weight.log()).log_softmax(-1).MoveToOuterDisposeScope();
    };

    /// <summary>
    /// Two positions from the joint law P [K, K] with the masked source: a masked position's posterior is the conditional given
    /// the other position when that one is unmasked, the marginal otherwise; an unmasked position keeps its token.
    /// </summary>
    public static LogPosterior TwoPositionsMasked(double[,] joint) => (x, _, _) =>
    {
        using var scope = NewDisposeScope();
        var k = joint.GetLength(0);
        var p = tensor(joint.Cast<double>().ToArray(), [k, k], dtype: float64);
        var ids = x.to(int64);
        var first = ids[.., 0]; var second = ids[.., 1];
        // Position 0: P[:, b] normalised when b is a token, else the row sums.
        var given1 = p.t().index_select(0, second.clamp_max(k - 1));                    // [n, K] = P[:, b]
        var log0 = where(second.lt(k).unsqueeze(1), given1, p.sum(1).expand_as(given1)).log();
        var given0 = p.index_select(0, first.clamp_max(k - 1));                         // [n, K] = P[a, :]
        var log1 = where(first.lt(k).unsqueeze(1), given0, p.sum([0L]).expand_as(given0)).log();
        var logp = stack([log0, log1], 1).log_softmax(-1);
        return DiscretePosterior.KeepUnmasked(logp, x, k).MoveToOuterDisposeScope();
    };
}
