using System.Text.Json.Nodes;
using System.Text.Json;
using StochasticInterpolants.Files;
using StochasticInterpolants.Training;
using static TorchSharp.torch;

namespace StochasticInterpolants.Checkpoints;

/// <summary>
/// Stores a run's <see cref="TrainingState"/> in <c>OUT/train-state/</c>: per network <c>networkN.weights.safetensors</c>,
/// <c>networkN.ema.safetensors</c>, <c>networkN.adam.safetensors</c> and, with model selection, the weights kept so far in
/// <c>networkN.best.safetensors</c> (each with a SHA-256), then <c>state.json</c> (step,
/// generator state, loss log, and the run's configuration) written last.
/// </summary>
/// <remarks>
/// Crash safety: a snapshot is written whole into <c>train-state.tmp/</c>; only then is the previous snapshot renamed to
/// <c>train-state.old/</c>, the new one renamed into place, and the old one deleted. A process killed at any instant
/// therefore leaves either a complete <c>train-state/</c> or (between the two renames) a complete <c>train-state.old/</c>,
/// and <see cref="Load"/> takes whichever is there. A half-written <c>.tmp</c> folder is ignored and replaced.
/// </remarks>
public sealed class TrainingStateFolder : ITrainingStateStore
{
    /// <summary>Name of the snapshot folder inside a training output folder.</summary>
    public const string FolderName = "train-state";
    /// <summary>Format tag of <c>state.json</c>.</summary>
    public const string Format = "si-train-state/1";
    private const string StateFile = "state.json";

    private readonly string _outputFolder;
    private readonly JsonNode _config;

    /// <summary>A store in <paramref name="outputFolder"/> that records <paramref name="configJson"/> (the run's configuration) with each snapshot.</summary>
    public TrainingStateFolder(string outputFolder, string configJson)
    {
        _outputFolder = outputFolder;
        _config = JsonNode.Parse(configJson) ?? throw new ArgumentException("the configuration to store is empty");
    }

    /// <inheritdoc />
    public string Location => Path.Combine(_outputFolder, FolderName);

    /// <summary>True when <paramref name="outputFolder"/> holds a snapshot (complete or mid-swap).</summary>
    public static bool Exists(string outputFolder) =>
        File.Exists(Path.Combine(outputFolder, FolderName, StateFile)) || File.Exists(Path.Combine(outputFolder, FolderName + ".old", StateFile));

