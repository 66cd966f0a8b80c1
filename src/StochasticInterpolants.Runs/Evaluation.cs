using StochasticInterpolants.Manifolds;
using StochasticInterpolants.Interpolants;
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
/// <param name="FloorDraws">Independent pairs of true samples the noise floors of those metrics are averaged over; null
/// chooses by the points per side m: 20 up to m = 1,000, then 20 (1000 / m)^2 but at least 5, which keeps the floors' cost
/// (O(m^2) each) near that of 20 draws at 1,000 points (measured here: ~0.9 s per draw at m = 2,000, one thread) — a
/// large m needs few draws, as its floor's spread is small.</param>
/// <param name="Jumps">A flow-map checkpoint: generate the samples by this many jumps of the learned map on the uniform grid,
/// X_{t_k, t_{k+1}}(x) = x + (t_{k+1} - t_k) v(t_k, t_{k+1}, x) (docs/theory.md §14; <see cref="CheckpointSampler.SampleJumps"/>), instead of
/// integrating its diagonal velocity with <see cref="Solver"/>; null: the solver. The likelihood always integrates the
/// velocity with <see cref="Solver"/> (a jump has no tractable Jacobian determinant).</param>
public sealed record EvaluationOptions(int Count = 5000, IOdeSolver? Solver = null, LikelihoodOptions? Likelihood = null, long Seed = 0, int MetricPoints = 2000,
    int? FloorDraws = null, int? Jumps = null)
{
    /// <summary>The number of floor draws at <paramref name="m"/> points per side (see <see cref="FloorDraws"/>).</summary>
    public int FloorDrawsAt(int m) => FloorDraws ?? (int)Math.Clamp(Math.Round(20 * Math.Pow(1000.0 / m, 2)), 5, 20);
}

