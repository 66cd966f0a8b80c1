namespace StochasticInterpolants.Interpolants;

/// <summary>
/// The scalar coefficients of an affine stochastic interpolant at one time t:
/// x_t = Alpha x0 + Beta x1 + Gamma z, with their exact time derivatives.
/// <see cref="GammaGammaDot"/> = gamma(t) * gamma'(t) is given separately because it stays finite
/// at t = 0 and t = 1 even where gamma'(t) does not (gamma = sqrt(a t (1 - t))).
/// </summary>
public readonly record struct InterpolantCoefficients(
    double Alpha, double Beta, double Gamma,
    double AlphaDot, double BetaDot, double GammaDot,
    double GammaGammaDot);
