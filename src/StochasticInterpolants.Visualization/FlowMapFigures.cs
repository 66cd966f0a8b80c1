using ScottPlot;
using SkiaSharp;
using StochasticInterpolants.Files;
using static TorchSharp.torch;

namespace StochasticInterpolants.Visualization;

/// <summary>
/// One panel of a jump figure (docs/theory.md §14): the grid states x_0, x_1, ..., x_N of an N-jump sampling with a flow map,
/// x_{k+1} = X_{t_k, t_{k+1}}(x_k), each [n, 2]; optionally the ODE's paths from the same starts, each state [n, 2].
/// </summary>
/// <param name="Title">Panel title.</param>
/// <param name="Times">The grid times t_0 &lt; t_1 &lt; ... &lt; t_N of <paramref name="States"/>.</param>
/// <param name="States">The particles at each grid time (N + 1 states, the start included).</param>
/// <param name="OdePaths">The ODE dX/dt = b(t, X) from the same starts, saved at many times (first = start); null for none.</param>
public sealed record JumpPanel(string Title, IReadOnlyList<double> Times, IReadOnlyList<Tensor> States, IReadOnlyList<Tensor>? OdePaths = null);

/// <summary>
/// Figures of few-step sampling with a learned flow map: the jumps as a Lagrangian picture (where each particle lands,
/// grid time by grid time, joined by straight segments, over the ODE's curved paths), and a row of already-encoded
/// figures (e.g. image grids) composed side by side.
/// </summary>
public static class FlowMapFigures
{
    /// <summary>
    /// Draws each panel of <paramref name="panels"/> side by side: for up to <paramref name="maxParticles"/> particles, the
    /// ODE path (light grey curve, when given) and the jump path (straight segments x_k -> x_{k+1}, orange), and the states
    /// at each grid time as dots coloured from light (t_0) to dark (t_N), with a legend of the times. Both axes use
    /// <paramref name="range"/> with equal units; non-finite positions are not drawn.
    /// </summary>
    /// <param name="path">PNG file to write; its folder must exist.</param>
    /// <param name="panels">Panels, drawn left to right.</param>
    /// <param name="range">Axis limits of both axes of every panel (finite, Min &lt; Max).</param>
    /// <param name="maxParticles">Most particles drawn per panel (the first ones), 1..10,000.</param>
    /// <param name="panelSize">Width and height of each panel in pixels (200..4000).</param>
    /// <exception cref="ArgumentException">No panels, states that are not [n, 2] of one n, a time count that does not match the states, or bad sizes.</exception>
    /// <exception cref="DirectoryNotFoundException">The folder of <paramref name="path"/> does not exist.</exception>
    public static void SaveJumpPaths(string path, IReadOnlyList<JumpPanel> panels, (double Min, double Max) range, int maxParticles = 300, int panelSize = 520)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(panels);
        if (panels.Count == 0) throw new ArgumentException("a figure needs at least one panel");
        if (maxParticles < 1 || maxParticles > 10_000) throw new ArgumentException($"maxParticles must be in 1..10000, got {maxParticles}");
        if (panelSize < 200 || panelSize > 4000) throw new ArgumentException($"panel size must be in 200..4000 pixels, got {panelSize}");
        if (!(double.IsFinite(range.Min) && double.IsFinite(range.Max) && range.Min < range.Max))
            throw new ArgumentException($"range must be finite with Min < Max, got ({range.Min}, {range.Max})");
        // Extracted (and checked) before any drawing, so a bad panel fails fast.
        var data = panels.Select(p =>
        {
            ArgumentNullException.ThrowIfNull(p);
            if (p.States.Count < 2) throw new ArgumentException($"panel '{p.Title}' needs at least two states (one jump)");
            if (p.Times.Count != p.States.Count) throw new ArgumentException($"panel '{p.Title}' has {p.States.Count} states but {p.Times.Count} times");
            var states = Points(p.States, $"panel '{p.Title}'");
            var ode = p.OdePaths is null ? null : Points(p.OdePaths, $"the ODE paths of panel '{p.Title}'");
            if (ode is not null && ode[0].Length != states[0].Length)
                throw new ArgumentException($"panel '{p.Title}' has {states[0].Length / 2} jump particles but {ode[0].Length / 2} ODE particles");
            return (States: states, Ode: ode);
        }).ToList();
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"cannot write figure '{path}': folder '{folder}' does not exist");

        FlowFigures.Compose(path, panels.Count, panelSize, panelSize, (i, plot) =>
        {
            var (states, ode) = data[i];
            var panel = panels[i];
            var n = Math.Min(maxParticles, states[0].Length / 2);
            plot.Title(panel.Title, size: PlotFonts.FitSize(panel.Title, 14, panelSize * 0.8f));
            if (ode is not null)
                for (var p = 0; p < n; p++)
                    AddPath(plot, ode, p, Colors.Gray.WithAlpha(0.3), 1f);
            for (var p = 0; p < n; p++)
                AddPath(plot, states, p, Colors.OrangeRed.WithAlpha(0.45), 1f);
            for (var k = 0; k < states.Length; k++)
            {
                var (xs, ys) = Finite(states[k], n);
                var dots = plot.Add.ScatterPoints(xs, ys);
                dots.MarkerSize = 3.5f;
                // Light at the start, dark at the end: the order in which the particle visits the grid times.
                var shade = states.Length == 1 ? 1.0 : (double)k / (states.Length - 1);
                dots.Color = Interpolate(new Color(150, 190, 230), new Color(8, 29, 88), shade);
                dots.LegendText = $"t = {panel.Times[k].ToString("0.###", System.Globalization.CultureInfo.InvariantCulture)}";
            }
            plot.ShowLegend(Alignment.UpperRight);
            plot.Axes.SetLimits(range.Min, range.Max, range.Min, range.Max);
            plot.Axes.SquareUnits();
        });
    }

    /// <summary>
    /// Composes encoded images (e.g. PNG grids from <see cref="ImageGrid.Encode"/>) left to right, top-aligned on white with
    /// <paramref name="gap"/> pixels between them, into one PNG at <paramref name="path"/> (atomically).
    /// </summary>
    /// <exception cref="ArgumentException">No images, bytes that do not decode, a negative gap or a figure wider than <see cref="ImageGrid.MaxSide"/>.</exception>
    /// <exception cref="DirectoryNotFoundException">The folder of <paramref name="path"/> does not exist.</exception>
    public static void SaveSideBySide(string path, IReadOnlyList<byte[]> images, int gap = 16)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(images);
        if (images.Count == 0) throw new ArgumentException("give at least one image");
        if (gap < 0) throw new ArgumentException($"the gap must be >= 0 pixels, got {gap}");
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"cannot write figure '{path}': folder '{folder}' does not exist");
        var bitmaps = new List<SKBitmap>();
        try
        {
            for (var i = 0; i < images.Count; i++)
                bitmaps.Add(SKBitmap.Decode(images[i]) ?? throw new ArgumentException($"image {i + 1} of {images.Count} cannot be decoded"));
            var width = bitmaps.Sum(b => b.Width) + gap * (bitmaps.Count - 1);
            var height = bitmaps.Max(b => b.Height);
            if (width > ImageGrid.MaxSide || height > ImageGrid.MaxSide)
                throw new ArgumentException($"the composed figure would be {width} x {height} pixels, more than {ImageGrid.MaxSide} on a side");
            using var canvasBitmap = new SKBitmap(width, height);
            using (var canvas = new SKCanvas(canvasBitmap))
            {
                canvas.Clear(SKColors.White);
                var x = 0;
                foreach (var b in bitmaps)
                {
                    canvas.DrawBitmap(b, x, 0);
                    x += b.Width + gap;
                }
            }
            using var encoded = canvasBitmap.Encode(SKEncodedImageFormat.Png, 100);
            AtomicFile.Write(path, s => encoded.SaveTo(s));
        }
        finally { foreach (var b in bitmaps) b.Dispose(); }
    }

    // Particle p's path through the states as one line (non-finite positions break nothing: they are skipped).
    private static void AddPath(Plot plot, double[][] states, int p, Color color, float width)
    {
        var xs = new List<double>(states.Length); var ys = new List<double>(states.Length);
        foreach (var s in states)
            if (double.IsFinite(s[2 * p]) && double.IsFinite(s[2 * p + 1])) { xs.Add(s[2 * p]); ys.Add(s[2 * p + 1]); }
        if (xs.Count < 2) return;
        var line = plot.Add.ScatterLine(xs.ToArray(), ys.ToArray());
        line.MarkerSize = 0; line.LineWidth = width; line.Color = color;
    }

    private static (double[] Xs, double[] Ys) Finite(double[] state, int n)
    {
        var xs = new List<double>(n); var ys = new List<double>(n);
        for (var p = 0; p < n; p++)
            if (double.IsFinite(state[2 * p]) && double.IsFinite(state[2 * p + 1])) { xs.Add(state[2 * p]); ys.Add(state[2 * p + 1]); }
        return (xs.ToArray(), ys.ToArray());
    }

    // Each state as interleaved coordinates (x0, y0, x1, y1, ...), all of one particle count.
    private static double[][] Points(IReadOnlyList<Tensor> states, string what)
    {
        var result = new double[states.Count][];
        for (var k = 0; k < states.Count; k++)
        {
            var s = states[k];
            ArgumentNullException.ThrowIfNull(s);
            if (s.dim() != 2 || s.shape[1] != 2) throw new ArgumentException($"{what} needs [n, 2] states, got [{string.Join(",", s.shape)}] at state {k}");
            if (k > 0 && s.shape[0] * 2 != result[0].Length) throw new ArgumentException($"{what}: state {k} has {s.shape[0]} particles, state 0 {result[0].Length / 2}");
            using var cpu = s.detach().to(float64).cpu().contiguous();
            result[k] = cpu.data<double>().ToArray();
        }
        return result;
    }

    private static Color Interpolate(Color a, Color b, double f) =>
        new((byte)Math.Round(a.R + (b.R - a.R) * f), (byte)Math.Round(a.G + (b.G - a.G) * f), (byte)Math.Round(a.B + (b.B - a.B) * f));
}
