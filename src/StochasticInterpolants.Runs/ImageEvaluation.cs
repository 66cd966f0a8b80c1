using System.Diagnostics;
using System.Text.Json.Serialization;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Data;
using StochasticInterpolants.Distributed;
using StochasticInterpolants.Fields;
using StochasticInterpolants.Likelihood;
using StochasticInterpolants.Metrics;
using StochasticInterpolants.Runtime;
using StochasticInterpolants.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Runs;

/// <summary>Settings of <see cref="ImageEvaluator.Evaluate"/>.</summary>
/// <param name="LikelihoodImages">Test images whose bits per dimension are computed (the likelihood is the costly part).</param>
/// <param name="Solver">ODE solver of the likelihood and of generation (default RK4, 20 steps).</param>
/// <param name="Probes">Hutchinson probes per image (Rademacher, fixed along each path).</param>
/// <param name="Generated">Images generated for the classifier figures: per class for a class-conditional checkpoint, in all otherwise.</param>
/// <param name="Guidance">A guidance weight w scored beside w = 1 (the plain conditional model); 1 scores only w = 1.</param>
/// <param name="MemorisationImages">Generated and test images whose nearest training image is found.</param>
/// <param name="Seed">Seeds every draw.</param>
public sealed record ImageEvaluationOptions(int LikelihoodImages = 200, IOdeSolver? Solver = null, int Probes = 1, int Generated = 100, double Guidance = 1.0,
    int MemorisationImages = 500, long Seed = 0)
{
    /// <summary>Throws <see cref="InvalidSettingException"/> for a setting out of range.</summary>
    public void Validate()
    {
        if (LikelihoodImages < 0) throw new InvalidSettingException("count", $"the number of test images to score must be >= 0, got {LikelihoodImages}");
        if (Probes < 1) throw new InvalidSettingException("probes", $"Hutchinson probes must be >= 1, got {Probes}");
        if (Generated < 2) throw new InvalidSettingException("generated", $"at least 2 images must be generated, got {Generated}");
        if (!double.IsFinite(Guidance)) throw new InvalidSettingException("guidance", $"the guidance weight must be a finite number, got {Guidance}");
        if (MemorisationImages < 1) throw new InvalidSettingException("memorisation", $"the memorisation check needs at least 1 image, got {MemorisationImages}");
    }
}

/// <summary>
/// The figures of an image evaluation (docs/theory.md §9, §11); JSON names are the keys of <c>si eval --json</c>.
/// Bits per dimension are of the discrete pixels (uniform dequantisation bound), for a class-conditional checkpoint
/// conditional on each test image's class (<c>likelihood_condition</c>). Conditional accuracy is the reference
/// classifier's agreement with the intended class of generated images, at w = 1 and at the guidance weight asked for.
/// The Fréchet classifier distance compares generated (w = 1) and test images in the classifier's feature space; its
/// floor is the same distance between as many training images and the test images. The memorisation figures are medians
/// of the distance (pixels in [0, 1]) to the nearest training image.
/// </summary>
public sealed record ImageEvaluationReport(
    [property: JsonPropertyName("nll_mean")] double NllMean,
    [property: JsonPropertyName("nll_stderr")] double NllStdErr,
    [property: JsonPropertyName("bits_per_dim")] double BitsPerDim,
    [property: JsonPropertyName("bits_per_dim_stderr")] double BitsPerDimStdErr,
    [property: JsonPropertyName("likelihood_condition")] string LikelihoodCondition,
    [property: JsonPropertyName("held_out")] int HeldOut,
    [property: JsonPropertyName("nfe")] double Nfe,
    [property: JsonPropertyName("solver")] string Solver,
    [property: JsonPropertyName("estimator")] string Estimator,
    [property: JsonPropertyName("classifier_test_accuracy")] double? ClassifierTestAccuracy,
    [property: JsonPropertyName("guidance")] double Guidance,
    [property: JsonPropertyName("conditional_accuracy")] double? ConditionalAccuracy,
    [property: JsonPropertyName("conditional_accuracy_per_class")] IReadOnlyList<double>? ConditionalAccuracyPerClass,
    [property: JsonPropertyName("conditional_accuracy_unguided")] double? ConditionalAccuracyUnguided,
    [property: JsonPropertyName("conditional_accuracy_unguided_per_class")] IReadOnlyList<double>? ConditionalAccuracyUnguidedPerClass,
    [property: JsonPropertyName("frechet_classifier_distance")] double? FrechetClassifierDistance,
    [property: JsonPropertyName("frechet_classifier_distance_floor")] double? FrechetClassifierDistanceFloor,
    [property: JsonPropertyName("nearest_train_distance")] double NearestTrainDistance,
    [property: JsonPropertyName("nearest_train_distance_test")] double NearestTrainDistanceTest,
    [property: JsonPropertyName("memorisation_ratio")] double MemorisationRatio,
    [property: JsonPropertyName("generated")] int Generated,
    [property: JsonPropertyName("sampling_nfe")] double SamplingNfe,
    [property: JsonPropertyName("seconds")] double Seconds,
    [property: JsonPropertyName("target")] string Target);

