using System.Net;
using System.Text;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Couplings;
using StochasticInterpolants.Data;
using StochasticInterpolants.Fields;
using StochasticInterpolants.Files;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Likelihood;
using StochasticInterpolants.Models;
using StochasticInterpolants.Objectives;
using StochasticInterpolants.Sampling;
using StochasticInterpolants.Training;
using StochasticInterpolants.Visualization;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Runs;

/// <summary>Settings of <see cref="TransportReport.Write"/>.</summary>
/// <param name="Samples">Generated and target samples in the comparison figure (a table's figures use at most 5,000).</param>
/// <param name="Particles">Particles in the path figures and the 2-D animation (a table's projected paths use at most 150).</param>
/// <param name="Frames">Frames of each animation, and saved times of a table's projected particle paths.</param>
/// <param name="Seed">Seeds every random draw of the report.</param>
public sealed record ReportOptions(int Samples = 5000, int Particles = 400, int Frames = 30, long Seed = 0);

/// <summary>
/// A self-contained HTML report of a checkpoint (<c>report.html</c>, every image embedded as a data URI, so it opens
/// offline), each figure with a caption in the seed's terms (Eulerian, Lagrangian, interpolant), and the configuration.
/// For a built-in 2-D target: target vs generated samples, rho(t) from the interpolant and from the model, particle paths,
/// the velocity field, the loss curve, the 1-D and 2-D animations and the metrics of <c>si eval</c> when <c>eval.json</c>
/// exists. For a table (or any d != 2): each column's marginals (training, validation and generated rows), the correlation
/// matrices, a 2-D principal-component projection with the flow's particle paths, the training and validation curves, the
/// NLL against the Gaussian baseline from <c>eval.json</c>, the 2-D figures in the encoded space for two columns, then the
/// 1-D animation. A missing or changed table file skips the data's parts with a note; the generated parts are still drawn.
/// </summary>
public static class TransportReport
{
    /// <summary>Most generated rows in a table's figures.</summary>
    private const int TableSamples = 5000;

    /// <summary>Most particles in a table's projected paths.</summary>
    private const int TableParticles = 150;

    /// <summary>RK4 steps of a table's generated samples and paths.</summary>
    private const int TableSolverSteps = 50;

    private static readonly System.Globalization.CultureInfo Invariant = System.Globalization.CultureInfo.InvariantCulture;

    /// <summary>Writes the figures and <c>report.html</c> into <paramref name="outFolder"/> (created if missing); returns the HTML path.</summary>
    /// <remarks><paramref name="oneDimensionalModel"/> is a velocity network trained on <see cref="ThreeGaussians"/> (see
    /// <see cref="ThreeGaussians.Train"/>), drawn dashed beside the exact field in the 1-D animation; null draws the exact one only.</remarks>
    public static string Write(string outFolder, string checkpointFolder, ReportOptions? options = null, IProgress<double>? progress = null,
        ITimeConditionedNetwork? oneDimensionalModel = null)
    {
        var o = options ?? new ReportOptions();
        Directory.CreateDirectory(outFolder);
        using var checkpoint = Checkpoint.Load(checkpointFolder);
        var m = checkpoint.Manifest;
        var sections = new List<Section>();
        // A table (any number of columns) or a target that is not 2-D gets the table sections; the 2-D branch samples a built-in target by name.
        var tableReport = m.Table is not null || m.Dimension != 2;
        using var g = new Generator((ulong)o.Seed);

        // 1-D teaching animation: exact b for N(0, 1) -> three Gaussians, the seed's Eulerian and Lagrangian pictures in step;
        // beside it the learned field when the caller trained one (a report draws, it never trains).
        var oneD = ThreeGaussians.ExactField;
        var learned1D = oneDimensionalModel is null ? null : new NetworkVelocityField(oneDimensionalModel);
        var likelihood1D = learned1D is null ? null : new FlowLikelihood(learned1D, new StandardGaussian(1), new Rk4Solver(20));
        TransportAnimation.OneDimensional(Path.Combine(outFolder, "transport-1d.png"), oneD.LogDensity, oneD, (-5, 5), frames: o.Frames,
            stillPath: Path.Combine(outFolder, "transport-1d-still.png"),
            learnedDensity: likelihood1D is null ? null : (t, x) => likelihood1D.LogDensity(x, t).LogDensity,
            learnedVelocity: learned1D);
        var teaching = new Section("Eulerian and Lagrangian, in one dimension", "transport-1d.png",
            "N(0, 1) carried to a mixture of three Gaussians by the velocity of the linear interpolant: exact (closed form, solid) and, when shown, learned by a small network in a few seconds (dashed). Left, the Eulerian view: the density rho(t, x) changes in time, obeying the continuity equation. Right, the Lagrangian view: particles started at quantiles of N(0, 1) follow dX/dt = b(t, X); where their paths bunch up, the density on the left grows.");
        progress?.Report(0.15);

        string html;
        if (!tableReport)
        {
            sections.Add(teaching);
            var baseDistribution = CheckpointSampler.BaseOf(m);
            var target = DataSources.Parse(m.Target, m.Dimension);
            using (var reference = target.Sample(o.Samples, g))
                PlaneSections(outFolder, checkpoint, baseDistribution, reference, $"target: {Path.GetFileName(m.Target)}", "", "", o, g, sections, progress);
            if (CopyLoss(checkpointFolder, outFolder))
                sections.Add(new Section("Training loss", "loss.png", "Mean regression loss per log window. The loss does not go to zero: its minimum is the conditional variance of the target given x_t, not a fit error."));
            progress?.Report(0.95);
            html = Html(m, checkpointFolder, outFolder, sections, null, [], metrics: true);
        }
        else
        {
            var notes = new List<string>();
            TableSections(outFolder, checkpointFolder, checkpoint, o, g, sections, notes, progress);
            sections.Add(teaching);
            progress?.Report(0.95);
            html = Html(m, checkpointFolder, outFolder, sections, TableIntro(m), notes, metrics: false);
        }
        var htmlPath = Path.Combine(outFolder, "report.html");
        AtomicFile.WriteText(htmlPath, html);
        progress?.Report(1.0);
        return htmlPath;
    }

    /// <summary>One part of the report: a figure (a PNG in the output folder) or, without one, an HTML body, with its caption.</summary>
    private sealed record Section(string Title, string? File, string Caption, string? Body = null);

