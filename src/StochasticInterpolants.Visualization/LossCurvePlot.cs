using StochasticInterpolants.Files;
using StochasticInterpolants.Training;
using ScottPlot;
using SkiaSharp;

namespace StochasticInterpolants.Visualization;

/// <summary>
/// The training loss curve: mean loss per log window against optimiser steps (one line per learned field when several
/// networks were trained), with a logarithmic loss axis when the loss spans more than a decade. With validation, the
/// validation objective joins the loss axes and the validation NLL gets a panel of its own, with the kept step marked.
/// </summary>
public static class LossCurvePlot
{
    /// <summary>Colour of the validation series (not in ScottPlot's default palette, which the loss lines use).</summary>
    internal static readonly Color ValidationColor = Color.FromHex("#c51b7d");

    /// <summary>
    /// Writes the curve of <paramref name="log"/> as a PNG (atomically). When an entry has a
    /// <see cref="LossLogEntry.ValidationObjective"/>, those values are a second series "validation objective" on the
    /// loss axes, with markers at the validated steps. When an entry has a <see cref="LossLogEntry.ValidationNll"/>, a
    /// second panel of the same size is drawn to the right (the image is then 2 x <paramref name="width"/> wide) with the
    /// validation NLL against steps and the kept step marked: <paramref name="keptStep"/> when given, else the step of
    /// the lowest NLL. Without an NLL panel, a given <paramref name="keptStep"/> is marked by a dashed line on the loss axes.
    /// </summary>
    /// <param name="path">PNG file to write; its folder must exist.</param>
    /// <param name="log">The loss log, in step order.</param>
    /// <param name="title">Title of the loss panel.</param>
    /// <param name="partNames">Names of the networks' loss parts; "network i" when missing.</param>
    /// <param name="width">Width of each panel in pixels.</param>
    /// <param name="height">Height of the image in pixels.</param>
    /// <param name="keptStep">The step whose weights were kept, to mark instead of the NLL minimum; null for the minimum.</param>
    /// <exception cref="ArgumentException">An empty log.</exception>
    /// <exception cref="DirectoryNotFoundException">The folder of <paramref name="path"/> does not exist.</exception>
    public static void Save(string path, IReadOnlyList<LossLogEntry> log, string title = "training loss", IReadOnlyList<string>? partNames = null,
        int width = 700, int height = 420, int? keptStep = null)
    {
        if (log.Count == 0) throw new ArgumentException("the loss log is empty: nothing to plot");
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"cannot write figure '{path}': folder '{folder}' does not exist");
        var validated = log.Where(e => e.ValidationObjective is not null).ToArray();
        var withNll = log.Where(e => e.ValidationNll is not null).ToArray();
        using var plot = new Plot();
        if (PlotFonts.Family is { } font) plot.Font.Set(font);
        plot.Title(title);
        var steps = log.Select(e => (double)e.Step).ToArray();
        var series = new List<(string Name, double[] Values)> { ("total", log.Select(e => e.Loss).ToArray()) };
        var parts = log[0].Parts?.Count ?? 0;
        for (var i = 0; i < parts; i++)
            series.Add((partNames is not null && i < partNames.Count ? partNames[i] : $"network {i + 1}", log.Select(e => e.Parts![i]).ToArray()));
        var validationValues = validated.Select(e => e.ValidationObjective!.Value).ToArray();
        var all = series.SelectMany(s => s.Values).Concat(validationValues).Where(double.IsFinite).Where(v => v > 0).ToArray();
        var logScale = all.Length > 0 && all.Max() / all.Min() > 10;
        double[] Scale(double[] values) => logScale ? values.Select(v => v > 0 ? Math.Log10(v) : double.NaN).ToArray() : values;
        plot.XLabel("optimiser step");
        plot.YLabel(logScale ? "mean batch loss (log10)" : "mean batch loss");
        foreach (var (name, values) in series)
        {
            var line = plot.Add.Scatter(steps, Scale(values));
            line.LegendText = name;
            line.MarkerSize = log.Count > 60 ? 0 : 4;
        }
        if (validated.Length > 0)
        {
            var line = plot.Add.Scatter(validated.Select(e => (double)e.Step).ToArray(), Scale(validationValues));
            line.LegendText = "validation objective";
            line.Color = ValidationColor;
            line.LineWidth = 1.5f;
            line.MarkerShape = MarkerShape.FilledCircle;
            line.MarkerSize = validated.Length > 200 ? 3 : 6;
        }
        if (withNll.Length == 0 && keptStep is { } kept)
        {
            var mark = plot.Add.VerticalLine(kept, 1.5f, Colors.Gray, LinePattern.Dashed);
            mark.LegendText = $"kept: step {kept}";
        }
        // Losses fall, so with validation (whose points reach the last steps) the legend goes where the curves are not.
        if (validated.Length > 0) plot.ShowLegend(Alignment.UpperRight);
        else if (series.Count > 1 || (withNll.Length == 0 && keptStep is not null)) plot.ShowLegend();