/// <summary>Scores an image checkpoint: bits per dimension on test images, the reference classifier's figures, memorisation.</summary>
public static class ImageEvaluator
{
    /// <summary>Images per chunk of the likelihood (its autograd graph spans one chunk).</summary>
    private const int LikelihoodChunk = 50;

    /// <summary>
    /// Evaluates <paramref name="checkpoint"/> (an image checkpoint) on its data set's test split. The reference classifier
    /// is trained on the training split the first time (and cached); <paramref name="message"/> hears about that and about
    /// a data set fetched on first use.
    /// <para>
    /// Data-parallel (docs/theory.md §13.4): with <paramref name="processes"/>, the likelihood's chunks and the generated
    /// images are shared across the ranks as in <see cref="BitsPerDimension"/> and <see cref="CheckpointSampler"/>, and
    /// gathered in rank order; every rank computes the likelihood and memorisation figures from the whole results. The
    /// reference classifier's figures come last, after every exchange, and only rank 0 computes them (so one process trains
    /// and caches the classifier); the other ranks' reports leave them null.
    /// </para>
    /// </summary>
    public static ImageEvaluationReport Evaluate(Checkpoint checkpoint, ImageEvaluationOptions? options = null, IProgress<double>? progress = null,
        Action<string>? message = null, IProcessGroup? processes = null)
    {
        processes ??= SingleProcess.Instance;
        var o = options ?? new ImageEvaluationOptions();
        o.Validate();
        var m = checkpoint.Manifest;
        var record = m.Images ?? throw new ArgumentException("not an image checkpoint");
        var watch = Stopwatch.StartNew();
        var solver = o.Solver ?? new Rk4Solver(20);
        var scaling = record.Scaling();
        var classes = m.ConditionClasses();
        using var data = ImageDatasets.LoadToScore(record, message);

        // 1. Bits per dimension of test images, each dequantised once with a fixed seed.
        var (nll, nllErr, bpd, bpdErr, scored, nfe) = BitsPerDimension(checkpoint.Fields(), m.TimeClip, data.Test, scaling, solver,
            o.LikelihoodImages, o.Probes, o.Seed, conditional: classes is not null, progress is null ? null : new SyncProgress<double>(f => progress.Report(0.5 * f)), processes);
        progress?.Report(0.5);

        // 2. Generated images: per class (w = 1, and w = guidance), or unconditional.
        var generated = new Dictionary<double, (Tensor Pixels, Tensor? Labels, double Nfe)>();
        try
        {
            foreach (var w in classes is null || o.Guidance == 1 ? new[] { 1.0 } : [1.0, o.Guidance])
            {
                var count = classes is null ? o.Generated : o.Generated * classes.Count;
                var sampleClasses = classes is null ? null : new SampleClasses(Guidance: w, PerClass: true);
                var (pixels, sampleNfe) = CheckpointSampler.Sample(checkpoint, count, solver, o.Seed + 17, classes: sampleClasses, processes: processes);
                var labels = CheckpointSampler.ClassesFor(m, count, o.Seed + 17, sampleClasses);
                generated[w] = (pixels, labels, sampleNfe);
                progress?.Report(0.5 + 0.3 * generated.Count / (o.Guidance == 1 ? 1.0 : 2.0));
            }
            var plain = generated[1.0];

            // 3. The reference classifier's figures (labelled data only).
            double? classifierAccuracy = null, accuracy = null, unguided = null, fcd = null, fcdFloor = null;
            IReadOnlyList<double>? perClass = null, unguidedPerClass = null;
            if (data.Train.Labels is not null && processes.Rank == 0)
            {
                using var reference = ClassifierCache.GetOrTrain(data.Train, data.Test, message);
                classifierAccuracy = reference.TestAccuracy;
                if (classes is not null)
                {
                    (unguided, unguidedPerClass) = Accuracy(reference.Classifier, plain.Pixels, plain.Labels!, scaling, classes.Count);
                    (accuracy, perClass) = o.Guidance == 1 ? (unguided, unguidedPerClass)
                        : Accuracy(reference.Classifier, generated[o.Guidance].Pixels, generated[o.Guidance].Labels!, scaling, classes.Count);
                }
                (fcd, fcdFloor) = Frechet(reference.Classifier, plain.Pixels, data, scaling, o.Seed);
            }
            progress?.Report(0.9);

            // 4. Memorisation: distances to the nearest training image, generated against test.
            var memorisation = Memorisation(plain.Pixels, data, scaling, o);
            progress?.Report(1.0);
            return new ImageEvaluationReport(nll, nllErr, bpd, bpdErr, classes is null ? "none" : "class", scored, nfe, solver.Name,
                new LikelihoodOptions(DivergenceEstimator.HutchinsonRademacher, o.Probes).Describe(), classifierAccuracy, o.Guidance,
                accuracy, perClass, unguided, unguidedPerClass, fcd, fcdFloor, memorisation.GeneratedToTrain.Median, memorisation.TestToTrain.Median, memorisation.MedianRatio,
                (int)plain.Pixels.shape[0], plain.Nfe, watch.Elapsed.TotalSeconds, record.Source);
        }
        finally
        {
            foreach (var (p, l, _) in generated.Values) { p.Dispose(); l?.Dispose(); }
        }
    }

