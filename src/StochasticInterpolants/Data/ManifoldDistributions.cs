using System.Globalization;
using StochasticInterpolants.Manifolds;
using StochasticInterpolants.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Data;

/// <summary>A distribution whose samples are points of a manifold (rows in its coordinates, docs/theory.md §15).</summary>
public interface IManifoldDistribution : IDistribution
{
    /// <summary>The manifold the points live on.</summary>
    IManifold Manifold { get; }
}

/// <summary>
/// Observed points of a manifold (e.g. the training split of the Ramachandran angles), drawn uniformly with replacement;
/// no closed-form density. The rows are checked to lie on the manifold (within <see cref="Tolerance"/>) and projected onto it when the distribution is made.
/// </summary>
public sealed class ManifoldSamples : SampledDistribution, IManifoldDistribution, IDisposable
{
    private readonly Tensor _rows;

    /// <summary>Keeps a float32 copy of <paramref name="rows"/> [n, D], points of <paramref name="manifold"/>.</summary>
    public ManifoldSamples(IManifold manifold, Tensor rows, string name)
    {
        Manifold = manifold;
        Name = name;
        if (rows.dim() != 2 || rows.shape[1] != manifold.CoordinateDimension || rows.shape[0] < 1)
            throw new ArgumentException($"'{name}' needs rows [n >= 1, {manifold.CoordinateDimension}] of {manifold.Name}, got [{string.Join(",", rows.shape)}]");
        using var scope = NewDisposeScope();
        var exact = rows.to(float64);
        var violation = manifold.MaxViolation(exact);
        var worst = violation.max().ToDouble();
        if (!(worst <= Tolerance))
        {
            var row = violation.argmax().ToInt64();
            throw new DataFormatException($"'{name}': row {row + 1} lies {worst:G3} off {manifold.Name} ({Expected(manifold)})");
        }
        // Rounding in a file (a unit vector written to 6 digits) is removed by the projection onto the manifold.
        _rows = manifold.ProjectToManifold(exact).to(float32).DetachFromDisposeScope();
    }

    /// <summary>How far off the manifold a given row may lie (rounding in a file); it is projected onto the manifold.</summary>
    public const double Tolerance = 1e-3;

    private static string Expected(IManifold manifold) => manifold switch
    {
        Sphere => "rows must be unit vectors",
        FlatTorus => "angles must be radians in [-pi, pi]",
        _ => "see docs/theory.md §15",
    };

    /// <inheritdoc />
    public IManifold Manifold { get; }
    /// <inheritdoc />
    public override string Name { get; }
    /// <inheritdoc />
    public override int Dimension => Manifold.CoordinateDimension;
    /// <summary>The points, [n, D] float32.</summary>
    public Tensor Rows => _rows;
    /// <summary>The number of points.</summary>
    public long Count => _rows.shape[0];

    /// <summary><paramref name="count"/> rows drawn uniformly with replacement.</summary>
    public override Tensor Sample(int count, Generator generator)
    {
        CheckCount(count);
        using var index = randint(0, Count, [count], dtype: int64, generator: generator);
        return _rows.index_select(0, index);
    }

    /// <summary>Releases the rows.</summary>
    public void Dispose() => _rows.Dispose();
}

/// <summary>
/// The distributions on manifolds that the command line names: the test targets (<see cref="ManifoldTargets"/>) and the
/// bases <c>uniform:MANIFOLD</c> (the normalised volume, on any compact manifold) and <c>wrapped-gaussian[:SIGMA]:torus:D</c>
/// (N(0, sigma^2 I) wrapped onto [-pi, pi)^D, sigma 1 by default).
/// </summary>
public static class ManifoldDistributions
{
    /// <summary>The base names a manifold run accepts (resolved against the target's manifold by <see cref="BaseSpec"/>).</summary>
    public static IReadOnlyList<string> BaseNames { get; } = ["uniform", "wrapped-gaussian"];

    /// <summary>
    /// The full spec of the base <paramref name="name"/> (uniform, wrapped-gaussian or wrapped-gaussian:SIGMA, or a full spec)
    /// on <paramref name="manifold"/>, e.g. "uniform:sphere:3"; throws <see cref="InvalidSettingException"/> for a base that
    /// does not exist there.
    /// </summary>
    public static string BaseSpec(string name, IManifold manifold)
    {
        var key = name.Trim().ToLowerInvariant();
        var spec = key switch
        {
            "uniform" => $"uniform:{manifold.Name}",
            "wrapped-gaussian" or "wrapped-normal" => $"wrapped-gaussian:{manifold.Name}",
            _ when key.StartsWith("wrapped-gaussian:", StringComparison.Ordinal) && !key.Contains(':' + manifold.Name, StringComparison.Ordinal) => $"{key}:{manifold.Name}",
            _ => key,
        };
        var built = TryParse(spec) ?? throw new InvalidSettingException("base",
            $"unknown base '{name}' for a target on {manifold.Name} (expected {string.Join(" or ", BaseNames)}{(manifold is FlatTorus ? "" : "; wrapped-gaussian is for the torus")})");
        if (built is not IManifoldDistribution m || m.Manifold.Name != manifold.Name)
            throw new InvalidSettingException("base", $"base '{name}' is not a distribution on {manifold.Name}, the target's manifold");
        return spec;
    }

