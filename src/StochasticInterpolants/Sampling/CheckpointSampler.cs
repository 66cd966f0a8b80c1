using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Data;
using StochasticInterpolants.Fields;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Runtime;
using static TorchSharp.torch;

namespace StochasticInterpolants.Sampling;

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
        try { d = Distributions.Parse(spec, manifest.Dimension); }
        catch (Exception e) when (e is ArgumentException or IOException or DataFormatException)
        {
            throw new CheckpointException($"cannot rebuild the base distribution '{spec}' of this checkpoint: {e.Message}", e);
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
        if (count < 1) throw new ArgumentException($"--count must be >= 1, got {count}");
        if (checkpoint.Manifest.Represents != FieldKind.Velocity)
            throw new CheckpointException($"the ODE sampler needs a velocity field; this checkpoint's network represents {checkpoint.Manifest.Represents}");
        var baseDistribution = BaseOf(checkpoint.Manifest);
        var field = new NetworkVelocityField(checkpoint.Network);
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
                var solution = solver.Integrate(field, x0, 0.0, 1.0, new OdeOptions(Progress: chunkProgress));
                nfe += solution.FunctionEvaluations; chunkCount++;
                chunks.Add(solution.Final.cpu().MoveToOuterDisposeScope());
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