        var panels = withNll.Length > 0 ? 2 : 1;
        using var surface = SKSurface.Create(new SKImageInfo(panels * width, height)) ?? throw new InvalidOperationException("could not create a drawing surface");
        surface.Canvas.Clear(SKColors.White);
        Draw(surface.Canvas, plot, 0, width, height);
        if (withNll.Length > 0)
        {
            using var nll = NllPlot(withNll, keptStep);
            Draw(surface.Canvas, nll, width, width, height);
        }
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        AtomicFile.Write(path, s => data.SaveTo(s));
    }

    /// <summary>Renders <paramref name="plot"/> on its own surface (Plot.Render clears the canvas it is given) and places it at <paramref name="left"/>.</summary>
    private static void Draw(SKCanvas canvas, Plot plot, int left, int width, int height)
    {
        using var panel = SKSurface.Create(new SKImageInfo(width, height)) ?? throw new InvalidOperationException("could not create a drawing surface");
        plot.Render(panel);
        using var image = panel.Snapshot();
        canvas.DrawImage(image, left, 0);
    }

    /// <summary>The validation NLL against steps (finite values only), with the kept step marked and labelled.</summary>
    private static Plot NllPlot(LossLogEntry[] entries, int? keptStep)
    {
        var plot = new Plot();
        if (PlotFonts.Family is { } font) plot.Font.Set(font);
        var finite = entries.Where(e => double.IsFinite(e.ValidationNll!.Value)).ToArray();
        plot.Title(finite.Length == entries.Length ? "validation NLL (nats)" : $"validation NLL (nats; {entries.Length - finite.Length} non-finite not drawn)");
        plot.XLabel("optimiser step");
        plot.YLabel("NLL (nats per row)");
        if (finite.Length == 0) return plot;
        var xs = finite.Select(e => (double)e.Step).ToArray();
        var ys = finite.Select(e => e.ValidationNll!.Value).ToArray();
        var line = plot.Add.Scatter(xs, ys);
        line.Color = ValidationColor;
        line.LineWidth = 1.5f;
        line.MarkerShape = MarkerShape.FilledCircle;
        line.MarkerSize = finite.Length > 200 ? 3 : 6;
        var best = Array.IndexOf(ys, ys.Min());
        var step = keptStep ?? finite[best].Step;
        var at = Array.FindIndex(finite, e => e.Step == step);
        var label = $"kept: step {step}";
        var yMin = ys.Min(); var yMax = ys.Max();
        var leftHalf = step <= (xs.Min() + xs.Max()) / 2;
        if (at >= 0)
        {
            var marker = plot.Add.Marker(step, ys[at], MarkerShape.OpenCircle, 16, Colors.Black);
            marker.LineWidth = 2;
            var text = plot.Add.Text(label, step, ys[at]);
            text.Alignment = leftHalf ? Alignment.UpperLeft : Alignment.UpperRight;
            text.OffsetX = leftHalf ? 8 : -8;
            text.OffsetY = 8;
            text.LabelFontSize = 13;
            text.LabelBackgroundColor = Colors.White.WithAlpha(0.8);
        }
        else
        {
            // The kept step has no NLL of its own (e.g. kept by the validation objective): mark it with a line.
            plot.Add.VerticalLine(step, 1.5f, Colors.Black, LinePattern.Dashed);
            var text = plot.Add.Text(label, step, yMax);
            text.Alignment = leftHalf ? Alignment.UpperLeft : Alignment.UpperRight;
            text.OffsetX = leftHalf ? 6 : -6;
            text.LabelFontSize = 13;
            text.LabelBackgroundColor = Colors.White.WithAlpha(0.8);
        }
        // Room below the lowest point for the label under the marker.
        var pad = Math.Max(yMax - yMin, Math.Max(Math.Abs(yMax), 1) * 1e-3);
        plot.Axes.AutoScale();
        plot.Axes.SetLimitsY(yMin - 0.2 * pad, yMax + 0.1 * pad);
        return plot;
    }
}
