using TorchSharp;
using StochasticInterpolants.Data;
using StochasticInterpolants.Metrics;
using StochasticInterpolants.Models;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Metrics;

/// <summary>
/// 8x8 images, 17 levels, of three classes separable by construction: a bright horizontal bar (class 0), vertical bar
/// (class 1) or main diagonal (class 2) of levels 11..16 on a background of levels 0..5, bar position random.
/// </summary>
internal static class BarImages
{
    public static ImageSet Make(int count, int seed, string name = "bars")
    {
        var random = new Random(seed);
        var pixels = new byte[count * 64];
        var labels = new long[count];
        for (var i = 0; i < count; i++)
        {
            var label = i % 3;
            labels[i] = label;
            var at = random.Next(1, 7);
            for (var y = 0; y < 8; y++)
                for (var x = 0; x < 8; x++)
                {
                    var on = label switch { 0 => y == at, 1 => x == at, _ => x == y };
                    pixels[i * 64 + y * 8 + x] = (byte)(on ? random.Next(11, 17) : random.Next(0, 6));
                }
        }
        using var t = tensor(pixels, [count, 1, 8, 8]);
        return new ImageSet(t, labels, ["horizontal", "vertical", "diagonal"], 17, name);
    }

    public static Tensor Encoded(ImageSet set) => new ImageScaling(set.Levels).EncodeCentres(set.Pixels);
}

public class ReferenceClassifierTests
{
    private static readonly ClassifierConfig Config = new(1, 8, 8, 3);
    private static readonly ClassifierTraining Quick = new(Epochs: 6, BatchSize: 32, Seed: 7);

    [Fact]
    public void Learns_a_separable_problem_and_gives_128_dimensional_features()
    {
        using var train = BarImages.Make(480, 1);
        using var test = BarImages.Make(300, 2);
        using var x = BarImages.Encoded(train);
        using var xt = BarImages.Encoded(test);
        var reports = new List<ClassifierProgress>();
        using var classifier = ReferenceClassifier.Train(Config, x, train.Labels!, Quick, new StochasticInterpolants.Runtime.SyncProgress<ClassifierProgress>(reports.Add));
        var accuracy = classifier.Accuracy(xt, test.Labels!);
        Assert.True(accuracy >= 0.95, $"held-out accuracy {accuracy:P1}");
        // 15 steps per epoch x 6 epochs, reported at each epoch's end (and every 50 steps), with a falling loss.
        Assert.Equal(90, reports[^1].Step);
        Assert.Equal(90, reports[^1].Steps);
        Assert.True(reports[^1].Loss < reports[0].Loss / 2, $"loss {reports[0].Loss} -> {reports[^1].Loss}");

        using var features = classifier.Features(xt);
        Assert.Equal([300L, 128], features.shape);
        Assert.Equal(ScalarType.Float64, features.dtype);
        Assert.True(features.min().ToDouble() >= 0); // after a ReLU
        var predicted = classifier.Predict(xt);
        Assert.Equal(300, predicted.Length);
        Assert.Equal(accuracy, ClassAccuracy.Compute(predicted, test.Labels!, 3).Overall, 12);
    }

    [Fact]
    public void Is_deterministic_for_a_seed_and_survives_a_round_trip_through_its_weights()
    {
        using var train = BarImages.Make(150, 3);
        using var x = BarImages.Encoded(train);
        var options = Quick with { Epochs = 2 };
        using var a = ReferenceClassifier.Train(Config, x, train.Labels!, options);
        using var b = ReferenceClassifier.Train(Config, x, train.Labels!, options);
        using var c = ReferenceClassifier.Train(Config, x, train.Labels!, options with { Seed = 8 });
        Assert.Equal(a.Predict(x), b.Predict(x));
        foreach (var (name, w) in a.Weights)
            Assert.True(w.allclose(b.Weights[name], rtol: 0, atol: 0), $"'{name}' differs between two trainings with one seed");
        Assert.False(a.Weights["conv1.weight"].allclose(c.Weights["conv1.weight"]), "another seed gave the same weights");

        var copies = a.Weights.ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        using var rebuilt = ReferenceClassifier.FromWeights(Config, copies, "test");
        using var fa = a.Features(x);
        using var fr = rebuilt.Features(x);
        Assert.True(fa.allclose(fr, rtol: 0, atol: 0));
        copies.Remove("logits.bias");
        Assert.Throws<WeightsMismatchException>(() => ReferenceClassifier.FromWeights(Config, copies, "test"));
        foreach (var t in copies.Values) t.Dispose();
    }

    [Fact]
    public void Rejects_bad_shapes_and_stops_when_cancelled()
    {
        using var wrong = zeros(4, 1, 8, 9);
        using var fresh = ReferenceClassifier.Initialise(Config, 0);
        Assert.Throws<ArgumentException>(() => fresh.Predict(wrong));
        using var x = zeros(4, 1, 8, 8);
        Assert.Throws<ArgumentException>(() => ReferenceClassifier.Train(Config, x, [0, 1, 2], Quick));
        Assert.Throws<ArgumentException>(() => ReferenceClassifier.Train(Config, x, [0, 1, 2, 3], Quick));
        Assert.Throws<ArgumentException>(() => new ClassifierConfig(1, 2, 8, 3).Validate());
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => ReferenceClassifier.Train(Config, x, [0, 1, 2, 0], Quick, cancellation: cancelled.Token));
    }

    [Fact]
    public void Automatic_epochs_aim_at_a_thousand_steps()
    {
        var auto = new ClassifierTraining(BatchSize: 64);
        Assert.Equal(16, auto.EpochsFor(4000));  // 63 steps per epoch
        Assert.Equal(2, auto.EpochsFor(60000));  // at least two passes
        Assert.Equal(40, auto.EpochsFor(500));   // at most 40
        Assert.Equal(3, (auto with { Epochs = 3 }).EpochsFor(60000));
    }
}
