using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Data;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Sampling;
using StochasticInterpolants.Visualization;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Runs;

public static partial class TransportReport
{
    /// <summary>Test images completed in the report's figure, and completions of each.</summary>
    private const int ReportObservations = 8, ReportCompletionsEach = 4;

    /// <summary>
    /// The sections of a checkpoint trained with a data-dependent coupling (docs/theory.md §12.4): rows observed | completions
    /// (different noise) | truth for test images, the interpolant's x_t beside the model's path from the same corrupted x0,
    /// and the loss curve. A data set that cannot be loaded any more leaves a note instead of the figures.
    /// </summary>
    private static void CompletionSections(string outFolder, string checkpointFolder, Checkpoint checkpoint, ReportOptions o, List<Section> sections,
        List<string> notes, IProgress<double>? progress)
    {
        var m = checkpoint.Manifest;
        var record = m.Images!;
        var corruption = CheckpointCompletion.CorruptionOf(m);
        var solver = new Rk4Solver(ImageSolverSteps);
        ImageData data;
        try { data = ImageDatasets.Load(record.Source); }
        catch (Exception e) when (e is IOException or DataFormatException or UnauthorizedAccessException)
        {
            notes.Add($"the data set could not be loaded ({FirstLine(e.Message)}): no test images to complete");
            if (CopyLoss(checkpointFolder, outFolder)) sections.Add(new Section("Training loss", "loss.png", "Mean regression loss per log window."));
            return;
        }
        using (data)
        {
            if (data.Sha256 != record.Sha256) notes.Add($"'{record.Source}' changed since training: the test images are drawn from the data as it is now");
            var k = Math.Min(ReportObservations, data.Test.Count);
            using var test = data.Test.Subset(Enumerable.Range(0, k).Select(i => i * (data.Test.Count / k)).ToList());
            using (var completions = CheckpointCompletion.Complete(checkpoint, test.Pixels, solver, o.Seed + 19, ReportCompletionsEach))
            {
                var (cells, columns, headings) = ImageOutputs.CompletionGrid(completions, ReportCompletionsEach, record, test.Pixels, k);
                using (cells)
                    ImageGrid.Save(Path.Combine(outFolder, "report-completions.png"), cells, columns,
                        new ImageGridOptions { ColumnHeadings = headings, Title = $"{corruption.Describe()}: test images completed" });
                var pasted = completions.Observed is null ? ""
                    : FormattableString.Invariant($" The observed pixels are pasted back into each completion (a projection onto the images that agree with the observation); before that, the raw output differed from them by an RMS of {completions.ObservedRms:G3} in [-1, 1] pixel units.");
                sections.Add(new Section("Completions of test images", "report-completions.png",
                    $"Each row: what the network is shown (the observation c), {ReportCompletionsEach} completions from different noise (the learned ODE dX/dt = b(t, X | c) from the corrupted x0; RK4, {completions.FunctionEvaluations:0} evaluations of b), and the true test image." + pasted));
            }
            progress?.Report(0.5);

            // The interpolant's x_t between the corrupted x0 and the truth (no model) above the model's path from the same x0.
            const int shown = 4;
            using var g = new Generator((ulong)o.Seed + 23);
            using var few = test.Subset(Enumerable.Range(0, Math.Min(shown, k)).ToList());
            using var x1 = record.Scaling().EncodeCentres(few.Pixels);
            using var corrupted = corruption.Apply(x1, g);
            using var z = randn(x1.shape, generator: g);
            var path = InterpolantPath.For(checkpoint.Interpolant);
            var groups = new List<(string Label, Tensor Path)>();
            try
            {
                groups.Add(("interpolant x_t = I(t, x0, x1) + gamma(t) z (x0 the corrupted test image, no model)", InterpolantFrames(path, corrupted.X0, x1, z)));
                var fields = checkpoint.Fields().WithCondition(corrupted.Condition);
                groups.Add(("model ODE path X_t (same x0, conditioned on the observation; not pasted)", ModelFrames(fields, m.TimeClip, solver, corrupted.X0)));
                ImagePathFigure.Save(Path.Combine(outFolder, "image-paths.png"), groups, PathTimes, title: "from the corrupted image to a completion");
                sections.Add(new Section("From observation to completion", "image-paths.png",
                    "Top: x_t sampled from the interpolant between the corrupted x0 and the true image x1 — the points the network was trained on. " +
                    "Bottom: the learned ODE from the same x0, given the observation: it must end on an image that agrees with it, without knowing x1."));
            }
            finally { foreach (var (_, p) in groups) p.Dispose(); }
        }
        progress?.Report(0.85);
        if (CopyLoss(checkpointFolder, outFolder))
            sections.Add(new Section("Training loss", "loss.png", "Mean regression loss per log window. Its floor is the conditional variance of the target given x_t and the observation, not zero."));
    }
}
