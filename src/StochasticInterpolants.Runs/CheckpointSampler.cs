using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Data;
using StochasticInterpolants.Distributed;
using StochasticInterpolants.Fields;
using StochasticInterpolants.Files;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Runtime;
using StochasticInterpolants.Sampling;
using static TorchSharp.torch;

namespace StochasticInterpolants.Runs;

/// <summary>
/// Generates samples of rho1 from a trained checkpoint: draws X_0 ~ rho0 with a seeded generator and integrates the
/// probability-flow ODE dX/dt = b(t, X) from t = 0 to t = 1 with the chosen solver, in chunks so memory stays bounded.
/// <para>
/// Randomness is drawn per draw block of <see cref="DrawBlockRows"/> rows, whatever the chunk: X_0 for the block, and each
/// SDE step's increments at the block's shape, a chunk keeping its rows of each draw (docs/theory.md §13.4). Chunks are
/// sized by the size of a row (<see cref="ChunkRows"/>), and the samples do not depend on that size.
/// </para>
/// <para>
/// Data-parallel (docs/theory.md §13.4): with a group of N processes, the chunks are those of one process; in each, every
/// rank draws the whole block's randomness from the one seeded generator,
/// integrates only its <see cref="RowShare"/> of the chunk's rows, and the shares are gathered in rank order. Every rank returns
/// the same samples, equal to one process's for the seed up to the rounding of batch-size-dependent kernels — except with
/// adaptive dopri5, whose step sizes follow the error over the rows a rank integrates, so it agrees only to its tolerance.
/// </para>
/// </summary>
public static class CheckpointSampler
{
    /// <summary>
    /// The base distribution a checkpoint's samples start from, in the flow's space (rho1 itself for the mirror
    /// interpolant; for a table, a CSV base or the mirror's rows read as in training and encoded).
    /// </summary>
    public static IDistribution BaseOf(CheckpointManifest manifest)
    {
        if (manifest.Sequences is { } sequences) return SequencePieces.SourceOf(sequences);
        var kind = manifest.Interpolant.Build().Kind;
        var spec = kind == InterpolantKind.Mirror ? manifest.Target : manifest.Base;
        IDistribution d;
        try
        {
            d = manifest.Images is { } images && kind == InterpolantKind.Mirror ? ImageTrainingSet(images)
                : manifest.Table is not { } table || !RunPieces.IsFile(spec) ? DataSources.Parse(spec, manifest.Dimension)
                : kind == InterpolantKind.Mirror ? TrainingRows(table, spec)
                : TablePieces.EncodedBase(table, spec, Path.GetFileName(manifest.Target));
        }
        catch (Exception e) when (e is ArgumentException or IOException or DataFormatException)
        {
            throw new CheckpointException($"cannot rebuild the base distribution '{spec}' of this checkpoint: {e.Message.Split('\n')[0].TrimEnd()}", e);
        }
        if (d.Dimension != manifest.Dimension) throw new CheckpointException($"base '{spec}' has dimension {d.Dimension}, the checkpoint {manifest.Dimension}");
        return d;
    }

    // The mirror interpolant's base on images: the training images (the data set loaded again, checked against the record).
    private static ImageDistribution ImageTrainingSet(ImageRecord record)
    {
        var data = ImageDatasets.Load(record.Source);
        if (data.Sha256 != record.Sha256) throw new DataFormatException($"'{record.Source}' changed since training (SHA-256 differs): the mirror interpolant starts from the training images");
        return new ImageDistribution(data.Train, withLabels: record.Conditional);
    }

    // The mirror interpolant's base: the training rows of the table file, read and split as in training, encoded.
    private static EncodedTable TrainingRows(TableRecord table, string path)
    {
        using var data = CsvTable.Read(path, table.Read);
        if (data.Sha256 != table.Sha256) throw new DataFormatException($"'{path}' changed since training (SHA-256 differs): the mirror interpolant starts from the training rows");
        var rows = table.Split().Training.Select(i => (long)i).ToArray();
        using var index = tensor(rows);
        using var picked = data.Rows.index_select(0, index);
        return new EncodedTable(picked, data.Labels is null ? null : rows.Select(i => data.Labels[i]).ToArray(), table.Encoding, Path.GetFileName(path));
    }

