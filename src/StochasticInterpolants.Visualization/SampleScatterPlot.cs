using StochasticInterpolants.Files;
using ScottPlot;
using SkiaSharp;
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
    /// atomically. Axis limits are shared: <paramref name="range"/> when given, else the 0.5%–99.5% quantiles of all
    /// finite points with a 5% margin. Non-finite points are not drawn and are counted in the panel title.
    /// </summary>
    /// <param name="path">PNG file to write; its folder must exist.</param>
    /// <param name="panels">Panels, drawn left to right.</param>
    /// <param name="panelSize">Width and height of each panel in pixels (100..4000).</param>
    /// <param name="range">Axis limits used for both axes of every panel; null to derive them from the points.</param>
    /// <exception cref="ArgumentException">No panels, a bad panel size or range, or points that are not [n, 2].</exception>
    /// <exception cref="DirectoryNotFoundException">The folder of <paramref name="path"/> does not exist.</exception>
    public static void SaveSideBySide(string path, IReadOnlyList<ScatterPanel> panels, int panelSize = 500, (double Min, double Max)? range = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(panels);
        if (panels.Count == 0) throw new ArgumentException("a figure needs at least one panel");
        if (panelSize < 100 || panelSize > 4000) throw new ArgumentException($"panel size must be in 100..4000 pixels, got {panelSize}");
        if (range is { } r && !(double.IsFinite(r.Min) && double.IsFinite(r.Max) && r.Min < r.Max))
            throw new ArgumentException($"range must be finite with Min < Max, got ({r.Min}, {r.Max})");
        // Checked before rendering so a typo in the folder fails fast instead of after the (slow) drawing.
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"cannot write figure '{path}': folder '{folder}' does not exist");
        var clouds = panels.Select(p => Extract(p)).ToList();
        var (lo, hi) = range ?? SharedRange(clouds.SelectMany(c => c.Xs.Concat(c.Ys)).ToList());
        using var surface = SKSurface.Create(new SKImageInfo(panelSize * panels.Count, panelSize)) ?? throw new InvalidOperationException("could not create a drawing surface");
        surface.Canvas.Clear(SKColors.White);
        for (var i = 0; i < panels.Count; i++)
        {
            var (xs, ys, dropped) = clouds[i];
            using var plot = new Plot();
            if (PlotFonts.Family is { } font) plot.Font.Set(font);
            var title = PanelTitle(panels[i].Title, dropped);
            plot.Title(title, size: PlotFonts.FitSize(title, 16, panelSize * 0.92f));
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

    /// <summary>The title shown over a panel: the given title plus how many non-finite points were left out.</summary>
    internal static string PanelTitle(string title, int dropped) => dropped switch
    {
        0 => title,
        1 => $"{title} (1 non-finite point not drawn)",
        _ => $"{title} ({dropped} non-finite points not drawn)",
    };

    /// <summary>Finite points of a panel as coordinate arrays, and the count of rows with a NaN or infinite coordinate.</summary>
    internal static (double[] Xs, double[] Ys, int Dropped) Extract(ScatterPanel panel)
    {
        ArgumentNullException.ThrowIfNull(panel);
        return Extract(panel.Points, $"panel '{panel.Title}'");
    }

    /// <summary>Finite points of a [n, 2] tensor; <paramref name="what"/> names it in the shape error.</summary>
    internal static (double[] Xs, double[] Ys, int Dropped) Extract(Tensor p, string what)
    {
        ArgumentNullException.ThrowIfNull(p);
        if (p.dim() != 2 || p.shape[1] != 2) throw new ArgumentException($"{what} needs [n, 2] points, got [{string.Join(",", p.shape)}]");
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

    /// <summary>Shared axis limits: robust quantiles of all coordinates plus a 5% margin; (-1, 1) when nothing is finite.</summary>
    internal static (double Lo, double Hi) SharedRange(List<double> values)
    {
        if (values.Count == 0) return (-1, 1);
        values.Sort();
        // Quantiles rather than min/max so a handful of diverged samples cannot shrink the real cloud to a dot.
        var lo = values[(int)(0.005 * (values.Count - 1))];
        var hi = values[(int)Math.Ceiling(0.995 * (values.Count - 1))];
        var margin = Math.Max(hi - lo, 1e-6) * 0.05;
        return (lo - margin, hi + margin);
    }
}
