namespace StochasticInterpolants.Interpolants;

/// <summary>
/// A serialisable description of a built-in interpolant: its family, its gamma schedule and the
/// schedule's scale a. <see cref="Build"/> turns it back into an <see cref="IInterpolant"/>.
/// </summary>
/// <param name="Family">linear, trigonometric, encoder-decoder, one-sided-linear, one-sided-vp or mirror.</param>
/// <param name="Gamma">none, sqrt, quadratic or sin2 (ignored by one-sided families, which have no latent noise).</param>
/// <param name="GammaScale">The scale a in sqrt(a t (1 - t)), a t (1 - t) or a sin^2(pi t).</param>
public sealed record InterpolantSpec(string Family, string Gamma = "none", double GammaScale = 1.0)
{
    /// <summary>The families <see cref="Build"/> knows.</summary>
    public static IReadOnlyList<string> Families { get; } =
        ["linear", "trigonometric", "encoder-decoder", "one-sided-linear", "one-sided-vp", "mirror"];

    /// <summary>Builds the interpolant this spec describes; throws <see cref="ArgumentException"/> with a one-line reason otherwise.</summary>
    public IInterpolant Build()
    {
        var family = Family.Trim().ToLowerInvariant();
        switch (family)
        {
            case "linear": return new LinearInterpolant(GammaSchedule.Parse(Gamma, GammaScale));
            case "trigonometric" or "trig": return new TrigonometricInterpolant(GammaSchedule.Parse(Gamma, GammaScale));
            case "encoder-decoder" or "encdec":
                return new EncoderDecoderInterpolant(Gamma is "none" or "" ? GammaSchedule.SinSquared(GammaScale) : GammaSchedule.Parse(Gamma, GammaScale));
            case "one-sided-linear" or "one-sided":
                RequireNoGamma(family); return new OneSidedLinearInterpolant();
            case "one-sided-vp" or "vp":
                RequireNoGamma(family); return new OneSidedVpInterpolant();
            case "mirror":
                return new MirrorInterpolant(Gamma is "none" or "" ? GammaSchedule.Sqrt(GammaScale) : GammaSchedule.Parse(Gamma, GammaScale));
            default:
                throw new ArgumentException($"unknown interpolant '{Family}' (expected {string.Join(", ", Families)})");
        }
    }

    private void RequireNoGamma(string family)
    {
        if (!(Gamma is "none" or "")) throw new ArgumentException($"interpolant '{family}' is one-sided: its noise is x0 itself, so --gamma must be none (got '{Gamma}')");
    }
}
