using StochasticInterpolants.Data;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Runtime;

namespace StochasticInterpolants.Couplings;

/// <summary>
/// Settings of the couplings (docs/theory.md §12); each coupling reads the ones it names and ignores the rest.
/// </summary>
/// <param name="OtBlock">Exact OT (<c>ot</c>): rows per exact solve; 0 (default) solves the whole batch (each class) at
/// once, B &gt; 0 cuts it into blocks of at most B rows (faster for large batches, but only blockwise optimal).</param>
/// <param name="Epsilon">Entropic OT (<c>sinkhorn</c>): the regularisation eps of the plan
/// pi(x0, x1) ∝ exp(-|x0 - x1|^2 / (2 eps)) — the Brownian bridge of diffusion eps, so gamma(t) = sqrt(eps t(1-t)) makes the
/// interpolant the Schrödinger bridge (in squared data units).</param>
/// <param name="SinkhornIterations">Entropic OT: at most this many Sinkhorn iterations per batch.</param>
/// <param name="SinkhornTolerance">Entropic OT: stop when the plan's marginals are within this (L1) of uniform.</param>
/// <param name="Mask">In-painting: the hidden region of each image (see <c>Corruptions</c>).</param>
/// <param name="Factor">Super-resolution: the downsampling factor.</param>
/// <param name="Noise">Denoising: the standard deviation of the noise added to x1 (in the flow's units); super-resolution:
/// the noise added to the upsampled x0 (in-painting fills its hidden region with N(0, 1) noise instead).</param>
public sealed record CouplingOptions(
    int OtBlock = 0,
    double Epsilon = 0.1,
    int SinkhornIterations = 200,
    double SinkhornTolerance = 1e-3,
    string Mask = "center",
    int Factor = 2,
    double Noise = 0.1);

/// <summary>A coupling as stored in a config and a checkpoint: its registered name and its settings.</summary>
/// <param name="Name">The registered name (independent, mirror, ot, sinkhorn, ...).</param>
/// <param name="Options">Its settings.</param>
/// <param name="Convergence">In a checkpoint of a coupling that solves each batch numerically (sinkhorn): how the solves
/// went over the run (batches whose plan stopped above the tolerance, the worst marginal error); null otherwise and in
/// checkpoints written before it was recorded.</param>
public sealed record CouplingSpec(string Name, CouplingOptions Options,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] CouplingConvergence? Convergence = null)
{
    /// <summary>The coupling this spec names, for <paramref name="interpolant"/>, <paramref name="baseDistribution"/> and <paramref name="target"/>.</summary>
    public ICoupling Build(IInterpolant interpolant, IDistribution baseDistribution, IDistribution target) =>
        Couplings.Create(Name, interpolant, baseDistribution, target, Options);
}

/// <summary>
/// The couplings by name: <c>independent</c> (two-sided and one-sided interpolants; one-sided ones need the standard Gaussian
/// base, since x0 is their noise) and <c>mirror</c> (x0 = x1), and the others registered below. Register a builder to add
/// one; adding a coupling touches this registry only.
/// </summary>
public static class Couplings
{
    /// <summary>Builds a coupling from the interpolant, base, target and settings.</summary>
    public delegate ICoupling Builder(IInterpolant interpolant, IDistribution baseDistribution, IDistribution target, CouplingOptions options);

    private static readonly NameRegistry<Builder> Builders = Create();

    private static NameRegistry<Builder> Create()
    {
        var registry = new NameRegistry<Builder>("coupling");
        registry.Register("independent", (interpolant, b, target, _) => interpolant.Kind switch
        {
            InterpolantKind.OneSided when b is not StandardGaussian =>
                throw new InvalidSettingException("coupling", $"interpolant '{interpolant.Name}' is one-sided: its base must be the standard Gaussian, not '{b.Name}'"),
            InterpolantKind.Mirror => throw new InvalidSettingException("coupling", "the mirror interpolant has x0 = x1: it needs the mirror coupling, not independent pairs"),
            _ => new IndependentCoupling(b, target),
        });
        registry.Register("mirror", (interpolant, _, target, _) => interpolant.Kind == InterpolantKind.Mirror ? new MirrorCoupling(target)
            : throw new InvalidSettingException("coupling", $"the mirror coupling (x0 = x1) goes with the mirror interpolant, not '{interpolant.Name}'"));
        registry.Register("ot", (interpolant, b, target, options) =>
        {
            RequireTwoSided("ot", interpolant);
            if (options.OtBlock < 0) throw new InvalidSettingException("ot-block", $"the OT block size must be 0 (the whole batch) or a number of rows >= 1, got {options.OtBlock}");
            return new OptimalTransportCoupling(b, target) { BlockSize = options.OtBlock };
        });
        registry.Register("sinkhorn", (interpolant, b, target, o) =>
        {
            RequireTwoSided("sinkhorn", interpolant);
            return new SinkhornCoupling(b, target, o.Epsilon, o.SinkhornIterations, o.SinkhornTolerance); // validates eps, iterations, tolerance
        });
        DataDependentCoupling.RegisterAll((name, build) => registry.Register(name, build)); // inpaint, superres, denoise
        return registry;
    }

    /// <summary>The registered names.</summary>
    public static IReadOnlyList<string> Names => Builders.Names;

    /// <summary>Registers (or replaces) a coupling.</summary>
    public static void Register(string name, Builder build) => Builders.Register(name, build);

    /// <summary>The coupling <paramref name="name"/>; throws <see cref="InvalidSettingException"/> for an unknown name or a combination that cannot work.</summary>
    public static ICoupling Create(string name, IInterpolant interpolant, IDistribution baseDistribution, IDistribution target, CouplingOptions? options = null) =>
        Builders.Find(name) is { } entry ? entry.Builder(interpolant, baseDistribution, target, options ?? new CouplingOptions())
            : throw new InvalidSettingException("coupling", $"unknown coupling '{name}' (expected {string.Join(", ", Names)})");

    /// <summary>The name of the coupling an interpolant assumes: mirror for the mirror interpolant, independent otherwise.</summary>
    public static string DefaultName(IInterpolant interpolant) => interpolant.Kind == InterpolantKind.Mirror ? "mirror" : "independent";

    /// <summary>The coupling an interpolant assumes: mirror for the mirror interpolant, independent otherwise.</summary>
    public static ICoupling For(IInterpolant interpolant, IDistribution baseDistribution, IDistribution target) =>
        Create(DefaultName(interpolant), interpolant, baseDistribution, target);

    /// <summary>
    /// Refuses a coupling that pairs x0 with x1 (<paramref name="name"/>) on an interpolant that cannot use one: the mirror
    /// interpolant has x0 = x1, and a one-sided interpolant uses x0 as its Gaussian noise, whose independence of x1 its
    /// score and denoiser rest on.
    /// </summary>
    public static void RequireTwoSided(string name, IInterpolant interpolant)
    {
        if (interpolant.Kind == InterpolantKind.Mirror)
            throw new InvalidSettingException("coupling", $"the '{name}' coupling pairs x0 with x1, but the mirror interpolant has x0 = x1 (use --coupling mirror)");
        if (interpolant.Kind == InterpolantKind.OneSided)
            throw new InvalidSettingException("coupling", $"the '{name}' coupling pairs x0 with x1, but interpolant '{interpolant.Name}' is one-sided: its x0 is Gaussian noise that must stay independent of x1 (use a two-sided interpolant such as linear)");
    }
}
