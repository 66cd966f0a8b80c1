using System.Diagnostics;
using System.Text.Json.Serialization;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Data;
using StochasticInterpolants.Distributed;
using StochasticInterpolants.Files;
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
/// The figures of an evaluation; JSON names are the snake_case keys of <c>si eval --json</c>. For a table, <c>rows</c> says
/// which rows were scored and whether the model trained on them, and <c>baseline_*</c> is the NLL of the full-covariance
/// Gaussian fitted to the training rows on the same rows (with the paired difference and its standard error). The energy distance and MMD
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
    [property: JsonPropertyName("mmd_squared_floor")] double MmdFloor,
    [property: JsonPropertyName("rows")] string? Rows = null,
    [property: JsonPropertyName("rows_trained_on")] bool RowsTrainedOn = false,
    [property: JsonPropertyName("baseline_nll_mean")] double? BaselineNll = null,
    [property: JsonPropertyName("baseline_nll_stderr")] double? BaselineNllStdErr = null,
    [property: JsonPropertyName("nll_minus_baseline")] double? NllMinusBaseline = null,
    [property: JsonPropertyName("nll_minus_baseline_stderr")] double? NllMinusBaselineStdErr = null,
    [property: JsonPropertyName("training_rows_nll_mean")] double? TrainingRowsNll = null,
    [property: JsonPropertyName("kept_step")] int? KeptStep = null,
    [property: JsonPropertyName("metric_units")] string? MetricUnits = null)
{
    /// <summary>The old name of <see cref="EnergyDistance"/> (kept for readers of earlier JSON).</summary>
    [JsonPropertyName("energy_distance")] public double EnergyDistanceAlias => EnergyDistance;
    /// <summary>The old name of <see cref="Mmd"/> (kept for readers of earlier JSON).</summary>
    [JsonPropertyName("mmd")] public double MmdAlias => Mmd;
    /// <summary>A table: per column, the fractions of generated values outside the training rows' range (and observed set,
    /// for a column of few whole numbers); null when the training range is unknown or the target is not a table.</summary>
    [JsonPropertyName("outside_training_range")] public IReadOnlyList<ColumnOutside>? OutsideRange { get; init; }
    /// <summary>A table: the fraction of generated rows with at least one value outside the training range (or set).</summary>
    [JsonPropertyName("rows_outside_training_range")] public double? RowsOutsideRange { get; init; }
}

