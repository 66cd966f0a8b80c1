using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Data;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Sampling;
using StochasticInterpolants.Visualization;
using static TorchSharp.torch;

namespace StochasticInterpolants.Runs;

public static partial class TransportReport
{
    /// <summary>The guidance weights of the report's sample grids (1 = the plain conditional model).</summary>
    private static readonly double[] ReportGuidance = [0.0, 1.0, 3.0];

    /// <summary>Times of the image path figure.</summary>
    private static readonly double[] PathTimes = [0.0, 0.25, 0.5, 0.75, 1.0];

    // The interpolant's x_t = I(t, x0, x1) + gamma(t) z at each of PathTimes, as brightness [times, n, c, h, w] (no model).
    private static Tensor InterpolantFrames(InterpolantPath path, Tensor x0, Tensor x1, Tensor z)
    {
        var frames = PathTimes.Select(t =>
        {
            using var xt = path.SampleAt(x0, x1, z, t);
            return ImageScaling.Brightness(xt);
        }).ToList();
        try { return stack(frames); }
        finally { foreach (var f in frames) f.Dispose(); }
    }

    // The model's ODE path dX/dt = b(t, X) from x0, saved at PathTimes (clamped to where the velocity is defined), as
    // brightness [times, n, c, h, w].
    private static Tensor ModelFrames(Fields.FieldSet fields, double timeClip, IOdeSolver solver, Tensor x0)
    {
        var (start, end) = fields.VelocityInterval(timeClip);
        var saveTimes = PathTimes.Select(t => Math.Clamp(t, start, end)).ToArray();
        using var solution = solver.Integrate(fields.Velocity(), x0, start, end, new OdeOptions(SaveTimes: saveTimes));
        var frames = solution.Trajectory.Select(ImageScaling.Brightness).ToList();
        try { return stack(frames); }
        finally { foreach (var f in frames) f.Dispose(); }
    }

    // Images and columns of the report's sample grids: 64 in rows of 8, or one row per class of up to 10 (about 100 images).
    private static (int Count, int Columns) ImageGridLayout(IReadOnlyList<string>? classes)
    {
        if (classes is null) return (64, 8);
        var perClass = Math.Max(1, Math.Min(10, 100 / classes.Count));
        return (perClass * classes.Count, perClass);
    }

    /// <summary>RK4 steps of the report's image samples and paths.</summary>
    private const int ImageSolverSteps = 40;

