using static TorchSharp.torch;

namespace StochasticInterpolants.Manifolds;

/// <summary>
/// A Riemannian manifold embedded in coordinates: a point is a row of an [n, D] tensor (D = <see cref="CoordinateDimension"/>),
/// a tangent vector at a point is a row of the same width, and every operation acts row by row on a batch (docs/theory.md §15).
/// Operations work in the dtype of their input (float32 samples, float64 where precision matters) and return new tensors.
/// </summary>
public interface IManifold
{
    /// <summary>The spec that <see cref="Manifold.Parse"/> turns back into this manifold, e.g. "sphere:3", "torus:2", "torus:2xR:1".</summary>
    string Name { get; }

    /// <summary>D, the width of a point's coordinates (d for the sphere S^{d-1} in R^d).</summary>
    int CoordinateDimension { get; }

    /// <summary>The manifold's own dimension (d - 1 for S^{d-1}, d for T^d and R^d, the sum over a product's factors).</summary>
    int IntrinsicDimension { get; }

    /// <summary>True when the manifold has finite volume, so <see cref="SampleUniform"/> and <see cref="LogVolume"/> are defined.</summary>
    bool IsCompact { get; }

    /// <summary>
    /// The injectivity radius: <see cref="Log"/> inverts <see cref="Exp"/> for tangent vectors shorter than this (pi for the unit
    /// sphere and the flat torus T^d with period 2 pi, infinite for R^k, the least factor's for a product).
    /// </summary>
    double InjectivityRadius { get; }

    /// <summary>
    /// m, the width of <see cref="Embed"/>'s output: d for the sphere in R^d and for R^d, 2d for T^d, the sum for a product.
    /// </summary>
    int EmbeddingDimension { get; }
    /// <summary>
    /// A smooth injective map of the manifold into R^m (<see cref="EmbeddingDimension"/>), continuous where the coordinates are
    /// not: the sphere's and R^k's points are their coordinates, an angle a of the torus becomes (cos a, sin a), so a point just
    /// below pi and one just above -pi, which are neighbours, map to neighbours. A network on the manifold reads its input
    /// through it (docs/theory.md §15.8).
    /// </summary>
    Tensor Embed(Tensor x);
    /// <summary>The exponential map exp_x(v): the point reached at time 1 along the geodesic from x with initial velocity v (tangent at x).</summary>
    Tensor Exp(Tensor x, Tensor v);

    /// <summary>
    /// The logarithm log_x(y): the initial velocity of the shortest geodesic from x to y at time 1, so |log_x(y)| = d(x, y).
    /// On the cut locus (antipodal points of the sphere, a coordinate difference of exactly pi on the torus) several shortest
    /// geodesics exist; each manifold picks one deterministically and the result is finite.
    /// </summary>
    Tensor Log(Tensor x, Tensor y);

    /// <summary>The orthogonal projection P_x v of an ambient vector onto the tangent space at x.</summary>
    Tensor ProjectToTangent(Tensor x, Tensor v);

    /// <summary>The nearest point of the manifold (normalise on the sphere, wrap on the torus): the retraction that removes rounding drift.</summary>
    Tensor ProjectToManifold(Tensor x);

    /// <summary>The geodesic distance d(x, y) of each row pair, shape [n].</summary>
    Tensor Distance(Tensor x, Tensor y);

    /// <summary>
    /// The geodesic x_t = exp_{x0}(t log_{x0}(x1)) from x0 (t = 0) to x1 (t = 1); <paramref name="t"/> is a scalar tensor or
    /// one time per row, shape [n].
    /// </summary>
    Tensor Geodesic(Tensor x0, Tensor x1, Tensor t);

    /// <summary>The time derivative d x_t / dt of <see cref="Geodesic"/> in closed form, a tangent vector at x_t of constant length d(x0, x1).</summary>
    Tensor GeodesicVelocity(Tensor x0, Tensor x1, Tensor t);

    /// <summary>
    /// The inverse differential of the exponential map: the tangent vector w at x with D exp_x(v)[w] = z, for z tangent at
    /// exp_x(v) and |v| below the injectivity radius. It carries a velocity at exp_x(v) into the normal coordinates centred at
    /// x, which is what makes a Runge–Kutta step in those coordinates keep its order (see <c>ManifoldRungeKuttaSolver</c>).
    /// </summary>
    Tensor InverseExpDifferential(Tensor x, Tensor v, Tensor z);

    /// <summary>
    /// <paramref name="count"/> points drawn from the uniform (normalised Riemannian volume) distribution, density
    /// exp(-<see cref="LogVolume"/>). Throws <see cref="NotSupportedException"/> when the manifold is not compact.
    /// </summary>
    Tensor SampleUniform(int count, Generator? generator = null, ScalarType dtype = ScalarType.Float32);

    /// <summary>log of the total volume (2 pi^{d/2} / Gamma(d/2) for S^{d-1}, (2 pi)^d for T^d, the sum for a product); +infinity when not compact.</summary>
    double LogVolume { get; }

    /// <summary>How far each row is from the manifold, shape [n]: | |x| - 1 | on the sphere, the distance outside [-pi, pi] per angle on the torus.</summary>
    Tensor MaxViolation(Tensor x);
}
