using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Data;
using StochasticInterpolants.Files;
using StochasticInterpolants.Metrics;
using StochasticInterpolants.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Runs;

/// <summary>A reference classifier from <see cref="ClassifierCache.GetOrTrain"/>, with its accuracy on the test images.</summary>
public sealed class CachedClassifier : IDisposable
{
    internal CachedClassifier(ReferenceClassifier classifier, ClassifierRecord record, string folder, bool trained)
    {
        Classifier = classifier; Record = record; Folder = folder; Trained = trained;
    }

    /// <summary>The classifier (owned: disposed with this object).</summary>
    public ReferenceClassifier Classifier { get; }
    /// <summary>What the cache stores about it (configuration, training options, test accuracy, training time).</summary>
    public ClassifierRecord Record { get; }
    /// <summary>Fraction of the test images classified correctly, measured when it was trained.</summary>
    public double TestAccuracy => Record.TestAccuracy;
    /// <summary>The cache entry's folder.</summary>
    public string Folder { get; }
    /// <summary>True when this call trained the classifier; false when it came from the cache.</summary>
    public bool Trained { get; }

    /// <inheritdoc />
    public void Dispose() => Classifier.Dispose();
}

/// <summary>The contents of a cache entry's <c>classifier.json</c>.</summary>
/// <param name="Key">The entry's folder name (data set name and hash).</param>
/// <param name="DataSet">The training set's name.</param>
/// <param name="ClassNames">Its classes.</param>
/// <param name="Config">The classifier's shape.</param>
/// <param name="Training">How it was trained.</param>
/// <param name="TrainImages">Training images.</param>
/// <param name="TestImages">Test images its accuracy was measured on.</param>
/// <param name="TestAccuracy">Fraction of test images classified correctly.</param>
/// <param name="TrainingSeconds">Wall-clock training time.</param>
public sealed record ClassifierRecord(string Key, string DataSet, IReadOnlyList<string> ClassNames, ClassifierConfig Config, ClassifierTraining Training,
    int TrainImages, int TestImages, double TestAccuracy, double TrainingSeconds);

/// <summary>
/// The reference classifier of an image data set, trained once and kept under
/// <c>${SI_DATA:-${XDG_CACHE_HOME:-$HOME/.cache}/stochastic-interpolants/datasets}/classifiers/&lt;key&gt;/</c> as
/// <c>weights.safetensors</c> and <c>classifier.json</c>. The key is the data set's name plus a SHA-256 of its training
/// pixels, labels, classes, the classifier configuration and the training options, so any change trains a new one.
/// An entry is written in a temporary folder beside it and renamed into place, so a killed training never leaves half an
/// entry; an entry that fails to load (corrupt, truncated, not matching) is trained again, with a message, never trusted.
/// </summary>
public static class ClassifierCache
{
    /// <summary>Weights file of an entry.</summary>
    public const string WeightsFileName = "weights.safetensors";
    /// <summary>Description file of an entry.</summary>
    public const string RecordFileName = "classifier.json";
    // Bump when the network, its training or the key's contents change meaning, so old entries are not reused.
    private const string KeyVersion = "si-reference-classifier-v1";

    /// <summary>The classifier configuration for images shaped like <paramref name="images"/> (default widths).</summary>
    public static ClassifierConfig ConfigFor(ImageSet images) =>
        new((int)images.Shape[0], (int)images.Shape[1], (int)images.Shape[2], images.ClassNames?.Count
            ?? throw new DataFormatException($"'{images.Name}' has no class labels: a reference classifier needs them"));

