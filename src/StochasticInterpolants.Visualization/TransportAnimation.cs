using StochasticInterpolants.Fields;
using StochasticInterpolants.Sampling;
using ScottPlot;
using SkiaSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Visualization;

/// <summary>
/// Animations of the transport in one dimension, the seed's two pictures in step: left, the Eulerian view — the density
/// rho(t, x) changing in time; right, the Lagrangian view — particles X_t following the flow dX/dt = b(t, X) in the
/// (t, x) plane. Frames are written as an APNG, and the last frame also as a PNG still for print.
/// </summary>
public static class TransportAnimation
{
    /// <summary>
    /// Animates a 1-D transport. <paramref name="density"/> gives log rho(t, x) on a column of points ([n, 1] -> [n]) and
    /// <paramref name="velocity"/> the field b(t, x) the particles follow; both are typically a
    /// <see cref="GaussianMixtureField"/> (exact) or a learned model with its likelihood.
    /// </summary>
    public static void OneDimensional(string path, Func<double, Tensor, Tensor> density, IVelocityField velocity, (double Min, double Max) xRange,
        string title = "N(0, 1) to a Gaussian mixture", int frames = 48, int particles = 40, int width = 960, int height = 400, int frameMilliseconds = 90,
        string? stillPath = null, Func<double, Tensor, Tensor>? learnedDensity = null, IVelocityField? learnedVelocity = null)
    {
        if (frames < 2) throw new ArgumentException($"an animation needs at least 2 frames, got {frames}");
        if ((learnedDensity is null) != (learnedVelocity is null)) throw new ArgumentException("give both the learned density and the learned velocity, or neither");
        if (particles < 1) throw new ArgumentException($"particles must be >= 1, got {particles}");
        var times = Enumerable.Range(0, frames).Select(k => (double)k / (frames - 1)).ToArray();
        // Particles start at evenly spaced quantiles of N(0, 1) so the picture shows how mass moves, not sampling noise.
        var starts = Enumerable.Range(0, particles).Select(i => InverseNormal((i + 0.5) / particles)).ToArray();
        using var x0 = tensor(starts, [particles, 1]);
        using var solution = new Rk4Solver(4 * (frames - 1)).Integrate(velocity, x0, 0, 1, new OdeOptions(SaveTimes: times));
        var paths = solution.Trajectory.Select(s => s.data<double>().ToArray()).ToArray(); // [frame][particle]
        double[][]? learnedPaths = null;
        if (learnedVelocity is not null)
        {
            using var x0f = x0.to(float32);
            using var learned = new Rk4Solver(4 * (frames - 1)).Integrate(learnedVelocity, x0f, 0, 1, new OdeOptions(SaveTimes: times));
            learnedPaths = learned.Trajectory.Select(s => s.to(float64).data<double>().ToArray()).ToArray();
        }
        const int gridPoints = 300;
        var xs = Enumerable.Range(0, gridPoints).Select(i => xRange.Min + (xRange.Max - xRange.Min) * i / (gridPoints - 1)).ToArray();
        using var grid = tensor(xs, [gridPoints, 1]);
        var rho = times.Select(t => { using var l = density(t, grid); using var e = l.exp(); return e.to(float64).data<double>().ToArray(); }).ToArray();
        double[][]? learnedRho = null;
        if (learnedDensity is not null)
        {
            using var gridf = grid.to(float32);
            learnedRho = times.Select(t => { using var l = learnedDensity(t, gridf); using var e = l.exp(); return e.to(float64).data<double>().ToArray(); }).ToArray();
        }
        var yMax = rho.SelectMany(r => r).Concat(learnedRho?.SelectMany(r => r) ?? []).Where(double.IsFinite).DefaultIfEmpty(1).Max() * 1.05;

        var bitmaps = new List<SKBitmap>();
        try
        {
            for (var k = 0; k < frames; k++)
            {
                var bitmap = new SKBitmap(width, height);
                bitmaps.Add(bitmap);
                using var canvas = new SKCanvas(bitmap);
                canvas.Clear(SKColors.White);
                var half = width / 2;
                using (var left = new Plot())
                {
                    Style(left, $"Eulerian: density rho(t, x), t = {times[k]:F2}", "x", "rho(t, x)");
                    var curve = left.Add.Scatter(xs, rho[k]);
                    curve.MarkerSize = 0; curve.LineWidth = 2; curve.Color = Colors.RoyalBlue;
                    var start = left.Add.Scatter(xs, rho[0]);
                    start.MarkerSize = 0; start.LineWidth = 1; start.Color = Colors.Gray.WithAlpha(0.6); start.LegendText = "rho0";
                    var end = left.Add.Scatter(xs, rho[^1]);
                    end.MarkerSize = 0; end.LineWidth = 1; end.Color = Colors.OrangeRed.WithAlpha(0.6); end.LegendText = "rho1";
                    curve.LegendText = learnedRho is null ? "rho(t)" : "rho(t), exact";
                    if (learnedRho is not null)
                    {
                        var learnedCurve = left.Add.Scatter(xs, learnedRho[k]);
                        learnedCurve.MarkerSize = 0; learnedCurve.LineWidth = 2; learnedCurve.LinePattern = LinePattern.Dashed;
                        learnedCurve.Color = Colors.Black; learnedCurve.LegendText = "rho(t), learned";
                    }
                    left.ShowLegend(Alignment.UpperLeft);
                    left.Axes.SetLimits(xRange.Min, xRange.Max, 0, yMax);
                    Draw(left, canvas, 0, half, height);
                }
                using (var right = new Plot())
                {
                    Style(right, learnedPaths is null ? "Lagrangian: particles X_t along dX/dt = b(t, X)" : "Lagrangian: X_t, exact b (blue) and learned b (dashed)", "t", "x");
                    for (var p = 0; p < particles; p++)
                    {
                        var ts = times[..(k + 1)];
                        var ys = paths[..(k + 1)].Select(f => f[p]).ToArray();
                        var line = right.Add.Scatter(ts, ys);
                        line.MarkerSize = 0; line.LineWidth = 1; line.Color = Colors.RoyalBlue.WithAlpha(0.5);
                        var head = right.Add.Marker(times[k], paths[k][p]);
                        head.Size = 5; head.Color = Colors.OrangeRed;
                    }
                    if (learnedPaths is not null)
                        for (var p = 0; p < particles; p++)
                        {
                            var line = right.Add.Scatter(times[..(k + 1)], learnedPaths[..(k + 1)].Select(f => f[p]).ToArray());
                            line.MarkerSize = 0; line.LineWidth = 1; line.LinePattern = LinePattern.Dashed; line.Color = Colors.Black.WithAlpha(0.45);
                        }
                    var now = right.Add.VerticalLine(times[k]);
                    now.Color = Colors.Gray.WithAlpha(0.5); now.LinePattern = LinePattern.Dashed;
                    right.Axes.SetLimits(0, 1, xRange.Min, xRange.Max);
                    Draw(right, canvas, half, width - half, height);
                }
                using var titlePaint = new SKPaint { Color = SKColors.Black, IsAntialias = true };
                using var font = new SKFont(PlotFonts.Family is { } f ? SKTypeface.FromFamilyName(f) : SKTypeface.Default, 13);
                canvas.DrawText(title, 8, height - 6, font, titlePaint);
            }
            ApngWriter.Write(path, bitmaps, frameMilliseconds, stillPath);
        }
        finally
        {
            foreach (var b in bitmaps) b.Dispose();
        }
    }