    // The 2-D figures: target vs generated, rho(t) two ways, particle paths, the velocity field and the 2-D animation, all in
    // the flow's space. The built-in branch passes empty suffixes (its report is unchanged); a two-column table marks its figures
    // as drawn in the encoded space.
    private static void PlaneSections(string outFolder, Checkpoint checkpoint, IDistribution baseDistribution, Tensor reference, string referenceLabel,
        string titleSuffix, string captionSuffix, ReportOptions o, Generator g, List<Section> sections, IProgress<double>? progress)
    {
        var m = checkpoint.Manifest;
        var interpolant = checkpoint.Interpolant;
        var fields = checkpoint.Fields();
        var range = SampleScatterPlot.SharedRange(reference.to(float64).data<double>().ToArray().ToList());
        var velocity = fields.Velocity();
        var (t0, t1) = CheckpointSampler.OdeInterval(fields, m.TimeClip);
        using var x0 = baseDistribution.Sample(o.Samples, g);
        using var generated = new Rk4Solver(25).Integrate(velocity, x0, t0, t1);
        SampleScatterPlot.SaveSideBySide(Path.Combine(outFolder, "samples.png"),
            [new ScatterPanel(referenceLabel, reference), new ScatterPanel("generated (ODE, RK4 25 steps)", generated.Final)], range: range);
        sections.Add(new Section("Target and generated samples" + titleSuffix, "samples.png", "Left, samples of the target rho1. Right, base samples X_0 pushed through the learned flow to t = 1." + captionSuffix));
        progress?.Report(0.3);

        var likelihood = new FlowLikelihood(velocity, baseDistribution, new Rk4Solver(20), baseTime: t0);
        // Below t0 (a flow converted from a score starts there) the learned density is drawn at t0.
        Tensor LogDensity(double t, Tensor x) => likelihood.LogDensity(x, Math.Max(t, t0)).LogDensity;
        var (cx0, cx1) = (x0, reference);
        DensityRowsFigure.Save(Path.Combine(outFolder, "rho-t.png"), interpolant, cx0, cx1, LogDensity, range, bins: 50, seed: o.Seed, modelLabel: "learned rho(t, x)");
        sections.Add(new Section("rho(t) two ways" + titleSuffix, "rho-t.png",
            "Top: histograms of interpolant samples x_t = alpha(t) x0 + beta(t) x1 + gamma(t) z — no model is needed to sample rho(t) at any t. Bottom: the learned model's density rho(t, x) on a grid, computed by integrating the flow back to t = 0 with its divergence (the Eulerian picture). Where the rows agree, the model has learned the interpolant's path of densities." + captionSuffix));
        progress?.Report(0.55);

        var n = Math.Min(o.Particles, o.Samples);
        using var starts = x0[..n].clone();
        var times = Enumerable.Range(0, o.Frames).Select(k => t0 + (t1 - t0) * k / (o.Frames - 1)).ToArray();
        using var ode = new Rk4Solver(Math.Max(o.Frames - 1, 25)).Integrate(velocity, starts, t0, t1, new OdeOptions(SaveTimes: times));
        var panels = new List<TrajectoryPanel> { new("ODE paths: dX = b dt", ode.Trajectory) };
        OdeSolution? sde = null;
        var eps = DiffusionCoefficient.Constant(0.5);
        if (fields.CanProvide(FieldKind.Score) || fields.ScoreFollowsFromVelocity)
        {
            var (a, b) = CheckpointSampler.SdeInterval(fields, eps, m.TimeClip, denoiseLastStep: false);
            var sdeTimes = times.Select(t => Math.Clamp(t, a, b)).Distinct().ToArray();
            sde = new EulerMaruyamaSampler(200).Integrate(fields, eps, starts, a, b, g, new SdeOptions(SaveTimes: sdeTimes));
            panels.Add(new TrajectoryPanel("SDE paths: dX = [b + eps s] dt + sqrt(2 eps) dW, eps = 0.5", sde.Trajectory));
        }
        FlowFigures.SaveTrajectories(Path.Combine(outFolder, "paths.png"), panels, range);
        sde?.Dispose();
        sections.Add(new Section("Particle paths" + titleSuffix, "paths.png",
            "The Lagrangian picture: t -> X_t for individual particles (grey: start at t = 0, dark: end at t = 1). The ODE moves each particle along one deterministic flow line; the SDE (shown when the score is available) adds noise and a score correction, yet its particles have the same law rho(t) at every t." + captionSuffix));
        FlowFigures.SaveVelocityField(Path.Combine(outFolder, "velocity.png"), velocity.Velocity, LogDensity, [0.25, 0.6, 0.9], range);
        sections.Add(new Section("The velocity field" + titleSuffix, "velocity.png", "b(t, x) as arrows over the learned density rho(t, x): the field that carries mass from rho0 to rho1; the continuity equation d/dt rho + div(b rho) = 0 ties the arrows to the change of the density." + captionSuffix));
        progress?.Report(0.8);

        var zz = randn(x0.shape, generator: g);
        var path = InterpolantPath.For(interpolant);
        var backgrounds = times.Select(t => path.SampleAt(x0, reference, zz, t)).ToList();
        PlaneAnimation.Write(Path.Combine(outFolder, "transport-2d.png"), times, ode.Trajectory, backgrounds, range, stillPath: Path.Combine(outFolder, "transport-2d-still.png"));
        foreach (var bgd in backgrounds) bgd.Dispose();
        zz.Dispose();
        sections.Add(new Section("Particles flowing to the target" + titleSuffix, "transport-2d.png", "Particles of the learned ODE (white) over the density of interpolant samples at the same t (colour): the Lagrangian picture in front of the Eulerian one." + captionSuffix));
    }

    // Copies the run's loss.png into the report folder (unless they are the same folder: si demo); false when there is none.
    private static bool CopyLoss(string checkpointFolder, string outFolder)
    {
        var loss = Path.Combine(checkpointFolder, "loss.png");
        if (!File.Exists(loss)) return false;
        var copy = Path.Combine(outFolder, "loss.png");
        if (!string.Equals(Path.GetFullPath(loss), Path.GetFullPath(copy), StringComparison.Ordinal)) // si demo reports into its own folder
            File.Copy(loss, copy, overwrite: true);
        return true;
    }

