using System.Text.Json.Serialization;
using System.Text.Json;
using StochasticInterpolants.Couplings;
using StochasticInterpolants.Fields;
using StochasticInterpolants.Files;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using StochasticInterpolants.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Checkpoints;

/// <summary>One network of a checkpoint: the field it represents, its architecture and its weight files.</summary>
/// <param name="Represents">Which field the network represents (see <see cref="FieldKind"/>).</param>
/// <param name="Model">The architecture.</param>
/// <param name="WeightsFile">File (in the checkpoint folder) with the last-iterate weights.</param>
/// <param name="EmaWeightsFile">File with the moving-average weights, or null when EMA was off.</param>
public sealed record NetworkEntry(FieldKind Represents, ModelSpec Model, string WeightsFile, string? EmaWeightsFile);

/// <summary>
/// The description stored as <c>checkpoint.json</c> in a training output folder: enough to rebuild every network,
/// know which field each represents and which densities and interpolant they were trained on, with no other input.
/// </summary>
/// <param name="Format">File format tag, <c>si-checkpoint/1</c>.</param>
/// <param name="Interpolant">The interpolant the networks were trained with.</param>
/// <param name="Networks">The networks (a velocity network, and a denoiser network when the score was learned).</param>
/// <param name="Base">The base rho0 (a distribution name or CSV path).</param>
/// <param name="Target">The target rho1 (a distribution name or CSV path).</param>
/// <param name="Dimension">The data dimension d.</param>
/// <param name="TimeClip">Training times were drawn from [TimeClip, 1 - TimeClip].</param>
/// <param name="Antithetic">Whether the antithetic loss was used.</param>
/// <param name="Training">The optimisation settings.</param>
/// <param name="StepsCompleted">Optimiser steps taken.</param>
/// <param name="FinalLoss">Mean total loss over the last log window.</param>
/// <param name="CreatedUtc">When the checkpoint was written.</param>
/// <param name="Table">For a table target: the file, split, encoding and baseline (null for built-in targets).</param>
/// <param name="Selection">What model selection kept, or null when it was off.</param>
/// <param name="Images">For an image target: its source, shape, pixel levels, classes and split (null otherwise).</param>
/// <param name="Coupling">How x0 and x1 were paired in training; null in checkpoints written before couplings were
/// recorded, which were all trained with the interpolant's own coupling (see <see cref="CouplingOrDefault"/>).</param>
/// <param name="Manifold">For data on a manifold: the manifold and where observed points came from (null in R^d).</param>
/// <param name="Sequences">For token sequences (a discrete mixture path): the data, encoding, split and source (null otherwise).</param>
public sealed record CheckpointManifest(
    string Format,
    InterpolantSpec Interpolant,
    IReadOnlyList<NetworkEntry> Networks,
    string Base,
    string Target,
    int Dimension,
    double TimeClip,
    bool Antithetic,
    TrainingOptions Training,
    int StepsCompleted,
    double FinalLoss,
    DateTime CreatedUtc,
    TableRecord? Table = null,
    SelectionOutcome? Selection = null,
    ImageRecord? Images = null,
    CouplingSpec? Coupling = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] ManifoldRecord? Manifold = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] SequenceRecord? Sequences = null)
{
    /// <summary>The coupling of training: <see cref="Coupling"/>, or the interpolant's own for an older checkpoint.</summary>
    public CouplingSpec CouplingOrDefault() => Coupling ?? new CouplingSpec(Couplings.Couplings.DefaultName(Interpolant.Build()), new CouplingOptions());

    /// <summary>The classes the networks are conditioned on (a table's label column or an image set's classes), or null.</summary>
    public IReadOnlyList<string>? ConditionClasses() => Table?.ClassNames ?? (Images is { Conditional: true } i ? i.ClassNames : null) ?? Sequences?.ClassNames;

    /// <summary>Training samples per class of <see cref="ConditionClasses"/>, or null.</summary>
    public IReadOnlyList<long>? ConditionClassCounts() => Table?.ClassCounts ?? (Images is { Conditional: true } i ? i.ClassCounts : null) ?? Sequences?.ClassCounts;

    /// <summary>The shape of one sample: an image's [c, h, w], else [d].</summary>
    public IReadOnlyList<long> SampleShape() => Images?.Shape ?? [Dimension];

    /// <summary>The current format tag.</summary>
    public const string CurrentFormat = "si-checkpoint/1";
}

