namespace StochasticInterpolants.Interpolants;

/// <summary>
/// A user-defined affine interpolant x_t = alpha(t) x0 + beta(t) x1 + gamma(t) z built from functions.
/// Derivatives that are not supplied are taken by a fourth-order central difference (step 1e-4,
/// one-sided at the ends), which is accurate to about 1e-10 for smooth functions.
/// The caller is responsible for the boundary conditions alpha(0) = beta(1) = 1, alpha(1) = beta(0) = 0,
/// gamma(0) = gamma(1) = 0; <see cref="CustomInterpolant"/> checks them on construction.
/// To save it in a checkpoint, register it (<see cref="Register"/>, or
/// <c>InterpolantRegistry.Register(name, _ =&gt; new CustomInterpolant(name, ...))</c>) before training and again before
/// loading: then its <see cref="Spec"/> is <c>new InterpolantSpec(Name)</c> and the checkpoint rebuilds it by name.
/// Unregistered, it has no spec, and a checkpoint cannot hold it.
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
        if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException("a custom interpolant needs a non-empty name");
        Name = name.Trim();
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
    /// <summary>
    /// <c>new InterpolantSpec(Name)</c> when <see cref="InterpolantRegistry"/> has a builder under <see cref="Name"/> that
    /// rebuilds this interpolant (same name, kind and coefficients at a few probe times); null otherwise, so a checkpoint
    /// never names a family that would load as a different interpolant.
    /// </summary>
    public InterpolantSpec? Spec
    {
        get
        {
            var build = InterpolantRegistry.Find(Name);
            if (build is null) return null;
            var check = _specCheck;
            if (check is null || !ReferenceEquals(check.Builder, build))
                _specCheck = check = new SpecCheck(build, Rebuilds(build));
            return check.Rebuilds ? new InterpolantSpec(Name) : null;
        }
    }

    /// <summary>
    /// Registers this interpolant in <see cref="InterpolantRegistry"/> under its <see cref="Name"/> (replacing any family of
    /// that name), so <c>new InterpolantSpec(Name).Build()</c> returns it and a checkpoint trained with it can be loaded
    /// (register it again in the process that loads the checkpoint). Returns this interpolant.
    /// </summary>
    public CustomInterpolant Register()
    {
        InterpolantRegistry.Register(Name, _ => this);
        return this;
    }

    private sealed record SpecCheck(Func<InterpolantSpec, IInterpolant> Builder, bool Rebuilds);
    private SpecCheck? _specCheck;
    private static readonly double[] ProbeTimes = [0.0, 0.125, 0.3, 0.5, 0.71, 0.9, 1.0];

    private bool Rebuilds(Func<InterpolantSpec, IInterpolant> build)
    {
        IInterpolant other;
        try { other = build(new InterpolantSpec(Name)); }
        catch (ArgumentException) { return false; }
        if (ReferenceEquals(other, this)) return true;
        if (other is null || other.Name != Name || other.Kind != Kind) return false;
        foreach (var t in ProbeTimes)
        {
            InterpolantCoefficients a = At(t), b = other.At(t);
            if (!(Close(a.Alpha, b.Alpha) && Close(a.Beta, b.Beta) && Close(a.Gamma, b.Gamma) && Close(a.AlphaDot, b.AlphaDot)
                  && Close(a.BetaDot, b.BetaDot) && Close(a.GammaDot, b.GammaDot))) return false;
        }
        return true;
        static bool Close(double x, double y) => x.Equals(y) || Math.Abs(x - y) <= 1e-9 * (1 + Math.Abs(x));
    }

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
