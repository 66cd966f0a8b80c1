using static TorchSharp.torch;

namespace StochasticInterpolants.Interpolants;

/// <summary>How x0 relates to the other variables of the interpolant.</summary>
public enum InterpolantKind
{
    /// <summary>x0 ~ rho0 and x1 ~ rho1 are drawn independently; gamma(t) z adds latent noise.</summary>
    TwoSided,
    /// <summary>x0 = z ~ N(0, I) is itself the noise (one-sided): x_t = alpha(t) z + beta(t) x1, gamma = 0.</summary>
    OneSided,
    /// <summary>x0 = x1 (mirror): x_t = x1 + gamma(t) z; rho0 = rho1 and only the noise moves.</summary>
    Mirror,
    /// <summary>
    /// x0 and x1 are points of a manifold and x_t = exp_{x0}(t log_{x0}(x1)) runs along the shortest geodesic between them,
    /// without latent noise (<see cref="GeodesicInterpolant"/>, docs/theory.md §15.8).
    /// </summary>
    Geodesic,
    /// <summary>Discrete mixture path (docs/theory.md §16): each token of x_t is x1's with probability kappa(t) = beta(t), else x0's
    /// (alpha = 1 - kappa, gamma = 0); x0 and x1 are drawn independently.</summary>
    Mixture,
}

/// <summary>
/// A stochastic interpolant x_t = I(t, x0, x1) + gamma(t) z with I = alpha(t) x0 + beta(t) x1
/// (docs/theory.md §1). Time runs from the base at t = 0 (x_0 = x0) to the target at t = 1 (x_1 = x1).
/// The regression target for the velocity is d/dt x_t = alpha'(t) x0 + beta'(t) x1 + gamma'(t) z.
/// </summary>
public interface IInterpolant
{
    /// <summary>The family name under which <see cref="InterpolantRegistry"/> rebuilds the interpolant from its <see cref="Spec"/> (for checkpoints).</summary>
    string Name { get; }

    /// <summary>Which coupling of x0 and x1 this interpolant assumes.</summary>
    InterpolantKind Kind { get; }

    /// <summary>
    /// The serialisable description of this interpolant, or null when no builder registered in
    /// <see cref="InterpolantRegistry"/> rebuilds it (an unregistered <see cref="CustomInterpolant"/>).
    /// </summary>
    InterpolantSpec? Spec { get; }

    /// <summary>True when gamma'(t) is unbounded at t = 0 or t = 1, so training should sample t away from them.</summary>
    bool HasSingularGammaDerivative { get; }

    /// <summary>alpha, beta, gamma and their exact derivatives at time <paramref name="t"/> in [0, 1].</summary>
    InterpolantCoefficients At(double t);
}