/// <summary>
/// A trained network loaded from a checkpoint folder (<c>checkpoint.json</c> + safetensors weight files).
/// </summary>
public sealed class Checkpoint : IDisposable
{
    /// <summary>Name of the manifest file inside a checkpoint folder.</summary>
    public const string ManifestFileName = "checkpoint.json";
    /// <summary>Name of the last-iterate weights file of the network representing <paramref name="kind"/>.</summary>
    public static string WeightsFileName(FieldKind kind) => $"weights.{Json.PropertyNamingPolicy!.ConvertName(kind.ToString())}.safetensors";
    /// <summary>Name of the moving-average weights file of the network representing <paramref name="kind"/>.</summary>
    public static string EmaWeightsFileName(FieldKind kind) => $"weights.{Json.PropertyNamingPolicy!.ConvertName(kind.ToString())}.ema.safetensors";

    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        // A hand-edited or damaged file with null where the type says non-null, or a missing constructor argument,
        // is refused by the parser instead of surfacing later as a NullReferenceException.
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
    };

    private Checkpoint(CheckpointManifest manifest, IReadOnlyList<NetworkField> networks, bool usesEma)
    {
        Manifest = manifest; Networks = networks; UsesEmaWeights = usesEma;
    }

    /// <summary>The stored description.</summary>
    public CheckpointManifest Manifest { get; }
    /// <summary>The rebuilt networks, in evaluation mode, each with the field it represents.</summary>
    public IReadOnlyList<NetworkField> Networks { get; }
    /// <summary>True when the networks carry their moving-average weights.</summary>
    public bool UsesEmaWeights { get; }

    /// <summary>
    /// The flow map v(s, t, x) when the checkpoint holds a flow-map network (docs/theory.md §14), else null. Its diagonal is
    /// also the velocity of <see cref="Fields"/>.
    /// </summary>
    public ITwoTimeNetwork? FlowMap => Networks.FirstOrDefault(n => n.Kind == FieldKind.FlowMap)?.Network as ITwoTimeNetwork;

    /// <summary>The interpolant the networks were trained with.</summary>
    public IInterpolant Interpolant => Manifest.Interpolant.Build();

    /// <summary>The learned fields with the interpolant's conversions (velocity, score, denoiser, target prediction).</summary>
    public FieldSet Fields() => new(Interpolant, Networks);

    /// <summary>
    /// Writes a checkpoint into <paramref name="folder"/> (created if missing): the weight files first, the manifest last,
    /// each atomically, so an interrupted save never leaves a manifest pointing at missing or partial weights.
    /// </summary>
    /// <remarks><paramref name="networks"/> holds each network's module and moving-average weights, in the order of <c>manifest.Networks</c>.</remarks>
    public static void Save(string folder, CheckpointManifest manifest, IReadOnlyList<(nn.Module Module, IReadOnlyDictionary<string, Tensor>? EmaWeights)> networks)
    {
        if (networks.Count != manifest.Networks.Count) throw new ArgumentException($"{networks.Count} networks given for {manifest.Networks.Count} manifest entries");
        Directory.CreateDirectory(folder);
        for (var i = 0; i < networks.Count; i++)
        {
            var entry = manifest.Networks[i];
            var meta = new Dictionary<string, string> { ["format"] = manifest.Format, ["represents"] = entry.Represents.ToString() };
            SafeTensors.Save(Path.Combine(folder, entry.WeightsFile), networks[i].Module.named_parameters().Select(p => new KeyValuePair<string, Tensor>(p.name, p.parameter)), meta);
            if (networks[i].EmaWeights is { } ema && entry.EmaWeightsFile is not null)
                SafeTensors.Save(Path.Combine(folder, entry.EmaWeightsFile), ema, meta);
        }
        AtomicFile.WriteText(Path.Combine(folder, ManifestFileName), JsonSerializer.Serialize(manifest, Json));
    }

    /// <summary>Reads only the manifest of the checkpoint in <paramref name="folder"/>.</summary>
    public static CheckpointManifest ReadManifest(string folder)
    {
        folder = FolderOf(folder);
        var path = Path.Combine(folder, ManifestFileName);
        if (!File.Exists(path)) throw new CheckpointException($"'{folder}' holds no {ManifestFileName} (is it a training output folder?)");
        CheckpointManifest? manifest;
        try
        {
            // The format tag first: a file from another version is reported as such, not as corrupt.
            var node = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path));
            if (node is System.Text.Json.Nodes.JsonObject o && o["format"] is System.Text.Json.Nodes.JsonValue f && f.GetValueKind() == JsonValueKind.String
                && f.GetValue<string>() != CheckpointManifest.CurrentFormat)
                throw new CheckpointException($"'{path}' has format '{f.GetValue<string>()}', this version reads '{CheckpointManifest.CurrentFormat}'");
            manifest = node.Deserialize<CheckpointManifest>(Json);
        }
        // A repeated key makes System.Text.Json throw ArgumentException for records: as corrupt as malformed JSON.
        catch (Exception e) when (e is JsonException or ArgumentException) { throw new CheckpointException($"'{path}' is corrupt: {e.Message.Split('\n')[0].TrimEnd()}", e); }
        if (manifest is null || manifest.Format is null || manifest.Interpolant is null || manifest.Networks is null || manifest.Networks.Count == 0
            || manifest.Networks.Any(n => n is null || n.Model is null || n.WeightsFile is null))
            throw new CheckpointException($"'{path}' is incomplete");
        foreach (var n in manifest.Networks)
            if (!IsPlainFileName(n.WeightsFile) || (n.EmaWeightsFile is not null && !IsPlainFileName(n.EmaWeightsFile)))
                throw new CheckpointException($"'{path}' names a weights file that is not a plain file name in its folder");
        if (manifest.Format != CheckpointManifest.CurrentFormat)
            throw new CheckpointException($"'{path}' has format '{manifest.Format}', this version reads '{CheckpointManifest.CurrentFormat}'");
        return manifest;
    }

    /// <summary>
    /// The checkpoint folder <paramref name="path"/> names: the folder itself, or the folder of its manifest when the path is the
    /// manifest file (users pass either). Any other file, or a missing path, is a <see cref="CheckpointException"/>.
    /// </summary>
    public static string FolderOf(string path)
    {
        if (Directory.Exists(path)) return path;
        if (File.Exists(path))
        {
            if (Path.GetFileName(path) == ManifestFileName) return Path.GetDirectoryName(Path.GetFullPath(path))!;
            throw new CheckpointException($"checkpoint '{path}' is a file: give the training output folder that holds {ManifestFileName}");
        }
        throw new CheckpointException($"checkpoint folder '{path}' does not exist");
    }

    /// <summary>True for a non-empty file name with no folder part, no "..", and no control characters.</summary>
    internal static bool IsPlainFileName(string name) =>
        name.Length is > 0 and < 256 && name != "." && name != ".." && !name.Contains('/') && !name.Contains('\\') && !name.Any(char.IsControl);

    /// <summary>
    /// Rebuilds the network of the checkpoint in <paramref name="folder"/> and loads its weights (the moving average
    /// when present and <paramref name="preferEma"/>), on <paramref name="device"/> (CPU by default).
    /// </summary>
    public static Checkpoint Load(string folder, bool preferEma = true, Device? device = null)
    {
        folder = FolderOf(folder);
        var manifest = ReadManifest(folder);
        var useEma = preferEma && manifest.Networks.All(n => n.EmaWeightsFile is not null);
        var networks = new List<NetworkField>();
        try
        {
            foreach (var entry in manifest.Networks)
            {
                var file = Path.Combine(folder, useEma ? entry.EmaWeightsFile! : entry.WeightsFile);
                if (Path.GetDirectoryName(Path.GetFullPath(file)) != Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar))
                    throw new CheckpointException($"checkpoint '{folder}' names a weights file outside its folder");
                if (!File.Exists(file)) throw new CheckpointException($"checkpoint '{folder}' lacks its weights file '{Path.GetFileName(file)}'");
                ITimeConditionedNetwork network;
                try { network = entry.Model.Build(); }
                catch (Exception e) when (e is ArgumentException or NotSupportedException) { throw new CheckpointException($"checkpoint '{folder}': {e.Message.Split('\n')[0].TrimEnd()}", e); }
                networks.Add(new NetworkField(network, entry.Represents));
                if (entry.Represents == FieldKind.FlowMap && !FlowMaps.IsFlowMap(network))
                    throw new CheckpointException($"checkpoint '{folder}' says its {entry.Model.Type} network is a flow map, but the network takes one time (TwoTimes is off)");
                var weights = SafeTensors.Load(file);
                try { LoadInto(network.Module, weights, file); }
                finally { foreach (var w in weights.Values) w.Dispose(); }
                if (device is not null && device.type != DeviceType.CPU) network.Module.to(device);
                network.Module.eval();
            }
        }
        catch
        {
            foreach (var n in networks) n.Network.Module.Dispose();
            throw;
        }
        return new Checkpoint(manifest, networks, useEma);
    }

    /// <summary>Copies <paramref name="weights"/> into the parameters of <paramref name="module"/>, reporting a mismatch as a <see cref="CheckpointException"/>.</summary>
    public static void LoadInto(nn.Module module, IReadOnlyDictionary<string, Tensor> weights, string source)
    {
        try { ParameterCopy.CopyInto(module, weights, source); }
        catch (WeightsMismatchException e) { throw new CheckpointException(e.Message, e); }
    }

    /// <inheritdoc />
    public void Dispose() { foreach (var n in Networks) n.Network.Module.Dispose(); }
}