    /// <summary>
    /// Draws <paramref name="count"/> samples: X_0 from the checkpoint's base (seeded by <paramref name="seed"/>), pushed
    /// through the learned flow to t = 1 by <paramref name="solver"/>. Returns the samples on the CPU in the data's units —
    /// [count, d] float32, float64 with a table's encoding undone (the data's values exactly), or uint8 pixels [count, c, h, w] for images — and the number of
    /// evaluations of b along each trajectory (NFE; the mean over chunks for adaptive solvers). A class-conditional
    /// checkpoint samples <paramref name="classes"/> (see <see cref="SampleClasses"/>), guided with its weight. With
    /// <paramref name="processes"/>, the rows of each chunk are shared across its ranks (see the class remarks; the NFE is then
    /// the mean over the rows of each chunk).
    /// </summary>
    public static (Tensor Samples, double FunctionEvaluations) Sample(Checkpoint checkpoint, int count, IOdeSolver solver, long seed,
        Device? device = null, int? chunkSize = null, IProgress<double>? progress = null, SampleClasses? classes = null, IProcessGroup? processes = null)
    {
        var fields = checkpoint.Fields();
        var (start, end) = fields.VelocityInterval(checkpoint.Manifest.TimeClip);
        // On a manifold the solver takes geodesic steps (docs/theory.md §15.5).
        if (checkpoint.Interpolant is GeodesicInterpolant geodesic) solver = ManifoldSolvers.Matching(solver, geodesic.Manifold);
        // The ODE draws nothing: a rank without rows has nothing to do (and an adaptive solver cannot measure an error over no rows).
        return Run(checkpoint, count, seed, device, chunkSize, progress, classes, processes,
            (x0, _, _, p, c) => x0.shape[0] == 0 ? OdeSolution.Unmoved(x0)
                : solver.Integrate(fields.WithGuidance(c, classes?.Guidance ?? 1).Velocity(), x0, start, end, new OdeOptions(Progress: p)));
    }

    /// <summary>
    /// Draws <paramref name="count"/> samples with <paramref name="jumps"/> jumps of the checkpoint's flow map (docs/theory.md §14):
    /// X_0 from the base as for the ODE (the same seed gives the same X_0), then x_{k+1} = X_{t_k, t_{k+1}}(x_k) on the uniform
    /// grid of [0, 1]; one network evaluation per jump (two rows under guidance, which blends the conditional and no-class maps:
    /// §14.3). Returns the samples in the data's units, as <c>Sample</c> does, and the evaluations per sample (the jumps).
    /// Refuses a checkpoint without a flow map.
    /// </summary>
    public static (Tensor Samples, double FunctionEvaluations) SampleJumps(Checkpoint checkpoint, int count, int jumps, long seed,
        Device? device = null, int? chunkSize = null, IProgress<double>? progress = null, SampleClasses? classes = null, IProcessGroup? processes = null)
    {
        var map = checkpoint.FlowMap ?? throw new InvalidSettingException("steps",
            "this checkpoint learned a velocity, not a flow map: jumps need a flow-map checkpoint (train with --learn flow-map, or distil this one with --learn flow-map --teacher DIR); sample it with an ODE solver");
        if (jumps < 1 || jumps > FlowMapSampler.MaxJumps) throw new InvalidSettingException("steps", $"the number of jumps must be in 1..{FlowMapSampler.MaxJumps}, got {jumps}");
        var (start, end) = checkpoint.Fields().VelocityInterval(checkpoint.Manifest.TimeClip);
        var guidance = classes?.Guidance ?? 1;
        return Run(checkpoint, count, seed, device, chunkSize, progress, classes, processes,
            (x0, _, _, p, c) => x0.shape[0] == 0 ? OdeSolution.Unmoved(x0)
                : new OdeSolution(FlowMapSampler.Sample(c is null || guidance == 1 ? map : new Models.GuidedNetwork(map, guidance), x0, jumps, c, start, end, progress: p),
                    [], [], jumps, jumps, 0));
    }

