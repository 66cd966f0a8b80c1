namespace StochasticInterpolants.Interpolants;

/// <summary>
/// Shared code of the built-in affine interpolants x_t = alpha(t) x0 + beta(t) x1 + gamma(t) z.
/// Subclasses state alpha, beta and their derivatives; gamma comes from a <see cref="GammaSchedule"/>.
/// </summary>
public abstract class AffineInterpolant : IInterpolant
{
    /// <summary>Creates an affine interpolant with latent noise schedule <paramref name="gamma"/>.</summary>
    protected AffineInterpolant(GammaSchedule gamma) => GammaSchedule = gamma;

    /// <summary>The latent-noise schedule gamma(t).</summary>
    public GammaSchedule GammaSchedule { get; }

    /// <inheritdoc />
    public abstract string Name { get; }

    /// <inheritdoc />
    public virtual InterpolantKind Kind => InterpolantKind.TwoSided;

    /// <inheritdoc />
    public virtual InterpolantSpec? Spec => new(Name, GammaSchedule.Name, GammaSchedule is { Scale: > 0 } g ? g.Scale : 1.0);

    /// <inheritdoc />
    public bool HasSingularGammaDerivative => GammaSchedule.IsSingularAtEnds;

    /// <summary>alpha(t), the weight of x0.</summary>
    protected abstract double Alpha(double t);
    /// <summary>alpha'(t).</summary>
    protected abstract double AlphaDot(double t);
    /// <summary>beta(t), the weight of x1.</summary>
    protected abstract double Beta(double t);
    /// <summary>beta'(t).</summary>
    protected abstract double BetaDot(double t);

    /// <inheritdoc />
    public InterpolantCoefficients At(double t)
    {
        if (!(t >= 0 && t <= 1)) throw new ArgumentOutOfRangeException(nameof(t), t, "interpolant time must lie in [0, 1]");
        return new(Alpha(t), Beta(t), GammaSchedule.Value(t), AlphaDot(t), BetaDot(t),
            GammaSchedule.Derivative(t), GammaSchedule.ValueTimesDerivative(t));
    }

    /// <inheritdoc />
    public override string ToString() => GammaSchedule.Name == "none" ? Name : $"{Name} (gamma {GammaSchedule.Name}, a = {GammaSchedule.Scale})";
}

/// <summary>Linear interpolant: alpha = 1 - t, beta = t (the flow-matching / rectified-flow path when gamma = 0).</summary>
public sealed class LinearInterpolant(GammaSchedule? gamma = null) : AffineInterpolant(gamma ?? GammaSchedule.None)
{
    /// <inheritdoc />
    public override string Name => "linear";
    /// <inheritdoc />
    protected override double Alpha(double t) => 1 - t;
    /// <inheritdoc />
    protected override double AlphaDot(double t) => -1;
    /// <inheritdoc />
    protected override double Beta(double t) => t;
    /// <inheritdoc />
    protected override double BetaDot(double t) => 1;
}

/// <summary>Trigonometric interpolant: alpha = cos(pi t / 2), beta = sin(pi t / 2) (alpha^2 + beta^2 = 1).</summary>
public sealed class TrigonometricInterpolant(GammaSchedule? gamma = null) : AffineInterpolant(gamma ?? GammaSchedule.None)
{
    /// <inheritdoc />
    public override string Name => "trigonometric";
    /// <inheritdoc />
    protected override double Alpha(double t) => Math.Cos(Math.PI * t / 2);
    /// <inheritdoc />
    protected override double AlphaDot(double t) => -Math.PI / 2 * Math.Sin(Math.PI * t / 2);
    /// <inheritdoc />
    protected override double Beta(double t) => Math.Sin(Math.PI * t / 2);
    /// <inheritdoc />
    protected override double BetaDot(double t) => Math.PI / 2 * Math.Cos(Math.PI * t / 2);
}