    /// <summary>
    /// The cached reference classifier for <paramref name="train"/>, or a new one trained on it (images mapped to [-1, 1]
    /// by <see cref="ImageScaling.EncodeCentres"/>), its accuracy measured on <paramref name="test"/> and stored.
    /// </summary>
    /// <param name="train">Labelled training images.</param>
    /// <param name="test">Labelled test images of the same shape and classes.</param>
    /// <param name="message">Receives one-line notes (loaded, training, retraining a broken entry, trained).</param>
    /// <param name="training">Training options (default <see cref="ClassifierTraining"/>()).</param>
    /// <param name="config">Network shape (default <see cref="ConfigFor"/>(train)); its image shape and classes must fit the data.</param>
    /// <param name="dataRoot">The data folder in place of <see cref="ImageDatasets.CacheFolder"/>(); entries go in its <c>classifiers</c> subfolder.</param>
    /// <param name="progress">Training progress.</param>
    /// <param name="cancellation">Stops a training (nothing is written).</param>
    public static CachedClassifier GetOrTrain(ImageSet train, ImageSet test, Action<string>? message = null, ClassifierTraining? training = null,
        ClassifierConfig? config = null, string? dataRoot = null, IProgress<ClassifierProgress>? progress = null, CancellationToken cancellation = default)
    {
        training ??= new ClassifierTraining();
        training.Validate();
        config ??= ConfigFor(train);
        config.Validate();
        CheckData(train, test, config);
        var key = Key(train, config, training);
        var root = Path.Combine(dataRoot ?? ImageDatasets.CacheFolder, "classifiers");
        var folder = Path.Combine(root, key);
        if (Directory.Exists(folder))
        {
            try
            {
                var cached = Load(folder, key, config, training);
                message?.Invoke(string.Create(CultureInfo.InvariantCulture, $"reference classifier for '{train.Name}' from {folder} (test accuracy {cached.TestAccuracy:P1})"));
                return cached;
            }
            catch (Exception e) when (e is CheckpointException or WeightsMismatchException or JsonException or IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
                message?.Invoke($"reference classifier cache {folder} is unusable ({e.Message.Split('\n')[0]}); training it again");
            }
        }
        return TrainAndStore(train, test, config, training, key, root, folder, message, progress, cancellation);
    }

    private static CachedClassifier TrainAndStore(ImageSet train, ImageSet test, ClassifierConfig config, ClassifierTraining training, string key,
        string root, string folder, Action<string>? message, IProgress<ClassifierProgress>? progress, CancellationToken cancellation)
    {
        message?.Invoke($"training the reference classifier for '{train.Name}' ({train.Count} images, {training.EpochsFor(train.Count)} epochs; cached in {folder})");
        var watch = Stopwatch.StartNew();
        // No dispose scope around the training: the network's parameters must outlive it.
        ReferenceClassifier classifier;
        using (var trainImages = new ImageScaling(train.Levels).EncodeCentres(train.Pixels))
            classifier = ReferenceClassifier.Train(config, trainImages, train.Labels!, training, progress, cancellation);
        double accuracy;
        try
        {
            using var testImages = new ImageScaling(test.Levels).EncodeCentres(test.Pixels);
            accuracy = classifier.Accuracy(testImages, test.Labels!);
        }
        catch
        {
            classifier.Dispose();
            throw;
        }
        var seconds = watch.Elapsed.TotalSeconds;
        var record = new ClassifierRecord(key, train.Name, train.ClassNames!.ToList(), config, training, train.Count, test.Count, accuracy, Math.Round(seconds, 2));
        message?.Invoke(string.Create(CultureInfo.InvariantCulture, $"reference classifier for '{train.Name}': test accuracy {accuracy:P1} on {test.Count} images, trained in {seconds:F0} s"));
        try
        {
            Store(classifier, record, root, folder);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The classifier is good; only the cache failed. Use it and say so rather than lose the training.
            message?.Invoke($"reference classifier not cached: {e.Message.Split('\n')[0]}");
        }
        return new CachedClassifier(classifier, record, folder, trained: true);
    }

    // Writes the entry into a fresh temporary folder beside its place and renames it in: readers see all of it or none.
    private static void Store(ReferenceClassifier classifier, ClassifierRecord record, string root, string folder)
    {
        Directory.CreateDirectory(root);
        RemoveStaleTemporaries(root, record.Key);
        var temp = Path.Combine(root, $".{record.Key}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        Directory.CreateDirectory(temp);
        try
        {
            SafeTensors.Save(Path.Combine(temp, WeightsFileName), classifier.Weights, new Dictionary<string, string> { ["si.key"] = record.Key });
            AtomicFile.WriteText(Path.Combine(temp, RecordFileName), JsonSerializer.Serialize(record, Checkpoint.Json));
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true); // an entry that failed to load
            Directory.Move(temp, folder);
        }
        catch
        {
            try { Directory.Delete(temp, recursive: true); } catch (IOException) { }
            if (Directory.Exists(folder)) return; // another process stored the same entry first
            throw;
        }
    }

