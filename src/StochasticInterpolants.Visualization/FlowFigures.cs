using System.Numerics;
using StochasticInterpolants.Files;
using ScottPlot;
using SkiaSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Visualization;

/// <summary>One panel of particle paths: a title and the states X_t at successive times, each [n, 2].</summary>
/// <param name="Title">Panel title.</param>
/// <param name="Trajectory">States at successive times (first = start, last = end).</param>
public sealed record TrajectoryPanel(string Title, IReadOnlyList<Tensor> Trajectory);

/// <summary>
/// Lagrangian and field pictures in 2-D: particle paths t -> X_t (ODE beside SDE), and the velocity b(t, .) as arrows
/// over the density rho(t, .) at chosen times.
/// </summary>
public static class FlowFigures
{
    /// <summary>Draws up to <paramref name="maxParticles"/> paths per panel: grey start points, a thin line, blue end points.</summary>
    public static void SaveTrajectories(string path, IReadOnlyList<TrajectoryPanel> panels, (double Min, double Max) range, int maxParticles = 150, int panelSize = 420)
    {
        if (panels.Count == 0) throw new ArgumentException("a figure needs at least one panel");
        CheckFolder(path);
        Compose(path, panels.Count, panelSize, panelSize, (i, plot) =>
        {
            var steps = panels[i].Trajectory.Select(s => { using var c = s.to(float64).cpu(); return c.data<double>().ToArray(); }).ToArray();
            if (steps.Length < 2) throw new ArgumentException($"panel '{panels[i].Title}' needs at least two states");
            var n = Math.Min(maxParticles, steps[0].Length / 2);
            plot.Title(panels[i].Title, size: PlotFonts.FitSize(panels[i].Title, 14, panelSize * 0.8f)); // centred over the data area, not the panel
            for (var p = 0; p < n; p++)
            {
                var xs = steps.Select(s => s[2 * p]).ToArray(); var ys = steps.Select(s => s[2 * p + 1]).ToArray();
                var line = plot.Add.Scatter(xs, ys);
                line.MarkerSize = 0; line.LineWidth = 1; line.Color = Colors.SteelBlue.WithAlpha(0.35);
            }
            var start = plot.Add.ScatterPoints(Enumerable.Range(0, n).Select(p => steps[0][2 * p]).ToArray(), Enumerable.Range(0, n).Select(p => steps[0][2 * p + 1]).ToArray());
            start.MarkerSize = 3; start.Color = Colors.Gray; start.LegendText = "X_0";
            var end = plot.Add.ScatterPoints(Enumerable.Range(0, n).Select(p => steps[^1][2 * p]).ToArray(), Enumerable.Range(0, n).Select(p => steps[^1][2 * p + 1]).ToArray());
            end.MarkerSize = 3; end.Color = Colors.Navy; end.LegendText = "X_1";
            plot.ShowLegend(Alignment.UpperRight);
            plot.Axes.SetLimits(range.Min, range.Max, range.Min, range.Max);
            plot.Axes.SquareUnits();
        });
    }

    /// <summary>
    /// Draws b(t, .) as arrows (a <paramref name="arrows"/> x <paramref name="arrows"/> grid) over the density rho(t, .)
    /// (from <paramref name="logDensity"/>, or omitted when null), one panel per time. Panels are
    /// <paramref name="panelSize"/> pixels tall and, with a density, that plus its colour bar wide; both axes have equal units.
    /// </summary>
    public static void SaveVelocityField(string path, Func<double, Tensor, Tensor> velocity, Func<double, Tensor, Tensor>? logDensity,
        IReadOnlyList<double> times, (double Min, double Max) range, int arrows = 18, int bins = 60, int panelSize = 360)
    {
        if (times.Count == 0) throw new ArgumentException("give at least one time");
        CheckFolder(path);
        var (lo, hi) = range;
        var panelWidth = logDensity is null ? panelSize : panelSize + DensityRowsFigure.ColorBarAllowance;
        Compose(path, times.Count, panelWidth, panelSize, (i, plot) =>
        {
            var t = times[i];
            plot.Title($"b(t, x) over rho(t, x), t = {t:0.##}", size: 13);
            if (logDensity is not null)
            {
                var dens = DensityHeatmap.EvaluateOnGrid(logDensity, t, bins, lo, hi, float32);
                var heat = plot.Add.Heatmap(dens);
                heat.Colormap = new ScottPlot.Colormaps.Viridis();
                heat.Rectangle = new CoordinateRect(lo, hi, lo, hi);
                plot.Add.ColorBar(heat).Label = "rho(t, x)";
            }
            var step = (hi - lo) / arrows;
            var points = new double[arrows * arrows * 2];
            for (var a = 0; a < arrows; a++) for (var b = 0; b < arrows; b++) { points[2 * (a * arrows + b)] = lo + (a + 0.5) * step; points[2 * (a * arrows + b) + 1] = lo + (b + 0.5) * step; }
            using var at = tensor(points, [arrows * arrows, 2]).to(float32);
            Tensor vel;
            using (no_grad()) vel = velocity(t, at); // fields follow the caller's autograd mode: drawing needs no graph
            using var _ = vel;
            using var vc = vel.to(float64).cpu();
            var vv = vc.data<double>().ToArray();
            var vectors = new List<RootedCoordinateVector>();
            for (var k = 0; k < arrows * arrows; k++)
                vectors.Add(new RootedCoordinateVector(new Coordinates(points[2 * k], points[2 * k + 1]), new Vector2((float)vv[2 * k], (float)vv[2 * k + 1])));
            var field = plot.Add.VectorField(vectors);
            field.ArrowStyle.LineWidth = 1.2f;
            field.ArrowStyle.LineStyle.Color = Colors.White;
            plot.Axes.SetLimits(lo, hi, lo, hi);
            plot.Axes.SquareUnits();
        });
    }

    private static void CheckFolder(string path)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"cannot write figure '{path}': folder '{folder}' does not exist");
    }

    /// <summary>Renders <paramref name="count"/> plots side by side (each on its own surface: Plot.Render clears its canvas).</summary>
    internal static void Compose(string path, int count, int panelWidth, int panelHeight, Action<int, Plot> draw)
    {
        var (bitmap, _) = ManifoldFigures.Compose(count, panelWidth, panelHeight, draw);
        using (bitmap)
        {
            using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
            AtomicFile.Write(path, s => data.SaveTo(s));
        }
    }
}