    /// <summary>The rows a table report compares the model with, in data units; null parts say why they are missing.</summary>
    /// <param name="Training">The rows trained on (or samples of a built-in target).</param>
    /// <param name="Validation">The rows held out for validation, or null.</param>
    /// <param name="TrainingLabel">Legend text of <paramref name="Training"/>.</param>
    /// <param name="Why">Why there are no data rows (the file is missing or changed), or null.</param>
    /// <param name="ValidationWhy">Why a separate validation file's rows are missing, or null.</param>
    private sealed record ReportRows(Tensor? Training, Tensor? Validation, string TrainingLabel, string? Why = null, string? ValidationWhy = null);

    // The table's rows read as in training and split as in training; nothing (with the reason) when the file is missing or changed.
    private static ReportRows TableRows(TableRecord table)
    {
        const string label = "training rows";
        var (rows, why) = ReadAsTrained(table.File, table.Sha256, table);
        if (rows is null) return new ReportRows(null, null, label, why);
        using (rows)
        {
            if (rows.Count != table.FileRows)
                return new ReportRows(null, null, label, $"the table file '{table.File}' has {rows.Count} rows as read, the checkpoint {table.FileRows}");
            var (trained, validated) = table.Split();
            var training = rows.Rows.index_select(0, tensor(trained.Select(i => (long)i).ToArray()));
            Tensor? validation = validated.Length > 0 ? rows.Rows.index_select(0, tensor(validated.Select(i => (long)i).ToArray())) : null;
            string? validationWhy = null;
            if (table.ValidationFile is { } file)
            {
                var (other, otherWhy) = ReadAsTrained(file, table.ValidationSha256, table);
                if (other is null) validationWhy = otherWhy;
                else using (other) validation = other.Rows.clone();
            }
            return new ReportRows(training, validation, label, null, validationWhy);
        }
    }

    // A table file read with the checkpoint's read options, or null and why not (missing, unreadable, changed since training).
    private static (TableData? Rows, string? Why) ReadAsTrained(string file, string? sha256, TableRecord table)
    {
        if (!File.Exists(file)) return (null, $"the table file '{file}' is missing");
        TableData data;
        try { data = CsvTable.Read(file, table.Read); }
        catch (Exception e) when (e is DataFormatException or ArgumentException or IOException or UnauthorizedAccessException)
        {
            return (null, $"the table file '{file}' cannot be read as in training ({FirstLine(e.Message)})");
        }
        if (data.Sha256 != sha256)
        {
            data.Dispose();
            return (null, $"the table file '{file}' changed since training (its SHA-256 differs from the checkpoint's), so its rows are not the rows the model was trained and validated on");
        }
        if (!data.ColumnNames.SequenceEqual(table.Columns))
        {
            data.Dispose();
            return (null, $"the table file '{file}' read as in training has columns ({string.Join(", ", data.ColumnNames)}), the checkpoint ({string.Join(", ", table.Columns)})");
        }
        return (data, null);
    }

    // A target without a table record (a built-in of d != 2): samples of it stand for the rows.
    private static ReportRows TargetRows(CheckpointManifest m, ReportOptions o, Generator g)
    {
        var label = $"target samples ({Path.GetFileName(m.Target)})";
        try
        {
            var target = DataSources.Parse(m.Target, m.Dimension);
            if (target.Dimension != m.Dimension) return new ReportRows(null, null, label, $"the target '{m.Target}' has dimension {target.Dimension}, the checkpoint {m.Dimension}");
            return new ReportRows(target.Sample(Math.Max(2, Math.Min(o.Samples, TableSamples)), g), null, label);
        }
        catch (Exception e) when (e is ArgumentException or IOException or DataFormatException)
        {
            return new ReportRows(null, null, label, $"the target '{m.Target}' cannot be rebuilt ({FirstLine(e.Message)})");
        }
    }

