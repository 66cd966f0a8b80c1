using StochasticInterpolants.Files;
using ScottPlot;
using SkiaSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Visualization;

/// <summary>One set of table rows drawn in <see cref="TableFigures.SaveMarginals"/>: a legend label and its rows.</summary>
/// <param name="Label">Legend text, e.g. "training rows", "held-out rows", "generated".</param>
/// <param name="Rows">[n, d] tensor of rows (any float dtype, any device), d = the number of column names.</param>
public sealed record TableSeries(string Label, Tensor Rows);

/// <summary>
/// Figures for tabular targets (d columns of measurements, d != 2), where a scatter plot of the raw rows cannot be drawn:
/// per-column marginal densities, correlation matrices, and a 2-D projection of rows and particle paths.
/// </summary>
public static class TableFigures
{
    /// <summary>Width of one marginal panel in pixels.</summary>
    internal const int MarginalPanelWidth = 230;

    /// <summary>Height of one marginal panel in pixels.</summary>
    internal const int MarginalPanelHeight = 180;

    /// <summary>Histogram bins per marginal panel.</summary>
    internal const int MarginalBins = 30;

    /// <summary>Width of the colour-bar strip to the right of the correlation panels.</summary>
    internal const int ColorBarStripWidth = 80;

    /// <summary>Largest number of columns labelled by name in a correlation heatmap (indices beyond).</summary>
    internal const int MaxNamedColumns = 20;

    /// <summary>Series colours, in order: distinct on white and from one another.</summary>
    internal static readonly Color[] SeriesColors =
    [
        Color.FromHex("#333333"), Color.FromHex("#1f77b4"), Color.FromHex("#ff7f0e"), Color.FromHex("#2ca02c"),
        Color.FromHex("#d62728"), Color.FromHex("#9467bd"), Color.FromHex("#8c564b"), Color.FromHex("#e377c2"),
    ];

    /// <summary>Diverging map for correlations: -1 dark blue, 0 near-white, +1 dark red (ColorBrewer RdBu, reversed).</summary>
    internal static readonly IColormap CorrelationColormap = new ClampedColormap("correlation",
    [
        Color.FromHex("#053061"), Color.FromHex("#2166ac"), Color.FromHex("#92c5de"), Color.FromHex("#f7f7f7"),
        Color.FromHex("#f4a582"), Color.FromHex("#b2182b"), Color.FromHex("#67001f"),
    ]);

    // Linear interpolation between evenly spaced colours, with the position clamped to [0, 1] first. (ScottPlot 5.1.59's
    // CustomInterpolated indexes past its last colour for a position a rounding error below 1, e.g. a correlation of
    // 0.9999999999999998 on a diagonal.)
    private sealed class ClampedColormap(string name, Color[] colors) : IColormap
    {
        public string Name => name;

        public Color GetColor(double position)
        {
            var x = double.IsNaN(position) ? 0.5 : Math.Clamp(position, 0, 1) * (colors.Length - 1);
            var i = Math.Min((int)Math.Floor(x), colors.Length - 2);
            var f = x - i;
            Color a = colors[i], b = colors[i + 1];
            return new Color((byte)Math.Round(a.R + (b.R - a.R) * f), (byte)Math.Round(a.G + (b.G - a.G) * f), (byte)Math.Round(a.B + (b.B - a.B) * f));
        }
    }

