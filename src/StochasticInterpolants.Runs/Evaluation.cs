using System.Diagnostics;
using System.Text.Json.Serialization;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Data;
using StochasticInterpolants.Likelihood;
using StochasticInterpolants.Metrics;
using StochasticInterpolants.Runtime;
using StochasticInterpolants.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Runs;

/// <summary>Settings of <see cref="Evaluator.Evaluate"/>.</summary>
/// <param name="Count">Held-out target points (and generated samples); a CSV target uses at most this many of its rows.</param>
/// <param name="Solver">ODE solver for both the likelihood and sampling.</param>
/// <param name="Likelihood">Divergence estimator.</param>
/// <param name="Seed">Seeds the held-out draw, the generated samples and the projections.</param>
/// <param name="MetricPoints">Points used by the O(n^2) sample metrics (energy distance, MMD).</param>
public sealed record EvaluationOptions(int Count = 5000, IOdeSolver? Solver = null, LikelihoodOptions? Likelihood = null, long Seed = 0, int MetricPoints = 2000);

/// <summary>
/// The figures of an evaluation; JSON names are the snake_case keys of <c>si eval --json</c>. The energy distance and MMD
/// are the unbiased estimates of squared quantities (D^2, MMD^2): they can come out slightly below zero when the two samples
/// are indistinguishable at this sample size. <c>*_floor</c> is the same estimate between two independent samples of the
/// target itself — the noise level below which a model's figure says nothing.
/// </summary>
public sealed record EvaluationReport(
    [property: JsonPropertyName("nll_mean")] double NllMean,
    [property: JsonPropertyName("nll_stderr")] double NllStdErr,
    [property: JsonPropertyName("bits_per_dim")] double BitsPerDim,
    [property: JsonPropertyName("true_entropy")] double? TrueEntropy,
    [property: JsonPropertyName("nll_gap")] double? NllGap,
    [property: JsonPropertyName("energy_distance_squared")] double EnergyDistance,
    [property: JsonPropertyName("mmd_squared")] double Mmd,
    [property: JsonPropertyName("mmd_bandwidths")] IReadOnlyList<double> MmdBandwidths,
    [property: JsonPropertyName("sliced_w2")] double SlicedW2,
    [property: JsonPropertyName("sliced_w2_projections")] int SlicedW2Projections,
    [property: JsonPropertyName("support_fraction")] double? SupportFraction,
    [property: JsonPropertyName("nfe")] double Nfe,
    [property: JsonPropertyName("seconds")] double Seconds,
    [property: JsonPropertyName("held_out")] int HeldOut,
    [property: JsonPropertyName("solver")] string Solver,
    [property: JsonPropertyName("estimator")] string Estimator,
    [property: JsonPropertyName("target")] string Target,
    [property: JsonPropertyName("energy_distance_squared_floor")] double EnergyDistanceFloor,
    [property: JsonPropertyName("mmd_squared_floor")] double MmdFloor)
{
    /// <summary>The old name of <see cref="EnergyDistance"/> (kept for readers of earlier JSON).</summary>
    [JsonPropertyName("energy_distance")] public double EnergyDistanceAlias => EnergyDistance;
    /// <summary>The old name of <see cref="Mmd"/> (kept for readers of earlier JSON).</summary>
    [JsonPropertyName("mmd")] public double MmdAlias => Mmd;
}

/// <summary>
/// Scores a checkpoint against a target: NLL of held-out target points under the flow (nats per sample, with its
/// standard error, bits per dimension, and the gap to the true entropy where known), sample distances between
/// generated and held-out points, and the support fraction for the checkerboard.
/// </summary>
public static class Evaluator
{
    /// <summary>The differential entropy of <paramref name="target"/> where it has a closed form (checkerboard: ln 32; N(0, I): (d/2) ln(2 pi e)).</summary>
    public static double? TrueEntropy(IDistribution target) => target switch
    {
        Checkerboard => Math.Log(Checkerboard.SupportArea),
        StandardGaussian g => 0.5 * g.Dimension * Math.Log(2 * Math.PI * Math.E),
        _ => null,
    };

