using TorchSharp;
using static TorchSharp.torch;
using static StochasticInterpolants.Manifolds.ManifoldMath;

namespace StochasticInterpolants.Manifolds;

/// <summary>
/// The product M_1 x ... x M_m with the product metric (docs/theory.md §15.4): a point concatenates the factors' coordinates
/// along the last axis, in order, and every map acts block-wise on each factor's slice; d(x, y)^2 = sum_i d_i(x_i, y_i)^2, the
/// log-volume is the sum of the factors' (compact only if every factor is), and the injectivity radius is the least factor's.
/// </summary>
public sealed class ProductManifold : IManifold
{
    private readonly int[] _offsets;

    /// <summary>The product of <paramref name="factors"/> (at least one).</summary>
    public ProductManifold(params IManifold[] factors)
    {
        ArgumentNullException.ThrowIfNull(factors);
        if (factors.Length == 0) throw new ArgumentException("a product manifold needs at least one factor", nameof(factors));
        Factors = factors.Select(f => f ?? throw new ArgumentException("a factor is null", nameof(factors))).ToArray();
        _offsets = new int[Factors.Count];
        for (var i = 1; i < Factors.Count; i++) _offsets[i] = _offsets[i - 1] + Factors[i - 1].CoordinateDimension;
    }

    /// <summary>The factors, in coordinate order.</summary>
    public IReadOnlyList<IManifold> Factors { get; }

    /// <summary>The factors' names joined by "x", e.g. "torus:2xR:1".</summary>
    public string Name => string.Join("x", Factors.Select(f => f.Name));
    /// <inheritdoc />
    public int CoordinateDimension => Factors.Sum(f => f.CoordinateDimension);
    /// <inheritdoc />
    public int IntrinsicDimension => Factors.Sum(f => f.IntrinsicDimension);
    /// <inheritdoc />
    public int EmbeddingDimension => Factors.Sum(f => f.EmbeddingDimension);
    /// <summary>The factors' embeddings side by side, in the factors' order.</summary>
    public Tensor Embed(Tensor x) => Blocks((f, a) => f.Embed(a), x);
    /// <inheritdoc />
    public bool IsCompact => Factors.All(f => f.IsCompact);
    /// <inheritdoc />
    public double InjectivityRadius => Factors.Min(f => f.InjectivityRadius);
    /// <summary>sum_i log vol(M_i); +infinity if a factor is not compact.</summary>
    public double LogVolume => IsCompact ? Factors.Sum(f => f.LogVolume) : double.PositiveInfinity;

    /// <summary>Factor <paramref name="index"/>'s slice of the coordinates, [n, D_i] (a view).</summary>
    public Tensor Slice(Tensor x, int index) => x.narrow(1, _offsets[index], Factors[index].CoordinateDimension);

    private Tensor Blocks(Func<IManifold, Tensor, Tensor> map, Tensor x)
    {
        CheckPoints(this, x);
        using var scope = NewDisposeScope();
        return cat(Factors.Select((f, i) => map(f, Slice(x, i))).ToArray(), 1).MoveToOuterDisposeScope();
    }

    private Tensor Blocks(Func<IManifold, Tensor, Tensor, Tensor> map, Tensor x, Tensor y, string what)
    {
        CheckPair(this, x, y, what);
        using var scope = NewDisposeScope();
        return cat(Factors.Select((f, i) => map(f, Slice(x, i), Slice(y, i))).ToArray(), 1).MoveToOuterDisposeScope();
    }

    /// <summary>exp block-wise: (exp_{x_i}(v_i))_i.</summary>
    public Tensor Exp(Tensor x, Tensor v) => Blocks((f, a, b) => f.Exp(a, b), x, v, "tangent vectors");
    /// <summary>log block-wise: (log_{x_i}(y_i))_i, each factor's cut-locus rule applying to its slice.</summary>
    public Tensor Log(Tensor x, Tensor y) => Blocks((f, a, b) => f.Log(a, b), x, y, "end points");
    /// <summary>P_x block-wise.</summary>
    public Tensor ProjectToTangent(Tensor x, Tensor v) => Blocks((f, a, b) => f.ProjectToTangent(a, b), x, v, "vectors");
    /// <summary>Each factor's retraction on its slice.</summary>
    public Tensor ProjectToManifold(Tensor x) => Blocks((f, a) => f.ProjectToManifold(a), x);
    /// <summary>x_t block-wise (the product geodesic moves every factor along its own geodesic at the same t).</summary>
    public Tensor Geodesic(Tensor x0, Tensor x1, Tensor t) => Blocks((f, a, b) => f.Geodesic(a, b, t), x0, x1, "end points");
    /// <summary>d x_t / dt block-wise.</summary>
    public Tensor GeodesicVelocity(Tensor x0, Tensor x1, Tensor t) => Blocks((f, a, b) => f.GeodesicVelocity(a, b, t), x0, x1, "end points");

    /// <summary>The inverse differential block-wise (D exp of a product is block-diagonal).</summary>
    public Tensor InverseExpDifferential(Tensor x, Tensor v, Tensor z)
    {
        CheckPair(this, x, v, "tangent vectors");
        CheckPair(this, x, z, "vectors");
        using var scope = NewDisposeScope();
        return cat(Factors.Select((f, i) => f.InverseExpDifferential(Slice(x, i), Slice(v, i), Slice(z, i))).ToArray(), 1).MoveToOuterDisposeScope();
    }

    /// <summary>d(x, y) = sqrt(sum_i d_i(x_i, y_i)^2).</summary>
    public Tensor Distance(Tensor x, Tensor y)
    {
        CheckPair(this, x, y, "points");
        using var scope = NewDisposeScope();
        return stack(Factors.Select((f, i) => f.Distance(Slice(x, i), Slice(y, i)).square()).ToArray(), 1).sum(1).sqrt().MoveToOuterDisposeScope();
    }

    /// <summary>The factors' uniform samples side by side (independent, drawn factor by factor from the one generator); only if every factor is compact.</summary>
    public Tensor SampleUniform(int count, Generator? generator = null, ScalarType dtype = ScalarType.Float32)
    {
        if (!IsCompact) throw new NotSupportedException($"{Name} is not compact (a factor has infinite volume): it has no uniform distribution");
        using var scope = NewDisposeScope();
        return cat(Factors.Select(f => f.SampleUniform(count, generator, dtype)).ToArray(), 1).MoveToOuterDisposeScope();
    }

    /// <summary>The largest factor violation per row.</summary>
    public Tensor MaxViolation(Tensor x)
    {
        CheckPoints(this, x);
        using var scope = NewDisposeScope();
        return stack(Factors.Select((f, i) => f.MaxViolation(Slice(x, i))).ToArray(), 1).amax(1).MoveToOuterDisposeScope();
    }
}
