using StochasticInterpolants.Data;
using StochasticInterpolants.Metrics;
using StochasticInterpolants.Runs;

namespace StochasticInterpolants.Tests.Metrics;

public sealed class ClassifierCacheTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"si-classifier-cache-{Guid.NewGuid():N}");
    private static readonly ClassifierTraining Quick = new(Epochs: 2, BatchSize: 32, Seed: 1);

    public void Dispose()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    private CachedClassifier Get(ImageSet train, ImageSet test, List<string> messages, ClassifierTraining? training = null) =>
        ClassifierCache.GetOrTrain(train, test, messages.Add, training ?? Quick, dataRoot: _root);

    [Fact]
    public void Trains_once_then_loads_the_same_classifier_and_retrains_a_broken_entry()
    {
        using var train = BarImages.Make(120, 1, "bars 8x8");
        using var test = BarImages.Make(60, 2);
        using var images = BarImages.Encoded(test);
        var messages = new List<string>();

        long[] first;
        string folder;
        double accuracy;
        using (var trained = Get(train, test, messages))
        {
            Assert.True(trained.Trained);
            folder = trained.Folder;
            Assert.Equal(Path.Combine(_root, "classifiers", trained.Record.Key), folder);
            Assert.StartsWith("bars-8x8-", trained.Record.Key);
            Assert.True(File.Exists(Path.Combine(folder, ClassifierCache.WeightsFileName)));
            Assert.True(File.Exists(Path.Combine(folder, ClassifierCache.RecordFileName)));
            first = trained.Classifier.Predict(images);
            accuracy = trained.TestAccuracy;
            Assert.Equal(trained.Classifier.Accuracy(images, test.Labels!), accuracy);
            Assert.Equal(120, trained.Record.TrainImages);
        }
        Assert.Contains(messages, m => m.StartsWith("training the reference classifier", StringComparison.Ordinal));
        // Nothing but the entry itself: the temporary folder was renamed into place.
        Assert.Single(Directory.GetFileSystemEntries(Path.Combine(_root, "classifiers")));

        messages.Clear();
        using (var loaded = Get(train, test, messages))
        {
            Assert.False(loaded.Trained);
            Assert.Equal(first, loaded.Classifier.Predict(images));
            Assert.Equal(accuracy, loaded.TestAccuracy);
        }
        Assert.DoesNotContain(messages, m => m.Contains("training", StringComparison.Ordinal));

        // A truncated weights file is detected (safetensors checksum / length) and the entry trained again.
        var weights = Path.Combine(folder, ClassifierCache.WeightsFileName);
        var bytes = File.ReadAllBytes(weights);
        File.WriteAllBytes(weights, bytes[..(bytes.Length / 2)]);
        messages.Clear();
        using (var retrained = Get(train, test, messages))
        {
            Assert.True(retrained.Trained);
            Assert.Equal(first, retrained.Classifier.Predict(images)); // same seed, same data: the same classifier
        }
        Assert.Contains(messages, m => m.Contains("unusable", StringComparison.Ordinal) && m.Contains(folder, StringComparison.Ordinal));
        using (var again = Get(train, test, messages)) Assert.False(again.Trained);

        // So is a damaged description.
        File.WriteAllText(Path.Combine(folder, ClassifierCache.RecordFileName), "{ \"key\": ");
        messages.Clear();
        using (var fromBadJson = Get(train, test, messages)) Assert.True(fromBadJson.Trained);
        Assert.Contains(messages, m => m.Contains("unusable", StringComparison.Ordinal));
    }

    [Fact]
    public void The_key_changes_with_the_data_and_the_training_options()
    {
        using var train = BarImages.Make(30, 1);
        using var other = BarImages.Make(30, 2);
        var config = ClassifierCache.ConfigFor(train);
        var key = ClassifierCache.Key(train, config, Quick);
        Assert.Equal(key, ClassifierCache.Key(train, config, Quick with { }));
        Assert.NotEqual(key, ClassifierCache.Key(other, config, Quick));
        Assert.NotEqual(key, ClassifierCache.Key(train, config, Quick with { Seed = 2 }));
        Assert.NotEqual(key, ClassifierCache.Key(train, config with { FeatureWidth = 64 }, Quick));
    }

    [Fact]
    public void Refuses_unlabelled_or_mismatched_test_images()
    {
        using var train = BarImages.Make(30, 1);
        using var pixels = train.Pixels.clone();
        using var unlabelled = new ImageSet(pixels, null, null, 17, "unlabelled");
        var messages = new List<string>();
        Assert.Throws<DataFormatException>(() => Get(train, unlabelled, messages));
        using var wide = new ImageSet(TorchSharp.torch.zeros([4, 1, 8, 9], TorchSharp.torch.ScalarType.Byte), [0, 1, 2, 0], train.ClassNames, 17, "wide");
        Assert.Throws<DataFormatException>(() => Get(train, wide, messages));
        Assert.False(Directory.Exists(_root));
    }
}