    /// <summary>Removes every snapshot folder (after a run completes, or when an output folder is reused with --force).</summary>
    public static void Delete(string outputFolder)
    {
        foreach (var suffix in new[] { "", ".old", ".tmp" })
        {
            var dir = Path.Combine(outputFolder, FolderName + suffix);
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    /// <inheritdoc />
    public void Save(TrainingState state)
    {
        var final = Location;
        var temp = final + ".tmp";
        var old = final + ".old";
        if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        Directory.CreateDirectory(temp);
        var networks = new JsonArray();
        for (var i = 0; i < state.Networks.Count; i++)
        {
            var n = state.Networks[i];
            var entry = new JsonObject
            {
                ["weights"] = Write(temp, $"network{i}.weights.safetensors", n.Weights),
                ["ema"] = n.Ema is null ? null : Write(temp, $"network{i}.ema.safetensors", n.Ema),
                ["optimizer"] = Write(temp, $"network{i}.adam.safetensors", n.Optimizer),
                ["optimizerSteps"] = n.OptimizerSteps,
                ["best"] = n.Best is null ? null : Write(temp, $"network{i}.best.safetensors", n.Best),
            };
            networks.Add(entry);
        }
        var root = new JsonObject
        {
            ["format"] = Format,
            ["step"] = state.Loop.Step,
            ["generator"] = Convert.ToBase64String(state.GeneratorState),
            ["loop"] = JsonSerializer.SerializeToNode(state.Loop, Checkpoint.Json),
            ["networks"] = networks,
            ["config"] = _config.DeepClone(),
        };
        AtomicFile.WriteText(Path.Combine(temp, StateFile), root.ToJsonString(Checkpoint.Json));
        // Swap: a crash between the two moves leaves only train-state.old, which Load accepts.
        if (Directory.Exists(final))
        {
            if (Directory.Exists(old)) Directory.Delete(old, recursive: true);
            Directory.Move(final, old);
        }
        Directory.Move(temp, final);
        if (Directory.Exists(old)) Directory.Delete(old, recursive: true);
    }

    private static string Write(string folder, string name, IReadOnlyDictionary<string, Tensor> tensors)
    {
        SafeTensors.Save(Path.Combine(folder, name), tensors, new Dictionary<string, string> { ["format"] = Format });
        return name;
    }

    /// <summary>
    /// Reads the snapshot in <paramref name="outputFolder"/>: the state (its tensors owned by the caller: see
    /// <see cref="TrainingState.DisposeTensors"/>) and the stored configuration JSON.
    /// </summary>
    public static (TrainingState State, string ConfigJson) Load(string outputFolder)
    {
        var (dir, path, root) = ReadStateFile(outputFolder);
        var networks = new List<NetworkTrainingState>();
        try
        {
            var config = Config(path, root);
            var loop = root["loop"].Deserialize<TrainingLoopState>(Checkpoint.Json) ?? throw new CheckpointException($"'{path}' lacks the loop state");
            if (loop.Log is null || loop.PartSums is null) throw new CheckpointException($"'{path}' has an incomplete loop state");
            var generator = Convert.FromBase64String(root["generator"]?.GetValue<string>() ?? throw new CheckpointException($"'{path}' lacks the generator state"));
            foreach (var node in root["networks"]?.AsArray() ?? throw new CheckpointException($"'{path}' lists no networks"))
            {
                if (node is null) throw new CheckpointException($"'{path}' has an empty network entry");
                var weights = Read(dir, node["weights"]);
                var ema = node["ema"] is null ? null : Read(dir, node["ema"]);
                var optimizer = Read(dir, node["optimizer"]);
                var best = node["best"] is null ? null : Read(dir, node["best"]);
                networks.Add(new NetworkTrainingState(weights, ema, optimizer, node["optimizerSteps"]?.GetValue<long>() ?? -1, best));
            }
            return (new TrainingState(loop, generator, networks), config);
        }
        catch (Exception e)
        {
            foreach (var n in networks) n.DisposeTensors();
            if (e is InvalidOperationException or FormatException or JsonException or ArgumentException)
                throw new CheckpointException($"'{path}' is corrupt: {e.Message.Split('\n')[0]}", e);
            throw;
        }
    }

    /// <summary>Reads only the run configuration stored with the snapshot in <paramref name="outputFolder"/> (no tensors).</summary>
    public static string ReadConfig(string outputFolder)
    {
        var (_, path, root) = ReadStateFile(outputFolder);
        try { return Config(path, root); }
        catch (InvalidOperationException e) { throw new CheckpointException($"'{path}' is corrupt: {e.Message.Split('\n')[0]}", e); }
    }

    /// <summary>Reads only the loop bookkeeping of the snapshot in <paramref name="outputFolder"/> (step, log, processes; no tensors).</summary>
    public static TrainingLoopState ReadLoop(string outputFolder)
    {
        var (_, path, root) = ReadStateFile(outputFolder);
        try { return root["loop"].Deserialize<TrainingLoopState>(Checkpoint.Json) ?? throw new CheckpointException($"'{path}' lacks the loop state"); }
        catch (Exception e) when (e is InvalidOperationException or JsonException) { throw new CheckpointException($"'{path}' is corrupt: {e.Message.Split('\n')[0]}", e); }
    }

    // The snapshot's state.json (from train-state/, or train-state.old/ when a crash fell between the two renames), parsed.
    private static (string Dir, string Path, JsonNode Root) ReadStateFile(string outputFolder)
    {
        if (!Directory.Exists(outputFolder)) throw new CheckpointException($"folder '{outputFolder}' does not exist");
        var dir = Path.Combine(outputFolder, FolderName);
        if (!File.Exists(Path.Combine(dir, StateFile)))
        {
            var old = dir + ".old";
            if (File.Exists(Path.Combine(old, StateFile))) dir = old;
            else throw new CheckpointException($"'{outputFolder}' holds no training state to resume ({FolderName}/{StateFile} is missing)");
        }
        var path = Path.Combine(dir, StateFile);
        try { return (dir, path, JsonNode.Parse(File.ReadAllText(path)) ?? throw new CheckpointException($"'{path}' is empty")); }
        catch (JsonException e) { throw new CheckpointException($"'{path}' is corrupt: {e.Message.Split('\n')[0]}", e); }
    }

    private static string Config(string path, JsonNode root)
    {
        if (root["format"]?.GetValue<string>() != Format) throw new CheckpointException($"'{path}' is not a training state of format {Format}");
        return root["config"]?.ToJsonString() ?? throw new CheckpointException($"'{path}' lacks the run configuration");
    }

    private static Dictionary<string, Tensor> Read(string dir, JsonNode? name)
    {
        var file = name?.GetValue<string>() ?? throw new CheckpointException($"training state in '{dir}' names no file");
        if (!Checkpoint.IsPlainFileName(file)) throw new CheckpointException($"training state in '{dir}' names a file outside its folder");
        var path = Path.Combine(dir, file);
        if (!File.Exists(path)) throw new CheckpointException($"training state in '{dir}' lacks '{file}'");
        return SafeTensors.Load(path);
    }
}
