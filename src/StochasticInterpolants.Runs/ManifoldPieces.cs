using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Data;
using StochasticInterpolants.Files;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Manifolds;
using StochasticInterpolants.Models;
using StochasticInterpolants.Runtime;
using static TorchSharp.torch;

namespace StochasticInterpolants.Runs;

/// <summary>
/// A target on a manifold made ready for training (docs/theory.md §15.8): a named test target with an exact density
/// (vmf-mixture on S^2, von-mises-mixture on T^2), the Ramachandran set, or a CSV file of points with
/// <see cref="TrainingRunConfig.Manifold"/> — observed points split into training and held-out rows by a seeded
/// permutation, as a table's are. The interpolant is geodesic, the base a density on the same manifold, the network reads
/// the manifold's embedding and returns tangent vectors.
/// </summary>
/// <param name="Manifold">The manifold.</param>
/// <param name="Target">rho1: the named target, or the training points.</param>
/// <param name="ValidationRows">Held-out points [m, D] (m = 0 for a named target).</param>
/// <param name="Record">What the checkpoint records.</param>
public sealed record ManifoldPieces(IManifold Manifold, IManifoldDistribution Target, Tensor ValidationRows, ManifoldRecord Record)
{
    /// <summary>The default share of observed points held out.</summary>
    public const double DefaultValidationFraction = 0.1;

    /// <summary>True when <paramref name="config"/> trains on a manifold: a manifold target name, or <see cref="TrainingRunConfig.Manifold"/> given.</summary>
    public static bool Applies(TrainingRunConfig config) =>
        config.Manifold is not null || ProteinAngles.IsName(config.Target) || ManifoldTargets.TryParse(config.Target) is not null;

    /// <summary>Builds the pieces of a manifold run; <paramref name="message"/> hears about data fetched on first use.</summary>
    public static ManifoldPieces Build(TrainingRunConfig config, Action<string>? message = null)
    {
        var seed = config.TrainingOrDefault.Seed;
        var given = config.Manifold is { } spec ? Manifolds.Manifold.Parse(spec) : null;
        if (ManifoldTargets.TryParse(config.Target) is IManifoldDistribution named)
        {
            RefuseMismatch(given, named.Manifold, config.Target);
            if (config.Validation is { } v && v.Trim() != "0")
                throw new InvalidSettingException("validation", $"'{config.Target}' draws fresh points on every batch: there are no rows to hold out (give --validation 0)");
            return new ManifoldPieces(named.Manifold, named, zeros(0, named.Dimension), new ManifoldRecord(named.Manifold.Name));
        }
        IManifold manifold = ProteinAngles.IsName(config.Target) ? new FlatTorus(2)
            : given ?? throw new InvalidSettingException("manifold", $"'{config.Target}' is not a target on a manifold");
        RefuseMismatch(given, manifold, config.Target);
        if (!ProteinAngles.IsName(config.Target) && !File.Exists(config.Target))
            throw new InvalidSettingException("target", $"'{config.Target}' is neither a manifold target ({string.Join(", ", [.. ManifoldTargets.Names, .. ProteinAngles.Names])}) nor a CSV file");
        var source = ProteinAngles.IsName(config.Target) ? config.Target.Trim().ToLowerInvariant() : Path.GetFullPath(config.Target);
        var (points, sha, groups) = ReadPoints(source, message);
        using (points)
        {
            if (points.shape[1] != manifold.CoordinateDimension)
                throw new DataFormatException($"'{config.Target}' has {points.shape[1]} columns; a point of {manifold.Name} has {manifold.CoordinateDimension} coordinates");
            var fraction = ValidationFraction(config);
            var (train, held) = Split((int)points.shape[0], groups, fraction, seed);
            var name = Path.GetFileName(config.Target);
            var target = new ManifoldSamples(manifold, Rows(points, train), name);
            var validation = held.Length == 0 ? zeros(0, manifold.CoordinateDimension) : new ManifoldSamples(manifold, Rows(points, held), name).Rows.clone();
            return new ManifoldPieces(manifold, target, validation.DetachFromDisposeScope(),
                new ManifoldRecord(manifold.Name, source, sha, (int)points.shape[0], fraction, seed, train.Length, held.Length));
        }
    }

