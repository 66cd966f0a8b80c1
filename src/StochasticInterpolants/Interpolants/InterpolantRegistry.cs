using System.Collections.Concurrent;
using StochasticInterpolants.Runtime;

namespace StochasticInterpolants.Interpolants;

/// <summary>
/// The interpolant families by name, each a builder from an <see cref="InterpolantSpec"/>. Built in: <c>linear</c>,
/// <c>trigonometric</c> (alias <c>trig</c>), <c>encoder-decoder</c> (<c>encdec</c>), <c>one-sided-linear</c>
/// (<c>one-sided</c>), <c>one-sided-vp</c> (<c>vp</c>), <c>mirror</c>, <c>geodesic</c> (on a manifold), and the discrete mixture
/// paths <c>mixture-linear</c> (<c>mixture</c>), <c>mixture-cubic</c> and <c>mixture-polynomial</c> (kappa = t^p, p the spec's scale).
/// Names are matched case-insensitively.
/// Register a builder to add a family: <see cref="InterpolantSpec.Build"/> then finds it, so a checkpoint whose spec names
/// it loads like a built-in one (register it again in the process that loads the checkpoint). A
/// <see cref="CustomInterpolant"/> is registered with <see cref="CustomInterpolant.Register"/>.
/// </summary>
public static class InterpolantRegistry
{
    private static readonly NameRegistry<Func<InterpolantSpec, IInterpolant>> Builders = BuiltIns();

    private static NameRegistry<Func<InterpolantSpec, IInterpolant>> BuiltIns()
    {
        var r = new NameRegistry<Func<InterpolantSpec, IInterpolant>>("interpolant");
        r.Register("linear", s => new LinearInterpolant(s.BuildGamma()));
        r.Register("trigonometric", s => new TrigonometricInterpolant(s.BuildGamma()), "trig");
        r.Register("encoder-decoder", s => new EncoderDecoderInterpolant(s.BuildGamma(whenNone: "sin2")), "encdec");
        r.Register("one-sided-linear", s => { s.RequireNoGamma(); return new OneSidedLinearInterpolant(); }, "one-sided");
        r.Register("one-sided-vp", s => { s.RequireNoGamma(); return new OneSidedVpInterpolant(); }, "vp");
        r.Register("mirror", s => new MirrorInterpolant(s.BuildGamma(whenNone: "sqrt")));
        r.Register("geodesic", GeodesicInterpolant.FromSpec);
        foreach (var kappa in new[] { "linear", "cubic", "polynomial" }) // discrete mixture paths (docs/theory.md §16); the scale is polynomial's p
            r.Register(MixtureInterpolant.FamilyPrefix + kappa, MixtureInterpolant.Builder(kappa), kappa == "linear" ? ["mixture"] : []);
        return r;
    }

    /// <summary>The registered family names (aliases left out), built-in ones first, in registration order.</summary>
    public static IReadOnlyList<string> Names => Builders.Names;

    /// <summary>
    /// Registers (or replaces) the family <paramref name="name"/>, also found under <paramref name="aliases"/>. The builder
    /// receives the whole spec (its gamma name and scale, already checked to be a positive finite number) and should build
    /// an interpolant whose <see cref="IInterpolant.Name"/> is <paramref name="name"/>, so its spec rebuilds it.
    /// </summary>
    public static void Register(string name, Func<InterpolantSpec, IInterpolant> build, params string[] aliases) =>
        Builders.Register(name, build, aliases);

    /// <summary>True when <paramref name="name"/> (or an alias) is registered.</summary>
    public static bool Contains(string name) => Builders.Find(name) is not null;

    /// <summary>The builder registered under <paramref name="name"/> (or an alias), or null.</summary>
    internal static Func<InterpolantSpec, IInterpolant>? Find(string name) => Builders.Find(name)?.Builder;

    /// <summary>
    /// Builds the interpolant <paramref name="spec"/> describes; throws <see cref="ArgumentException"/> with a one-line
    /// reason for an unknown family, a gamma scale that is not a positive finite number, or a gamma the family refuses.
    /// </summary>
    public static IInterpolant Build(InterpolantSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var entry = Builders.Find(spec.Family)
            ?? throw new InvalidSettingException("interpolant", $"unknown interpolant '{spec.Family}' (expected {string.Join(", ", Names)})");
        GammaSchedule.CheckScale(spec.GammaScale);
        return entry.Builder(spec) ?? throw new InvalidOperationException($"the builder of interpolant '{entry.Name}' returned null");
    }
}
