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

    /// <summary>The uniform distribution on a compact <paramref name="manifold"/>: the sphere's and the torus's own classes.</summary>
    public static IManifoldDistribution Uniform(IManifold manifold) => manifold switch
    {
        Sphere s => new UniformSphere(s.CoordinateDimension),
        FlatTorus t => new UniformTorus(t.CoordinateDimension),
        _ => throw new InvalidSettingException("base", $"no uniform base on {manifold.Name}: it is {(manifold.IsCompact ? "a product (give its factors separately)" : "not compact")}"),
    };
}
