using StochasticInterpolants.Data;
using StochasticInterpolants.Manifolds;
using StochasticInterpolants.Runtime;
using static TorchSharp.torch;

namespace StochasticInterpolants.Interpolants;

/// <summary>
/// The geodesic interpolant on a manifold M (docs/theory.md §15.8): x_t = exp_{x0}(t log_{x0}(x1)), the point a fraction t
/// of the way along the shortest geodesic from x0 (t = 0) to x1 (t = 1), with velocity d/dt x_t tangent at x_t and of
/// constant length d(x0, x1). In the normal coordinates at x0 it is the linear interpolant, which is what
/// <see cref="At"/> reports (alpha = 1 - t, beta = t, gamma = 0) for the code that reads coefficients (time clips, pictures);
/// the path itself is <see cref="GeodesicPath"/>. It carries no latent noise: on the sphere no additive noise keeps x_t on
/// M with a closed-form velocity, and on the torus a wrapped noise would be well defined but its score has no closed-form
/// conversion to the denoiser (docs/theory.md §15.8), and the velocity, all that sampling and the likelihood need, does not
/// require it.
/// </summary>
public sealed class GeodesicInterpolant : IInterpolant
{
    /// <summary>Creates the interpolant on <paramref name="manifold"/>.</summary>
    public GeodesicInterpolant(IManifold manifold) => Manifold = manifold ?? throw new ArgumentNullException(nameof(manifold));

    /// <summary>Builds the interpolant a spec describes (family geodesic): its manifold is required, its gamma must be none.</summary>
    public static GeodesicInterpolant FromSpec(InterpolantSpec spec)
    {
        if (!spec.HasNoGamma)
            throw new InvalidSettingException("gamma", $"the geodesic interpolant carries no latent noise (got gamma '{spec.Gamma}'): on the sphere no additive noise stays on the manifold with a closed-form velocity; give gamma none");
        if (spec.Manifold is not { Length: > 0 } name)
            throw new InvalidSettingException("interpolant", "the geodesic interpolant needs the manifold its points live on (e.g. sphere:3, torus:2)");
        return new GeodesicInterpolant(Manifolds.Manifold.Parse(name));
    }

    /// <summary>The manifold x0, x1 and x_t live on.</summary>
    public IManifold Manifold { get; }

    /// <inheritdoc />
    public string Name => "geodesic";
    /// <inheritdoc />
    public InterpolantKind Kind => InterpolantKind.Geodesic;
    /// <inheritdoc />
    public InterpolantSpec Spec => new(Name, Manifold: Manifold.Name);
    InterpolantSpec? IInterpolant.Spec => Spec;
    /// <inheritdoc />
    public bool HasSingularGammaDerivative => false;

    /// <summary>alpha = 1 - t, beta = t, gamma = 0: the linear interpolant of the normal coordinates at x0.</summary>
    public InterpolantCoefficients At(double t) => new(1 - t, t, 0, -1, 1, 0, 0);

    /// <inheritdoc />
    public override string ToString() => $"geodesic on {Manifold.Name}";
}

/// <summary>
/// The path of <see cref="GeodesicInterpolant"/>: x_t = exp_{x0}(t log_{x0}(x1)) and d/dt x_t in closed form from the
/// manifold (<see cref="IManifold.Geodesic"/>, <see cref="IManifold.GeodesicVelocity"/>). Without latent noise only the
/// velocity is learned, and no other field converts from it.
/// </summary>
public sealed class GeodesicPath(GeodesicInterpolant interpolant) : InterpolantPath(interpolant)
{
    /// <summary>The manifold.</summary>
    public IManifold Manifold => interpolant.Manifold;

    /// <inheritdoc />
    public override bool HasNoise => false;
    /// <inheritdoc />
    protected override bool HasLatentNoise => false;
    /// <inheritdoc />
    public override double NoiseScale(double t) => 0;

    /// <summary>x_t = exp_{x0}(t log_{x0}(x1)) and d/dt x_t (tangent at x_t) for every row, t one time per row.</summary>
    public override (Tensor Xt, Tensor Velocity) Interpolate(TrainingBatch batch)
    {
        batch.Validate();
        using var scope = NewDisposeScope();
        var t = batch.T.to(batch.X0.dtype);
        var xt = Manifold.Geodesic(batch.X0, batch.X1, t);
        var velocity = Manifold.GeodesicVelocity(batch.X0, batch.X1, t);
        return (xt.MoveToOuterDisposeScope(), velocity.MoveToOuterDisposeScope());
    }

    /// <summary>Refused: the geodesic path has no Gaussian noise to decompose.</summary>
    public override NoiseDecomposition Decompose(TrainingBatch batch, PathCoefficients c) =>
        throw new InvalidSettingException("antithetic", "the geodesic interpolant has no latent noise: there is nothing to make antithetic");

    /// <inheritdoc />
    public override string? WhyNotConvertible(FieldKind wanted, IReadOnlyCollection<FieldKind> given) =>
        given.Contains(wanted) ? null
        : $"the geodesic interpolant on {Manifold.Name} has no latent noise: only its velocity is learned, and the {Describe(wanted)} does not follow from it";

    /// <inheritdoc />
    protected override Tensor Convert(FieldKind wanted, PathCoefficients c, Tensor x, Func<FieldKind, Tensor?> given) =>
        given(wanted) ?? throw new InvalidOperationException($"the {Describe(wanted)} cannot be converted on the geodesic path");
}
