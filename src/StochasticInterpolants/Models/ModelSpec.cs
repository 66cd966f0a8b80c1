using StochasticInterpolants.Runtime;

namespace StochasticInterpolants.Models;

/// <summary>
/// A serialisable description of a network architecture, stored in checkpoints so the network can be rebuilt by the
/// <see cref="NetworkRegistry"/>.
/// </summary>
/// <param name="Type">The architecture name registered in <see cref="NetworkRegistry"/> (built in: <c>mlp</c>, <c>unet</c>, <c>manifold-mlp</c>).</param>
/// <param name="Mlp">The MLP configuration when <paramref name="Type"/> is <c>mlp</c>.</param>
/// <param name="Settings">Settings of other architectures, as JSON text interpreted by their registered builder (for <c>unet</c>:
/// <see cref="UNetConfig.ToJson"/>; for <c>manifold-mlp</c>: the manifold's name, and <paramref name="Mlp"/> the MLP's configuration).</param>
public sealed record ModelSpec(string Type, MlpConfig? Mlp, string? Settings = null)
{
    /// <summary>Builds an untrained network of this architecture, initialised from <paramref name="seed"/>.</summary>
    public ITimeConditionedNetwork Build(long seed = 0) => NetworkRegistry.Build(this, seed);
}

/// <summary>
/// The networks the library can rebuild from a <see cref="ModelSpec"/>, by type name. Register a builder for a custom
/// architecture (with its settings in <see cref="ModelSpec.Settings"/>) and its checkpoints load like built-in ones.
/// </summary>
public static class NetworkRegistry
{
    private static readonly NameRegistry<Func<ModelSpec, long, ITimeConditionedNetwork>> Builders = Create();

    private static NameRegistry<Func<ModelSpec, long, ITimeConditionedNetwork>> Create()
    {
        var registry = new NameRegistry<Func<ModelSpec, long, ITimeConditionedNetwork>>("network type");
        registry.Register("mlp", (spec, seed) => new MlpNetwork(spec.Mlp ?? throw new ArgumentException("an mlp model needs its configuration"), seed));
        registry.Register(ManifoldNetwork.TypeName, ManifoldNetwork.FromSpec);
        registry.Register("unet", (spec, seed) => new UNet(UNetConfig.FromJson(spec.Settings ?? throw new ArgumentException("a unet model needs its settings (UNetConfig as JSON)")), seed));
        registry.Register(PosteriorConfig.TypeName, (spec, seed) => new PosteriorNetwork(PosteriorConfig.FromJson(spec.Settings ?? throw new ArgumentException("a posterior model needs its settings (PosteriorConfig as JSON)")), seed));
        return registry;
    }

    /// <summary>The registered type names.</summary>
    public static IReadOnlyList<string> Names => Builders.Names;

    /// <summary>Registers (or replaces) the builder of <paramref name="type"/>.</summary>
    public static void Register(string type, Func<ModelSpec, long, ITimeConditionedNetwork> build) => Builders.Register(type, build);

    /// <summary>Builds the network <paramref name="spec"/> describes; throws <see cref="NotSupportedException"/> for an unknown type.</summary>
    public static ITimeConditionedNetwork Build(ModelSpec spec, long seed = 0) =>
        Builders.Find(spec.Type) is { } entry ? entry.Builder(spec, seed)
            : throw new NotSupportedException($"unknown model type '{spec.Type}' (known: {string.Join(", ", Names)})");
}