    /// <summary>
    /// The NLL of y (nats per image) and the bits per dimension of the pixels (docs/theory.md §9), mean and standard error
    /// over <paramref name="images"/> test images chosen by a seeded permutation, each dequantised once with a fixed seed;
    /// Hutchinson's estimator with <paramref name="probes"/> Rademacher probes fixed along each path; with
    /// <paramref name="conditional"/>, each image given its class. Returns the NFE per path too. A non-finite
    /// log-likelihood stops with an error naming the image. With <paramref name="processes"/>, every rank dequantises all
    /// the images and draws each chunk's probes for the whole chunk, integrates its <see cref="RowShare"/> of the chunk,
    /// and the NLLs are gathered in rank order (the NFE is then the mean over each chunk's rows).
    /// </summary>
    public static (double Nll, double NllErr, double Bpd, double BpdErr, int Scored, double Nfe) BitsPerDimension(FieldSet fields, double timeClip, ImageSet test,
        ImageScaling scaling, IOdeSolver solver, int images, int probes, long seed, bool conditional, IProgress<double>? progress = null,
        IProcessGroup? processes = null)
    {
        processes ??= SingleProcess.Instance;
        var n = Math.Min(images, test.Count);
        if (n == 0) return (double.NaN, double.NaN, double.NaN, double.NaN, 0, 0);
        var d = test.Dimension;
        // A seeded choice of test images, so a subset is an unbiased sample of the test split.
        var order = Enumerable.Range(0, test.Count).ToArray();
        new Random(unchecked((int)seed) ^ 0x1B9D).Shuffle(order);
        var chosen = order[..n].Order().ToArray();
        using var subset = test.Subset(chosen);
        using var g = new Generator((ulong)seed ^ 0x44455155UL);
        using var y = scaling.Encode(subset.Pixels, g);
        using var labels = !conditional || subset.Labels is null ? null : tensor(subset.Labels);
        var (start, _) = fields.VelocityInterval(timeClip);
        var nll = new double[n];
        double nfe = 0; var chunks = 0;
        for (var i = 0; i < n; i += LikelihoodChunk)
        {
            var k = Math.Min(LikelihoodChunk, n - i);
            using var scope = NewDisposeScope();
            var share = RowShare.For(k, processes);
            var condition = labels is null ? null : share.Of(labels[i..(i + k)]);
            var likelihood = new FlowLikelihood(fields.WithCondition(condition).Velocity(), new StandardGaussian(d), solver,
                new LikelihoodOptions(DivergenceEstimator.HutchinsonRademacher, probes, seed + i), start);
            using var result = likelihood.LogDensity(share.Of(y[i..(i + k)]), share: share);
            var logp = processes.GatherShares(share, result.LogDensity.to(float64), "the gathering of log-likelihoods").data<double>().ToArray();
            for (var j = 0; j < k; j++)
            {
                if (!double.IsFinite(logp[j])) throw new IntegrationException($"the likelihood of test image {chosen[i + j]} is not finite ({logp[j]}): the learned velocity diverges along its path");
                nll[i + j] = -logp[j];
            }
            nfe += processes.MeanPerRow(share, result.FunctionEvaluations, "the likelihood's evaluation counts"); chunks++;
            progress?.Report((double)(i + k) / n);
        }
        var bpd = nll.Select(v => scaling.BitsPerDimension(v, d)).ToArray();
        return (nll.Average(), StdErr(nll), bpd.Average(), StdErr(bpd), n, nfe / chunks);
    }

