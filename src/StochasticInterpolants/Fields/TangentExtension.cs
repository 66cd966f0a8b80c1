using StochasticInterpolants.Manifolds;
using static TorchSharp.torch;

namespace StochasticInterpolants.Fields;

/// <summary>
/// A field on a manifold M extended to the coordinates around it so that its ordinary divergence is the Riemannian one
/// (docs/theory.md §15.7): V(t, y) = P_{pi(y)} b(t, pi(y)), with pi the projection onto M (<see cref="IManifold.ProjectToManifold"/>)
/// and P the projection onto the tangent space. On the sphere V is tangent to every sphere |y| = r and constant along rays,
/// so at |y| = 1 its ambient divergence has no normal part and equals div_S of the tangent part of b; on the flat torus
/// and R^k, pi is (locally) the identity and the divergence is the ordinary one; a product acts factor by factor. The
/// likelihood's exact and Hutchinson divergences therefore need no change on a manifold: they are taken of this field.
/// </summary>
public sealed class TangentExtension(IManifold manifold, IVelocityField tangentField) : IVelocityField
{
    /// <summary>The manifold.</summary>
    public IManifold Manifold { get; } = manifold;

    /// <summary>V(t, y) = P_{pi(y)} b(t, pi(y)).</summary>
    public Tensor Velocity(double t, Tensor x)
    {
        using var scope = NewDisposeScope();
        var onManifold = Manifold.ProjectToManifold(x);
        return Manifold.ProjectToTangent(onManifold, tangentField.Velocity(t, onManifold)).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public string Description => $"{tangentField.Description} on {Manifold.Name}";
}