    /// <summary>
    /// Writes a grid of small panels, one per column (the first <paramref name="maxColumns"/>), each with every series'
    /// histogram as a density (count / (n · bin width)) over the same 30 bins, spanning the pooled 0.5th to 99.5th
    /// percentiles of that column; one legend for the figure. Panels are 230 x 180 pixels, up to 6 per row, under a
    /// header with the title and the legend.
    /// </summary>
    /// <param name="path">PNG file to write; its folder must exist.</param>
    /// <param name="columnNames">Names of the d columns (panel titles).</param>
    /// <param name="series">Up to 8 sets of rows, each [n_i, d] with n_i &gt;= 1 and finite values.</param>
    /// <param name="maxColumns">Most columns drawn (1..100); the title says when columns were left out.</param>
    /// <exception cref="ArgumentException">No columns or series, rows that are not [n, d], non-finite values, or a bad <paramref name="maxColumns"/>.</exception>
    /// <exception cref="DirectoryNotFoundException">The folder of <paramref name="path"/> does not exist.</exception>
    public static void SaveMarginals(string path, IReadOnlyList<string> columnNames, IReadOnlyList<TableSeries> series, int maxColumns = 36) =>
        DrawMarginals(path, columnNames, series, maxColumns);

    /// <summary>Does <see cref="SaveMarginals"/> and returns each panel's data area in image pixels (for tests).</summary>
    internal static IReadOnlyList<SKRectI> DrawMarginals(string path, IReadOnlyList<string> columnNames, IReadOnlyList<TableSeries> series, int maxColumns)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(columnNames);
        ArgumentNullException.ThrowIfNull(series);
        var d = CheckNames(columnNames);
        if (series.Count == 0) throw new ArgumentException("give at least one series of rows");
        if (series.Count > SeriesColors.Length) throw new ArgumentException($"at most {SeriesColors.Length} series can be told apart, got {series.Count}");
        if (maxColumns < 1 || maxColumns > 100) throw new ArgumentException($"maxColumns must be in 1..100, got {maxColumns}");
        CheckFolder(path);
        var rows = series.Select(s =>
        {
            ArgumentNullException.ThrowIfNull(s);
            return Values(s.Rows, d, $"series '{s.Label}'");
        }).ToList();

        var k = Math.Min(d, maxColumns);
        var gridColumns = Math.Min(6, (int)Math.Ceiling(Math.Sqrt(k)));
        var gridRows = (k + gridColumns - 1) / gridColumns;
        var width = gridColumns * MarginalPanelWidth;
        var title = k < d
            ? $"density of each column: first {k} of {d} columns shown ({MarginalBins} bins)"
            : $"density of each column ({MarginalBins} bins)";
        var legend = series.Select((s, i) => ($"{s.Label} (n = {rows[i].N})", SeriesColors[i])).ToList();
        using var typeface = PlotFonts.Family is { } f ? SKTypeface.FromFamilyName(f) : SKTypeface.Default;
        using var titleFont = new SKFont(typeface, PlotFonts.FitSize(title, 15, width - 20));
        using var legendFont = new SKFont(typeface, 13);
        var legendLines = LayoutLegend(legend, legendFont, width - 20);
        var header = 30 + 20 * legendLines.Count + 4;

