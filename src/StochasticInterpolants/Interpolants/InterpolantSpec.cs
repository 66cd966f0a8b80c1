using StochasticInterpolants.Runtime;

namespace StochasticInterpolants.Interpolants;

/// <summary>
/// A serialisable description of an interpolant: its family, its gamma schedule and the schedule's scale a.
/// <see cref="Build"/> turns it back into an <see cref="IInterpolant"/> through <see cref="InterpolantRegistry"/>, so a
/// registered family (a <see cref="CustomInterpolant"/> too) is rebuilt from its name like a built-in one.
/// </summary>
/// <param name="Family">A name registered in <see cref="InterpolantRegistry"/>: built in are linear, trigonometric,
/// encoder-decoder, one-sided-linear, one-sided-vp and mirror (case-insensitive).</param>
/// <param name="Gamma">A name registered in <see cref="GammaSchedule"/> (built in: none, sqrt, quadratic, sin2; case-insensitive).
/// For encoder-decoder, none (or empty) means its default sin2, for mirror its default sqrt; one-sided families need none.</param>
/// <param name="GammaScale">The scale a in sqrt(a t (1 - t)), a t (1 - t) or a sin^2(pi t); must be a positive finite number.</param>
/// <param name="Manifold">For the geodesic family, the manifold its points live on, as <see cref="Manifolds.Manifold.Parse"/>
/// reads it (e.g. "sphere:3", "torus:2"); null for interpolants in R^d.</param>
public sealed record InterpolantSpec(string Family, string Gamma = "none", double GammaScale = 1.0,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] string? Manifold = null)
{
    /// <summary>The families <see cref="Build"/> knows: the names registered in <see cref="InterpolantRegistry"/>.</summary>
    public static IReadOnlyList<string> Families => InterpolantRegistry.Names;

    /// <summary>Builds the interpolant this spec describes; throws <see cref="ArgumentException"/> with a one-line reason otherwise.</summary>
    public IInterpolant Build() => InterpolantRegistry.Build(this);

    /// <summary>True when <see cref="Gamma"/> names no latent noise: empty, or none (or an alias of it), in any case.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool HasNoGamma => GammaSchedule.IsNone(Gamma);

    /// <summary>
    /// The gamma schedule this spec names with scale <see cref="GammaScale"/> (for family builders). When
    /// <see cref="HasNoGamma"/> and <paramref name="whenNone"/> is given, the schedule <paramref name="whenNone"/> instead
    /// (a family's default). Throws <see cref="ArgumentException"/> for an unknown name or a scale that is not positive and finite.
    /// </summary>
    public GammaSchedule BuildGamma(string? whenNone = null)
    {
        GammaSchedule.CheckScale(GammaScale);
        return HasNoGamma ? GammaSchedule.Parse(whenNone ?? "none", GammaScale) : GammaSchedule.Parse(Gamma, GammaScale);
    }

    /// <summary>Throws <see cref="ArgumentException"/> unless <see cref="HasNoGamma"/> (for one-sided families, whose noise is x0).</summary>
    public void RequireNoGamma()
    {
        if (!HasNoGamma) throw new InvalidSettingException("gamma", $"interpolant '{Family}' is one-sided: its noise is x0 itself, so its gamma must be none (got '{Gamma}')");
    }
}