    /// <summary>
    /// Draws <paramref name="count"/> samples with the forward SDE dX = [b + eps s] dt + sqrt(2 eps) dW. Where the score
    /// is singular at the ends (sigma(t) = 0 there) and eps does not vanish with sigma, integration runs over
    /// [clip, 1 - clip] with clip = max(training clip, 1e-3); with <paramref name="denoiseLastStep"/> (one-sided
    /// interpolants) the last step is the Tweedie denoiser and ends at t = 1. With <paramref name="processes"/>, the rows of
    /// each chunk are shared across its ranks, each drawing every step's increments for the whole chunk (see the class remarks).
    /// </summary>
    public static (Tensor Samples, double FunctionEvaluations) Sample(Checkpoint checkpoint, int count, SdeSolver solver, DiffusionCoefficient eps,
        long seed, bool denoiseLastStep = false, Device? device = null, int? chunkSize = null, IProgress<double>? progress = null, SampleClasses? classes = null,
        IProcessGroup? processes = null)
    {
        var fields = checkpoint.Fields();
        var (start, end) = SdeInterval(fields, eps, checkpoint.Manifest.TimeClip, denoiseLastStep);
        return Run(checkpoint, count, seed, device, chunkSize, progress, classes, processes,
            (x0, share, g, p, c) => solver.Integrate(fields.WithGuidance(c, classes?.Guidance ?? 1), eps, x0, start, end, g,
                new SdeOptions(Progress: p, DenoiseLastStep: denoiseLastStep, Share: share)));
    }

    /// <summary>
    /// The class of every sample of a class-conditional checkpoint (int64 [count]): all <paramref name="classes"/>.Class
    /// when given; with <see cref="SampleClasses.PerClass"/>, count / K of each class in order (count must be a multiple of
    /// the K classes); else drawn from the training rows' class frequencies with a generator seeded by
    /// <paramref name="seed"/> (so the unconditional mixture is reproduced); null for a checkpoint without classes.
    /// </summary>
    public static Tensor? ClassesFor(CheckpointManifest manifest, int count, long seed, SampleClasses? classes)
    {
        if (manifest.ConditionClasses() is not { } names || manifest.ConditionClassCounts() is not { } counts)
            return classes?.Class is not null || classes?.PerClass == true ? throw new InvalidSettingException("class", "this checkpoint was trained without classes (no label column or class condition)")
                : classes is { Guidance: not 1.0 } ? throw new InvalidSettingException("guidance", "guidance needs a class-conditional checkpoint")
                : null;
        if (classes?.PerClass == true)
        {
            if (count % names.Count != 0) throw new InvalidSettingException("count", $"sampling every class needs a count that is a multiple of the {names.Count} classes, got {count}");
            using var each = arange(names.Count, dtype: int64);
            return each.repeat_interleave(count / names.Count);
        }
        if (classes?.Class is { } k)
            return k >= 0 && k < names.Count ? full(count, (long)k, dtype: int64)
                : throw new InvalidSettingException("class", $"class index {k} is outside 0..{names.Count - 1}");
        using var g = new Generator((ulong)seed ^ 0x434C4153UL);
        using var weights = tensor(counts.Select(c => (double)c).ToArray());
        return multinomial(weights, count, replacement: true, generator: g);
    }