    private static void Style(Plot plot, string title, string xLabel, string yLabel)
    {
        if (PlotFonts.Family is { } font) plot.Font.Set(font);
        plot.Title(title, size: 14);
        plot.XLabel(xLabel, size: 13);
        plot.YLabel(yLabel, size: 13);
    }

    private static void Draw(Plot plot, SKCanvas canvas, int x, int w, int h)
    {
        using var surface = SKSurface.Create(new SKImageInfo(w, h - 18)) ?? throw new InvalidOperationException("could not create a drawing surface");
        plot.Render(surface);
        using var image = surface.Snapshot();
        canvas.DrawImage(image, x, 0);
    }

    /// <summary>The standard normal quantile (Acklam's rational approximation, relative error below 1.2e-9).</summary>
    internal static double InverseNormal(double p)
    {
        double[] a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00];
        double[] b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01];
        double[] c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00];
        double[] d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00];
        const double low = 0.02425;
        if (p < low) { var q = Math.Sqrt(-2 * Math.Log(p)); return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1); }
        if (p > 1 - low) { var q = Math.Sqrt(-2 * Math.Log(1 - p)); return -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1); }
        var r = p - 0.5; var s = r * r;
        return (((((a[0] * s + a[1]) * s + a[2]) * s + a[3]) * s + a[4]) * s + a[5]) * r / (((((b[0] * s + b[1]) * s + b[2]) * s + b[3]) * s + b[4]) * s + 1);
    }
}