        using var bitmap = new SKBitmap(width, header + gridRows * MarginalPanelHeight);
        var areas = new List<SKRectI>(k);
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(SKColors.White);
            using var textPaint = new SKPaint { Color = SKColors.Black, IsAntialias = true };
            canvas.DrawText(title, (width - titleFont.MeasureText(title)) / 2, 20, titleFont, textPaint);
            DrawLegend(canvas, legendLines, legendFont, width, 30);
            for (var c = 0; c < k; c++)
            {
                var pooled = new List<double>();
                foreach (var r in rows) for (var i = 0; i < r.N; i++) pooled.Add(r.V[i * d + c]);
                var (lo, hi) = PercentileRange(pooled);
                var binWidth = (hi - lo) / MarginalBins;
                using var plot = new Plot();
                if (PlotFonts.Family is { } font) plot.Font.Set(font);
                plot.Title(columnNames[c], size: PlotFonts.FitSize(columnNames[c], 13, MarginalPanelWidth * 0.9f));
                plot.Axes.Bottom.TickLabelStyle.FontSize = 10;
                plot.Axes.Left.TickLabelStyle.FontSize = 10;
                var top = 0.0;
                for (var s = 0; s < rows.Count; s++)
                {
                    var counts = new double[MarginalBins];
                    for (var i = 0; i < rows[s].N; i++)
                    {
                        var v = rows[s].V[i * d + c];
                        if (v < lo || v > hi) continue;
                        counts[Math.Min((int)((v - lo) / binWidth), MarginalBins - 1)]++;
                    }
                    var density = counts.Select(n => n / (rows[s].N * binWidth)).ToArray();
                    top = Math.Max(top, density.Max());
                    var (xs, ys) = StepOutline(density, lo, binWidth);
                    if (s == 0)
                    {
                        var fill = plot.Add.Polygon(xs, ys);
                        fill.FillStyle.Color = SeriesColors[0].WithAlpha(0.12);
                        fill.LineStyle.Width = 0;
                    }
                    var line = plot.Add.ScatterLine(xs, ys);
                    line.Color = SeriesColors[s];
                    line.LineWidth = 1.6f;
                    line.MarkerSize = 0;
                }
                plot.Axes.SetLimits(lo, hi, 0, top > 0 ? top * 1.08 : 1);
                using var surface = SKSurface.Create(new SKImageInfo(MarginalPanelWidth, MarginalPanelHeight)) ?? throw new InvalidOperationException("could not create a drawing surface");
                plot.Render(surface);
                using var image = surface.Snapshot();
                int x0 = c % gridColumns * MarginalPanelWidth, y0 = header + c / gridColumns * MarginalPanelHeight;
                canvas.DrawImage(image, x0, y0);
                areas.Add(Offset(plot.LastRender.DataRect, x0, y0));
            }
        }
        Write(path, bitmap);
        return areas;
    }

    /// <summary>
    /// Writes d x d heatmaps side by side (e.g. "data", "generated", "difference") on one diverging colour scale over
    /// [-1, 1] (values beyond are drawn at the end colours), with one colour bar on the right. Cells are square; row i
    /// and column j of a matrix are columns i and j of the table, row 0 at the top. Ticks carry the column names when
    /// d &lt;= 20, 1-based column numbers otherwise. The image is panels x <paramref name="panelSize"/> + 80 pixels wide
    /// and <paramref name="panelSize"/> tall.
    /// </summary>
    /// <param name="path">PNG file to write; its folder must exist.</param>
    /// <param name="columnNames">Names of the d columns.</param>
    /// <param name="panels">Titles and d x d matrices with finite values, drawn left to right.</param>
    /// <param name="panelSize">Width and height of each panel in pixels (200..2000).</param>
    /// <exception cref="ArgumentException">No columns or panels, a matrix that is not d x d, non-finite values, or a bad panel size.</exception>
    /// <exception cref="DirectoryNotFoundException">The folder of <paramref name="path"/> does not exist.</exception>
    public static void SaveCorrelations(string path, IReadOnlyList<string> columnNames, IReadOnlyList<(string Title, double[,] Matrix)> panels, int panelSize = 420) =>
        DrawCorrelations(path, columnNames, panels, panelSize);

    /// <summary>Does <see cref="SaveCorrelations"/> and returns each panel's heatmap area in image pixels (for tests).</summary>
    internal static IReadOnlyList<SKRectI> DrawCorrelations(string path, IReadOnlyList<string> columnNames, IReadOnlyList<(string Title, double[,] Matrix)> panels, int panelSize)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(columnNames);
        ArgumentNullException.ThrowIfNull(panels);
        var d = CheckNames(columnNames);
        if (panels.Count == 0) throw new ArgumentException("a figure needs at least one panel");
        if (panelSize < 200 || panelSize > 2000) throw new ArgumentException($"panel size must be in 200..2000 pixels, got {panelSize}");
        foreach (var (title, m) in panels)
        {
            if (m is null) throw new ArgumentException($"panel '{title}' has no matrix");
            if (m.GetLength(0) != d || m.GetLength(1) != d)
                throw new ArgumentException($"panel '{title}' needs a {d} x {d} matrix (one row and column per column name), got {m.GetLength(0)} x {m.GetLength(1)}");
            for (var i = 0; i < d; i++)
                for (var j = 0; j < d; j++)
                    if (!double.IsFinite(m[i, j])) throw new ArgumentException($"panel '{title}' has a non-finite value ({m[i, j]}) at row {i}, column {j}");
        }
        CheckFolder(path);

        var named = d <= MaxNamedColumns;
        double[] positions; string[] labels;
        if (named)
        {
            positions = Enumerable.Range(0, d).Select(j => j + 0.5).ToArray();
            labels = columnNames.Select(n => Shorten(n, 14)).ToArray();
        }
        else
        {
            var every = NiceStep(d);
            var numbers = Enumerable.Range(1, d).Where(j => j == 1 || j % every == 0).ToArray();
            positions = numbers.Select(j => j - 0.5).ToArray();
            labels = numbers.Select(j => j.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        }

        // Tick labels are measured to fix the layout: ScottPlot does not make room for rotated labels, and a fixed,
        // square data area puts every cell at a known place.
        var tickSize = named ? Math.Clamp(panelSize / (float)d * 0.45f, 7f, 11f) : 10f;
        float widest;
        using (var typeface = PlotFonts.Family is { } f ? SKTypeface.FromFamilyName(f) : SKTypeface.Default)
        using (var measure = new SKFont(typeface, tickSize))
            widest = labels.Max(l => measure.MeasureText(l));
        var margin = (int)Math.Ceiling(widest) + (named ? 14 : 34);
        const int top = 36, right = 12;
        var side = Math.Min(panelSize - margin - right, panelSize - top - margin);
        if (side < 60) throw new ArgumentException($"panel size {panelSize} leaves no room for the heatmap beside labels {margin} pixels wide: use a larger panel size or shorter names");
        var left = margin + (panelSize - margin - right - side) / 2;

        var width = panels.Count * panelSize + ColorBarStripWidth;
        using var bitmap = new SKBitmap(width, panelSize);
        var areas = new List<SKRectI>(panels.Count);
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(SKColors.White);
            for (var p = 0; p < panels.Count; p++)
            {
                var (title, m) = panels[p];
                var clipped = new double[d, d];
                for (var i = 0; i < d; i++) for (var j = 0; j < d; j++) clipped[i, j] = Math.Clamp(m[i, j], -1, 1);
                using var plot = new Plot();
                if (PlotFonts.Family is { } font) plot.Font.Set(font);
                plot.Title(title, size: PlotFonts.FitSize(title, 15, panelSize * 0.9f));
                var heat = plot.Add.Heatmap(clipped);
                heat.ManualRange = new ScottPlot.Range(-1, 1); // (before the colormap: an all-equal matrix has no range of its own)
                heat.Colormap = CorrelationColormap;
                heat.Rectangle = new CoordinateRect(0, d, 0, d);
                // Row i of the matrix is drawn (from the top) at y = d - i - 0.5.
                plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(positions, labels);
                plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(positions.Select(y => d - y).ToArray(), labels);
                plot.Axes.Bottom.TickLabelStyle.FontSize = tickSize;
                plot.Axes.Left.TickLabelStyle.FontSize = tickSize;
                if (named)
                {
                    plot.Axes.Bottom.TickLabelStyle.Rotation = -90;
                    plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleRight;
                }
                else
                {
                    plot.XLabel("column number", size: 11);
                    plot.YLabel("column number", size: 11);
                }
                plot.Grid.IsVisible = false;
                plot.Axes.SetLimits(0, d, 0, d);
                var area = new SKRectI(left, top, left + side, top + side);
                plot.Layout.Fixed(new PixelRect(area.Left, area.Right, area.Bottom, area.Top));
                using var surface = SKSurface.Create(new SKImageInfo(panelSize, panelSize)) ?? throw new InvalidOperationException("could not create a drawing surface");
                plot.Render(surface);
                using var image = surface.Snapshot();
                canvas.DrawImage(image, p * panelSize, 0);
                areas.Add(new SKRectI(area.Left + p * panelSize, area.Top, area.Right + p * panelSize, area.Bottom));
            }
            DrawColorBar(canvas, panels.Count * panelSize, areas[0].Top, areas[0].Bottom);
        }
        Write(path, bitmap);
        return areas;
    }

    /// <summary>
    /// Writes rows projected to one plane: on the left, <paramref name="data"/> and <paramref name="generated"/> ([n, 2]
    /// and [m, 2]) as overlaid translucent point clouds with a legend; on the right, when <paramref name="trajectories"/>
    /// ([T, p, 2], T &gt;= 2 states from t = 0 to 1) is given, up to <paramref name="maxParticles"/> particle paths
    /// t -> X_t in the same plane (grey starts, thin lines, navy ends, as <see cref="FlowFigures.SaveTrajectories"/>).
    /// Both panels share the same limits on both axes (robust quantiles of all points, 5% margin) with equal units.
    /// </summary>
    /// <param name="path">PNG file to write; its folder must exist.</param>
    /// <param name="xLabel">Horizontal axis label, e.g. "PC 1 (41% of variance)".</param>
    /// <param name="yLabel">Vertical axis label.</param>
    /// <param name="data">[n, 2] projected data rows, finite.</param>
    /// <param name="generated">[m, 2] projected generated rows, finite.</param>
    /// <param name="trajectories">[T, p, 2] projected particle states, finite; null for the left panel only.</param>
    /// <param name="dataLabel">Legend text of <paramref name="data"/>.</param>
    /// <param name="generatedLabel">Legend text of <paramref name="generated"/>.</param>
    /// <param name="panelSize">Width and height of each panel in pixels (200..2000).</param>
    /// <param name="maxParticles">Most paths drawn (1..10000).</param>
    /// <exception cref="ArgumentException">Tensors of the wrong shape, empty or with non-finite values, or a bad size.</exception>
    /// <exception cref="DirectoryNotFoundException">The folder of <paramref name="path"/> does not exist.</exception>
    public static void SaveProjection(string path, string xLabel, string yLabel, Tensor data, Tensor generated, Tensor? trajectories,
        string dataLabel = "data", string generatedLabel = "generated", int panelSize = 460, int maxParticles = 150) =>
        DrawProjection(path, xLabel, yLabel, data, generated, trajectories, dataLabel, generatedLabel, panelSize, maxParticles);

    /// <summary>Does <see cref="SaveProjection"/> and returns each panel's data area in image pixels (for tests).</summary>
    internal static IReadOnlyList<SKRectI> DrawProjection(string path, string xLabel, string yLabel, Tensor data, Tensor generated, Tensor? trajectories,
        string dataLabel, string generatedLabel, int panelSize, int maxParticles)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(generated);
        if (panelSize < 200 || panelSize > 2000) throw new ArgumentException($"panel size must be in 200..2000 pixels, got {panelSize}");
        if (maxParticles < 1 || maxParticles > 10_000) throw new ArgumentException($"maxParticles must be in 1..10000, got {maxParticles}");
        var dataPoints = Values(data, 2, dataLabel);
        var generatedPoints = Values(generated, 2, generatedLabel);
        double[][]? states = null;
        var particles = 0;
        if (trajectories is not null)
        {
            if (trajectories.dim() != 3 || trajectories.shape[0] < 2 || trajectories.shape[1] < 1 || trajectories.shape[2] != 2)
                throw new ArgumentException($"trajectories need [T, p, 2] states with T >= 2 and p >= 1, got [{string.Join(",", trajectories.shape)}]");
            if (!trajectories.is_floating_point()) throw new ArgumentException($"trajectories need a floating-point tensor, got {trajectories.dtype}");
            var T = (int)trajectories.shape[0];
            particles = (int)Math.Min(maxParticles, trajectories.shape[1]);
            using var kept = trajectories.detach()[.., ..particles, ..].to(float64).cpu().contiguous();
            var all = kept.data<double>().ToArray();
            states = new double[T][];
            for (var t = 0; t < T; t++)
            {
                states[t] = all.AsSpan(t * particles * 2, particles * 2).ToArray();
                var bad = Array.FindIndex(states[t], v => !double.IsFinite(v));
                if (bad >= 0) throw new ArgumentException($"trajectories have a non-finite value at state {t}, particle {bad / 2}");
            }
        }
        CheckFolder(path);

        var pooled = new List<double>(dataPoints.V.Length + generatedPoints.V.Length);
        pooled.AddRange(dataPoints.V); pooled.AddRange(generatedPoints.V);
        if (states is not null) foreach (var s in states) pooled.AddRange(s);
        var (lo, hi) = SampleScatterPlot.SharedRange(pooled);

        var count = states is null ? 1 : 2;
        using var bitmap = new SKBitmap(count * panelSize, panelSize);
        var areas = new List<SKRectI>(count);
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(SKColors.White);
            for (var p = 0; p < count; p++)
            {
                using var plot = new Plot();
                if (PlotFonts.Family is { } font) plot.Font.Set(font);
                plot.XLabel(xLabel, size: 12);
                plot.YLabel(yLabel, size: 12);
                if (p == 0)
                {
                    var title = $"{dataLabel} and {generatedLabel}";
                    plot.Title(title, size: PlotFonts.FitSize(title, 14, panelSize * 0.8f));
                    var items = new List<LegendItem>(2);
                    foreach (var (points, label, color) in new[] { (dataPoints, dataLabel, Colors.Black), (generatedPoints, generatedLabel, Colors.RoyalBlue) })
                    {
                        var (xs, ys) = Split(points.V);
                        var cloud = plot.Add.ScatterPoints(xs, ys);
                        cloud.MarkerShape = MarkerShape.FilledCircle;
                        cloud.MarkerSize = xs.Length > 2000 ? 2f : 3.5f;
                        cloud.Color = color.WithAlpha(xs.Length > 2000 ? 0.3 : 0.6);
                        items.Add(new LegendItem { LabelText = $"{label} (n = {xs.Length})", MarkerShape = MarkerShape.FilledCircle, MarkerSize = 8, MarkerFillColor = color, MarkerLineColor = color });
                    }
                    plot.ShowLegend(items, Alignment.UpperRight);
                }
                else
                {
                    var title = "particle paths t -> X_t";
                    plot.Title(title, size: PlotFonts.FitSize(title, 14, panelSize * 0.8f));
                    for (var q = 0; q < particles; q++)
                    {
                        var line = plot.Add.ScatterLine(states!.Select(s => s[2 * q]).ToArray(), states!.Select(s => s[2 * q + 1]).ToArray());
                        line.MarkerSize = 0; line.LineWidth = 1; line.Color = Colors.SteelBlue.WithAlpha(0.35);
                    }
                    var (sx, sy) = Split(states![0]);
                    var start = plot.Add.ScatterPoints(sx, sy);
                    start.MarkerSize = 3; start.Color = Colors.Gray; start.LegendText = "X_0";
                    var (ex, ey) = Split(states[^1]);
                    var end = plot.Add.ScatterPoints(ex, ey);
                    end.MarkerSize = 3; end.Color = Colors.Navy; end.LegendText = "X_1";
                    plot.ShowLegend(Alignment.UpperRight);
                }
                plot.Axes.SetLimits(lo, hi, lo, hi);
                plot.Axes.SquareUnits();
                using var surface = SKSurface.Create(new SKImageInfo(panelSize, panelSize)) ?? throw new InvalidOperationException("could not create a drawing surface");
                plot.Render(surface);
                using var image = surface.Snapshot();
                canvas.DrawImage(image, p * panelSize, 0);
                areas.Add(Offset(plot.LastRender.DataRect, p * panelSize, 0));
            }
        }
        Write(path, bitmap);
        return areas;
    }

    /// <summary>Rows of a tensor as a row-major array, checked to be [n, d] with n &gt;= 1 and finite values.</summary>
    internal static (double[] V, int N) Values(Tensor rows, int d, string what)
    {
        if (rows is null) throw new ArgumentException($"{what} has no rows");
        if (rows.dim() != 2 || rows.shape[1] != d) throw new ArgumentException($"{what} needs [n, {d}] rows, got [{string.Join(",", rows.shape)}]");
        if (rows.shape[0] == 0) throw new ArgumentException($"{what} has no rows");
        if (!rows.is_floating_point()) throw new ArgumentException($"{what} needs a floating-point tensor, got {rows.dtype}");
        using var cpu = rows.detach().to(float64).cpu().contiguous();
        var v = cpu.data<double>().ToArray();
        var bad = Array.FindIndex(v, x => !double.IsFinite(x));
        if (bad >= 0) throw new ArgumentException($"{what} has a non-finite value ({v[bad]}) at row {bad / d}, column {bad % d}");
        return (v, (int)rows.shape[0]);
    }

    /// <summary>
    /// Histogram limits for one column: the pooled 0.5th and 99.5th percentiles, widened around the value when they
    /// coincide (a constant column).
    /// </summary>
    internal static (double Lo, double Hi) PercentileRange(List<double> values)
    {
        values.Sort();
        var lo = values[(int)(0.005 * (values.Count - 1))];
        var hi = values[(int)Math.Ceiling(0.995 * (values.Count - 1))];
        if (hi - lo <= 1e-12 * Math.Max(1, Math.Abs(lo)))
        {
            var half = Math.Max(0.5, Math.Abs(lo) * 0.05);
            return (lo - half, lo + half);
        }
        return (lo, hi);
    }

    private static int CheckNames(IReadOnlyList<string> columnNames)
    {
        if (columnNames.Count == 0) throw new ArgumentException("give at least one column name");
        for (var i = 0; i < columnNames.Count; i++)
            if (columnNames[i] is null) throw new ArgumentException($"column name {i} is null");
        return columnNames.Count;
    }

    private static void CheckFolder(string path)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"cannot write figure '{path}': folder '{folder}' does not exist");
    }

    private static void Write(string path, SKBitmap bitmap)
    {
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        AtomicFile.Write(path, s => data.SaveTo(s));
    }

    private static SKRectI Offset(PixelRect r, int dx, int dy) =>
        new((int)MathF.Round(r.Left) + dx, (int)MathF.Round(r.Top) + dy, (int)MathF.Round(r.Right) + dx, (int)MathF.Round(r.Bottom) + dy);

    private static (double[] Xs, double[] Ys) Split(double[] v)
    {
        var xs = new double[v.Length / 2]; var ys = new double[v.Length / 2];
        for (var i = 0; i < xs.Length; i++) { xs[i] = v[2 * i]; ys[i] = v[2 * i + 1]; }
        return (xs, ys);
    }

    /// <summary>The outline of a histogram: from 0 up and across each bin, back down to 0 after the last.</summary>
    private static (double[] Xs, double[] Ys) StepOutline(double[] heights, double lo, double binWidth)
    {
        var xs = new double[2 * heights.Length + 2]; var ys = new double[xs.Length];
        xs[0] = lo; ys[0] = 0;
        for (var b = 0; b < heights.Length; b++)
        {
            xs[2 * b + 1] = lo + b * binWidth; ys[2 * b + 1] = heights[b];
            xs[2 * b + 2] = lo + (b + 1) * binWidth; ys[2 * b + 2] = heights[b];
        }
        xs[^1] = lo + heights.Length * binWidth; ys[^1] = 0;
        return (xs, ys);
    }

    private static string Shorten(string name, int max) => name.Length <= max ? name : name[..(max - 1)] + "…";

    /// <summary>A step of 1, 2 or 5 times a power of ten giving about 10 ticks over d columns.</summary>
    private static int NiceStep(int d)
    {
        var raw = d / 10.0;
        var power = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        var step = raw / power <= 1 ? 1 : raw / power <= 2 ? 2 : raw / power <= 5 ? 5 : 10;
        return Math.Max(1, (int)(step * power));
    }

    /// <summary>Splits legend entries into lines no wider than <paramref name="maxWidth"/>.</summary>
    private static List<List<(string Text, Color Color)>> LayoutLegend(List<(string Text, Color Color)> items, SKFont font, float maxWidth)
    {
        var lines = new List<List<(string, Color)>> { new() };
        var used = 0f;
        foreach (var item in items)
        {
            var w = ItemWidth(item.Text, font);
            if (lines[^1].Count > 0 && used + w > maxWidth) { lines.Add([]); used = 0; }
            lines[^1].Add(item);
            used += w;
        }
        return lines;
    }

    private static float ItemWidth(string text, SKFont font) => 26 + font.MeasureText(text) + 18;

    /// <summary>Draws each legend line centred, a short thick line in the series colour before each label.</summary>
    private static void DrawLegend(SKCanvas canvas, List<List<(string Text, Color Color)>> lines, SKFont font, int width, float top)
    {
        using var textPaint = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        for (var l = 0; l < lines.Count; l++)
        {
            var total = lines[l].Sum(item => ItemWidth(item.Text, font)) - 18;
            var x = (width - total) / 2;
            var baseline = top + 20 * l + 14;
            foreach (var (text, color) in lines[l])
            {
                using var swatch = new SKPaint { Color = new SKColor(color.R, color.G, color.B), StrokeWidth = 3, IsAntialias = true };
                canvas.DrawLine(x, baseline - 5, x + 20, baseline - 5, swatch);
                canvas.DrawText(text, x + 26, baseline, font, textPaint);
                x += ItemWidth(text, font);
            }
        }
    }

    /// <summary>The vertical colour bar of <see cref="CorrelationColormap"/> over [-1, 1], with ticks and a label.</summary>
    private static void DrawColorBar(SKCanvas canvas, int left, int top, int bottom)
    {
        const int barLeft = 10, barWidth = 16;
        var height = Math.Max(bottom - top, 2);
        for (var y = 0; y < height; y++)
        {
            var c = CorrelationColormap.GetColor(1 - y / (double)(height - 1));
            using var paint = new SKPaint { Color = new SKColor(c.R, c.G, c.B) };
            canvas.DrawRect(left + barLeft, top + y, barWidth, 1, paint);
        }
        using var frame = new SKPaint { Color = SKColors.Black, Style = SKPaintStyle.Stroke, StrokeWidth = 1 };
        canvas.DrawRect(left + barLeft, top, barWidth, height, frame);
        using var typeface = PlotFonts.Family is { } f ? SKTypeface.FromFamilyName(f) : SKTypeface.Default;
        using var font = new SKFont(typeface, 11);
        using var textPaint = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        foreach (var v in new[] { -1.0, -0.5, 0.0, 0.5, 1.0 })
        {
            var y = top + (float)((1 - v) / 2 * height);
            canvas.DrawLine(left + barLeft + barWidth, y, left + barLeft + barWidth + 4, y, frame);
            canvas.DrawText(v.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture), left + barLeft + barWidth + 6, y + 4, font, textPaint);
        }
        const string label = "correlation";
        canvas.Save();
        canvas.Translate(left + ColorBarStripWidth - 8, top + height / 2f);
        canvas.RotateDegrees(-90);
        canvas.DrawText(label, -font.MeasureText(label) / 2, 0, font, textPaint);
        canvas.Restore();
    }
}