    /// <summary>
    /// The image sections (docs/theory.md §9-§11): generated grids per class and guidance weight, x_t from the interpolant
    /// beside the model's ODE path from the same noise, an APNG of noise turning into images, the loss curve. A data set that
    /// cannot be loaded any more skips the interpolant's rows with a note; the generated parts are still drawn.
    /// </summary>
    private static void ImageSections(string outFolder, string checkpointFolder, Checkpoint checkpoint, ReportOptions o, List<Section> sections,
        List<string> notes, IProgress<double>? progress)
    {
        var m = checkpoint.Manifest;
        var record = m.Images!;
        var classes = m.ConditionClasses();
        var shape = record.Shape.ToArray();
        var solver = new Rk4Solver(ImageSolverSteps);
        var (count, gridColumns) = ImageGridLayout(classes);
        var weights = classes is null ? [1.0] : ReportGuidance;
        (string File, double Nfe)? plainGrid = null; // the w = 1 grid, beside which a flow map's jumps are drawn
        for (var i = 0; i < weights.Length; i++)
        {
            var w = weights[i];
            var (pixels, nfe) = CheckpointSampler.Sample(checkpoint, count, solver, o.Seed + 11, classes: classes is null ? null : new SampleClasses(Guidance: w, PerClass: true));
            using (pixels)
            using (var brightness = record.Scaling().PixelBrightness(pixels))
            {
                var file = classes is null ? "report-samples.png" : $"report-samples-w{w.ToString("0.#", Invariant).Replace('.', '_')}.png";
                if (w == 1) plainGrid = (file, nfe);
                ImageGrid.Save(Path.Combine(outFolder, file), brightness, gridColumns,
                    new ImageGridOptions { RowLabels = classes, Title = classes is null ? "generated" : $"generated, guidance w = {w:0.#}" });
                var caption = classes is null
                    ? $"Images generated from Gaussian noise by the learned probability-flow ODE (RK4, {nfe:0} evaluations of b)."
                    : w switch
                    {
                        1.0 => $"One row per class, w = 1: the plain class-conditional model b(t, x | c) (RK4, {nfe:0} evaluations of b).",
                        0.0 => "w = 0: the unconditional field b(t, x | none) that the network learned from the dropped labels; the rows' classes are ignored, so each row is a draw from the whole data set.",
                        _ => $"w = {w:0.#}: classifier-free guidance b_w = b(none) + w (b(c) - b(none)) pushes each row towards what distinguishes its class: more typical, less diverse ({nfe:0} evaluations of the network pair).",
                    };
                sections.Add(new Section(classes is null ? "Generated images" : $"Generated images, guidance w = {w:0.#}", file, caption));
            }
            progress?.Report(0.15 + 0.35 * (i + 1) / weights.Length);
        }
        if (IsFlowMap(checkpoint) && plainGrid is { } plain) FlowMapImageSection(outFolder, checkpoint, o, plain.File, plain.Nfe, sections, notes);

        // The Eulerian and Lagrangian views: x_t of the interpolant for test images (no model) above the model's ODE path
        // started from the same noise x0.
        const int k = 4;
        using var g = new Generator((ulong)o.Seed + 13);
        using var x0 = randn([k, .. shape], generator: g);
        using var z = randn([k, .. shape], generator: g);
        using var labels = classes is null ? null : arange(k, dtype: int64).remainder(classes.Count);
        var path = InterpolantPath.For(checkpoint.Interpolant);
        var groups = new List<(string Label, Tensor Path)>();
        try
        {
            Tensor? x1 = null;
            try
            {
                using var data = ImageDatasets.Load(record.Source);
                if (data.Sha256 != record.Sha256) notes.Add($"'{record.Source}' changed since training: the interpolant's rows are drawn from the data as it is now");
                // With classes, test image i is of the class the model's row i is conditioned on, so the two groups line up.
                var picked = Enumerable.Range(0, k).Select(i => classes is not null && data.Test.Labels is { } testLabels && Array.IndexOf(testLabels, (long)(i % classes.Count)) is var at and >= 0
                    ? at : i * (data.Test.Count / k)).ToList();
                using var test = data.Test.Subset(picked);
                x1 = record.Scaling().EncodeCentres(test.Pixels);
            }
            catch (Exception e) when (e is IOException or DataFormatException or UnauthorizedAccessException)
            {
                notes.Add($"the training data could not be loaded ({FirstLine(e.Message)}): the interpolant's x_t is not drawn");
            }
            if (x1 is not null)
                using (x1)
                {
                    groups.Add(("interpolant x_t = I(t, x0, x1) + gamma(t) z (test images, no model)", InterpolantFrames(path, x0, x1, z)));
                }
            var fields = checkpoint.Fields().WithCondition(labels);
            groups.Add((classes is null ? "model ODE path X_t (same x0)" : $"model ODE path X_t (same x0; classes {string.Join(", ", Enumerable.Range(0, k).Select(i => classes[i % classes.Count]))})",
                ModelFrames(fields, m.TimeClip, solver, x0)));
            ImagePathFigure.Save(Path.Combine(outFolder, "image-paths.png"), groups, PathTimes, title: "the interpolant's x_t and the model's path");
            sections.Add(new Section("The Eulerian and Lagrangian views, for images", "image-paths.png",
                "Top: x_t sampled from the interpolant itself, between Gaussian noise x0 and test images x1 — no model; these are the points the network was trained on, at each t. " +
                "Bottom: the learned ODE dX/dt = b(t, X) started from the same x0: one particle (an image) followed through time. The model's path need not pass through the interpolant's x_t (it transports the whole density, not these pairs), but at t = 1 it must land on the data's images."));
        }
        finally { foreach (var (_, p) in groups) p.Dispose(); }
        progress?.Report(0.65);

        // Noise turning into images: the ODE path of a grid, saved at evenly spaced times.
        var frameCount = Math.Max(2, o.Frames);
        var rows = classes is null ? 6 : classes.Count;
        var columnsPerRow = classes is null ? 6 : Math.Max(1, Math.Min(6, 60 / classes.Count));
        using (var gridNoise = randn([rows * columnsPerRow, .. shape], generator: g))
        using (var gridLabels = classes is null ? null : arange(classes.Count, dtype: int64).repeat_interleave(columnsPerRow))
        {
            var fields = checkpoint.Fields().WithCondition(gridLabels);
            var (start, end) = fields.VelocityInterval(m.TimeClip);
            var times = Enumerable.Range(0, frameCount).Select(i => start + (end - start) * i / (frameCount - 1)).ToArray();
            using var solution = solver.Integrate(fields.Velocity(), gridNoise, start, end, new OdeOptions(SaveTimes: times));
            var frames = solution.Trajectory.Select(ImageScaling.Brightness).ToList();
            try
            {
                ImageAnimation.Save(Path.Combine(outFolder, "images-animation.png"), frames, times, columnsPerRow,
                    new ImageAnimationOptions { RowLabels = classes, Title = "noise to images along the learned ODE", StillPath = Path.Combine(outFolder, "images-animation-still.png") });
            }
            finally { foreach (var f in frames) f.Dispose(); }
        }
        sections.Add(new Section("Noise turning into images", "images-animation.png",
            $"The learned flow carries Gaussian noise (t = 0) to images (t = 1){(classes is null ? "" : ", one row per class (w = 1)")}: every pixel of every frame is a particle of the Lagrangian picture in {record.Dimension} dimensions."));
        progress?.Report(0.85);
        if (CopyLoss(checkpointFolder, outFolder))
            sections.Add(new Section("Training loss", "loss.png", "Mean regression loss per log window. Its floor is the conditional variance of the target given x_t, not zero."));
    }

    private static string ImageIntro(CheckpointManifest m)
    {
        var r = m.Images!;
        return $"Images: {E(r.Source)} — {r.TrainingImages:N0} training images of {string.Join(" x ", r.Shape)} ({r.Levels} pixel levels, scaled to [-1, 1] with uniform dequantisation), " +
               (CheckpointCompletion.IsCompletion(m) ? $"conditioned on a corrupted copy of each image ({E(CheckpointCompletion.CorruptionOf(m).Describe())}): the flow starts from the corruption x0 and completes it (docs/theory.md §12.4)."
                : r.Conditional ? $"class-conditional on {r.ClassNames!.Count} classes with a learned no-class entry for classifier-free guidance." : "unconditional.") +
               " Metrics of <code>si eval</code> appear when eval.json is in the checkpoint folder.";
    }
}
