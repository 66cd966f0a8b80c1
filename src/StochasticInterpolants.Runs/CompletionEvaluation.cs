using System.Diagnostics;
using System.Text.Json.Serialization;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Data;
using StochasticInterpolants.Distributed;
using StochasticInterpolants.Metrics;
using StochasticInterpolants.Runtime;
using StochasticInterpolants.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Runs;

/// <summary>
/// The figures of a data-dependent checkpoint's evaluation (docs/theory.md §12.4); JSON names are the keys of
/// <c>si eval --json</c>. Errors are mean squared errors in brightness units [0, 1] over the hidden pixels (every pixel for
/// super-resolution and denoising), per test image, then averaged (with the standard error over images). With k &gt; 1
/// completions per image, <c>completion_mse</c> averages over all of them and <c>average_completion_mse</c> scores their
/// pixel-wise mean, an estimate of the conditional mean E[x1 | c] (which a single sample cannot match: a draw from the
/// conditional law has twice its expected squared error).
/// </summary>
public sealed record CompletionEvaluationReport(
    [property: JsonPropertyName("coupling")] string Coupling,
    [property: JsonPropertyName("corruption")] string Corruption,
    [property: JsonPropertyName("bits_per_dim_skipped")] string BitsPerDimSkipped,
    [property: JsonPropertyName("completion_mse")] double CompletionMse,
    [property: JsonPropertyName("completion_mse_stderr")] double CompletionMseStdErr,
    [property: JsonPropertyName("completions_per_image")] int CompletionsPerImage,
    [property: JsonPropertyName("average_completion_mse")] double? AverageCompletionMse,
    [property: JsonPropertyName("mean_image_mse")] double MeanImageMse,
    [property: JsonPropertyName("observation_mse")] double ObservationMse,
    [property: JsonPropertyName("hidden_fraction")] double HiddenFraction,
    [property: JsonPropertyName("observed_rms_before_paste")] double? ObservedRms,
    [property: JsonPropertyName("classifier_test_accuracy")] double? ClassifierTestAccuracy,
    [property: JsonPropertyName("completion_accuracy")] double? CompletionAccuracy,
    [property: JsonPropertyName("mean_image_accuracy")] double? MeanImageAccuracy,
    [property: JsonPropertyName("test_images")] int TestImages,
    [property: JsonPropertyName("nfe")] double Nfe,
    [property: JsonPropertyName("solver")] string Solver,
    [property: JsonPropertyName("seconds")] double Seconds,
    [property: JsonPropertyName("target")] string Target);

/// <summary>Scores a checkpoint trained with a data-dependent coupling by completing corrupted test images.</summary>
public static class CompletionEvaluator
{
    /// <summary>Why bits per dimension are not reported for these checkpoints (docs/theory.md §12.4).</summary>
    public const string NoLikelihood =
        "x0 is built from the image itself (its observed part, or a noisy copy), so rho0 is degenerate or depends on the unknown x1: the flow defines no density of test images";