    // Sections 1-5 of a table report (and, for two columns, the 2-D figures in the encoded space).
    private static void TableSections(string outFolder, string checkpointFolder, Checkpoint checkpoint, ReportOptions o, Generator g,
        List<Section> sections, List<string> notes, IProgress<double>? progress)
    {
        var m = checkpoint.Manifest;
        var table = m.Table;
        var d = m.Dimension;
        IReadOnlyList<string> names = table?.Columns ?? [.. Enumerable.Range(1, d).Select(j => $"x{j}")];
        using var scope = NewDisposeScope();
        var rows = table is null ? TargetRows(m, o, g) : TableRows(table);
        IDistribution? baseDistribution = null;
        Tensor? generated = null;
        long dropped = 0;
        try
        {
            baseDistribution = CheckpointSampler.BaseOf(m);
            var (samples, _) = CheckpointSampler.Sample(checkpoint, Math.Max(2, Math.Min(o.Samples, TableSamples)), new Rk4Solver(TableSolverSteps), o.Seed);
            (generated, dropped) = FiniteRows(samples);
            if (generated is null) notes.Add("Every generated sample has a non-finite value: the flow diverges, and no generated rows are drawn.");
        }
        catch (Exception e) when (e is CheckpointException or FieldConversionException)
        {
            notes.Add($"No samples generated: {FirstLine(e.Message)}.");
        }
        if (rows.Why is { } why)
            notes.Insert(0, $"Data sections skipped: {why}. " + (generated is null
                ? "Neither the data nor generated samples can be drawn: only the training curves, the NLL table, the one-dimensional teaching figure and the configuration follow."
                : "The figures below show the generated samples only (no data marginals, data correlations or data in the projection)."));
        if (rows.ValidationWhy is { } validationWhy) notes.Add($"Validation rows not drawn: {validationWhy}.");
        progress?.Report(0.3);

        // 1. Marginals.
        var series = new List<TableSeries>();
        if (rows.Training is { } training) series.Add(new TableSeries(rows.TrainingLabel, training));
        if (rows.Validation is { } validation) series.Add(new TableSeries("validation rows (held out from gradients)", validation));
        if (generated is not null) series.Add(new TableSeries($"generated (RK4, {TableSolverSteps} steps)", generated));
        if (series.Count > 0)
        {
            TableFigures.SaveMarginals(Path.Combine(outFolder, "marginals.png"), names, series);
            sections.Add(new Section("Columns, data vs generated", "marginals.png", MarginalsCaption(m, names, generated, dropped, rows)));
        }
        progress?.Report(0.4);

        // 2. Correlations.
        if (d >= 2 && (rows.Training is not null || generated is not null))
        {
            var panels = new List<(string Title, double[,] Matrix)>();
            var undefined = new List<string>();
            double[,]? data = null, model = null;
            if (rows.Training is { } t)
            {
                (data, var constant) = Correlation(t);
                panels.Add((rows.TrainingLabel, data));
                if (constant.Count > 0) undefined.Add($"{ColumnList(names, constant)} in the {rows.TrainingLabel}");
            }
            if (generated is not null)
            {
                (model, var constant) = Correlation(generated);
                panels.Add(("generated", model));
                if (constant.Count > 0) undefined.Add($"{ColumnList(names, constant)} in the generated samples");
            }
            if (data is not null && model is not null) panels.Add(("generated - data", Difference(model, data)));
            if (panels.Count > 0)
            {
                TableFigures.SaveCorrelations(Path.Combine(outFolder, "correlations.png"), names, panels);
                sections.Add(new Section("Correlations", "correlations.png", CorrelationCaption(names, rows.TrainingLabel, data, model, undefined)));
            }
        }
        progress?.Report(0.5);

        // 3. A 2-D projection: principal components of the data, data vs generated, and the flow's particle paths.
        if (d >= 2 && generated is not null)
        {
            var pca = Pca.Fit(rows.Training ?? generated);
            Tensor? paths = null;
            if (baseDistribution is not null)
            {
                paths = ProjectedPaths(checkpoint, baseDistribution, o, pca);
                var finite = paths.isfinite().all(2).all(0).nonzero().squeeze(1);
                paths = finite.shape[0] == 0 ? null : paths.index_select(1, finite);
            }
            var (x, y) = (pca.AxisLabel(0), pca.AxisLabel(1));
            var particles = paths is null ? 0 : (int)paths.shape[1];
            var frames = paths is null ? 0 : (int)paths.shape[0];
            if (rows.Training is { } t)
            {
                // A large table is drawn as a seeded subset of its rows (the PCA above used them all).
                var (shown, label) = (t, rows.TrainingLabel);
                if (t.shape[0] > TableSamples)
                {
                    using var pick = new Generator((ulong)o.Seed ^ 0x524F5753UL); // "ROWS"
                    shown = t.index_select(0, randperm(t.shape[0], generator: pick)[..TableSamples]);
                    label = $"{rows.TrainingLabel}, random subset";
                }
                TableFigures.SaveProjection(Path.Combine(outFolder, "projection.png"), x, y, pca.Project(shown), pca.Project(generated), paths,
                    dataLabel: label, generatedLabel: "generated", maxParticles: TableParticles);
                var caption = ProjectionCaption(names, d, pca, particles, frames, dataPresent: true);
                if (!ReferenceEquals(shown, t)) caption += $" Of the {t.shape[0]} training rows, a random {TableSamples} are drawn (all of them set the components).";
                sections.Add(new Section("A 2-D projection: principal components", "projection.png", caption));
            }
            else if (paths is not null)
            {
                var states = paths.unbind(0);
                var values = paths.to(float64).contiguous().data<double>().ToArray().ToList();
                FlowFigures.SaveTrajectories(Path.Combine(outFolder, "projection.png"),
                    [new TrajectoryPanel("particle paths: dX = b dt, projected", states)], SampleScatterPlot.SharedRange(values), maxParticles: TableParticles);
                sections.Add(new Section("A 2-D projection: principal components", "projection.png", ProjectionCaption(names, d, pca, particles, frames, dataPresent: false)));
            }
        }
        progress?.Report(0.6);

        // 4. Training and validation curves.
        if (CopyLoss(checkpointFolder, outFolder))
            sections.Add(new Section("Training and validation curves", "loss.png", LossCaption(m)));

        // 5. The NLL table from si eval.
        sections.Add(NllSection(m, checkpointFolder));

        // Two columns: the plane is the flow's own space, and the 2-D figures can be drawn there (encoded, where b was learned).
        if (d == 2 && table is not null && rows.Training is { } rowsTrained && baseDistribution is not null && generated is not null)
        {
            var picks = randint(0, rowsTrained.shape[0], [o.Samples], dtype: int64, generator: g);
            var reference = table.Encoding.Encode(rowsTrained.index_select(0, picks), g);
            PlaneSections(outFolder, checkpoint, baseDistribution, reference, "training rows (encoded)", " (encoded space)",
                " Drawn in the encoded space y = W (x - mu), where the flow was learned; the target samples are training rows, encoded.",
                o, g, sections, null);
        }
        progress?.Report(0.9);
    }

    // The rows of x with finite values only (float32, CPU) and how many were dropped; null when none is left.
    private static (Tensor? Rows, long Dropped) FiniteRows(Tensor x)
    {
        var keep = x.isfinite().all(1).nonzero().squeeze(1);
        var dropped = x.shape[0] - keep.shape[0];
        if (keep.shape[0] == 0) return (null, dropped);
        return (dropped == 0 ? x : x.index_select(0, keep), dropped);
    }

    // Pearson correlations in float64 ([d, d], NaN from a constant column replaced by 0) and the constant columns.
    private static (double[,] Matrix, List<int> Constant) Correlation(Tensor rows)
    {
        using var scope = NewDisposeScope();
        var x = rows.detach().to(float64).cpu();
        var d = (int)x.shape[1];
        var centred = x - x.mean([0], keepdim: true);
        var covariance = centred.t().matmul(centred) / Math.Max(1, x.shape[0] - 1);
        var sd = covariance.diagonal().sqrt();
        var r = (covariance / (sd.unsqueeze(1) * sd.unsqueeze(0))).contiguous().data<double>().ToArray();
        var s = sd.contiguous().data<double>().ToArray();
        var matrix = new double[d, d];
        for (var i = 0; i < d; i++)
            for (var j = 0; j < d; j++)
                matrix[i, j] = double.IsFinite(r[i * d + j]) ? r[i * d + j] : 0;
        return (matrix, [.. Enumerable.Range(0, d).Where(j => !(s[j] > 0))]);
    }

    private static double[,] Difference(double[,] a, double[,] b)
    {
        var d = a.GetLength(0);
        var c = new double[d, d];
        for (var i = 0; i < d; i++)
            for (var j = 0; j < d; j++) c[i, j] = a[i, j] - b[i, j];
        return c;
    }