/// <summary>
/// The figures of an evaluation; JSON names are the snake_case keys of <c>si eval --json</c>. For a table, <c>rows</c> says
/// which rows were scored and whether the model trained on them, and <c>baseline_*</c> is the NLL of the full-covariance
/// Gaussian fitted to the training rows on the same rows (with the paired difference and its standard error). The energy distance and MMD
/// are the unbiased estimates of squared quantities (D^2, MMD^2): they can come out slightly below zero when the two samples
/// are indistinguishable at this sample size. <c>*_floor</c> is the same estimate between two independent samples of the
/// target itself, of the same sizes as the model's figure (<c>metric_points</c> each), averaged over <c>floor_draws</c>
/// pairs; <c>*_floor_sd</c> is its spread from pair to pair: a model's single figure within about two of them of the floor
/// is indistinguishable from the data at this sample size. <c>nfe</c> and <c>solver</c> are the likelihood's (network evaluations
/// per held-out point along its ODE path); <c>sampling</c> says how the generated samples were made (the ODE solver, or
/// "flow map, N jumps") and <c>sampling_nfe</c> is their network evaluations per sample (N for N jumps). <c>baseline</c> names
/// the baseline when it is not a table's Gaussian (on a manifold: a von Mises product or a von Mises–Fisher law fitted to the
/// training points), and <c>uniform_nll</c> is the uniform law's NLL on a compact manifold, log of its volume.
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
    [property: JsonPropertyName("metric_units")] string? MetricUnits = null,
    [property: JsonPropertyName("energy_distance_squared_floor_sd")] double EnergyDistanceFloorSd = 0,
    [property: JsonPropertyName("mmd_squared_floor_sd")] double MmdFloorSd = 0,
    [property: JsonPropertyName("metric_points")] int MetricPoints = 0,
    [property: JsonPropertyName("floor_draws")] int FloorDraws = 0,
    [property: JsonPropertyName("notes")] IReadOnlyList<string>? Notes = null,
    [property: JsonPropertyName("sampling")] string? Sampling = null,
    [property: JsonPropertyName("sampling_nfe")] double? SamplingNfe = null,
    [property: JsonPropertyName("baseline")] string? Baseline = null,
    [property: JsonPropertyName("uniform_nll")] double? UniformNll = null)
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
        UniformSphere or UniformTorus => ((IManifoldDistribution)target).Manifold.LogVolume,
        VonMisesProduct p => p.Entropy,
        // A mixture's entropy has no closed form: a Monte Carlo mean of -log p over a fixed draw (standard error ~1e-3 nats).
        IManifoldDistribution { HasLogDensity: true } m => ManifoldEntropy(m),
        _ => null,
    };

    /// <summary>Draws for the Monte Carlo entropy of a manifold target with an exact density.</summary>
    public const int EntropyDraws = 1_000_000;

    private static double ManifoldEntropy(IDistribution target)
    {
        using var generator = new Generator(0x454E5452UL);
        return ManifoldTargets.EntropyEstimate(target, EntropyDraws, generator).Mean;
    }

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
        // A random draw of the rows (a prefix of a sorted file, by date, class or size, is a biased slice), kept in file order:
        // the NLL of a set of rows then does not depend on the draw's order (each row's dequantisation noise is its place's).
        rows = [.. Draw(rows, o.Count, o.Seed).Order()];
        if (rows.Length < 2) throw new DataFormatException($"only {rows.Length} row of '{path}' can be scored ({label}); at least 2 are needed for a mean and its standard error");
        // The distances compare m generated rows with m scored rows; their floor, two disjoint draws of m of the file's rows.
        var m = MetricSize(o, rows.Length, data.Count, $"'{path}' has {data.Count} rows");
        var classes = data.Labels is null ? null : data.LabelsIn(table.ClassNames ?? throw new DataFormatException("the checkpoint has no classes but the table was read with a label column"));
        var (nll, stderr, logp, x, nfe) = TableNll(checkpoint, data, rows, classes, solver, likelihoodOptions, o.Seed, f => progress?.Report(0.6 * f), processes);
        // The baseline scores the same dequantised rows; the paired difference cancels the rows' shared variation.
        var baseLogp = table.Baseline.LogDensity(x, classes is null ? null : rows.Select(i => classes[i]).ToArray());
        var diff = baseLogp - logp; // NLL_model - NLL_baseline, row by row
        double? trainingNll = null;
        if (trained is not null) trainingNll = TableNll(checkpoint, data, [.. Draw(trained, o.Count, o.Seed + 1).Order()], classes, solver, likelihoodOptions, o.Seed, null, processes).Nll;
        progress?.Report(0.7);
        var n = rows.Length;
        var (samples, samplingNfe, sampling) = Generate(checkpoint, n, solver, o.Jumps, o.Seed + 1, processes);
        progress?.Report(0.9);
        var encoding = table.Encoding;
        using var allRows = data.Rows.index_select(0, tensor(rows.Select(i => (long)i).ToArray()));
        // m of the scored rows at random (not the first m in file order) against m generated rows.
        using var metricRows = data.Rows.index_select(0, tensor(Draw(rows, m, o.Seed + 2).Select(i => (long)i).ToArray()));
        var a = encoding.Encode(samples[..m]); var b = encoding.Encode(metricRows);
        // The floor: pairs of disjoint random draws of m rows of the whole file (true samples of the same law, at the sizes
        // of the model's figure), over several draws.
        using var pool = encoding.Encode(data.Rows);
        var draws = o.FloorDrawsAt(m);
        var floor = Floors(m, draws, o.Seed, g =>
        {
            using var order = randperm(pool.shape[0], generator: g);
            return (pool.index_select(0, order[..m]), pool.index_select(0, order[m..(2 * m)]));
        });
        var report = new EvaluationReport(nll, stderr, LikelihoodUnits.BitsPerDimension(nll, table.Columns.Count), null, null,
            EnergyDistance.Compute(a, b), SampleDistances.Mmd(a, b), SampleDistances.DefaultBandwidths,
            SampleDistances.SlicedWasserstein2(encoding.Encode(samples), encoding.Encode(allRows), 256, o.Seed), 256, null,
            nfe, watch.Elapsed.TotalSeconds, n, SolverName(solver), likelihoodOptions.Describe(), file,
            floor.Energy, floor.Mmd,
            label, trainedOn, -baseLogp.mean().ToDouble(), baseLogp.std().ToDouble() / Math.Sqrt(n),
            diff.mean().ToDouble(), diff.std().ToDouble() / Math.Sqrt(n), trainingNll, checkpoint.Manifest.Selection?.KeptStep,
            "distances in standardised units (the training rows' encoding)", floor.EnergySd, floor.MmdSd, m, draws,
            data.Notes.Count > 0 ? data.Notes : null, // how the file was read (a first line skipped as metadata)
            sampling, samplingNfe);
        foreach (var (name, value) in new[] { ("NLL", nll), ("baseline NLL", report.BaselineNll!.Value), ("energy distance", report.EnergyDistance), ("MMD", report.Mmd), ("sliced W2", report.SlicedW2),
            ("energy distance floor", report.EnergyDistanceFloor), ("MMD floor", report.MmdFloor) })
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
    private static (double Nll, double StdErr, Tensor LogDensity, Tensor Dequantised, double Nfe) TableNll(Checkpoint checkpoint, TableData data, int[] rows, long[]? classes,
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
        double nfe = 0; var chunks = 0;
        const int chunk = 2000;
        for (var start = 0; start < rows.Length; start += chunk)
        {
            var end = Math.Min(rows.Length, start + chunk);
            var share = RowShare.For(end - start, processes);
            using var condition = classes is null ? null : share.Of(tensor(rows[start..end].Select(i => classes[i]).ToArray()));
            var likelihood = FlowLikelihood.For(fields.Interpolant, fields.WithCondition(condition).Velocity(), baseDistribution, solver, likelihoodOptions, baseTime);
            using var mine = likelihood.LogDensity(share.Of(y[start..end]), share: share);
            logs.Add(processes.GatherShares(share, mine.LogDensity, "the gathering of log-likelihoods"));
            // Every rank takes part, also one with no rows (it evaluates nothing and counts for nothing in the mean).
            nfe += processes.MeanPerRow(share, mine.FunctionEvaluations, "the likelihood's evaluation counts"); chunks++;
            progress?.Invoke((double)end / rows.Length);
        }
        // log p_x = log p_y + log |det W| - sum over log columns of log x_j (docs/theory.md §8).
        var logp = cat(logs, 0) + table.Encoding.LogJacobian(x);
        if (!logp.isfinite().all().ToBoolean())
            throw new IntegrationException($"the log-likelihood of {(~logp.isfinite()).sum().ToInt64()} of {rows.Length} rows is not finite (the {fields.Velocity().Description} over [{baseTime:G3}, 1])");
        return (-logp.mean().ToDouble(), logp.std().ToDouble() / Math.Sqrt(rows.Length), logp, x, nfe / chunks);
    }

    /// <summary>
    /// Up to <paramref name="count"/> of <paramref name="rows"/>, drawn without replacement by a permutation seeded with
    /// <paramref name="seed"/> (a .NET <see cref="Random"/>: the same on any machine), in the permutation's order — so that
    /// any prefix of the result is a random draw too.
    /// </summary>
    internal static int[] Draw(int[] rows, int count, long seed)
    {
        var order = (int[])rows.Clone();
        new Random(unchecked((int)(seed ^ (seed >> 32)) ^ 0x524F5753)).Shuffle(order);
        return order[..Math.Min(order.Length, count)];
    }

    // Points per side of the sample distances: the model's figure compares m generated with m scored points, and its floor two
    // disjoint true samples of m, so the pool of true points must hold 2 m; each side needs 2 for the unbiased estimates.
    private static int MetricSize(EvaluationOptions o, int scored, long pool, string what)
    {
        if (o.FloorDraws < 2) throw new InvalidSettingException("floor draws", $"the noise floors need at least 2 draws (for their spread), got {o.FloorDraws}");
        if (o.MetricPoints < 2) throw new InvalidSettingException("metric points", $"the sample distances need at least 2 points per sample, got {o.MetricPoints}");
        var m = (int)Math.Min(Math.Min(o.MetricPoints, scored), pool / 2);
        if (m < 2) throw new DataFormatException($"{what}: the sample distances and their floor compare two disjoint samples of at least 2 rows each, so at least 4 rows are needed");
        return m;
    }

    /// <summary>
    /// The noise floors of the energy distance and MMD at m points per side: the mean and the standard deviation of the
    /// estimates over <paramref name="draws"/> pairs of independent true samples from <paramref name="pair"/> (seeded
    /// from <paramref name="seed"/>, apart from every other draw of the evaluation).
    /// </summary>
    private static (double Energy, double EnergySd, double Mmd, double MmdSd) Floors(int m, int draws, long seed, Func<Generator, (Tensor, Tensor)> pair)
    {
        using var g = new Generator((ulong)seed ^ 0x464C4F52UL);
        var energy = new double[draws]; var mmd = new double[draws];
        for (var k = 0; k < draws; k++)
        {
            using var scope = NewDisposeScope();
            var (p, q) = pair(g);
            energy[k] = EnergyDistance.Compute(p, q);
            mmd[k] = SampleDistances.Mmd(p, q);
        }
        return (energy.Average(), StandardDeviation(energy), mmd.Average(), StandardDeviation(mmd));
    }

    private static double StandardDeviation(double[] v)
    {
        if (v.Length < 2) return 0;
        var mean = v.Average();
        return Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Length - 1));
    }

    /// <summary>
    /// Generated samples of <paramref name="checkpoint"/>: <paramref name="jumps"/> jumps of its flow map when given
    /// (<see cref="CheckpointSampler.SampleJumps"/>), otherwise the ODE of its velocity with <paramref name="solver"/>; with
    /// the network evaluations per sample and how they were made (<see cref="DescribeJumps"/> or the solver's name).
    /// </summary>
    internal static (Tensor Samples, double Nfe, string How) Generate(Checkpoint checkpoint, int count, IOdeSolver solver, int? jumps, long seed,
        IProcessGroup processes, IProgress<double>? progress = null, SampleClasses? classes = null)
    {
        if (jumps is { } n)
        {
            var (z, evaluations) = CheckpointSampler.SampleJumps(checkpoint, count, n, seed, progress: progress, classes: classes, processes: processes);
            return (z, evaluations, DescribeJumps(n));
        }
        var (x, nfe) = CheckpointSampler.Sample(checkpoint, count, solver, seed, progress: progress, classes: classes, processes: processes);
        return (x, nfe, SolverName(solver));
    }

    /// <summary>How samples made by <paramref name="jumps"/> jumps of a flow map are described: "flow map, 2 jumps".</summary>
    public static string DescribeJumps(int jumps) => $"flow map, {jumps} jump{(jumps == 1 ? "" : "s")}";

    internal static string SolverName(IOdeSolver solver) =>
        solver.Name + (solver is FixedStepSolver f ? $" {f.StepCount} steps" : solver is ManifoldRungeKuttaSolver g ? $" {g.StepCount} steps" : solver is DormandPrince5Solver d ? $" rtol {d.RelativeTolerance:G3} atol {d.AbsoluteTolerance:G3}" : "");

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
        // On a manifold the solvers take geodesic steps (and say so in the report).
        var manifold = (checkpoint.Interpolant as GeodesicInterpolant)?.Manifold;
        if (manifold is not null) solver = ManifoldSolvers.Matching(solver, manifold);
        var likelihoodOptions = o.Likelihood ?? new LikelihoodOptions();
        var watch = Stopwatch.StartNew();
        using var scope = NewDisposeScope();
        using var generator = new Generator((ulong)o.Seed);
        // A CSV target's held-out points are the file's rows: Count of them drawn at random (a prefix of a sorted file is biased).
        var heldOut = target is EmpiricalDistribution table
            ? table.Rows.index_select(0, tensor(Draw([.. Enumerable.Range(0, (int)table.Count)], o.Count, o.Seed).Select(i => (long)i).ToArray()))
            : target.Sample(o.Count, generator);
        var m = MetricSize(o, (int)heldOut.shape[0], target is EmpiricalDistribution e ? e.Count : long.MaxValue, $"target '{target.Name}' has {heldOut.shape[0]} rows");
        var baseDistribution = CheckpointSampler.BaseOf(checkpoint.Manifest);
        // The likelihood integrates the velocity the samples follow, converted from whatever was learned (docs/theory.md §6).
        var fields = checkpoint.Fields();
        var (baseTime, _) = fields.VelocityInterval(checkpoint.Manifest.TimeClip);
        var likelihood = FlowLikelihood.For(fields.Interpolant, fields.Velocity(), baseDistribution, solver, likelihoodOptions, baseTime);
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
        var (samples, samplingNfe, sampling) = Generate(checkpoint, n, solver, o.Jumps, o.Seed + 1, processes);
        progress?.Report(0.9);
        var notes = new List<string>();
        // On a manifold the distances are taken between embedded points (docs/theory.md §15.8): on the torus an angle near pi
        // and one near -pi are close, which their coordinates do not show.
        Tensor Metric(Tensor x) => manifold is null ? x : manifold.Embed(x);
        if (manifold is not null)
        {
            var off = manifold.MaxViolation(samples.to(float64)).max().ToDouble();
            if (!(off <= 1e-4)) throw new IntegrationException($"generated samples left {manifold.Name}: one lies {off:G3} off it (the {SolverName(solver)} solver)");
            notes.Add($"every generated sample lies on {manifold.Name}: the largest deviation is {off:G2}");
            var meanGenerated = manifold.Embed(samples.to(float64)).mean([0]).data<double>().ToArray();
            var meanHeldOut = manifold.Embed(heldOut.to(float64)).mean([0]).data<double>().ToArray();
            string V(double[] v) => "(" + string.Join(", ", v.Select(x => x.ToString("F3", System.Globalization.CultureInfo.InvariantCulture))) + ")";
            notes.Add($"mean of the embedded points ({manifold switch { FlatTorus => "cos, sin of each angle", Sphere => "the unit vectors", _ => "each factor's: cos, sin of angles, unit vectors, real coordinates" }}): generated {V(meanGenerated)}, held-out {V(meanHeldOut)}");
        }
        samples = Metric(samples); heldOut = Metric(heldOut);
        var a = samples[..m]; var b = heldOut[..m];
        // The noise floor at the same sizes: pairs of fresh samples of m, or of disjoint random draws of m of the file's rows.
        var draws = o.FloorDrawsAt(m);
        var floor = Floors(m, draws, o.Seed, g =>
        {
            if (target is EmpiricalDistribution rows)
            {
                using var order = randperm(rows.Count, generator: g);
                return (Metric(rows.Rows.index_select(0, order[..m])), Metric(rows.Rows.index_select(0, order[m..(2 * m)])));
            }
            return (Metric(target.Sample(m, g)), Metric(target.Sample(m, g)));
        });
        var entropy = TrueEntropy(target);
        var report = new EvaluationReport(
            nll, stderr, LikelihoodUnits.BitsPerDimension(nll, manifold?.IntrinsicDimension ?? target.Dimension), entropy, entropy is { } h ? nll - h : null,
            EnergyDistance.Compute(a, b), SampleDistances.Mmd(a, b), SampleDistances.DefaultBandwidths,
            SampleDistances.SlicedWasserstein2(samples, heldOut, 256, o.Seed), 256,
            target is Checkerboard ? Checkerboard.FractionInside(samples) : null,
            nfe / chunks, watch.Elapsed.TotalSeconds, n, SolverName(solver),
            likelihoodOptions.Describe(), target.Name, floor.Energy, floor.Mmd,
            EnergyDistanceFloorSd: floor.EnergySd, MmdFloorSd: floor.MmdSd, MetricPoints: m, FloorDraws: draws, Sampling: sampling, SamplingNfe: samplingNfe,
            MetricUnits: manifold is null ? null : $"distances between points embedded in R^{manifold.EmbeddingDimension}", Notes: notes.Count == 0 ? null : notes);
        foreach (var (name, value) in new[] { ("NLL", nll), ("energy distance", report.EnergyDistance), ("MMD", report.Mmd), ("sliced W2", report.SlicedW2),
            ("energy distance floor", report.EnergyDistanceFloor), ("MMD floor", report.MmdFloor) })
            if (!double.IsFinite(value)) throw new IntegrationException($"the evaluation's {name} is {value}: the samples or likelihoods are not finite");
        samples.Dispose();
        progress?.Report(1.0);
        return report;
    }
}