    private static double StdErr(double[] v)
    {
        if (v.Length < 2) return double.NaN;
        var mean = v.Average();
        return Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Length - 1) / v.Length);
    }

    // Overall and per-class agreement of the classifier with the intended classes.
    private static (double Overall, IReadOnlyList<double> PerClass) Accuracy(ReferenceClassifier classifier, Tensor pixels, Tensor labels, ImageScaling scaling, int classes)
    {
        using var x = scaling.EncodeCentres(pixels);
        var predicted = classifier.Predict(x);
        var intended = labels.data<long>().ToArray();
        var result = ClassAccuracy.Compute(predicted, intended, classes);
        return (result.Overall, result.PerClass);
    }

    // FCD of generated vs test, and the floor: as many training images vs test.
    private static (double Distance, double Floor) Frechet(ReferenceClassifier classifier, Tensor generatedPixels, ImageData data, ImageScaling scaling, long seed)
    {
        using var scope = NewDisposeScope();
        using var testMoments = GaussianMoments.Of(classifier.Features(scaling.EncodeCentres(data.Test.Pixels)));
        using var generated = GaussianMoments.Of(classifier.Features(scaling.EncodeCentres(generatedPixels)));
        var count = (int)Math.Min(generatedPixels.shape[0], data.Train.Count);
        var order = Enumerable.Range(0, data.Train.Count).ToArray();
        new Random(unchecked((int)seed) ^ 0xFCD).Shuffle(order);
        using var trainSubset = data.Train.Subset(order[..count]);
        using var train = GaussianMoments.Of(classifier.Features(scaling.EncodeCentres(trainSubset.Pixels)));
        return (FrechetDistance.Between(generated, testMoments), FrechetDistance.Between(train, testMoments));
    }

    // Distances (pixels in [0, 1]) from generated images, and from test images, to their nearest training image.
    private static MemorisationSummary Memorisation(Tensor generatedPixels, ImageData data, ImageScaling scaling, ImageEvaluationOptions o)
    {
        using var scope = NewDisposeScope();
        var k = (int)Math.Min(o.MemorisationImages, generatedPixels.shape[0]);
        var t = Math.Min(o.MemorisationImages, data.Test.Count);
        return MemorisationSummary.Compute(scaling.PixelBrightness(generatedPixels[..k]), scaling.PixelBrightness(data.Train.Pixels),
            scaling.PixelBrightness(data.Test.Pixels[..t]));
    }
}
