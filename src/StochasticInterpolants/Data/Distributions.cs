using StochasticInterpolants.Files;
using static TorchSharp.torch;

namespace StochasticInterpolants.Data;

/// <summary>
/// Shared code of the distributions: the log-density contract for those without a closed form.
/// </summary>
public abstract class SampledDistribution : IDistribution
{
    /// <inheritdoc />
    public abstract string Name { get; }
    /// <inheritdoc />
    public virtual int Dimension => 2;
    /// <inheritdoc />
    public abstract Tensor Sample(int count, Generator generator);
    /// <inheritdoc />
    public virtual bool HasLogDensity => false;
    /// <inheritdoc />
    public virtual Tensor LogDensity(Tensor x) =>
        throw new NotSupportedException($"'{Name}' has no closed-form density (only samples)");

    /// <summary>Checks <paramref name="count"/> for the derived classes.</summary>
    protected void CheckCount(int count)
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), count, "sample count must be >= 0");
    }

    /// <summary>Checks that <paramref name="x"/> is [n, d].</summary>
    protected void CheckPoints(Tensor x)
    {
        if (x.dim() != 2 || x.shape[1] != Dimension)
            throw new ArgumentException($"'{Name}' expects points of shape [n, {Dimension}], got [{string.Join(",", x.shape)}]");
    }
}

/// <summary>Finds a distribution by name or CSV path (the command line's --target and --base).</summary>
public static class Distributions
{
    /// <summary>The built-in names.</summary>
    public static IReadOnlyList<string> Names { get; } = ["checkerboard", "8gaussians", "moons", "spirals", "rings", "pinwheel", "swissroll", "gaussian"];

    /// <summary>
    /// Returns the built-in distribution called <paramref name="spec"/>, or null when no built-in has that name (files are
    /// read one layer up, by <c>Files.DataSources</c>). <paramref name="dimension"/> sets the dimension of <c>gaussian</c> (default 2).
    /// </summary>
    public static IDistribution? TryParse(string spec, int? dimension = null)
    {
        var name = spec.Trim();
        switch (name.ToLowerInvariant())
        {
            case "checkerboard": return new Checkerboard();
            case "8gaussians" or "eight-gaussians": return new EightGaussians();
            case "moons" or "two-moons": return new TwoMoons();
            case "spirals" or "2spirals" or "two-spirals": return new TwoSpirals();
            case "rings" or "concentric-rings": return new ConcentricRings();
            case "pinwheel": return new Pinwheel();
            case "swissroll" or "swiss-roll": return new SwissRoll();
            case "gaussian" or "normal": return new StandardGaussian(dimension ?? 2);
        }
        return ManifoldDistributions.TryParse(name);
    }
}
