using StochasticInterpolants.Data;
using StochasticInterpolants.Runtime;

namespace StochasticInterpolants.Files;

/// <summary>Finds a distribution by name or file (the command line's --target and --base): the built-ins of
/// <see cref="Distributions"/>, or a CSV file read as an <see cref="EmpiricalDistribution"/>.</summary>
public static class DataSources
{
    /// <summary>
    /// Returns the distribution called <paramref name="spec"/>; a path to an existing file, or a name ending in .csv, is
    /// read as an <see cref="EmpiricalDistribution"/>. <paramref name="dimension"/> sets the dimension of <c>gaussian</c> (default 2).
    /// </summary>
    public static IDistribution Parse(string spec, int? dimension = null)
    {
        if (Distributions.TryParse(spec, dimension) is { } builtIn) return builtIn;
        var name = spec.Trim();
        if (File.Exists(name)) return ReadCsv(name);
        if (Directory.Exists(name)) throw new DataFormatException($"'{name}' is a folder, not a CSV file");
        if (name.EndsWith(".csv", StringComparison.OrdinalIgnoreCase)) throw new FileNotFoundException($"file '{name}' does not exist");
        throw new InvalidSettingException("distribution", $"unknown distribution '{spec}' (expected {string.Join(", ", Distributions.Names)}, or a CSV file)");
    }

    /// <summary>Reads a CSV file (see <see cref="CsvMatrix.Read"/>) as the empirical distribution of its rows.</summary>
    public static EmpiricalDistribution ReadCsv(string path)
    {
        using var rows = CsvMatrix.Read(path);
        return new EmpiricalDistribution(rows, path);
    }
}