    /// <summary>
    /// Completes <paramref name="images"/> test images (chosen by a permutation seeded by <paramref name="seed"/>), each once,
    /// and scores them against the truth: the completion error, beside filling the hidden pixels with the training mean image
    /// and beside the observation as the network sees it (in-painting: the hole mid-grey; super-resolution: the blocky
    /// upsampling; denoising: the noisy image); for labelled data, the reference classifier's accuracy on the completions and
    /// on the test images with their hidden pixels set to the (rounded) training mean image.
    /// <para>
    /// Data-parallel (docs/theory.md §13.4): with <paramref name="processes"/>, the completions are shared across the ranks
    /// and gathered in rank order (<see cref="CheckpointCompletion.Complete"/>); every rank computes the error figures from
    /// all of them. The reference classifier's figures come after every exchange and only rank 0 computes them (so one
    /// process trains and caches the classifier); the other ranks' reports leave them null.
    /// </para>
    /// </summary>
    public static CompletionEvaluationReport Evaluate(Checkpoint checkpoint, int images, IOdeSolver solver, long seed,
        IProgress<double>? progress = null, Action<string>? message = null, int perImage = 1, IProcessGroup? processes = null)
    {
        processes ??= SingleProcess.Instance;
        if (images < 1) throw new InvalidSettingException("count", $"at least one test image must be completed, got {images}");
        if (perImage < 1) throw new InvalidSettingException("per-observation", $"completions per test image must be >= 1, got {perImage}");
        var m = checkpoint.Manifest;
        var corruption = CheckpointCompletion.CorruptionOf(m);
        var record = m.Images!;
        var watch = Stopwatch.StartNew();
        var scaling = record.Scaling();
        using var data = ImageDatasets.LoadToScore(record, message);
        var n = Math.Min(images, data.Test.Count);
        var order = Enumerable.Range(0, data.Test.Count).ToArray();
        new Random(unchecked((int)seed) ^ 0xC0313).Shuffle(order);
        using var test = data.Test.Subset(order[..n].Order().ToArray());
        using var completions = CheckpointCompletion.Complete(checkpoint, test.Pixels, solver, seed, perImage,
            progress: progress is null ? null : new SyncProgress<double>(f => progress.Report(0.9 * f)), processes: processes);

        using var scope = NewDisposeScope();
        var truth = scaling.PixelBrightness(test.Pixels);
        var shape = truth.shape;
        // Completions come k per image in turn: [n k, ...] viewed as [n, k, ...]; the mask of the first of each k (in-painting
        // with a random mask draws one per completion; the fixed masks agree).
        var all = scaling.PixelBrightness(completions.Pixels);
        var truthEach = truth.repeat_interleave(perImage, 0);
        var hiddenEach = completions.Observed is { } observed ? (1 - observed).expand_as(all) : ones_like(all);
        var hidden = hiddenEach.reshape([n, perImage, .. shape[1..]])[.., 0];
        var (mse, mseErr) = perImage == 1 ? HiddenMse(all, truth, hidden) : HiddenMse(all, truthEach, hiddenEach, perImage);
        double? averageMse = perImage == 1 || (completions.Observed is not null && ((ConditionalMask(completions.Observed, n, perImage)) is false)) ? null
            : HiddenMse(all.reshape([n, perImage, .. shape[1..]]).mean([1]), truth, hidden).Mean;
        var mean = scaling.PixelBrightness(data.Train.Pixels).mean([0], keepdim: true).expand_as(truth);
        var (baseline, _) = HiddenMse(mean, truth, hidden);
        var (observation, _) = HiddenMse(completions.Views.reshape([n, perImage, .. shape[1..]])[.., 0], truth, hidden);
        var fraction = hidden.mean().ToDouble();

        double? classifierAccuracy = null, accuracy = null, meanAccuracy = null;
        if (data.Train.Labels is not null && test.Labels is not null && processes.Rank == 0)
        {
            using var reference = ClassifierCache.GetOrTrain(data.Train, data.Test, message);
            classifierAccuracy = reference.TestAccuracy;
            var predicted = reference.Classifier.Predict(scaling.EncodeCentres(completions.Pixels));
            accuracy = ClassAccuracy.Compute(predicted, test.Labels.SelectMany(l => Enumerable.Repeat(l, perImage)).ToArray(), data.Train.ClassNames!.Count).Overall;
            var meanPixels = data.Train.Pixels.to(float32).mean([0], keepdim: true).round().to(ScalarType.Byte).expand_as(test.Pixels);
            var filled = where(hidden.to(ScalarType.Bool), meanPixels, test.Pixels);
            meanAccuracy = ClassAccuracy.Compute(reference.Classifier.Predict(scaling.EncodeCentres(filled)), test.Labels, data.Train.ClassNames!.Count).Overall;
        }
        progress?.Report(1.0);
        return new CompletionEvaluationReport(m.Coupling!.Name, corruption.Describe(), NoLikelihood, mse, mseErr, perImage, averageMse, baseline, observation, fraction,
            double.IsNaN(completions.ObservedRms) ? null : completions.ObservedRms, classifierAccuracy, accuracy, meanAccuracy, n, completions.FunctionEvaluations, solver.Name,
            watch.Elapsed.TotalSeconds, record.Source);
    }

    // True when every image's k completions share one mask (always for the fixed masks), so their mean is comparable.
    private static bool ConditionalMask(Tensor observed, int n, int k)
    {
        using var scope = NewDisposeScope();
        var grouped = observed.reshape([n, k, .. observed.shape[1..]]);
        return grouped.eq(grouped[.., ..1]).all().ToBoolean();
    }

    /// <summary>
    /// The mean squared error of <paramref name="estimate"/> against <paramref name="truth"/> over the pixels where
    /// <paramref name="hidden"/> is 1, per image (sum over hidden pixels / their count), then the mean over images and its
    /// standard error. All [n, c, h, w]; an image with no hidden pixel is refused.
    /// </summary>
    /// <param name="estimate">The estimates.</param>
    /// <param name="truth">The true images.</param>
    /// <param name="hidden">1 on the pixels scored.</param>
    /// <param name="group">Consecutive rows averaged into one before the mean and standard error (k completions of one image).</param>
    public static (double Mean, double StdErr) HiddenMse(Tensor estimate, Tensor truth, Tensor hidden, int group = 1)
    {
        using var scope = NewDisposeScope();
        var counts = hidden.sum([1, 2, 3]).to(float64);
        if (counts.min().ToDouble() <= 0) throw new ArgumentException("an image has no hidden pixel to score");
        var perImage = (estimate - truth).pow(2).mul(hidden).sum([1, 2, 3]).to(float64).div(counts);
        if (group > 1) perImage = perImage.reshape(-1, group).mean([1]);
        var values = perImage.data<double>().ToArray();
        var average = values.Average();
        var stderr = values.Length < 2 ? double.NaN : Math.Sqrt(values.Sum(v => (v - average) * (v - average)) / (values.Length - 1) / values.Length);
        return (average, stderr);
    }
}