    // Temporary folders of killed trainings (older than a day, so a concurrent training's is left alone).
    private static void RemoveStaleTemporaries(string root, string key)
    {
        foreach (var dir in Directory.EnumerateDirectories(root, $".{key}.*.tmp"))
        {
            try { if (Directory.GetLastWriteTimeUtc(dir) < DateTime.UtcNow.AddDays(-1)) Directory.Delete(dir, recursive: true); }
            catch (IOException) { }
        }
    }

    private static CachedClassifier Load(string folder, string key, ClassifierConfig config, ClassifierTraining training)
    {
        var recordPath = Path.Combine(folder, RecordFileName);
        if (!File.Exists(recordPath)) throw new IOException($"{RecordFileName} is missing");
        var record = JsonSerializer.Deserialize<ClassifierRecord>(File.ReadAllText(recordPath), Checkpoint.Json)
            ?? throw new IOException($"{RecordFileName} is empty");
        if (record.Key != key) throw new IOException($"{RecordFileName} is for '{record.Key}'");
        if (record.Config != config) throw new IOException($"{RecordFileName} describes another network ({record.Config})");
        if (record.Training != training) throw new IOException($"{RecordFileName} describes other training ({record.Training})");
        if (!(record.TestAccuracy is >= 0 and <= 1)) throw new IOException($"{RecordFileName} has test accuracy {record.TestAccuracy}");
        var weights = SafeTensors.Load(Path.Combine(folder, WeightsFileName));
        try
        {
            return new CachedClassifier(ReferenceClassifier.FromWeights(config, weights, Path.Combine(folder, WeightsFileName)), record, folder, trained: false);
        }
        finally
        {
            foreach (var w in weights.Values) w.Dispose();
        }
    }

    private static void CheckData(ImageSet train, ImageSet test, ClassifierConfig config)
    {
        foreach (var set in new[] { train, test })
        {
            if (set.Labels is null) throw new DataFormatException($"'{set.Name}' has no class labels: a reference classifier needs them");
            if (!set.Shape.SequenceEqual(new long[] { config.Channels, config.Height, config.Width }))
                throw new DataFormatException($"'{set.Name}' holds images [{string.Join(",", set.Shape)}], the classifier expects [{config.Channels},{config.Height},{config.Width}]");
        }
        if (train.ClassNames!.Count != config.Classes) throw new DataFormatException($"'{train.Name}' has {train.ClassNames.Count} classes, the classifier {config.Classes}");
        if (!test.ClassNames!.SequenceEqual(train.ClassNames)) throw new DataFormatException($"'{test.Name}' has other classes than '{train.Name}'");
        if (test.Levels != train.Levels) throw new DataFormatException($"'{test.Name}' has {test.Levels} pixel levels, '{train.Name}' {train.Levels}");
    }

    /// <summary>
    /// The entry's folder name: the data set's name (letters, digits, '-', '_', '.'; at most 40) and the first 16 hex digits
    /// of SHA-256 over the key version, the images' shape and levels, their pixels, labels and class names, and the
    /// classifier configuration and training options as JSON.
    /// </summary>
    public static string Key(ImageSet train, ClassifierConfig config, ClassifierTraining training)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Text(string s) { var b = Encoding.UTF8.GetBytes(s); Long(b.Length); hash.AppendData(b); }
        void Long(long v) { Span<byte> b = stackalloc byte[8]; BinaryPrimitives.WriteInt64LittleEndian(b, v); hash.AppendData(b); }
        Text(KeyVersion);
        foreach (var s in train.Pixels.shape) Long(s);
        Long(train.Levels);
        hash.AppendData(train.Pixels.data<byte>().ToArray());
        foreach (var l in train.Labels ?? []) Long(l);
        foreach (var c in train.ClassNames ?? []) Text(c);
        Text(JsonSerializer.Serialize(config, Checkpoint.Json));
        Text(JsonSerializer.Serialize(training, Checkpoint.Json));
        var digest = Convert.ToHexString(hash.GetHashAndReset()).ToLowerInvariant()[..16];
        var name = new string(train.Name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? char.ToLowerInvariant(c) : '-').ToArray()).Trim('.', '-');
        if (name.Length > 40) name = name[..40];
        return name.Length == 0 ? digest : $"{name}-{digest}";
    }
}
