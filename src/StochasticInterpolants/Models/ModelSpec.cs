namespace StochasticInterpolants.Models;

/// <summary>
/// A serialisable description of a network architecture, stored in checkpoints so the network can be rebuilt.
/// </summary>
/// <param name="Type">The architecture name; the library knows <c>mlp</c>.</param>
/// <param name="Mlp">The MLP configuration when <paramref name="Type"/> is <c>mlp</c>.</param>
public sealed record ModelSpec(string Type, MlpConfig? Mlp)
{
    /// <summary>Builds an untrained network of this architecture, initialised from <paramref name="seed"/>.</summary>
    public ITimeConditionedNetwork Build(long seed = 0) => Type switch
    {
        "mlp" when Mlp is not null => new MlpNetwork(Mlp, seed),
        _ => throw new NotSupportedException($"unknown model type '{Type}' (this version knows: mlp)"),
    };
}