    /// <summary>
    /// Principal components of standardised rows (each column centred and divided by its population standard deviation;
    /// 1 for a constant column), from the eigendecomposition of their covariance in float64; each component's sign is fixed
    /// so that its largest-magnitude loading is positive, so the plane is the same on every run.
    /// </summary>
    private sealed record Pca(Tensor Mean, Tensor Scale, Tensor Components, double[] Explained, double[] Loadings, int Dimension)
    {
        public static Pca Fit(Tensor rows)
        {
            var x = rows.detach().to(float64).cpu();
            var mean = x.mean([0]);
            var sd = x.std(0, unbiased: false);
            var scale = where(sd > mean.abs() * 1e-12, sd, ones_like(sd));
            var z = (x - mean) / scale;
            var d = x.shape[1];
            var covariance = z.t().matmul(z) / x.shape[0];
            var (values, vectors) = linalg.eigh(covariance); // ascending eigenvalues
            var w = vectors.narrow(1, d - 2, 2).flip(1);
            var top = values.narrow(0, d - 2, 2).flip(0).clamp_min(0);
            var largest = w.abs().argmax(0).unsqueeze(0);
            var signs = w.gather(0, largest).sign();
            w = (w * where(signs == 0, ones_like(signs), signs)).contiguous();
            var total = values.clamp_min(0).sum().ToDouble();
            var explained = top.data<double>().ToArray().Select(v => total > 0 ? v / total : 0).ToArray();
            return new Pca(mean, scale, w, explained, w.data<double>().ToArray(), (int)d);
        }

        /// <summary>Rows ([n, d], data units) standardised and projected: [n, 2] float64.</summary>
        public Tensor Project(Tensor x) => ((x.detach().to(float64).cpu() - Mean) / Scale).matmul(Components);

        public string AxisLabel(int k) => string.Create(Invariant, $"PC {k + 1} ({100 * Explained[k]:F0}% of the standardised variance)");

        /// <summary>Component k as its largest loadings, e.g. "0.71 a + 0.70 b".</summary>
        public string Describe(int k, IReadOnlyList<string> names)
        {
            var order = Enumerable.Range(0, Dimension).OrderByDescending(j => Math.Abs(Loadings[j * 2 + k])).ToList();
            var kept = order.Take(3).Where((j, i) => i == 0 || Math.Abs(Loadings[j * 2 + k]) >= 0.3).ToList();
            var text = string.Join(" ", kept.Select((j, i) =>
            {
                var v = Loadings[j * 2 + k];
                var sign = v < 0 ? "- " : i == 0 ? "" : "+ ";
                return string.Create(Invariant, $"{sign}{Math.Abs(v):F2} {names[j]}");
            }));
            // The rest is named only when it carries weight.
            return order.Except(kept).Any(j => Math.Abs(Loadings[j * 2 + k]) >= 0.05) ? text + " + ..." : text;
        }
    }

    // Particles from the base carried by the learned flow (RK4, the condition drawn as in sampling), every saved state decoded
    // to data units and projected like the data: [T, p, 2].
    private static Tensor ProjectedPaths(Checkpoint checkpoint, IDistribution baseDistribution, ReportOptions o, Pca pca)
    {
        var m = checkpoint.Manifest;
        var fields = checkpoint.Fields();
        var (t0, t1) = CheckpointSampler.OdeInterval(fields, m.TimeClip);
        var count = Math.Max(1, Math.Min(o.Particles, TableParticles));
        var frames = Math.Max(2, o.Frames);
        using var g = new Generator((ulong)o.Seed ^ 0x50415448UL); // "PATH": a stream of its own, not the generated samples'
        var x0 = baseDistribution.Sample(count, g);
        var labels = CheckpointSampler.ClassesFor(m, count, o.Seed, null);
        var times = Enumerable.Range(0, frames).Select(k => k == frames - 1 ? t1 : t0 + (t1 - t0) * k / (frames - 1)).ToArray();
        using var ode = new Rk4Solver(Math.Max(frames - 1, TableSolverSteps)).Integrate(fields.WithCondition(labels).Velocity(), x0, t0, t1, new OdeOptions(SaveTimes: times));
        var encoding = m.Table?.Encoding;
        return stack(ode.Trajectory.Select(x => pca.Project(encoding is null ? x : encoding.Decode(x))).ToArray(), 0);
    }

    private static string ColumnList(IReadOnlyList<string> names, IReadOnlyList<int> columns) =>
        (columns.Count == 1 ? "column " : "columns ") + string.Join(", ", columns.Select(j => names[j]));

    private static string MarginalsCaption(CheckpointManifest m, IReadOnlyList<string> names, Tensor? generated, long dropped, ReportRows rows)
    {
        var s = new StringBuilder("One panel per column, in the data's units: the density of the ");
        s.Append(rows.Training is null ? "generated samples only (the data could not be read, see the note above)" : rows.TrainingLabel + " (grey, filled)");
        if (rows.Validation is not null) s.Append(", of the validation rows (held out from every gradient, used only to choose the kept step)");
        if (generated is not null && rows.Training is not null)
            s.Append(" and of ").Append(generated.shape[0]).Append(" generated samples");
        s.Append(". ");
        if (generated is not null)
            s.Append("Each generated sample is a base draw X_0 ~ rho0 carried by the learned flow dX/dt = b(t, X) from t = 0 to t = 1 (RK4, ")
             .Append(TableSolverSteps).Append(" steps) and decoded back to data units: the end point of the Lagrangian picture, seen one column at a time. ");
        s.Append("Look for shifted centres, wrong widths, missing modes or thin tails")
         .Append(names.Count >= 2 ? "; matching marginals do not make a matching joint law — the next two figures show how the columns move together." : ".");
        if (m.Table is { } table)
        {
            if (table.Encoding.DequantizedColumns is { Count: > 0 } whole)
                s.Append(whole.Count == 1 ? " Column " : " Columns ").Append(string.Join(", ", whole.Select(j => names[j])))
                 .Append(whole.Count == 1 ? " holds" : " hold").Append(" whole numbers: the flow learned ").Append(whole.Count == 1 ? "it" : "them")
                 .Append(" dequantised (x + u, u ~ U[0, 1)) and generated values are rounded down to integers.");
            if (table.ClassNames is { Count: > 0 }) s.Append(" Generated rows are drawn class by class, in the training rows' class proportions.");
        }
        if (dropped > 0) s.Append(' ').Append(dropped).Append(" generated samples with non-finite values are left out.");
        return s.ToString();
    }

