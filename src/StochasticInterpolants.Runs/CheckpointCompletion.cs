using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Couplings;
using StochasticInterpolants.Data;
using StochasticInterpolants.Distributed;
using StochasticInterpolants.Runtime;
using StochasticInterpolants.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Runs;

/// <summary>Completions of observed images by a checkpoint trained with a data-dependent coupling.</summary>
/// <param name="Pixels">The completions, uint8 [n k, c, h, w]: the k completions of each observation in turn.</param>
/// <param name="Observed">In-painting: 1 where the pixel was observed (and pasted back), 0 where it was hidden, float32
/// [n k, 1, h, w]; null for corruptions that observe no pixel exactly.</param>
/// <param name="ObservedRms">In-painting: the root mean square difference, in the flow's units ([-1, 1] pixels), between the
/// raw model output and the observation on the observed pixels, before they were pasted back; NaN when none are observed.</param>
/// <param name="FunctionEvaluations">Evaluations of b per trajectory (the mean over chunks for adaptive solvers).</param>
/// <param name="Views">What the network was shown, as brightness in [0, 1] for pictures, float32 [n k, c, h, w]: the
/// condition's first c channels (in-painting: the observed pixels, the hole mid-grey; super-resolution: the upsampled
/// low-resolution image; denoising: the noisy image).</param>
public sealed record Completions(Tensor Pixels, Tensor? Observed, double ObservedRms, double FunctionEvaluations, Tensor Views) : IDisposable
{
    /// <summary>Disposes the tensors.</summary>
    public void Dispose()
    {
        Pixels.Dispose(); Observed?.Dispose(); Views.Dispose();
    }
}

/// <summary>
/// The completion mode of a checkpoint trained with a data-dependent coupling (docs/theory.md §12.4): observed images are
/// corrupted as in training (for super-resolution, a low-resolution image is taken as the observation itself), the
/// corruption gives x0 and the condition c, and the probability-flow ODE dX/dt = b(t, X | c) carries x0 to a completion at
/// t = 1. For in-painting the observed pixels are then pasted back (a projection onto the images that agree with the
/// observation); how far the raw output was from them is reported.
/// </summary>
public static class CheckpointCompletion
{
    /// <summary>True when <paramref name="manifest"/> was trained with a data-dependent coupling.</summary>
    public static bool IsCompletion(CheckpointManifest manifest) => Corruptions.IsDataDependent(manifest.Coupling?.Name);

    /// <summary>
    /// The corruption of a checkpoint trained with a data-dependent coupling, with the run's settings; throws
    /// <see cref="InvalidSettingException"/> (setting <c>observed</c>) for any other checkpoint.
    /// </summary>
    public static ICorruption CorruptionOf(CheckpointManifest manifest)
    {
        var coupling = manifest.CouplingOrDefault();
        if (!Corruptions.IsDataDependent(coupling.Name) || manifest.Images is not { } record)
            throw new InvalidSettingException("observed", $"this checkpoint was trained with the '{coupling.Name}' coupling; completing observations needs one trained with a data-dependent coupling ({string.Join(", ", Corruptions.Names)})");
        return Corruptions.Create(coupling.Name, coupling.Options, record.Shape);
    }

