using ScottPlot;
using SkiaSharp;
using StochasticInterpolants.Checkpoints;
using static TorchSharp.torch;

namespace StochasticInterpolants.Visualization;

/// <summary>One panel of a side-by-side scatter figure: a title and a [n, 2] point cloud.</summary>
/// <param name="Title">Panel title.</param>
/// <param name="Points">[n, 2] tensor of points (any float dtype, any device).</param>
public sealed record ScatterPanel(string Title, Tensor Points);

/// <summary>
/// Draws 2-D point clouds side by side in one PNG, with shared, equal-scaled axes: the picture of "target vs generated".
/// </summary>
public static class SampleScatterPlot
{
    /// <summary>
    /// Writes the panels as one PNG of size (panels x <paramref name="panelSize"/>) by <paramref name="panelSize"/>,
    /// atomically. Axis limits are shared: <paramref name="range"/> when given, else the 0.2%–99.8% quantiles of all
    /// finite points with a 5% margin. Non-finite points are not drawn and are counted in the panel title.
    /// </summary>
    public static void SaveSideBySide(string path, IReadOnlyList<ScatterPanel> panels, int panelSize = 500, (double Min, double Max)? range = null)
    {
        if (panels.Count == 0) throw new ArgumentException("a figure needs at least one panel");
        if (panelSize < 100 || panelSize > 4000) throw new ArgumentException($"panel size must be in 100..4000 pixels, got {panelSize}");
        var clouds = panels.Select(p => Extract(p)).ToList();
        var (lo, hi) = range ?? SharedRange(clouds.SelectMany(c => c.Xs.Concat(c.Ys)).ToList());
        using var surface = SKSurface.Create(new SKImageInfo(panelSize * panels.Count, panelSize)) ?? throw new InvalidOperationException("could not create a drawing surface");
        surface.Canvas.Clear(SKColors.White);
        for (var i = 0; i < panels.Count; i++)
        {
            var (xs, ys, dropped) = clouds[i];
            var plot = new Plot();
            if (PlotFonts.Family is { } font) plot.Font.Set(font);
            var title = dropped > 0 ? $"{panels[i].Title} ({dropped} non-finite points not drawn)" : panels[i].Title;
            plot.Title(title, size: 16);
            var scatter = plot.Add.ScatterPoints(xs, ys);
            scatter.MarkerSize = xs.Length > 2000 ? 2f : 4f;
            scatter.MarkerShape = MarkerShape.FilledCircle;
            scatter.Color = (i == 0 ? Colors.Black : Colors.RoyalBlue).WithAlpha(xs.Length > 2000 ? 0.35 : 0.8);
            plot.Axes.SetLimits(lo, hi, lo, hi);
            plot.Axes.SquareUnits();
            // Plot.Render clears the whole canvas it is given, so each panel is drawn on its own surface and then composed.
            using var panelSurface = SKSurface.Create(new SKImageInfo(panelSize, panelSize)) ?? throw new InvalidOperationException("could not create a drawing surface");
            plot.Render(panelSurface);
            using var panelImage = panelSurface.Snapshot();
            surface.Canvas.DrawImage(panelImage, i * panelSize, 0);
        }
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        AtomicFile.Write(path, s => data.SaveTo(s));
    }

    private static (double[] Xs, double[] Ys, int Dropped) Extract(ScatterPanel panel)
    {
        var p = panel.Points;
        if (p.dim() != 2 || p.shape[1] != 2) throw new ArgumentException($"panel '{panel.Title}' needs [n, 2] points, got [{string.Join(",", p.shape)}]");
        using var cpu = p.detach().to(float64).cpu().contiguous();
        var v = cpu.data<double>().ToArray();
        var xs = new List<double>(v.Length / 2); var ys = new List<double>(v.Length / 2);
        var dropped = 0;
        for (var i = 0; i < v.Length; i += 2)
        {
            if (double.IsFinite(v[i]) && double.IsFinite(v[i + 1])) { xs.Add(v[i]); ys.Add(v[i + 1]); }
            else dropped++;
        }
        return (xs.ToArray(), ys.ToArray(), dropped);
    }

    private static (double, double) SharedRange(List<double> values)
    {
        if (values.Count == 0) return (-1, 1);
        values.Sort();
        var lo = values[(int)(0.002 * (values.Count - 1))];
        var hi = values[(int)Math.Ceiling(0.998 * (values.Count - 1))];
        var margin = Math.Max(hi - lo, 1e-6) * 0.05;
        return (lo - margin, hi + margin);
    }
}