    private static string CorrelationCaption(IReadOnlyList<string> names, string dataLabel, double[,]? data, double[,]? model, List<string> undefined)
    {
        var s = new StringBuilder();
        s.Append(data is not null && model is not null
            ? $"Pearson correlation matrices (float64) of the {dataLabel} (left) and of the generated samples (middle), and their difference generated - data (right; white is agreement). "
            : data is not null ? $"The Pearson correlation matrix (float64) of the {dataLabel} (no generated samples to compare). "
            : "The Pearson correlation matrix (float64) of the generated samples (the data could not be read, see the note above). ");
        s.Append("Correlations are what a product of good marginals cannot fake: the flow must carry rho0 to the joint law rho1, moving mass along the directions in which the columns vary together.");
        if (data is not null && model is not null && data.GetLength(0) >= 2)
        {
            var (worst, wi, wj) = (-1.0, 0, 1);
            for (var i = 0; i < data.GetLength(0); i++)
                for (var j = i + 1; j < data.GetLength(0); j++)
                    if (Math.Abs(model[i, j] - data[i, j]) > worst) (worst, wi, wj) = (Math.Abs(model[i, j] - data[i, j]), i, j);
            s.Append(string.Create(Invariant, $" The largest difference is {worst:F2}, between {names[wi]} and {names[wj]}."));
        }
        if (undefined.Count > 0)
            s.Append(" Constant ").Append(string.Join("; ", undefined)).Append(": a correlation with a constant column is undefined (0/0) and is drawn as 0.");
        return s.ToString();
    }

    private static string ProjectionCaption(IReadOnlyList<string> names, int d, Pca pca, int particles, int frames, bool dataPresent)
    {
        var s = new StringBuilder();
        s.Append(dataPresent ? "The plane of the training rows' first two principal components" : "The plane of the generated samples' first two principal components (the data could not be read)")
         .Append(": PCA of the standardised columns (each centred and divided by its standard deviation — the encoded space when the normalisation is standard), each component's sign fixed so that its largest loading is positive. ")
         .Append("PC 1 = ").Append(pca.Describe(0, names)).Append("; PC 2 = ").Append(pca.Describe(1, names)).Append(" (standardised columns). ");
        if (dataPresent) s.Append("Left: training rows and generated samples projected onto the plane — the joint structure the marginals cannot show. ");
        if (particles > 0)
        {
            s.Append(dataPresent ? "Right" : "The figure").Append(": the Lagrangian view in d = ").Append(d).Append(" dimensions: ").Append(particles)
             .Append(" particles drawn from the base rho0 and carried by the learned flow dX/dt = b(t, X) (RK4) from t = 0 (grey) to t = 1 (dark), each of the ")
             .Append(frames).Append(" saved states decoded to data units and projected exactly like the data.");
            s.Append(d > 2
                ? " A projection hides the other " + (d == 3 ? "direction" : (d - 2) + " directions") + ": paths that seem to cross here do not cross in the full space, where the flow lines of an ODE never meet."
                : " With two columns the plane is the whole space, rotated and scaled.");
        }
        else s.Append("No particle paths: the base distribution could not be rebuilt or every path diverged.");
        return s.ToString();
    }

    private static string LossCaption(CheckpointManifest m)
    {
        var s = new StringBuilder("The training loss: the interpolant's mean regression loss per log window on training batches (it does not go to zero: its minimum is the conditional variance of the target given x_t, not a fit error). ");
        if (m.Table is { ValidationRows: > 0 } table)
        {
            s.Append("Beside it, computed on the validation rows, which never enter a gradient: the validation objective — the same regression loss at fixed draws of t, x0 and z");
            if (table.ValidationNll is { } how)
                s.Append(" — and, in its own panel, the validation NLL, -log rho1(x) of the validation rows in data units from the flow's likelihood (the ODE integrated back to t = 0 with its divergence; ")
                 .Append(how).Append(')');
            s.Append(". A validation curve that turns up while the training loss keeps falling is overfitting. ");
        }
        if (m.Selection is { } kept)
            s.Append(string.Create(Invariant, $"Kept step {kept.KeptStep} by validation {(kept.Metric == SelectionMetric.Nll ? "NLL" : "objective")} ({kept.Value:F4}, {(kept.Validations == 1 ? "the only validation" : $"the lowest of {kept.Validations} validations")}); stopped early: "))
             .Append(kept.StoppedEarly ? $"yes, after {kept.Patience} validations without improvement (of {m.Training.Steps} planned steps)." : "no.");
        else s.Append("Model selection was off (no validation rows): the weights of the last step, ").Append(m.StepsCompleted).Append(", are kept; stopped early: no.");
        return s.ToString();
    }

