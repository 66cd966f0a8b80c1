using System.Globalization;
using StochasticInterpolants.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Manifolds;

/// <summary>
/// Manifolds by spec: "name:n" for one factor — sphere:d (S^{d-1} in R^d, alias s), torus:d (T^d, alias t), R:k (R^k, aliases
/// euclidean, real, r) — and factors joined by "x" for a product ("torus:2xR:1"), names matched case-insensitively. The spec is
/// what <see cref="IManifold.Name"/> prints, so Parse(m.Name) rebuilds m. Register a builder to add a manifold.
/// </summary>
public static class Manifold
{
    private static readonly NameRegistry<Func<int, IManifold>> Builders = BuiltIns();

    private static NameRegistry<Func<int, IManifold>> BuiltIns()
    {
        var r = new NameRegistry<Func<int, IManifold>>("manifold");
        r.Register("sphere", d => new Sphere(d), "s");
        r.Register("torus", d => new FlatTorus(d), "t");
        r.Register("R", d => new Euclidean(d), "euclidean", "real");
        return r;
    }

    /// <summary>The registered manifold names (aliases left out), built-in ones first.</summary>
    public static IReadOnlyList<string> Names => Builders.Names;

    /// <summary>Registers (or replaces) the manifold <paramref name="name"/> (no 'x' or ':' in it: they separate factors and dimensions).</summary>
    public static void Register(string name, Func<int, IManifold> build, params string[] aliases)
    {
        foreach (var n in aliases.Append(name))
            if (string.IsNullOrWhiteSpace(n) || n.Contains('x', StringComparison.OrdinalIgnoreCase) || n.Contains(':'))
                throw new ArgumentException($"a manifold name must be non-empty and contain neither 'x' nor ':', got '{n}'");
        Builders.Register(name, build, aliases);
    }

    /// <summary>
    /// Builds the manifold of <paramref name="spec"/>; one factor gives that manifold, several a <see cref="ProductManifold"/>.
    /// Throws <see cref="InvalidSettingException"/> (setting "manifold") naming the problem and the known names.
    /// </summary>
    public static IManifold Parse(string spec)
    {
        if (string.IsNullOrWhiteSpace(spec)) throw new InvalidSettingException("manifold", $"empty manifold spec (expected e.g. sphere:3, torus:2, torus:2xR:1; names: {string.Join(", ", Names)})");
        var factors = spec.Split(['x', 'X'], StringSplitOptions.TrimEntries).Select(ParseFactor).ToArray();
        return factors.Length == 1 ? factors[0] : new ProductManifold(factors);

        IManifold ParseFactor(string part)
        {
            var bits = part.Split(':', StringSplitOptions.TrimEntries);
            if (bits.Length != 2 || !int.TryParse(bits[1], NumberStyles.None, CultureInfo.InvariantCulture, out var dim))
                throw new InvalidSettingException("manifold", $"'{part}' in '{spec}' is not name:dimension (e.g. sphere:3, torus:2, R:1)");
            var entry = Builders.Find(bits[0]) ?? throw new InvalidSettingException("manifold", $"unknown manifold '{bits[0]}' in '{spec}' (expected {string.Join(", ", Names)})");
            try { return entry.Builder(dim); }
            catch (ArgumentOutOfRangeException e) { throw new InvalidSettingException("manifold", $"'{part}' in '{spec}': {e.Message}"); }
        }
    }
}