/// <summary>
/// The 2-D transport as an animation: particles X_t of the learned flow drawn over the density of interpolant samples
/// x_t at the same t (Lagrangian in front, Eulerian behind), from the base at t = 0 to the target at t = 1.
/// </summary>
public static class PlaneAnimation
{
    /// <summary>
    /// <paramref name="particles"/>[k] holds the particles at <paramref name="times"/>[k] ([n, 2]);
    /// <paramref name="background"/>[k] the interpolant samples at the same time, drawn as a density histogram.
    /// </summary>
    public static void Write(string path, IReadOnlyList<double> times, IReadOnlyList<Tensor> particles, IReadOnlyList<Tensor> background,
        (double Min, double Max) range, int size = 420, int bins = 60, int frameMilliseconds = 90, string? stillPath = null)
    {
        if (times.Count < 2 || particles.Count != times.Count || background.Count != times.Count) throw new ArgumentException("give particles and background samples at each of at least two times");
        var (lo, hi) = range;
        var cell = (hi - lo) / bins;
        var frames = new List<SKBitmap>();
        try
        {
            for (var k = 0; k < times.Count; k++)
            {
                var (bx, by, _) = SampleScatterPlot.Extract(background[k], "background");
                var (counts, _) = DensityHeatmap.Histogram2D(bx, by, bins, lo, hi);
                var scale = 1.0 / Math.Max(1, bx.Length * cell * cell);
                var dens = new double[bins, bins];
                for (var i = 0; i < bins; i++) for (var j = 0; j < bins; j++) dens[i, j] = counts[i, j] * scale;
                var (px, py, _) = SampleScatterPlot.Extract(particles[k], "particles");
                using var plot = new Plot();
                if (PlotFonts.Family is { } font) plot.Font.Set(font);
                plot.Title($"particles X_t over the density of x_t, t = {times[k]:F2}", size: 13);
                var heat = plot.Add.Heatmap(dens);
                heat.Colormap = new ScottPlot.Colormaps.Viridis();
                heat.Rectangle = new CoordinateRect(lo, hi, lo, hi);
                var dots = plot.Add.ScatterPoints(px, py);
                dots.MarkerSize = 2.5f; dots.Color = Colors.White.WithAlpha(0.85);
                plot.Axes.SetLimits(lo, hi, lo, hi);
                var bitmap = new SKBitmap(size, size);
                frames.Add(bitmap);
                using var surface = SKSurface.Create(new SKImageInfo(size, size)) ?? throw new InvalidOperationException("could not create a drawing surface");
                plot.Render(surface);
                using var image = surface.Snapshot();
                using var canvas = new SKCanvas(bitmap);
                canvas.DrawImage(image, 0, 0);
            }
            ApngWriter.Write(path, frames, frameMilliseconds, stillPath);
        }
        finally
        {
            foreach (var f in frames) f.Dispose();
        }
    }
}