    // Section 5: the NLLs of si eval (model, Gaussian baseline, paired difference, training rows), or how to make eval.json.
    private static Section NllSection(CheckpointManifest m, string checkpointFolder)
    {
        const string title = "NLL: model vs Gaussian baseline";
        const string caption = "NLL = -log rho1(x) in nats per row, in the data's units, averaged over the scored rows (± one standard error): the learned density at a row is found by integrating the flow from x at t = 1 back to t = 0 while accumulating the divergence of b — the Eulerian density, read along one Lagrangian path. The baseline is the full-covariance Gaussian fitted to the training rows, scored on the same rows; the paired difference (row by row) cancels what the rows share, so model - baseline below zero by a few standard errors means the flow has learned structure a Gaussian cannot hold. Training rows' NLL well below the held-out NLL is overfitting.";
        var eval = Path.Combine(checkpointFolder, "eval.json");
        if (!File.Exists(eval))
        {
            var command = $"si eval --checkpoint {checkpointFolder} --target {m.Table?.File ?? m.Target} --json {Path.Combine(checkpointFolder, "eval.json")}";
            return new Section(title, null, caption, $"<p>No eval.json in the checkpoint folder, so there are no likelihoods to show. Make it with <code>{E(command)}</code> and run si report again.</p>");
        }
        System.Text.Json.JsonDocument doc;
        try { doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(eval)); }
        catch (System.Text.Json.JsonException e) { return new Section(title, null, caption, $"<p>eval.json cannot be read: {E(FirstLine(e.Message))}</p>"); }
        using (doc)
        {
            var r = doc.RootElement;
            if (r.ValueKind != System.Text.Json.JsonValueKind.Object) return new Section(title, null, caption, "<p>eval.json does not hold an object of figures.</p>");
            double? Number(string key) => r.TryGetProperty(key, out var v) && v.ValueKind == System.Text.Json.JsonValueKind.Number ? v.GetDouble() : null;
            string? Text(string key) => r.TryGetProperty(key, out var v) && v.ValueKind == System.Text.Json.JsonValueKind.String ? v.GetString() : null;
            string Value(double? v) => v is { } x ? x.ToString("F4", Invariant) : "—";
            string PlusMinus(double? v, double? se) => v is null ? "—" : se is { } e ? $"{Value(v)} ± {Value(e)}" : Value(v);
            var trainedOn = r.TryGetProperty("rows_trained_on", out var t) && t.ValueKind == System.Text.Json.JsonValueKind.True;
            var lines = new List<(string Figure, string Value, string Note)>
            {
                ("model NLL", PlusMinus(Number("nll_mean"), Number("nll_stderr")), "nats per row, -log rho1(x) under the learned flow"),
                ("Gaussian baseline NLL", PlusMinus(Number("baseline_nll_mean"), Number("baseline_nll_stderr")), "full covariance, fitted to the training rows; same rows"),
                ("model - baseline", PlusMinus(Number("nll_minus_baseline"), Number("nll_minus_baseline_stderr")),
                    Number("nll_minus_baseline") is { } diff && Number("nll_minus_baseline_stderr") is { } diffSe
                        ? diff + 2 * diffSe < 0 ? "paired; below zero: the flow beats the Gaussian" : "paired; not clearly below zero: the flow does not beat the Gaussian"
                        : "paired, row by row"),
                ("training rows' NLL", Value(Number("training_rows_nll_mean")), "rows trained on: compare with the model NLL to see overfitting"),
                ("rows scored", Text("rows") ?? "—", trainedOn ? "trained on: not a held-out score" : ""),
                ("kept step", Number("kept_step") is { } step ? step.ToString("F0", Invariant) : "—", m.Selection is null ? "" : "chosen on the validation rows"),
            };
            var s = new StringBuilder("<table><tr><th>figure</th><th>value</th><th style=\"text-align:left\">note</th></tr>");
            foreach (var (figure, value, note) in lines)
                s.Append("<tr><th>").Append(E(figure)).Append("</th><td>").Append(E(value)).Append("</td><td style=\"text-align:left\">").Append(E(note)).Append("</td></tr>");
            s.Append("</table>");
            if (Number("kept_step") is { } evalStep && m.Selection is { } kept && (int)evalStep != kept.KeptStep)
                s.Append("<p>").Append(E($"eval.json reports kept step {evalStep:F0}, the checkpoint {kept.KeptStep}: it was made for other weights; run si eval again.")).Append("</p>");
            // The other figures of si eval (sample distances, solver, timing), without the old aliases of the squared distances.
            var shown = new HashSet<string> { "nll_mean", "nll_stderr", "baseline_nll_mean", "baseline_nll_stderr", "nll_minus_baseline", "nll_minus_baseline_stderr",
                "training_rows_nll_mean", "rows", "rows_trained_on", "kept_step", "energy_distance", "mmd" };
            var others = r.EnumerateObject().Where(p => !shown.Contains(p.Name) && p.Value.ValueKind is System.Text.Json.JsonValueKind.Number or System.Text.Json.JsonValueKind.String).ToList();
            if (others.Count > 0)
            {
                s.Append("<p>The other figures of si eval:</p><table>");
                foreach (var p in others) s.Append("<tr><th>").Append(E(p.Name)).Append("</th><td>").Append(E(p.Value.ToString())).Append("</td></tr>");
                s.Append("</table>");
            }
            return new Section(title, null, caption, s.ToString());
        }
    }

    // A paragraph on the table: file, columns, split, encoding, classes.
    private static string TableIntro(CheckpointManifest m)
    {
        if (m.Table is not { } t)
            return E($"The target has d = {m.Dimension} dimensions: a scatter plot cannot show it, so the figures below treat its coordinates as the columns of a table.");
        var s = new StringBuilder();
        s.Append("The target is a table: <b>").Append(E(Path.GetFileName(t.File))).Append("</b> (").Append(E(t.File)).Append(", SHA-256 ").Append(E(t.Sha256[..Math.Min(12, t.Sha256.Length)])).Append("…), ")
         .Append(t.Columns.Count).Append(" columns (").Append(E(string.Join(", ", t.Columns))).Append("); ")
         .Append(t.TrainingRows).Append(" training rows and ").Append(t.ValidationRows).Append(" validation rows");
        if (t.ValidationFile is { } vf) s.Append(" (from ").Append(E(Path.GetFileName(vf))).Append(')');
        else if (t.ValidationFraction > 0) s.Append(E(string.Create(Invariant, $" (a seeded {100 * t.ValidationFraction:0.#}% split, seed {t.SplitSeed})")));
        s.Append(", held out from every gradient. The flow is learned in an encoded space y = W (x - mu) (").Append(E(t.Encoding.Normalization.ToString().ToLowerInvariant())).Append(" normalisation)");
        if (t.Encoding.DequantizedColumns.Count > 0) s.Append("; ").Append(E(ColumnList(t.Columns, t.Encoding.DequantizedColumns))).Append(" dequantised");
        if (t.ClassNames is { Count: > 0 } classes) s.Append("; conditioned on ").Append(classes.Count).Append(" classes (").Append(E(string.Join(", ", classes))).Append(')');
        s.Append(". Samples and densities are reported in the data's units.");
        return s.ToString();
    }

    private static string FirstLine(string message) => message.Split('\n')[0].TrimEnd().TrimEnd('.');

    private static string Html(CheckpointManifest m, string checkpointFolder, string outFolder, List<Section> sections, string? intro, IReadOnlyList<string> notes, bool metrics)
    {
        var s = new StringBuilder();
        s.Append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Stochastic interpolant report</title><style>")
         .Append("body{font-family:'DejaVu Sans',Arial,sans-serif;max-width:1100px;margin:2em auto;color:#222;line-height:1.45}img{max-width:100%;border:1px solid #ddd}")
         .Append("figure{margin:2em 0}figcaption{color:#444;font-size:.95em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}pre{background:#f6f6f6;padding:1em;overflow:auto}")
         .Append("</style></head><body>");
        s.Append("<h1>Transport from ").Append(E(m.Base)).Append(" to ").Append(E(Path.GetFileName(m.Target))).Append("</h1>");
        s.Append("<p>A velocity field b(t, x) was learned by regression on the <b>").Append(E(m.Interpolant.Family)).Append("</b> stochastic interpolant (gamma: ")
         .Append(E(m.Interpolant.Gamma)).Append("), so that its flow carries the base rho0 at t = 0 to the target rho1 at t = 1 (")
         .Append(m.StepsCompleted).Append(" optimiser steps). The <i>Eulerian</i> view follows the density rho(t, x); the <i>Lagrangian</i> view follows particles along the flow.</p>");
        if (intro is not null) s.Append("<p>").Append(intro).Append("</p>");
        foreach (var note in notes)
            s.Append("<p class=\"note\" style=\"background:#fff4e5;border-left:4px solid #e69500;padding:.5em 1em\">").Append(E(note)).Append("</p>");
        var eval = Path.Combine(checkpointFolder, "eval.json");
        if (metrics && File.Exists(eval))
        {
            s.Append("<h2>Metrics (si eval)</h2><table>");
            using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(eval));
            foreach (var p in doc.RootElement.EnumerateObject())
                if (p.Value.ValueKind is System.Text.Json.JsonValueKind.Number or System.Text.Json.JsonValueKind.String)
                    s.Append("<tr><th>").Append(E(p.Name)).Append("</th><td>").Append(E(p.Value.ToString())).Append("</td></tr>");
            s.Append("</table>");
        }
        foreach (var (title, file, caption, body) in sections)
        {
            if (file is null)
            {
                s.Append("<section><h2>").Append(E(title)).Append("</h2>").Append(body)
                 .Append("<p style=\"color:#444;font-size:.95em\">").Append(E(caption)).Append("</p></section>");
                continue;
            }
            var data = Convert.ToBase64String(File.ReadAllBytes(Path.Combine(outFolder, file)));
            s.Append("<figure><h2>").Append(E(title)).Append("</h2><img alt=\"").Append(E(title)).Append("\" src=\"data:image/png;base64,").Append(data).Append("\">")
             .Append("<figcaption>").Append(E(caption)).Append("</figcaption></figure>");
        }
        var config = Path.Combine(checkpointFolder, "config.json");
        s.Append("<h2>Configuration</h2><pre>").Append(E(ConfigurationText(File.Exists(config) ? File.ReadAllText(config) : File.ReadAllText(Path.Combine(checkpointFolder, Checkpoint.ManifestFileName))))).Append("</pre>");
        // Records, once the page has loaded, how many images decoded (read by the headless-browser test).
        s.Append("<script>window.addEventListener('load',function(){var im=document.images,ok=0;for(var i=0;i<im.length;i++){if(im[i].complete&&im[i].naturalWidth>0)ok++;}document.body.setAttribute('data-images',ok+'/'+im.length);});</script>");
        s.Append("<p style=\"color:#777\">Animations are APNG: they play in any current browser; the first frame is a still PNG (and *-still.png files hold the last frame, for print).</p></body></html>");
        return s.ToString();
    }

    /// <summary>
    /// The configuration as shown: each setting once. A config written before the derived <c>*OrDefault</c> properties were
    /// kept out of the JSON lists <c>model</c> and <c>modelOrDefault</c> (and <c>training</c>/<c>trainingOrDefault</c>);
    /// the derived key is dropped and its value, the setting in force, stands in for a null base key. Text without such keys
    /// (or that is not JSON) is returned unchanged.
    /// </summary>
    internal static string ConfigurationText(string json)
    {
        System.Text.Json.Nodes.JsonNode? root;
        try { root = System.Text.Json.Nodes.JsonNode.Parse(json); }
        catch (System.Text.Json.JsonException) { return json; }
        if (root is not System.Text.Json.Nodes.JsonObject o || !MergeDerived(o)) return json;
        return o.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
    }

    // Folds every "xOrDefault" key of o (and of the objects inside it) into "x"; true when one was found.
    private static bool MergeDerived(System.Text.Json.Nodes.JsonObject o)
    {
        const string suffix = "OrDefault";
        var changed = false;
        foreach (var child in o.Select(p => p.Value).OfType<System.Text.Json.Nodes.JsonObject>().ToList()) changed |= MergeDerived(child);
        foreach (var key in o.Select(p => p.Key).Where(k => k.Length > suffix.Length && k.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)).ToList())
        {
            var value = o[key]?.DeepClone();
            o.Remove(key);
            var name = key[..^suffix.Length];
            var existing = o.Select(p => p.Key).FirstOrDefault(k => string.Equals(k, name, StringComparison.OrdinalIgnoreCase));
            if (existing is null) o[name] = value;
            else if (o[existing] is null) o[existing] = value;
            changed = true;
        }
        return changed;
    }

    private static string E(string text) => WebUtility.HtmlEncode(text);
}