    /// <summary>Evaluates <paramref name="checkpoint"/> against <paramref name="target"/>.</summary>
    public static EvaluationReport Evaluate(Checkpoint checkpoint, IDistribution target, EvaluationOptions? options = null, IProgress<double>? progress = null)
    {
        var o = options ?? new EvaluationOptions();
        if (o.Count < 2) throw new InvalidSettingException("count", $"the evaluation needs at least 2 points, got {o.Count}");
        if (target.Dimension != checkpoint.Manifest.Dimension)
            throw new ArgumentException($"target '{target.Name}' has dimension {target.Dimension}, the checkpoint {checkpoint.Manifest.Dimension}");
        var solver = o.Solver ?? new Rk4Solver(100);
        var likelihoodOptions = o.Likelihood ?? new LikelihoodOptions();
        var watch = Stopwatch.StartNew();
        using var scope = NewDisposeScope();
        using var generator = new Generator((ulong)o.Seed);
        // A CSV target's held-out points are the file's rows (the first Count of them, in file order).
        var heldOut = target is EmpiricalDistribution table
            ? table.Rows[..(int)Math.Min(o.Count, table.Count)].clone()
            : target.Sample(o.Count, generator);
        var baseDistribution = CheckpointSampler.BaseOf(checkpoint.Manifest);
        // The likelihood integrates the velocity the samples follow, converted from whatever was learned (docs/theory.md §6).
        var fields = checkpoint.Fields();
        var (baseTime, _) = CheckpointSampler.OdeInterval(fields, checkpoint.Manifest.TimeClip);
        var likelihood = new FlowLikelihood(fields.Velocity(), baseDistribution, solver, likelihoodOptions, baseTime);
        var n = (int)heldOut.shape[0];
        var logs = new List<Tensor>();
        long nfe = 0; var chunks = 0;
        const int chunk = 2000;
        for (var start = 0; start < n; start += chunk)
        {
            var part = heldOut[start..Math.Min(n, start + chunk)];
            var result = likelihood.LogDensity(part);
            logs.Add(result.LogDensity); nfe += result.FunctionEvaluations; chunks++;
            progress?.Report(0.7 * Math.Min(n, start + chunk) / n);
        }
        var logp = cat(logs, 0);
        if (!logp.isfinite().all().ToBoolean())
            throw new IntegrationException($"the log-likelihood of {(~logp.isfinite()).sum().ToInt64()} of {n} held-out points is not finite (the {fields.Velocity().Description} over [{baseTime:G3}, 1])");
        var nll = -logp.mean().ToDouble();
        var stderr = logp.std().ToDouble() / Math.Sqrt(n);
        var (samples, _) = CheckpointSampler.Sample(checkpoint, n, solver, o.Seed + 1);
        progress?.Report(0.9);
        var m = Math.Min(o.MetricPoints, n);
        var a = samples[..m]; var b = heldOut[..m];
        // The noise floor: a second true sample of the same size (fresh draws, or the file's other rows, or its second half).
        Tensor reference, other;
        if (target is EmpiricalDistribution rows)
        {
            var k = (int)Math.Min(m, rows.Count / 2);
            if (rows.Count >= 2 * (long)m) { reference = b; other = rows.Rows[m..(2 * m)]; }
            else { reference = rows.Rows[..k]; other = rows.Rows[k..(2 * k)]; }
        }
        else { reference = b; other = target.Sample(m, generator); }
        var energyFloor = EnergyDistance.Compute(reference, other);
        var mmdFloor = SampleDistances.Mmd(reference, other);
        var entropy = TrueEntropy(target);
        var report = new EvaluationReport(
            nll, stderr, LikelihoodUnits.BitsPerDimension(nll, target.Dimension), entropy, entropy is { } h ? nll - h : null,
            EnergyDistance.Compute(a, b), SampleDistances.Mmd(a, b), SampleDistances.DefaultBandwidths,
            SampleDistances.SlicedWasserstein2(samples, heldOut, 256, o.Seed), 256,
            target is Checkerboard ? Checkerboard.FractionInside(samples) : null,
            (double)nfe / chunks, watch.Elapsed.TotalSeconds, n, solver.Name + (solver is FixedStepSolver f ? $" {f.StepCount} steps" : solver is DormandPrince5Solver d ? $" rtol {d.RelativeTolerance:G3} atol {d.AbsoluteTolerance:G3}" : ""),
            likelihoodOptions.Describe(), target.Name, energyFloor, mmdFloor);
        foreach (var (name, value) in new[] { ("NLL", nll), ("energy distance", report.EnergyDistance), ("MMD", report.Mmd), ("sliced W2", report.SlicedW2) })
            if (!double.IsFinite(value)) throw new IntegrationException($"the evaluation's {name} is {value}: the samples or likelihoods are not finite");
        samples.Dispose();
        progress?.Report(1.0);
        return report;
    }
}
