using StochasticInterpolants.Files;
using ScottPlot;
using static TorchSharp.torch;

namespace StochasticInterpolants.Visualization;

/// <summary>
/// Draws the empirical density of a 2-D point cloud as a square-binned histogram image with a colour bar: where a
/// scatter plot of many points saturates, this still shows how mass is spread.
/// </summary>
public static class DensityHeatmap
{
    /// <summary>
    /// Writes a 2-D histogram of <paramref name="points"/> as a PNG of <c>size * 6 / 5</c> by <paramref name="size"/>
    /// pixels (the extra width holds the colour bar), atomically. Cells are coloured by density (count / (n · cell area),
    /// n = finite points), so figures of different sample sizes share a scale. Non-finite points and points outside
    /// the range are not counted; how many is said in the title.
    /// </summary>
    /// <param name="path">PNG file to write; its folder must exist.</param>
    /// <param name="points">[n, 2] tensor of points (any float dtype, any device).</param>
    /// <param name="bins">Cells per axis (2..1000).</param>
    /// <param name="range">Histogram limits used for both axes; null for the same robust limits as <see cref="SampleScatterPlot"/>.</param>
    /// <param name="title">Figure title; null for none.</param>
    /// <param name="size">Height of the image in pixels (100..4000).</param>
    /// <exception cref="ArgumentException">Points that are not [n, 2], or a bad bin count, range or size.</exception>
    /// <exception cref="DirectoryNotFoundException">The folder of <paramref name="path"/> does not exist.</exception>
    public static void SaveHistogram2D(string path, Tensor points, int bins = 100, (double Min, double Max)? range = null, string? title = null, int size = 500)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(points);
        if (bins < 2 || bins > 1000) throw new ArgumentException($"bins must be in 2..1000, got {bins}");
        if (size < 100 || size > 4000) throw new ArgumentException($"size must be in 100..4000 pixels, got {size}");
        if (range is { } r && !(double.IsFinite(r.Min) && double.IsFinite(r.Max) && r.Min < r.Max))
            throw new ArgumentException($"range must be finite with Min < Max, got ({r.Min}, {r.Max})");
        // Checked before rendering so a typo in the folder fails fast instead of after the drawing.
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"cannot write figure '{path}': folder '{folder}' does not exist");

        var (xs, ys, dropped) = SampleScatterPlot.Extract(points, "histogram");
        var (lo, hi) = range ?? SampleScatterPlot.SharedRange(xs.Concat(ys).ToList());
        var (counts, outside) = Histogram2D(xs, ys, bins, lo, hi);
        var cell = (hi - lo) / bins;
        var scale = xs.Length > 0 ? 1.0 / (xs.Length * cell * cell) : 0.0;
        var density = new double[bins, bins];
        for (var i = 0; i < bins; i++) for (var j = 0; j < bins; j++) density[i, j] = counts[i, j] * scale;

        using var plot = new Plot();
        if (PlotFonts.Family is { } font) plot.Font.Set(font);
        var note = Notes(dropped, outside);
        var heading = (title ?? "") + (note.Length > 0 && !string.IsNullOrEmpty(title) ? " " : "") + note;
        if (heading.Length > 0) plot.Title(heading, size: PlotFonts.FitSize(heading, 16, size * 6 / 5 * 0.92f));
        var heatmap = plot.Add.Heatmap(density);
        heatmap.Colormap = new ScottPlot.Colormaps.Viridis();
        // Rectangle sets the outer cell edges, so bin edges land exactly on lo..hi (Position would pad half a cell).
        heatmap.Rectangle = new CoordinateRect(lo, hi, lo, hi);
        plot.Add.ColorBar(heatmap).Label = "density";
        plot.Axes.SetLimits(lo, hi, lo, hi);
        plot.Axes.SquareUnits();
        var png = plot.GetImage(size * 6 / 5, size).GetImageBytes(ImageFormat.Png);
        AtomicFile.Write(path, s => s.Write(png));
    }

    /// <summary>
    /// Counts points per cell of a bins × bins grid over [lo, hi]², laid out as an image: <c>counts[row, col]</c> with
    /// row 0 the top (highest y) and col 0 the left (lowest x), which is how ScottPlot draws heatmap rows. A value
    /// equal to <paramref name="hi"/> falls in the last cell; points outside the square are counted in Outside.
    /// </summary>
    internal static (double[,] Counts, int Outside) Histogram2D(double[] xs, double[] ys, int bins, double lo, double hi)
    {
        var counts = new double[bins, bins];
        var outside = 0;
        var width = (hi - lo) / bins;
        for (var k = 0; k < xs.Length; k++)
        {
            double x = xs[k], y = ys[k];
            if (x < lo || x > hi || y < lo || y > hi) { outside++; continue; }
            var col = Math.Min((int)((x - lo) / width), bins - 1);
            var yBin = Math.Min((int)((y - lo) / width), bins - 1);
            // y grows upwards on the axes but rows grow downwards in the image.
            counts[bins - 1 - yBin, col]++;
        }
        return (counts, outside);
    }

    /// <summary>
    /// exp(<paramref name="logDensity"/>(t, x)) at the centres of a bins x bins grid over [lo, hi]^2, laid out like
    /// <see cref="Histogram2D"/> (row 0 at the top); non-finite values become 0.
    /// </summary>
    internal static double[,] EvaluateOnGrid(Func<double, Tensor, Tensor> logDensity, double t, int bins, double lo, double hi, ScalarType dtype)
    {
        var cell = (hi - lo) / bins;
        var centres = new double[bins * bins * 2];
        for (var row = 0; row < bins; row++)
            for (var col = 0; col < bins; col++)
            {
                centres[2 * (row * bins + col)] = lo + (col + 0.5) * cell;
                centres[2 * (row * bins + col) + 1] = hi - (row + 0.5) * cell;
            }
        using var grid = tensor(centres, [bins * bins, 2]).to(dtype);
        using var logp = logDensity(t, grid);
        using var p = logp.exp().to(float64).cpu();
        var v = p.data<double>().ToArray();
        var density = new double[bins, bins];
        for (var r = 0; r < bins; r++) for (var c = 0; c < bins; c++) density[r, c] = double.IsFinite(v[r * bins + c]) ? v[r * bins + c] : 0;
        return density;
    }

    /// <summary>The parenthesised note on points left out, or "" when none were.</summary>
    internal static string Notes(int nonFinite, int outside)
    {
        var parts = new List<string>(2);
        if (nonFinite > 0) parts.Add(nonFinite == 1 ? "1 non-finite point" : $"{nonFinite} non-finite points");
        if (outside > 0) parts.Add(outside == 1 ? "1 point outside the range" : $"{outside} points outside the range");
        return parts.Count == 0 ? "" : $"({string.Join(", ", parts)} not counted)";
    }
}