/// <summary>
/// The report's one-dimensional teaching problem: N(0, 1) to a mixture of three Gaussians under the linear interpolant,
/// with its exact field (docs/theory.md §5) and a small network trained on it in a few seconds.
/// </summary>
public static class ThreeGaussians
{
    /// <summary>The exact velocity, score and density of rho(t).</summary>
    public static GaussianMixtureField ExactField { get; } = new(new LinearInterpolant(), [new MixtureComponent(1, [0.0], [1.0])],
        [new MixtureComponent(0.3, [-2.5], [0.15]), new MixtureComponent(0.45, [0.5], [0.1]), new MixtureComponent(0.25, [3.0], [0.3])]);

    /// <summary>Trains an MLP 64 x 3 for 2,000 steps on the problem (same library, same loss) and returns it with its averaged weights.</summary>
    public static MlpNetwork Train(long seed)
    {
        var target = new GaussianMixture([0.3, 0.45, 0.25], [[-2.5], [0.5], [3.0]], [[0.15], [0.1], [0.3]]);
        var net = new MlpNetwork(new MlpConfig(1, Width: 64, Depth: 3), seed);
        var trainer = new Trainer(new IndependentCoupling(new StandardGaussian(1), target), new VelocityObjective(new LinearInterpolant()), net,
            new TrainingOptions(Steps: 2000, BatchSize: 256, LearningRate: 3e-3, EmaDecay: 0.99, Seed: seed));
        trainer.Run(out var ema);
        using (ema) ema?.CopyTo(net);
        return net;
    }
}