    /// <summary>
    /// Completes each image of <paramref name="observed"/> <paramref name="perObservation"/> times (different noise each):
    /// uint8 [n, c, h, w] at the checkpoint's size (pixel values below its levels), or, for super-resolution, also the
    /// low-resolution [n, c, h/f, w/f]. Pixels are read at their centres y = 2 (k + 1/2) / L - 1. Randomness (noise, random
    /// masks) comes from one generator seeded by <paramref name="seed"/>, drawn per draw block of
    /// <see cref="CheckpointSampler.DrawBlockRows"/> rows; the rows are integrated in chunks of <paramref name="chunkSize"/>
    /// (default <see cref="CheckpointSampler.ChunkRows"/>: sized by the image, as for samples), and the completions do not
    /// depend on the chunk.
    /// <para>
    /// Data-parallel (docs/theory.md §13.4): with <paramref name="processes"/>, every rank corrupts the whole block (the same
    /// draws as one process), integrates its <see cref="RowShare"/> of the rows, and the shares are gathered in rank order
    /// before the observed pixels are pasted back; every rank returns the same completions, equal to one process's up to
    /// the rounding of batch-size-dependent kernels (adaptive dopri5: up to its tolerance, as its steps follow each rank's rows).
    /// </para>
    /// </summary>
    public static Completions Complete(Checkpoint checkpoint, Tensor observed, IOdeSolver solver, long seed, int perObservation = 1,
        Device? device = null, int? chunkSize = null, IProgress<double>? progress = null, IProcessGroup? processes = null)
    {
        processes ??= SingleProcess.Instance;
        var manifest = checkpoint.Manifest;
        var corruption = CorruptionOf(manifest);
        var record = manifest.Images!;
        if (perObservation < 1) throw new InvalidSettingException("count", $"completions per observation must be >= 1, got {perObservation}");
        if (chunkSize is < 1) throw new ArgumentOutOfRangeException(nameof(chunkSize), $"chunks need at least one row, got {chunkSize}");
        var lowResolution = CheckObserved(observed, record, corruption);
        var scaling = record.Scaling();
        var fields = checkpoint.Fields();
        var (start, end) = fields.VelocityInterval(manifest.TimeClip);
        using var generator = new Generator((ulong)seed);
        using var repeated = perObservation == 1 ? observed.alias() : observed.repeat_interleave(perObservation, 0);
        var total = (int)repeated.shape[0];
        var pixels = new List<Tensor>();
        var masks = new List<Tensor>();
        var views = new List<Tensor>();
        var channels = record.Shape[0];
        double squares = 0, observedCount = 0, nfe = 0; var chunks = 0;
        try
        {
            using var noGrad = no_grad();
            var chunk = chunkSize ?? CheckpointSampler.ChunkRows(manifest);
            var block = CheckpointSampler.DrawBlockRows(manifest);
            for (var blockStart = 0; blockStart < total; blockStart += block)
            {
                var b = Math.Min(block, total - blockStart);
                using var blockScope = NewDisposeScope();
                var yBlock = scaling.EncodeCentres(repeated[blockStart..(blockStart + b)]);
                // The block's randomness (noise, random masks) is drawn at once, whatever the chunk, so completions do not depend
                // on how many rows are integrated at a time; every rank draws it whole (the generator runs as in one process).
                using var corrupted = lowResolution ? ((SuperResolution)corruption).FromLowResolution(yBlock, generator) : corruption.Apply(yBlock, generator);
                views.Add(ImageScaling.Brightness(corrupted.Condition[.., ..(int)channels]).DetachFromDisposeScope());
                for (var c = 0; c < b; c += chunk)
                {
                    var n = Math.Min(chunk, b - c);
                    var done = blockStart + c;
                    using var scope = NewDisposeScope();
                    var y = yBlock[c..(c + n)];
                    // Each rank integrates its share of the chunk's rows.
                    var rows = RowShare.For(n, processes);
                    var (x0, condition) = (rows.Of(corrupted.X0[c..(c + n)]), rows.Of(corrupted.Condition[c..(c + n)]));
                    if (device is not null && device.type != DeviceType.CPU) { x0 = x0.to(device); condition = condition.to(device); }
                    var offset = (double)done / total; var fraction = (double)n / total;
                    var chunkProgress = progress is null ? null : new SyncProgress<double>(f => progress.Report(offset + fraction * f));
                    // A rank without rows has nothing to integrate (an adaptive solver cannot measure an error over no rows).
                    using var solution = rows.Count == 0 ? OdeSolution.Unmoved(x0)
                        : solver.Integrate(fields.WithCondition(condition).Velocity(), x0, start, end, new OdeOptions(Progress: chunkProgress));
                    nfe += processes.MeanPerRow(rows, solution.FunctionEvaluations, "the completions' evaluation counts"); chunks++;
                    var final = processes.GatherShares(rows, solution.Final.detach(), "the gathering of completions");
                    if (!final.isfinite().all().ToBoolean())
                        throw new IntegrationException($"the completion ODE produced non-finite values (rows {done}..{done + n - 1}; solver {solver.Name})");
                    if (corrupted.Observed is { } observedBlock)
                    {
                        // The projection: observed pixels are known, so the completion keeps them exactly.
                        var m = observedBlock[c..(c + n)];
                        var cells = m.expand_as(y);
                        squares += (final - y).mul_(cells).pow_(2).sum().ToDouble();
                        observedCount += cells.sum().ToDouble();
                        final = cells * y + (1 - cells) * final;
                        masks.Add(m.cpu().clone().DetachFromDisposeScope());
                    }
                    // (Out of both scopes: the lists own them.)
                    pixels.Add(scaling.Decode(final).DetachFromDisposeScope());
                    progress?.Report((double)(done + n) / total);
                }
            }
            var rms = observedCount > 0 ? Math.Sqrt(squares / observedCount) : double.NaN;
            return new Completions(cat(pixels, 0), masks.Count > 0 ? cat(masks, 0) : null, rms, nfe / chunks, cat(views, 0));
        }
        finally
        {
            foreach (var t in pixels.Concat(masks).Concat(views)) t.Dispose();
        }
    }

    // Checks the observation's dtype, shape and levels; true when it is a super-resolution's low-resolution image.
    private static bool CheckObserved(Tensor observed, ImageRecord record, ICorruption corruption)
    {
        var shape = record.Shape;
        string Expected() => $"[n, {string.Join(", ", shape)}]" + (corruption is SuperResolution s ? $" or the low-resolution [n, {shape[0]}, {shape[1] / s.Factor}, {shape[2] / s.Factor}]" : "");
        if (observed.dtype != ScalarType.Byte)
            throw new InvalidSettingException("observed", $"observed images must be uint8 pixels {Expected()}, got {observed.dtype}");
        if (observed.dim() != 4 || observed.shape[0] < 1 || observed.shape[1] != shape[0])
            throw new InvalidSettingException("observed", $"observed images must be {Expected()}, got [{string.Join(",", observed.shape)}]");
        var full = observed.shape[2] == shape[1] && observed.shape[3] == shape[2];
        var low = corruption is SuperResolution sr && observed.shape[2] == shape[1] / sr.Factor && observed.shape[3] == shape[2] / sr.Factor;
        if (!full && !low) throw new InvalidSettingException("observed", $"observed images must be {Expected()}, got [{string.Join(",", observed.shape)}]");
        int max; using (var m = observed.max()) max = m.ToInt32();
        if (max >= record.Levels) throw new DataFormatException($"an observed pixel has value {max}, at or above the {record.Levels} levels of this checkpoint's images");
        return low && !full;
    }
}