    /// <summary>The training points and the held-out points [m, D] of the observed points <paramref name="record"/> describes, read and split as in training (checked against its SHA-256).</summary>
    public static (ManifoldSamples Training, Tensor Validation) Reload(ManifoldRecord record, Action<string>? message = null)
    {
        var manifold = Manifolds.Manifold.Parse(record.Manifold);
        if (record.Source is not { } source) throw new CheckpointException("this checkpoint was trained on a named target, not on observed points");
        if (!ProteinAngles.IsName(source) && !File.Exists(source)) throw new CheckpointException($"the points this checkpoint was trained on, '{source}', are gone");
        var (points, sha, groups) = ReadPoints(source, message);
        using (points)
        {
            if (sha != record.Sha256) throw new DataFormatException($"'{source}' changed since training (SHA-256 differs): its held-out points are no longer those training left out");
            var (train, held) = Split((int)points.shape[0], groups, record.ValidationFraction, record.Seed);
            var name = Path.GetFileName(source);
            return (new ManifoldSamples(manifold, Rows(points, train), name), new ManifoldSamples(manifold, Rows(points, held), name).Rows.clone().DetachFromDisposeScope());
        }
    }

    // The observed points of a source (the Ramachandran set by name, else a CSV file) in float64, the SHA-256 that
    // identifies them, and the groups a split must keep whole (the copies of a residue in identical chains), or null.
    private static (Tensor Points, string Sha256, IReadOnlyList<long>? Groups) ReadPoints(string source, Action<string>? message)
    {
        if (ProteinAngles.IsName(source))
        {
            using var data = ProteinAngles.Load(source, message);
            return (data.Angles.to(float64).DetachFromDisposeScope(), data.Sha256, data.Groups);
        }
        using var table = DataSources.ReadCsv(source);
        return (table.Rows.to(float64).DetachFromDisposeScope(), FileSha256(source), null);
    }

    private static (int[] Training, int[] Validation) Split(int n, IReadOnlyList<long>? groups, double fraction, long seed)
    {
        try { return groups is null ? RowSplit.Random(n, fraction, seed) : RowSplit.ByGroup(groups, fraction, seed); }
        catch (ArgumentException e) { throw new InvalidSettingException("validation", e.Message); }
    }

    private static Tensor Rows(Tensor points, int[] index)
    {
        using var i = tensor(index.Select(k => (long)k).ToArray());
        return points.index_select(0, i);
    }

    /// <summary>
    /// The geodesic interpolant on <see cref="Manifold"/>: <paramref name="family"/> must be geodesic or the default linear
    /// (read as geodesic: the straight line of R^d is the geodesic of normal coordinates); any other family moves through
    /// the ambient space and is refused.
    /// </summary>
    public IInterpolant Interpolant(string family)
    {
        var key = family.Trim().ToLowerInvariant();
        if (key is not ("geodesic" or "linear"))
            throw new InvalidSettingException("interpolant", $"the {family} interpolant moves through the ambient coordinates, off {Manifold.Name}; a target on a manifold is learned with the geodesic interpolant (--interpolant geodesic)");
        return new GeodesicInterpolant(Manifold);
    }

    /// <summary>The network on the manifold: an MLP of the options' width and depth reading the embedding, returning tangent vectors.</summary>
    public ModelSpec ModelSpec(ModelOptions m)
    {
        if (m.Type?.Trim().ToLowerInvariant() is { } type && type != "mlp")
            throw new InvalidSettingException("model", $"a target on {Manifold.Name} is learned by an MLP on the manifold's embedding (got --model {m.Type})");
        var mlp = new MlpConfig(Manifold.EmbeddingDimension, m.Width, m.Depth, m.Activation, m.TimeFrequencies, OutputDimension: Manifold.CoordinateDimension);
        mlp.Validate();
        return new ModelSpec(ManifoldNetwork.TypeName, mlp, Manifold.Name);
    }

    private static string FileSha256(string path) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(path)));

    private static double ValidationFraction(TrainingRunConfig config)
    {
        if (config.Validation is not { } v) return DefaultValidationFraction;
        if (!double.TryParse(v, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var f) || !(f >= 0 && f < 1))
            throw new InvalidSettingException("validation", $"points on a manifold hold out a fraction in [0, 1), got '{v}'");
        return f;
    }

    private static void RefuseMismatch(IManifold? given, IManifold actual, string target)
    {
        if (given is not null && given.Name != actual.Name)
            throw new InvalidSettingException("manifold", $"'{target}' lives on {actual.Name}, not on {given.Name}");
    }
}