    /// <summary>The distribution <paramref name="spec"/> names (a test target, uniform:MANIFOLD, wrapped-gaussian[:SIGMA]:torus:D), or null.</summary>
    public static IDistribution? TryParse(string spec)
    {
        var key = spec.Trim().ToLowerInvariant();
        if (ManifoldTargets.TryParse(key) is { } target) return target;
        if (key.StartsWith("uniform:", StringComparison.Ordinal)) return Uniform(Manifold.Parse(key["uniform:".Length..]));
        if (!key.StartsWith("wrapped-gaussian:", StringComparison.Ordinal)) return null;
        var rest = key["wrapped-gaussian:".Length..];
        var sigma = 1.0;
        var colon = rest.IndexOf(':', StringComparison.Ordinal);
        if (colon > 0 && double.TryParse(rest[..colon], NumberStyles.Float, CultureInfo.InvariantCulture, out var s))
        {
            if (!(s > 0) || !double.IsFinite(s)) throw new InvalidSettingException("base", $"a wrapped Gaussian's sigma must be a positive number, got {rest[..colon]}");
            sigma = s; rest = rest[(colon + 1)..];
        }
        return Manifold.Parse(rest) is FlatTorus torus ? new WrappedGaussian(torus.CoordinateDimension, sigma)
            : throw new InvalidSettingException("base", $"the wrapped Gaussian lives on a torus, not on {rest}");
    }

    /// <summary>
    /// The uniform distribution on <paramref name="manifold"/>: the sphere's and the torus's own classes; on R^k, which has no
    /// uniform law, N(0, I); on a product, the product of its factors' (uniform angles times a Gaussian real column).
    /// </summary>
    public static IManifoldDistribution Uniform(IManifold manifold) => manifold switch
    {
        Sphere s => new UniformSphere(s.CoordinateDimension),
        FlatTorus t => new UniformTorus(t.CoordinateDimension),
        Euclidean e => new GaussianOnEuclidean(e),
        ProductManifold p => new ProductDistribution(p, p.Factors.Select(Uniform).ToArray()),
        _ => throw new InvalidSettingException("base", $"no uniform base on {manifold.Name}"),
    };

    // N(0, I) on R^k as a distribution on the manifold R^k (the real factor of a product's base).
    private sealed class GaussianOnEuclidean(Euclidean space) : IManifoldDistribution
    {
        private readonly StandardGaussian _gaussian = new(space.CoordinateDimension);
        public IManifold Manifold => space;
        public string Name => $"gaussian:{space.Name}";
        public int Dimension => space.CoordinateDimension;
        public Tensor Sample(int count, Generator generator) => _gaussian.Sample(count, generator);
        public bool HasLogDensity => true;
        public Tensor LogDensity(Tensor x) => _gaussian.LogDensity(x);
    }
}

/// <summary>
/// The product of independent distributions on the factors of a <see cref="ProductManifold"/>: a row is the factors' rows
/// side by side, and log p(x) = sum_i log p_i(x_i) (each factor's density with respect to its own volume).
/// </summary>
public sealed class ProductDistribution : IManifoldDistribution
{
    private readonly ProductManifold _manifold;
    private readonly IManifoldDistribution[] _factors;

    /// <summary>Combines <paramref name="factors"/>, one per factor of <paramref name="manifold"/> and on it, in order.</summary>
    public ProductDistribution(ProductManifold manifold, IManifoldDistribution[] factors)
    {
        if (factors.Length != manifold.Factors.Count || factors.Where((f, i) => f.Manifold.Name != manifold.Factors[i].Name).Any())
            throw new ArgumentException($"a distribution on {manifold.Name} needs one distribution per factor, on that factor");
        _manifold = manifold;
        _factors = factors;
    }

    /// <inheritdoc />
    public IManifold Manifold => _manifold;
    /// <inheritdoc />
    public string Name => string.Join(" x ", _factors.Select(f => f.Name));
    /// <inheritdoc />
    public int Dimension => _manifold.CoordinateDimension;
    /// <inheritdoc />
    public bool HasLogDensity => _factors.All(f => f.HasLogDensity);

    /// <summary>Each factor's draw in turn from <paramref name="generator"/>, side by side.</summary>
    public Tensor Sample(int count, Generator generator)
    {
        using var scope = NewDisposeScope();
        return cat(_factors.Select(f => f.Sample(count, generator)).ToArray(), 1).MoveToOuterDisposeScope();
    }

    /// <summary>sum_i log p_i(x_i).</summary>
    public Tensor LogDensity(Tensor x)
    {
        using var scope = NewDisposeScope();
        var total = _factors[0].LogDensity(_manifold.Slice(x, 0)).to(float64);
        for (var i = 1; i < _factors.Length; i++) total = total + _factors[i].LogDensity(_manifold.Slice(x, i)).to(float64);
        return total.MoveToOuterDisposeScope();
    }
}
