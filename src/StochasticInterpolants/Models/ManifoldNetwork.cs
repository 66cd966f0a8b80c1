using StochasticInterpolants.Manifolds;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Models;

/// <summary>
/// A velocity network on a manifold M (docs/theory.md §15.8): b(t, x) = P_x f(e(x), t, c), where e is the manifold's
/// embedding (<see cref="IManifold.Embed"/>: (cos a, sin a) per torus angle, the unit vector itself on the sphere), f an
/// <see cref="MlpNetwork"/> from the embedding's width to the coordinates' width, and P_x the projection onto the tangent
/// space at x. Reading the embedding makes b continuous across the torus's identified edges (the raw angle jumps by 2 pi
/// there); projecting makes every output a tangent vector, so the loss compares tangent vectors with the tangent target
/// and the solvers' exponential steps never see a normal component.
/// </summary>
public sealed class ManifoldNetwork : nn.Module<Tensor, Tensor, Tensor>, ITimeConditionedNetwork
{
    /// <summary>The type name under which <see cref="NetworkRegistry"/> rebuilds the network.</summary>
    public const string TypeName = "manifold-mlp";

    private readonly MlpNetwork _mlp;

    /// <summary>Builds the network on <paramref name="manifold"/> with the MLP <paramref name="config"/> (its input and output widths are set from the manifold), initialised from <paramref name="seed"/>.</summary>
    public ManifoldNetwork(IManifold manifold, MlpConfig config, long seed) : base("manifold_mlp")
    {
        Manifold = manifold;
        if (config.TwoTimes) throw new ArgumentException("a flow map on a manifold is not supported: its jumps would have to be exponential steps");
        Config = config with { Dimension = manifold.EmbeddingDimension, OutputDimension = manifold.CoordinateDimension };
        _mlp = new MlpNetwork(Config, seed);
        register_module("mlp", _mlp);
    }

    /// <summary>The manifold.</summary>
    public IManifold Manifold { get; }
    /// <summary>The MLP's configuration (input: the embedding's width; output: the coordinates').</summary>
    public MlpConfig Config { get; }

    /// <inheritdoc />
    public nn.Module Module => this;
    /// <inheritdoc />
    public ModelSpec Spec => new(TypeName, Config, Manifold.Name);
    ModelSpec? ITimeConditionedNetwork.Spec => Spec;

    /// <summary>b(t, x) without a condition.</summary>
    public override Tensor forward(Tensor x, Tensor t) => forward(x, t, null);

    /// <summary>b(t, x; c) = P_x f(e(x), t, c): x [n, D] points of the manifold, t [] or [n] -> [n, D] tangent vectors.</summary>
    public Tensor forward(Tensor x, Tensor t, Tensor? condition)
    {
        if (x.dim() != 2 || x.shape[1] != Manifold.CoordinateDimension)
            throw new ArgumentException($"the network on {Manifold.Name} expects points of shape [n, {Manifold.CoordinateDimension}], got [{string.Join(",", x.shape)}]");
        using var scope = NewDisposeScope();
        var raw = _mlp.forward(Manifold.Embed(x), t, condition);
        return Manifold.ProjectToTangent(x, raw).MoveToOuterDisposeScope();
    }

    /// <summary>Rebuilds the network from a spec of type <see cref="TypeName"/> (its Settings name the manifold).</summary>
    internal static ManifoldNetwork FromSpec(ModelSpec spec, long seed) =>
        new(Manifolds.Manifold.Parse(spec.Settings ?? throw new ArgumentException("a manifold-mlp model needs its manifold (ModelSpec.Settings)")),
            spec.Mlp ?? throw new ArgumentException("a manifold-mlp model needs its MLP configuration"), seed);
}