    /// <summary>The time interval an SDE sampler integrates over (see the SDE overload of <c>Sample</c>).</summary>
    public static (double Start, double End) SdeInterval(FieldSet fields, DiffusionCoefficient eps, double trainingClip, bool denoiseLastStep)
    {
        var clip = Math.Max(trainingClip, FieldSet.MinimumEndClip);
        // The drift needs b and eps s; with eps = c sigma, eps s = -c eta (the denoiser), finite where s is not.
        var kinds = new List<FieldKind> { FieldKind.Velocity };
        if (!eps.IsZero) kinds.Add(SdeSolver.NoiseTermField(fields, eps));
        if (denoiseLastStep) kinds.Add(FieldKind.TargetPrediction);
        var (start, end) = fields.FiniteInterval(clip, kinds.ToArray());
        // The Tweedie step ends exactly at t = 1: it evaluates E[x1 | x_t] at the start of the last step, never at 1.
        return (start, denoiseLastStep ? 1 : end);
    }

    /// <summary>
    /// Rows whose randomness is drawn at once (a draw block): X_0 for the block, and every SDE step's increments at the
    /// block's shape. 65,536 rows (the old chunk), fewer for wide rows so a block's draw stays near 2^20 numbers (1,337
    /// images of 28 x 28). It depends on the shape of a row only, so the draws never depend on how many rows a chunk
    /// integrates at once (docs/theory.md §13.4).
    /// </summary>
    public static int DrawBlockRows(CheckpointManifest manifest) => (int)Math.Clamp((1L << 20) / Math.Max(1, RowElements(manifest)), 1, TableChunkRows);

    /// <summary>
    /// Rows integrated at once by default: a table's rows are small and go 65,536 at a time; an image chunk holds about
    /// <see cref="ImageChunkElements"/> numbers of network input (64 images of 28 x 28, 32 under classifier-free guidance,
    /// which evaluates two rows per image). Measured (docs/guides/images.md): with two threads the U-Net's time per image falls
    /// by 13 % from 8 to 32 images and by only 4 % more from 64 to 512, while its memory grows fourfold (376 to 1,280 MiB);
    /// with one thread it is flat from 32 on.
    /// </summary>
    public static int ChunkRows(CheckpointManifest manifest, double guidance = 1)
    {
        if (manifest.Images is null) return TableChunkRows;
        var networkRows = guidance is 1 or 0 ? 1 : 2;
        return (int)Math.Clamp(ImageChunkElements / (RowElements(manifest) * networkRows), 1, TableChunkRows);
    }

    /// <summary>Numbers of network input per image chunk (see <see cref="ChunkRows"/>).</summary>
    public const long ImageChunkElements = 64 * 28 * 28;

    private const int TableChunkRows = 65536;

    private static long RowElements(CheckpointManifest manifest) => manifest.SampleShape().Aggregate(1L, (a, b) => a * b);

