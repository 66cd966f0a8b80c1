using System.Text;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Data;
using StochasticInterpolants.Fields;
using StochasticInterpolants.Files;
using StochasticInterpolants.Sampling;
using StochasticInterpolants.Training;
using StochasticInterpolants.Visualization;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Runs;

// The table sections of the report (a target with columns rather than a plane): the rows as trained, marginals,
// correlations, a principal-component plane with particle paths, the loss and validation curves, the NLL table.
public static partial class TransportReport
{
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
        double odeNfe = 0;
        try
        {
            baseDistribution = CheckpointSampler.BaseOf(m);
            (var samples, odeNfe) = CheckpointSampler.Sample(checkpoint, Math.Max(2, Math.Min(o.Samples, TableSamples)), new Rk4Solver(TableSolverSteps), o.Seed);
            (generated, dropped) = FiniteRows(samples);
            if (generated is null) notes.Add("Every generated sample has a non-finite value: the flow diverges, and no generated rows are drawn.");
        }
        catch (Exception e) when (e is CheckpointException or FieldConversionException)
        {
            notes.Add($"No samples generated: {FirstLine(e.Message)}.");
        }
        if (rows.Why is { } why)
            notes.Insert(0, $"Data sections skipped: {why}. " + (generated is null
                ? "Neither the data nor generated samples can be drawn: only the training curves, the NLL table and the configuration follow."
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
        // A flow map's few-step samples, beside the ODE's generated rows (same X_0).
        if (generated is not null && IsFlowMap(checkpoint)) FlowMapTableSection(outFolder, checkpoint, names, rows, generated, odeNfe, o, sections, notes);
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
        var (t0, t1) = fields.VelocityInterval(m.TimeClip);
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
        (columns.Count == 1 ? "column " : "columns ") + TablePieces.Names(names, columns);

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
        if (t.Encoding.LogColumns is { Count: > 0 } logs) s.Append("; ").Append(E(ColumnList(t.Columns, logs))).Append(" through a log (x = exp(...) > 0)");
        if (t.Encoding.SnappedColumns is { Count: > 0 } snapped) s.Append("; generated ").Append(E(ColumnList(t.Columns, [.. snapped.Select(c => c.Column)]))).Append(" moved to the nearest observed value");
        if (t.ClassNames is { Count: > 0 } classes) s.Append("; conditioned on ").Append(classes.Count).Append(" classes (").Append(E(string.Join(", ", classes))).Append(')');
        s.Append(". Samples and densities are reported in the data's units.");
        return s.ToString();
    }
}