/// <summary>
/// Encoder-decoder interpolant: alpha = cos^2(pi t) on [0, 1/2) and 0 after, beta = 0 on [0, 1/2) and
/// cos^2(pi t) after, gamma = sin^2(pi t) by default: x0 is encoded into pure noise at t = 1/2, then decoded into x1.
/// </summary>
public sealed class EncoderDecoderInterpolant(GammaSchedule? gamma = null) : AffineInterpolant(gamma ?? GammaSchedule.SinSquared())
{
    /// <inheritdoc />
    public override string Name => "encoder-decoder";
    private static double Cos2(double t) { var c = Math.Cos(Math.PI * t); return c * c; }
    // d/dt cos^2(pi t) = -pi sin(2 pi t)
    private static double Cos2Dot(double t) => -Math.PI * Math.Sin(2 * Math.PI * t);
    /// <inheritdoc />
    protected override double Alpha(double t) => t < 0.5 ? Cos2(t) : 0;
    /// <inheritdoc />
    protected override double AlphaDot(double t) => t < 0.5 ? Cos2Dot(t) : 0;
    /// <inheritdoc />
    protected override double Beta(double t) => t < 0.5 ? 0 : Cos2(t);
    /// <inheritdoc />
    protected override double BetaDot(double t) => t < 0.5 ? 0 : Cos2Dot(t);
}

/// <summary>
/// One-sided linear interpolant: x_t = (1 - t) z + t x1 with x0 = z ~ N(0, I) the noise itself (no separate gamma).
/// Requires a standard Gaussian base.
/// </summary>
public sealed class OneSidedLinearInterpolant() : AffineInterpolant(GammaSchedule.None)
{
    /// <inheritdoc />
    public override string Name => "one-sided-linear";
    /// <inheritdoc />
    public override InterpolantKind Kind => InterpolantKind.OneSided;
    /// <inheritdoc />
    protected override double Alpha(double t) => 1 - t;
    /// <inheritdoc />
    protected override double AlphaDot(double t) => -1;
    /// <inheritdoc />
    protected override double Beta(double t) => t;
    /// <inheritdoc />
    protected override double BetaDot(double t) => 1;
}

/// <summary>
/// One-sided variance-preserving ("diffusion") interpolant: x_t = sqrt(1 - t^2) z + t x1, x0 = z ~ N(0, I).
/// At each t its marginal equals that of the VP SDE / DDPM forward process at a matching noise level,
/// with diffusion time running the other way (data at diffusion time 0 is t = 1 here).
/// alpha'(t) = -t / sqrt(1 - t^2) is unbounded at t = 1.
/// </summary>
public sealed class OneSidedVpInterpolant() : AffineInterpolant(GammaSchedule.None)
{
    /// <inheritdoc />
    public override string Name => "one-sided-vp";
    /// <inheritdoc />
    public override InterpolantKind Kind => InterpolantKind.OneSided;
    /// <inheritdoc />
    protected override double Alpha(double t) => Math.Sqrt(Math.Max(1 - t * t, 0));
    /// <inheritdoc />
    protected override double AlphaDot(double t) => t >= 1 ? double.NegativeInfinity : -t / Math.Sqrt(1 - t * t);
    /// <inheritdoc />
    protected override double Beta(double t) => t;
    /// <inheritdoc />
    protected override double BetaDot(double t) => 1;
}

/// <summary>
/// Mirror interpolant: x0 = x1 and x_t = x1 + gamma(t) z (default gamma = sqrt(t (1 - t))). rho(0) = rho(1) = rho1;
/// the learned fields denoise rather than transport. Alpha = 0 and beta = 1 for all t.
/// </summary>
public sealed class MirrorInterpolant(GammaSchedule? gamma = null) : AffineInterpolant(gamma ?? GammaSchedule.Sqrt())
{
    /// <inheritdoc />
    public override string Name => "mirror";
    /// <inheritdoc />
    public override InterpolantKind Kind => InterpolantKind.Mirror;
    /// <inheritdoc />
    protected override double Alpha(double t) => 0;
    /// <inheritdoc />
    protected override double AlphaDot(double t) => 0;
    /// <inheritdoc />
    protected override double Beta(double t) => 1;
    /// <inheritdoc />
    protected override double BetaDot(double t) => 0;
}
