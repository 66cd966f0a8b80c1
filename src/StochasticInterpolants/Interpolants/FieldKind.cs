namespace StochasticInterpolants.Interpolants;

/// <summary>
/// Which conditional expectation a network represents (docs/theory.md §2). Recorded in every checkpoint
/// so that a sampler never mistakes one field for another.
/// </summary>
public enum FieldKind
{
    /// <summary>b(t, x) = E[alpha' x0 + beta' x1 + gamma' z | x_t = x], the probability-flow velocity.</summary>
    Velocity,
    /// <summary>eta(t, x) = E[n | x_t = x], the denoiser (noise prediction), where x_t = m + sigma n: n = z and sigma = gamma on
    /// two-sided and mirror paths, n = x0 and sigma = alpha on one-sided ones; the score is s = -eta / sigma.</summary>
    Denoiser,
    /// <summary>s(t, x) = grad log rho(t, x).</summary>
    Score,
    /// <summary>E[x1 | x_t = x], the target (data) prediction.</summary>
    TargetPrediction,
    /// <summary>The flow map's velocity v(s, t, x) of a two-time network (<see cref="Models.ITwoTimeNetwork"/>): the
    /// probability-flow ODE started at x at time s is at X_{s,t}(x) = x + (t - s) v(s, t, x) at time t, and the diagonal
    /// v(t, t, x) is the velocity b(t, x) (docs/theory.md §14). Not a conditional expectation: the library's fields take its
    /// diagonal as the velocity.</summary>
    FlowMap,
    /// <summary>p_{1|t}(x1^i = k | x_t = x) per position of a discrete mixture path (docs/theory.md §16): the network's output is the
    /// logits [n, L, K] of that categorical law, learned by cross-entropy. Not a vector field.</summary>
    Posterior,
}