/// <summary>
/// Scores a checkpoint against a target: NLL of held-out target points under the flow (nats per sample, with its
/// standard error, bits per dimension, and the gap to the true entropy where known), sample distances between
/// generated and held-out points, and the support fraction for the checkerboard.
/// <para>
/// Data-parallel (docs/theory.md §13.4): with a group of N processes, every rank draws and reads exactly what one process
/// does (held-out points, dequantisation noise, Hutchinson probes for the whole chunk), computes the log-likelihoods of its
/// <see cref="RowShare"/> of each chunk and generates its share of the samples (<see cref="CheckpointSampler"/>); the
/// shares are gathered in rank order and every rank computes every figure from the whole results, so all return the same
/// report, equal to one process's up to the rounding of batch-size-dependent kernels — with adaptive dopri5, whose steps
/// follow the error over each rank's rows, only up to its tolerance.
/// </para>
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

    /// <summary>
    /// Evaluates a checkpoint trained on a table against the table file <paramref name="path"/>, read as in training. Rows
    /// of the training file are split as in training: the validation rows are scored (never trained on), and the training
    /// rows' NLL is reported beside them; without a split, the training rows are scored and labelled as such. Any other
    /// file's rows are held out. NLLs are in the data's units (docs/theory.md §8), beside the Gaussian baseline's; sample
    /// distances are computed in the encoded (standardised) space, where no column's units dominate.
    /// </summary>
    /// <remarks><paramref name="skipRows"/> overrides the leading lines skipped in training (a test file without the training
    /// file's metadata line); the columns and label column are always read as in training. <paramref name="processes"/>
    /// shares the work across a data-parallel job (see the class remarks).</remarks>
    public static EvaluationReport EvaluateTable(Checkpoint checkpoint, string path, EvaluationOptions? options = null, IProgress<double>? progress = null,
        int? skipRows = null, IProcessGroup? processes = null)
    {
        processes ??= SingleProcess.Instance;
        var o = options ?? new EvaluationOptions();
        var table = checkpoint.Manifest.Table ?? throw new ArgumentException("this checkpoint was not trained on a table");
        if (o.Count < 2) throw new InvalidSettingException("count", $"the evaluation needs at least 2 rows, got {o.Count}");
        var solver = o.Solver ?? new Rk4Solver(100);
        var likelihoodOptions = o.Likelihood ?? new LikelihoodOptions();
        var watch = Stopwatch.StartNew();
        using var scope = NewDisposeScope();
        using var data = CsvTable.Read(path, skipRows is { } skip ? table.Read with { SkipRows = skip } : table.Read);
        if (!data.ColumnNames.SequenceEqual(table.Columns))
            throw new DataFormatException($"'{path}' read as in training has columns ({string.Join(", ", data.ColumnNames)}), the checkpoint ({string.Join(", ", table.Columns)})");
        var file = Path.GetFileName(path);
        int[] rows; int[]? trained = null; string label; var trainedOn = false;
        if (data.Sha256 == table.Sha256)
        {
            var (training, validation) = table.Split();
            if (validation.Length > 0) { rows = validation; trained = training; label = $"validation rows of {file}: not trained on (they chose the kept step)"; }
            else { rows = training; trainedOn = true; label = $"training rows of {file}: trained on, not held out"; }
        }
        else if (table.ValidationSha256 == data.Sha256) { rows = [.. Enumerable.Range(0, (int)data.Count)]; label = $"rows of the validation file {file}: not trained on (they chose the kept step)"; }
        else { rows = [.. Enumerable.Range(0, (int)data.Count)]; label = $"held-out rows of {file} (not the training file)"; }
        rows = rows[..Math.Min(rows.Length, o.Count)];
        if (rows.Length < 2) throw new DataFormatException($"only {rows.Length} row of '{path}' can be scored ({label}); at least 2 are needed for a mean and its standard error");
        var classes = data.Labels is null ? null : data.LabelsIn(table.ClassNames ?? throw new DataFormatException("the checkpoint has no classes but the table was read with a label column"));
        var (nll, stderr, logp, x) = TableNll(checkpoint, data, rows, classes, solver, likelihoodOptions, o.Seed, f => progress?.Report(0.6 * f), processes);
        // The baseline scores the same dequantised rows; the paired difference cancels the rows' shared variation.
        var baseLogp = table.Baseline.LogDensity(x, classes is null ? null : rows.Select(i => classes[i]).ToArray());
        var diff = baseLogp - logp; // NLL_model - NLL_baseline, row by row
        double? trainingNll = null;
        if (trained is not null) trainingNll = TableNll(checkpoint, data, trained[..Math.Min(trained.Length, o.Count)], classes, solver, likelihoodOptions, o.Seed, null, processes).Nll;
        progress?.Report(0.7);
        var n = rows.Length;
        var (samples, _) = CheckpointSampler.Sample(checkpoint, n, solver, o.Seed + 1, processes: processes);
        progress?.Report(0.9);
        var encoding = table.Encoding;
        var m = Math.Min(o.MetricPoints, n);
        using var allRows = data.Rows.index_select(0, tensor(rows.Select(i => (long)i).ToArray()));
        var a = encoding.Encode(samples[..m]); var b = encoding.Encode(allRows[..m]);
        // The floor: two disjoint halves of the scored rows (a second true sample of the same law).
        var half = Math.Max(1, n / 2);
        var (reference, other) = (encoding.Encode(allRows[..half]), encoding.Encode(allRows[half..Math.Min(n, 2 * half)]));
        var report = new EvaluationReport(nll, stderr, LikelihoodUnits.BitsPerDimension(nll, table.Columns.Count), null, null,
            EnergyDistance.Compute(a, b), SampleDistances.Mmd(a, b), SampleDistances.DefaultBandwidths,
            SampleDistances.SlicedWasserstein2(encoding.Encode(samples), encoding.Encode(allRows), 256, o.Seed), 256, null,
            0, watch.Elapsed.TotalSeconds, n, SolverName(solver), likelihoodOptions.Describe(), file,
            n >= 4 ? EnergyDistance.Compute(reference, other) : double.NaN, n >= 4 ? SampleDistances.Mmd(reference, other) : double.NaN,
            label, trainedOn, -baseLogp.mean().ToDouble(), baseLogp.std().ToDouble() / Math.Sqrt(n),
            diff.mean().ToDouble(), diff.std().ToDouble() / Math.Sqrt(n), trainingNll, checkpoint.Manifest.Selection?.KeptStep,
            "distances in standardised units (the training rows' encoding)");
        foreach (var (name, value) in new[] { ("NLL", nll), ("baseline NLL", report.BaselineNll!.Value), ("energy distance", report.EnergyDistance), ("MMD", report.Mmd), ("sliced W2", report.SlicedW2) })
            if (!double.IsFinite(value)) throw new IntegrationException($"the evaluation's {name} is {value}: the samples or likelihoods are not finite");
        // Generated values no training row resembles (a negative concentration, a code never seen), column by column.
        if (TablePieces.SupportOf(table) is { } support)
            report = report with { OutsideRange = support.Outside(samples, table.Columns), RowsOutsideRange = support.RowsOutside(samples) };
        samples.Dispose();
        progress?.Report(1.0);
        return report;
    }

    // NLL (nats per row, data units) of the given rows: dequantised with a fixed draw, encoded, integrated, plus the
    // encoding's log-Jacobian (log |det W|, minus the log of the log columns).
    // Every rank dequantises all the rows; each integrates its share of every chunk.
    private static (double Nll, double StdErr, Tensor LogDensity, Tensor Dequantised) TableNll(Checkpoint checkpoint, TableData data, int[] rows, long[]? classes,
        IOdeSolver solver, LikelihoodOptions likelihoodOptions, long seed, Action<double>? progress, IProcessGroup processes)
    {
        var table = checkpoint.Manifest.Table!;
        using var index = tensor(rows.Select(i => (long)i).ToArray());
        using var picked = data.Rows.index_select(0, index);
        using var noise = new Generator((ulong)seed ^ 0x45564C31UL);
        var x = table.Encoding.Dequantize(picked, noise);
        Tensor y;
        try { y = table.Encoding.Encode(x); }
        catch (DataFormatException e) { throw new DataFormatException($"'{data.Path}' (columns {string.Join(", ", table.Columns)}): {e.Message}"); }
        var fields = checkpoint.Fields();
        var (baseTime, _) = fields.VelocityInterval(checkpoint.Manifest.TimeClip);
        var baseDistribution = CheckpointSampler.BaseOf(checkpoint.Manifest);
        var logs = new List<Tensor>();
        const int chunk = 2000;
        for (var start = 0; start < rows.Length; start += chunk)
        {
            var end = Math.Min(rows.Length, start + chunk);
            var share = RowShare.For(end - start, processes);
            using var condition = classes is null ? null : share.Of(tensor(rows[start..end].Select(i => classes[i]).ToArray()));
            var likelihood = new FlowLikelihood(fields.WithCondition(condition).Velocity(), baseDistribution, solver, likelihoodOptions, baseTime);
            using var mine = likelihood.LogDensity(share.Of(y[start..end]), share: share);
            logs.Add(processes.GatherShares(share, mine.LogDensity, "the gathering of log-likelihoods"));
            progress?.Invoke((double)end / rows.Length);
        }
        // log p_x = log p_y + log |det W| - sum over log columns of log x_j (docs/theory.md §8).
        var logp = cat(logs, 0) + table.Encoding.LogJacobian(x);
        if (!logp.isfinite().all().ToBoolean())
            throw new IntegrationException($"the log-likelihood of {(~logp.isfinite()).sum().ToInt64()} of {rows.Length} rows is not finite (the {fields.Velocity().Description} over [{baseTime:G3}, 1])");
        return (-logp.mean().ToDouble(), logp.std().ToDouble() / Math.Sqrt(rows.Length), logp, x);
    }

    private static string SolverName(IOdeSolver solver) =>
        solver.Name + (solver is FixedStepSolver f ? $" {f.StepCount} steps" : solver is DormandPrince5Solver d ? $" rtol {d.RelativeTolerance:G3} atol {d.AbsoluteTolerance:G3}" : "");

    /// <summary>Evaluates <paramref name="checkpoint"/> against <paramref name="target"/>; <paramref name="processes"/> shares the work across a data-parallel job (see the class remarks).</summary>
    public static EvaluationReport Evaluate(Checkpoint checkpoint, IDistribution target, EvaluationOptions? options = null, IProgress<double>? progress = null,
        IProcessGroup? processes = null)
    {
        processes ??= SingleProcess.Instance;
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
        var (baseTime, _) = fields.VelocityInterval(checkpoint.Manifest.TimeClip);
        var likelihood = new FlowLikelihood(fields.Velocity(), baseDistribution, solver, likelihoodOptions, baseTime);
        var n = (int)heldOut.shape[0];
        var logs = new List<Tensor>();
        double nfe = 0; var chunks = 0;
        const int chunk = 2000;
        for (var start = 0; start < n; start += chunk)
        {
            var part = heldOut[start..Math.Min(n, start + chunk)];
            var share = RowShare.For(part.shape[0], processes);
            using var result = likelihood.LogDensity(share.Of(part), share: share);
            logs.Add(processes.GatherShares(share, result.LogDensity, "the gathering of log-likelihoods"));
            nfe += processes.MeanPerRow(share, result.FunctionEvaluations, "the likelihood's evaluation counts"); chunks++;
            progress?.Report(0.7 * Math.Min(n, start + chunk) / n);
        }
        var logp = cat(logs, 0);
        if (!logp.isfinite().all().ToBoolean())
            throw new IntegrationException($"the log-likelihood of {(~logp.isfinite()).sum().ToInt64()} of {n} held-out points is not finite (the {fields.Velocity().Description} over [{baseTime:G3}, 1])");
        var nll = -logp.mean().ToDouble();
        var stderr = logp.std().ToDouble() / Math.Sqrt(n);
        var (samples, _) = CheckpointSampler.Sample(checkpoint, n, solver, o.Seed + 1, processes: processes);
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
            nfe / chunks, watch.Elapsed.TotalSeconds, n, SolverName(solver),
            likelihoodOptions.Describe(), target.Name, energyFloor, mmdFloor);
        foreach (var (name, value) in new[] { ("NLL", nll), ("energy distance", report.EnergyDistance), ("MMD", report.Mmd), ("sliced W2", report.SlicedW2) })
            if (!double.IsFinite(value)) throw new IntegrationException($"the evaluation's {name} is {value}: the samples or likelihoods are not finite");
        samples.Dispose();
        progress?.Report(1.0);
        return report;
    }
}
