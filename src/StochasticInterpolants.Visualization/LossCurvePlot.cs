using StochasticInterpolants.Files;
using StochasticInterpolants.Training;
using ScottPlot;
using SkiaSharp;

namespace StochasticInterpolants.Visualization;

/// <summary>
/// The training loss curve: mean loss per log window against optimiser steps (one line per learned field when several
/// networks were trained), with a logarithmic loss axis when the loss spans more than a decade.
/// </summary>
public static class LossCurvePlot
{
    /// <summary>Writes the curve of <paramref name="log"/> as a PNG (atomically).</summary>
    public static void Save(string path, IReadOnlyList<LossLogEntry> log, string title = "training loss", IReadOnlyList<string>? partNames = null,
        int width = 700, int height = 420)
    {
        if (log.Count == 0) throw new ArgumentException("the loss log is empty: nothing to plot");
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"cannot write figure '{path}': folder '{folder}' does not exist");
        using var plot = new Plot();
        if (PlotFonts.Family is { } font) plot.Font.Set(font);
        plot.Title(title);
        var steps = log.Select(e => (double)e.Step).ToArray();
        var series = new List<(string Name, double[] Values)> { ("total", log.Select(e => e.Loss).ToArray()) };
        var parts = log[0].Parts?.Count ?? 0;
        for (var i = 0; i < parts; i++)
            series.Add((partNames is not null && i < partNames.Count ? partNames[i] : $"network {i + 1}", log.Select(e => e.Parts![i]).ToArray()));
        var all = series.SelectMany(s => s.Values).Where(double.IsFinite).Where(v => v > 0).ToArray();
        var logScale = all.Length > 0 && all.Max() / all.Min() > 10;
        plot.XLabel("optimiser step");
        plot.YLabel(logScale ? "mean batch loss (log10)" : "mean batch loss");
        foreach (var (name, values) in series)
        {
            var ys = logScale ? values.Select(v => v > 0 ? Math.Log10(v) : double.NaN).ToArray() : values;
            var line = plot.Add.Scatter(steps, ys);
            line.LegendText = name;
            line.MarkerSize = log.Count > 60 ? 0 : 4;
        }
        if (series.Count > 1) plot.ShowLegend();
        using var surface = SKSurface.Create(new SKImageInfo(width, height)) ?? throw new InvalidOperationException("could not create a drawing surface");
        plot.Render(surface);
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        AtomicFile.Write(path, s => data.SaveTo(s));
    }
}