    // The chunk loop of both samplers. integrate(x0, share, generator, progress, condition) moves the rows x0 of a chunk
    // (their class condition beside them) to t = 1; share places them in their draw block, at whose shape any noise is drawn.
    // Randomness is drawn per draw block (DrawBlockRows): X_0 for the whole block, then each chunk restarts the generator
    // from the state after that draw, so an SDE chunk meets the increments its rows would meet if the block were integrated
    // at once, and the generator leaves the block as one whole-block integration leaves it. Results therefore do not depend
    // on the chunk size (to the rounding of batch-size-dependent kernels), as they do not depend on the number of ranks.
    private static (Tensor Samples, double FunctionEvaluations) Run(Checkpoint checkpoint, int count, long seed, Device? device, int? chunkSize,
        IProgress<double>? progress, SampleClasses? classes, IProcessGroup? processes,
        Func<Tensor, RowShare, Generator, IProgress<double>?, Tensor?, OdeSolution> integrate)
    {
        processes ??= SingleProcess.Instance;
        if (count < 1) throw new InvalidSettingException("count", $"sample count must be >= 1, got {count}");
        if (chunkSize is < 1) throw new ArgumentOutOfRangeException(nameof(chunkSize), $"chunks need at least one row, got {chunkSize}");
        if (checkpoint.Manifest.Sequences is not null)
            throw new InvalidSettingException("sampler", "this checkpoint generates token sequences: they are sampled by the chain of its discrete path (SequenceSampler), not by an ODE or SDE");
        if (CheckpointCompletion.IsCompletion(checkpoint.Manifest))
            throw new InvalidSettingException("observed", $"this checkpoint was trained with the '{checkpoint.Manifest.Coupling!.Name}' coupling: it completes observed images rather than sampling from noise (give --observed FILE.npy)");
        var baseDistribution = BaseOf(checkpoint.Manifest);
        using var labels = ClassesFor(checkpoint.Manifest, count, seed, classes);
        var encoding = checkpoint.Manifest.Table?.Encoding;
        var pixels = checkpoint.Manifest.Images?.Scaling();
        var chunk = chunkSize ?? ChunkRows(checkpoint.Manifest, classes?.Guidance ?? 1);
        var block = DrawBlockRows(checkpoint.Manifest);
        using var generator = new Generator((ulong)seed);
        var chunks = new List<Tensor>();
        double nfe = 0; var chunkCount = 0;
        try
        {
            for (var blockStart = 0; blockStart < count; blockStart += block)
            {
                var b = Math.Min(block, count - blockStart);
                using var blockScope = NewDisposeScope();
                // Every rank draws the whole block (so the generator runs as in one process) and keeps its rows.
                var x0Block = baseDistribution.Sample(b, generator).reshape([b, .. checkpoint.Manifest.SampleShape()]);
                using var afterDraw = generator.get_state();
                for (var c = 0; c < b; c += chunk)
                {
                    var n = Math.Min(chunk, b - c);
                    var done = blockStart + c;
                    using var scope = NewDisposeScope();
                    if (c > 0) generator.set_state(afterDraw);
                    var rows = RowShare.For(n, processes);
                    var x0 = rows.Of(x0Block[c..(c + n)]);
                    if (device is not null && device.type != TorchSharp.DeviceType.CPU) x0 = x0.to(device);
                    var offset = (double)done / count; var fraction = (double)n / count;
                    var chunkProgress = progress is null ? null : new SyncProgress<double>(f => progress.Report(offset + fraction * f));
                    var condition = labels is null ? null : rows.Of(labels[done..(done + n)]);
                    if (condition is not null && device is not null && device.type != TorchSharp.DeviceType.CPU) condition = condition.to(device);
                    using var solution = integrate(x0, new RowShare(c + rows.Start, rows.Count, b), generator, chunkProgress, condition);
                    nfe += processes.MeanPerRow(rows, solution.FunctionEvaluations, "the sampler's evaluation counts"); chunkCount++;
                    var final = processes.GatherShares(rows, solution.Final.detach(), "the gathering of samples");
                    // A table's samples go back to the data's units (the encoding undone, dequantised columns rounded down),
                    // images to pixels.
                    // (Out of both scopes: the list owns them.)
                    chunks.Add((encoding is not null ? encoding.Decode(final) : pixels is not null ? pixels.Decode(final) : final.clone()).DetachFromDisposeScope());
                    progress?.Report((double)(done + n) / count);
                }
            }
            return (cat(chunks, 0), nfe / chunkCount);
        }
        finally
        {
            foreach (var c in chunks) c.Dispose();
        }
    }
}

/// <summary>Which classes a class-conditional checkpoint samples, and how strongly.</summary>
/// <param name="Class">Every sample of this class index; null draws classes in the training rows' proportions.</param>
/// <param name="Guidance">The classifier-free guidance weight w (docs/theory.md §10; 1 = the plain conditional model).</param>
/// <param name="PerClass">Every class in turn, an equal number of samples each (rows of a grid); overrides <paramref name="Class"/>.</param>
public sealed record SampleClasses(int? Class = null, double Guidance = 1.0, bool PerClass = false);
