using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Data;
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
/// </summary>
public static class CheckpointSampler
{
    /// <summary>The base distribution a checkpoint's samples start from (rho1 itself for the mirror interpolant).</summary>
    public static IDistribution BaseOf(CheckpointManifest manifest)
    {
        var kind = manifest.Interpolant.Build().Kind;
        var spec = kind == InterpolantKind.Mirror ? manifest.Target : manifest.Base;
        IDistribution d;
        try { d = DataSources.Parse(spec, manifest.Dimension); }
        catch (Exception e) when (e is ArgumentException or IOException or DataFormatException)
        {
            throw new CheckpointException($"cannot rebuild the base distribution '{spec}' of this checkpoint: {e.Message.Split('\n')[0].TrimEnd()}", e);
        }
        if (d.Dimension != manifest.Dimension) throw new CheckpointException($"base '{spec}' has dimension {d.Dimension}, the checkpoint {manifest.Dimension}");
        return d;
    }

    /// <summary>
    /// Draws <paramref name="count"/> samples: X_0 from the checkpoint's base (seeded by <paramref name="seed"/>), pushed
    /// through the learned flow to t = 1 by <paramref name="solver"/>. Returns a [count, d] float32 CPU tensor and the
    /// number of evaluations of b along each trajectory (NFE; the mean over chunks for adaptive solvers).
    /// </summary>
    public static (Tensor Samples, double FunctionEvaluations) Sample(Checkpoint checkpoint, int count, IOdeSolver solver, long seed,
        Device? device = null, int chunkSize = 65536, IProgress<double>? progress = null)
    {
        var fields = checkpoint.Fields();
        var velocity = fields.Velocity();
        var (start, end) = OdeInterval(fields, checkpoint.Manifest.TimeClip);
        return Run(checkpoint, count, seed, device, chunkSize, progress,
            (x0, _, p) => solver.Integrate(velocity, x0, start, end, new OdeOptions(Progress: p)));
    }

    /// <summary>
    /// The interval the ODE is integrated over: [0, 1], except where the velocity is converted from a field that makes it
    /// singular at an end (the one-sided velocity from a score at t = 0): that end moves in by max(training clip, 1e-3), and
    /// the base sample stands for X at the new start (docs/theory.md §6).
    /// </summary>
    public static (double Start, double End) OdeInterval(FieldSet fields, double trainingClip) =>
        fields.FiniteInterval(Math.Max(trainingClip, 1e-3), FieldKind.Velocity);

    /// <summary>
    /// Draws <paramref name="count"/> samples with the forward SDE dX = [b + eps s] dt + sqrt(2 eps) dW. Where the score
    /// is singular at the ends (sigma(t) = 0 there) and eps does not vanish with sigma, integration runs over
    /// [clip, 1 - clip] with clip = max(training clip, 1e-3); with <paramref name="denoiseLastStep"/> (one-sided
    /// interpolants) the last step is the Tweedie denoiser and ends at t = 1.
    /// </summary>
    public static (Tensor Samples, double FunctionEvaluations) Sample(Checkpoint checkpoint, int count, SdeSolver solver, DiffusionCoefficient eps,
        long seed, bool denoiseLastStep = false, Device? device = null, int chunkSize = 65536, IProgress<double>? progress = null)
    {
        var fields = checkpoint.Fields();
        var (start, end) = SdeInterval(fields, eps, checkpoint.Manifest.TimeClip, denoiseLastStep);
        return Run(checkpoint, count, seed, device, chunkSize, progress,
            (x0, g, p) => solver.Integrate(fields, eps, x0, start, end, g, new SdeOptions(Progress: p, DenoiseLastStep: denoiseLastStep)));
    }

    /// <summary>The time interval an SDE sampler integrates over (see the SDE overload of <c>Sample</c>).</summary>
    public static (double Start, double End) SdeInterval(FieldSet fields, DiffusionCoefficient eps, double trainingClip, bool denoiseLastStep)
    {
        var clip = Math.Max(trainingClip, 1e-3);
        // The drift needs b and eps s; with eps = c sigma, eps s = -c eta (the denoiser), finite where s is not.
        var kinds = new List<FieldKind> { FieldKind.Velocity };
        if (!eps.IsZero) kinds.Add(SdeSolver.NoiseTermField(fields, eps));
        if (denoiseLastStep) kinds.Add(FieldKind.TargetPrediction);
        var (start, end) = fields.FiniteInterval(clip, kinds.ToArray());
        // The Tweedie step ends exactly at t = 1: it evaluates E[x1 | x_t] at the start of the last step, never at 1.
        return (start, denoiseLastStep ? 1 : end);
    }

    private static (Tensor Samples, double FunctionEvaluations) Run(Checkpoint checkpoint, int count, long seed, Device? device, int chunkSize,
        IProgress<double>? progress, Func<Tensor, Generator, IProgress<double>?, OdeSolution> integrate)
    {
        if (count < 1) throw new InvalidSettingException("count", $"sample count must be >= 1, got {count}");
        var baseDistribution = BaseOf(checkpoint.Manifest);
        using var generator = new Generator((ulong)seed);
        var chunks = new List<Tensor>();
        long nfe = 0; var chunkCount = 0;
        try
        {
            for (var done = 0; done < count;)
            {
                var n = Math.Min(chunkSize, count - done);
                using var scope = NewDisposeScope();
                var x0 = baseDistribution.Sample(n, generator);
                if (device is not null && device.type != TorchSharp.DeviceType.CPU) x0 = x0.to(device);
                var offset = (double)done / count; var share = (double)n / count;
                var chunkProgress = progress is null ? null : new SyncProgress<double>(f => progress.Report(offset + share * f));
                using var solution = integrate(x0, generator, chunkProgress);
                nfe += solution.FunctionEvaluations; chunkCount++;
                chunks.Add(solution.Final.cpu().detach().clone().MoveToOuterDisposeScope());
                done += n;
            }
            return (cat(chunks, 0), (double)nfe / chunkCount);
        }
        finally
        {
            foreach (var c in chunks) c.Dispose();
        }
    }
}
