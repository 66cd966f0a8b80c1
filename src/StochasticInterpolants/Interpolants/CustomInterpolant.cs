namespace StochasticInterpolants.Interpolants;

/// <summary>
/// A user-defined affine interpolant x_t = alpha(t) x0 + beta(t) x1 + gamma(t) z built from functions.
/// Derivatives that are not supplied are taken by a fourth-order central difference (step 1e-4,
/// one-sided at the ends), which is accurate to about 1e-10 for smooth functions.
/// The caller is responsible for the boundary conditions alpha(0) = beta(1) = 1, alpha(1) = beta(0) = 0,
/// gamma(0) = gamma(1) = 0; <see cref="CustomInterpolant"/> checks them on construction.
/// Such an interpolant has no <see cref="Spec"/>, so a checkpoint trained with it cannot be rebuilt from disk.
/// </summary>
public sealed class CustomInterpolant : IInterpolant
{
    private readonly Func<double, double> _alpha, _beta, _gamma, _alphaDot, _betaDot, _gammaDot;

    /// <summary>Creates the interpolant; derivatives may be null (then differentiated numerically).</summary>
    public CustomInterpolant(string name,
        Func<double, double> alpha, Func<double, double> beta, Func<double, double>? gamma = null,
        Func<double, double>? alphaDot = null, Func<double, double>? betaDot = null, Func<double, double>? gammaDot = null,
        double boundaryTolerance = 1e-9)
    {
        Name = name;
        _alpha = alpha; _beta = beta; _gamma = gamma ?? (_ => 0);
        _alphaDot = alphaDot ?? Differentiate(alpha);
        _betaDot = betaDot ?? Differentiate(beta);
        _gammaDot = gammaDot ?? (gamma is null ? _ => 0 : Differentiate(gamma));
        Check(Math.Abs(_alpha(0) - 1), "alpha(0) must be 1");
        Check(Math.Abs(_alpha(1)), "alpha(1) must be 0");
        Check(Math.Abs(_beta(0)), "beta(0) must be 0");
        Check(Math.Abs(_beta(1) - 1), "beta(1) must be 1");
        Check(Math.Abs(_gamma(0)) + Math.Abs(_gamma(1)), "gamma(0) and gamma(1) must be 0");
        void Check(double err, string what)
        {
            if (!(err <= boundaryTolerance)) throw new ArgumentException($"custom interpolant '{name}': {what} (off by {err:g3})");
        }
    }

    /// <inheritdoc />
    public string Name { get; }
    /// <inheritdoc />
    public InterpolantKind Kind => InterpolantKind.TwoSided;
    /// <inheritdoc />
    public InterpolantSpec? Spec => null;
    /// <inheritdoc />
    public bool HasSingularGammaDerivative => double.IsInfinity(_gammaDot(0)) || double.IsInfinity(_gammaDot(1));

    /// <inheritdoc />
    public InterpolantCoefficients At(double t)
    {
        if (!(t >= 0 && t <= 1)) throw new ArgumentOutOfRangeException(nameof(t), t, "interpolant time must lie in [0, 1]");
        var g = _gamma(t); var gd = _gammaDot(t);
        return new(_alpha(t), _beta(t), g, _alphaDot(t), _betaDot(t), gd, g == 0 ? 0 : g * gd);
    }

    /// <summary>Fourth-order finite difference, staying inside [0, 1] so functions defined only there still work.</summary>
    internal static Func<double, double> Differentiate(Func<double, double> f, double h = 1e-4) => t =>
    {
        if (t - 2 * h < 0) // forward 4th-order
            return (-25 * f(t) + 48 * f(t + h) - 36 * f(t + 2 * h) + 16 * f(t + 3 * h) - 3 * f(t + 4 * h)) / (12 * h);
        if (t + 2 * h > 1) // backward 4th-order
            return (25 * f(t) - 48 * f(t - h) + 36 * f(t - 2 * h) - 16 * f(t - 3 * h) + 3 * f(t - 4 * h)) / (12 * h);
        return (f(t - 2 * h) - 8 * f(t - h) + 8 * f(t + h) - f(t + 2 * h)) / (12 * h);
    };
}
