using StochasticInterpolants.Files;
using StochasticInterpolants.Interpolants;
using ScottPlot;
using SkiaSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Visualization;

/// <summary>
/// rho(t) at several times, two ways, one row each: top, histograms of interpolant samples x_t = alpha x0 + beta x1 +
/// gamma z (no model: the point of an interpolant is that rho(t) can be sampled at every t); bottom, the model's density
/// rho(t, x) on a grid (Eulerian, e.g. from the likelihood at intermediate t). Each column shares one colour scale, so
/// the two rows can be compared directly: where the model is right they look alike.
/// </summary>
public static class DensityRowsFigure
{
    /// <summary>Pixels a colour bar with its ticks and label takes from a panel's width.</summary>
    internal const int ColorBarAllowance = 70;

    /// <summary>
    /// Writes the figure. <paramref name="x0"/> and <paramref name="x1"/> ([n, 2]) are paired samples of the coupling;
    /// <paramref name="modelLogDensity"/> gives log rho(t, x) for grid points ([m, 2] -> [m]). Each panel is
    /// <paramref name="panelSize"/> pixels tall and that plus its colour bar wide, with equal units on both axes.
    /// </summary>
    public static void Save(string path, IInterpolant interpolant, Tensor x0, Tensor x1, Func<double, Tensor, Tensor> modelLogDensity,
        (double Min, double Max) range, IReadOnlyList<double>? times = null, int bins = 60, int panelSize = 240, long seed = 0,
        string modelLabel = "model density")
    {
        var ts = times ?? [0, 0.25, 0.5, 0.75, 1];
        if (x0.dim() != 2 || x0.shape[1] != 2 || !x0.shape.SequenceEqual(x1.shape)) throw new ArgumentException("x0 and x1 must both be [n, 2]");
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"cannot write figure '{path}': folder '{folder}' does not exist");
        var (lo, hi) = range;
        var cell = (hi - lo) / bins;
        using var g = new Generator((ulong)seed);
        using var z = randn(x0.shape, dtype: x0.dtype, generator: g);
        var sampled = new List<double[,]>(); var model = new List<double[,]>();
        var interpolantPath = InterpolantPath.For(interpolant);
        foreach (var t in ts)
        {
            using var xt = interpolantPath.SampleAt(x0, x1, z, t);
            using var cpu = xt.to(float64).cpu();
            var v = cpu.data<double>().ToArray();
            var xs = Enumerable.Range(0, v.Length / 2).Select(i => v[2 * i]).ToArray();
            var ys = Enumerable.Range(0, v.Length / 2).Select(i => v[2 * i + 1]).ToArray();
            var (counts, _) = DensityHeatmap.Histogram2D(xs, ys, bins, lo, hi);
            var scale = 1.0 / (xs.Length * cell * cell);
            var hist = new double[bins, bins];
            for (var i = 0; i < bins; i++) for (var j = 0; j < bins; j++) hist[i, j] = counts[i, j] * scale;
            sampled.Add(hist);
            model.Add(DensityHeatmap.EvaluateOnGrid(modelLogDensity, t, bins, lo, hi, x0.dtype));
        }
        const int labelWidth = 26, headerHeight = 0;
        // Each panel is wider than tall by the colour bar's width, so that the data area itself is square.
        var panelWidth = panelSize + ColorBarAllowance;
        var width = labelWidth + ts.Count * panelWidth; var height = headerHeight + 2 * panelSize;
        using var bitmap = new SKBitmap(width, height);
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(SKColors.White);
            for (var c = 0; c < ts.Count; c++)
            {
                // One colour scale per column (robust to a few hot histogram cells: the 99.5% quantile of both rows).
                var all = sampled[c].Cast<double>().Concat(model[c].Cast<double>()).Where(double.IsFinite).OrderBy(v => v).ToArray();
                var vmax = Math.Max(all[(int)(0.995 * (all.Length - 1))], 1e-12);
                for (var r = 0; r < 2; r++)
                {
                    using var plot = new Plot();
                    if (PlotFonts.Family is { } font) plot.Font.Set(font);
                    plot.Title(r == 0 ? $"x_t samples, t = {ts[c]:0.##}" : $"{modelLabel}, t = {ts[c]:0.##}", size: 12);
                    var heat = plot.Add.Heatmap(r == 0 ? sampled[c] : model[c]);
                    heat.Colormap = new ScottPlot.Colormaps.Viridis();
                    heat.ManualRange = new ScottPlot.Range(0, vmax);
                    heat.Rectangle = new CoordinateRect(lo, hi, lo, hi);
                    var bar = plot.Add.ColorBar(heat);
                    bar.Label = "rho";
                    plot.Axes.SetLimits(lo, hi, lo, hi);
                    plot.Axes.SquareUnits(); // one unit is as long on x as on y: the checkerboard's squares look square
                    using var surface = SKSurface.Create(new SKImageInfo(panelWidth, panelSize)) ?? throw new InvalidOperationException("could not create a drawing surface");
                    plot.Render(surface);
                    using var image = surface.Snapshot();
                    canvas.DrawImage(image, labelWidth + c * panelWidth, headerHeight + r * panelSize);
                }
            }
            using var paint = new SKPaint { Color = SKColors.Black, IsAntialias = true };
            using var typeface = PlotFonts.Family is { } f ? SKTypeface.FromFamilyName(f) : SKTypeface.Default;
            using var labelFont = new SKFont(typeface, 13);
            foreach (var (label, r) in new[] { ("interpolant samples (no model)", 0), (modelLabel + " (Eulerian)", 1) })
            {
                canvas.Save();
                canvas.Translate(17, headerHeight + r * panelSize + panelSize / 2f);
                canvas.RotateDegrees(-90);
                canvas.DrawText(label, -labelFont.MeasureText(label) / 2, 0, labelFont, paint);
                canvas.Restore();
            }
        }
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        AtomicFile.Write(path, s => data.SaveTo(s));
    }
}
