using System.Globalization;
using SkiaSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Visualization;

/// <summary>
/// A labelled group of rows in an <see cref="ImagePathFigure"/>: <see cref="Columns"/>[j] holds the k images
/// ([k, c, h, w], brightness in [0, 1]) shown in column j, stacked top to bottom, so image i of every column lines up in
/// one row (e.g. sample i along its path).
/// </summary>
public sealed record ImageRowGroup(string Label, IReadOnlyList<Tensor> Columns);

/// <summary>
/// Images along paths in time, the Eulerian and Lagrangian views for images: one column per time (headed "t = 0.25"),
/// and groups of rows, each under its label — e.g. "interpolant x_t (no model)" (x_t = alpha x0 + beta x1 + gamma z,
/// sampled at each t) above "model ODE path X_t (same x0)" (one ODE solution followed through time). In general: rows of
/// images with labels, columns with headings. Images are pasted exactly (nearest-neighbour upscaling); NaN is refused.
/// </summary>
public static class ImagePathFigure
{
    internal const int Margin = 6, TitleBand = 24, HeadingBand = 20, GroupLabelBand = 20, GroupGap = 8, ColumnGap = 6, RowGap = 2;
    internal const float TitleSize = 15, TextSize = 13;

    /// <summary>"t = 0.25": a time as a column heading (at most two decimals, invariant culture).</summary>
    public static string TimeHeading(double t) => "t = " + t.ToString("0.##", CultureInfo.InvariantCulture);

    /// <summary>
    /// Writes the figure for paths sampled at <paramref name="times"/>: each entry's Path is [T, k, c, h, w] (T = number of
    /// times, k images per time, brightness in [0, 1]) and becomes a group of k rows under its Label.
    /// </summary>
    public static void Save(string path, IReadOnlyList<(string Label, Tensor Path)> paths, IReadOnlyList<double> times, int? scale = null, string? title = null)
    {
        CheckFolder(path);
        ImagePng.Write(path, Encode(paths, times, scale, title), "image path figure");
    }

    /// <summary>The figure of <see cref="Save(string, IReadOnlyList{ValueTuple{string, Tensor}}, IReadOnlyList{double}, int?, string?)"/> as PNG bytes.</summary>
    public static byte[] Encode(IReadOnlyList<(string Label, Tensor Path)> paths, IReadOnlyList<double> times, int? scale = null, string? title = null)
    {
        foreach (var (label, p) in paths)
            if (p.dim() != 5 || p.shape[0] != times.Count)
                throw new ArgumentException($"image path figure: '{label}' must be [T = {times.Count} times, k, channels, height, width], got [{string.Join(",", p.shape)}]");
        using var scope = NewDisposeScope();
        var groups = paths.Select(p => new ImageRowGroup(p.Label, Enumerable.Range(0, times.Count).Select(j => p.Path[j]).ToList())).ToList();
        return Encode(groups, times.Select(TimeHeading).ToList(), scale, title);
    }

    /// <summary>
    /// Writes the figure: one column per heading in <paramref name="columnHeadings"/>, and for each group its label above
    /// its k rows. Every image has the same height and width; each pixel becomes a <paramref name="scale"/> x
    /// <paramref name="scale"/> block (null: <see cref="ImageGrid.DefaultScale"/>).
    /// </summary>
    public static void Save(string path, IReadOnlyList<ImageRowGroup> groups, IReadOnlyList<string> columnHeadings, int? scale = null, string? title = null)
    {
        CheckFolder(path);
        ImagePng.Write(path, Encode(groups, columnHeadings, scale, title), "image path figure");
    }

    /// <summary>The figure of <see cref="Save(string, IReadOnlyList{ImageRowGroup}, IReadOnlyList{string}, int?, string?)"/> as PNG bytes.</summary>
    public static byte[] Encode(IReadOnlyList<ImageRowGroup> groups, IReadOnlyList<string> columnHeadings, int? scale = null, string? title = null)
    {
        if (groups.Count == 0) throw new ArgumentException("image path figure: no row groups");
        if (columnHeadings.Count == 0) throw new ArgumentException("image path figure: no columns");
        var rasters = new List<Raster[][]>(); // [group][column][row]
        foreach (var group in groups)
        {
            if (group.Columns.Count != columnHeadings.Count)
                throw new ArgumentException($"image path figure: group '{group.Label}' has {group.Columns.Count} columns, the headings {columnHeadings.Count}");
            var columns = group.Columns.Select((t, j) => Raster.FromBrightness(t, $"image path figure, '{group.Label}' column {j}")).ToArray();
            if (columns.Any(c => c.Length != columns[0].Length))
                throw new ArgumentException($"image path figure: group '{group.Label}' has columns of different lengths ({string.Join(", ", columns.Select(c => c.Length))} images)");
            rasters.Add(columns);
        }
        var first = rasters[0][0][0];
        var (w, h) = (first.Width, first.Height);
        foreach (var (group, g) in rasters.Select((r, g) => (r, g)))
            if (group.SelectMany(c => c).FirstOrDefault(r => r.Width != w || r.Height != h) is { } odd)
                throw new ArgumentException($"image path figure: group '{groups[g].Label}' has a {odd.Width} x {odd.Height} image, the first group {w} x {h}");
        var s = scale ?? ImageGrid.DefaultScale(h, w);
        if (s is < 1 or > 64) throw new ArgumentException($"image path figure: scale must be 1..64, got {s}");
        var layout = Measure(groups.Select(g => g.Label).ToList(), rasters.Select(r => r[0].Length).ToList(), columnHeadings, w * s, h * s, title);

        using var bitmap = new SKBitmap(new SKImageInfo(layout.Width, layout.Height, SKColorType.Rgba8888, SKAlphaType.Premul));
        using (var canvas = new SKCanvas(bitmap))
        using (var text = new FigureText())
        {
            canvas.Clear(SKColors.White);
            if (title is not null) text.Draw(canvas, title, layout.Width / 2f, Margin + TitleBand / 2f, TitleSize, SKTextAlign.Center);
            for (var j = 0; j < columnHeadings.Count; j++)
                text.Draw(canvas, columnHeadings[j], Margin + j * (w * s + ColumnGap) + w * s / 2f, layout.HeadingTop + HeadingBand / 2f, layout.HeadingSize, SKTextAlign.Center);
            for (var g = 0; g < groups.Count; g++)
                text.Draw(canvas, groups[g].Label, Margin, layout.GroupTops[g] + GroupLabelBand / 2f, TextSize, SKTextAlign.Left);
        }
        var figure = Raster.FromBitmap(bitmap, rasters.Any(g => g.Any(c => c.Any(r => r.Channels == 3))) ? 3 : 1);
        for (var g = 0; g < rasters.Count; g++)
            for (var j = 0; j < rasters[g].Length; j++)
                for (var i = 0; i < rasters[g][j].Length; i++)
                    figure.Paste(rasters[g][j][i], Margin + j * (w * s + ColumnGap), layout.GroupTops[g] + GroupLabelBand + i * (h * s + RowGap), s);
        return ImagePng.Encode(figure);
    }

    /// <summary>The figure's size, where the headings and each group (its label band) start, and the headings' font size.</summary>
    internal sealed record Layout(int Width, int Height, int HeadingTop, int[] GroupTops, float HeadingSize);

    /// <summary>
    /// Width = max(2 margin + T cell + (T - 1) column gap, widest text + 2 margin); height = margin + title band +
    /// heading band + sum over groups of (label band + k cell + (k - 1) row gap) + (groups - 1) group gap + margin.
    /// </summary>
    internal static Layout Measure(IReadOnlyList<string> labels, IReadOnlyList<int> rowsPerGroup, IReadOnlyList<string> headings, int cellWidth, int cellHeight, string? title)
    {
        using var text = new FigureText();
        var columns = headings.Count;
        var width = 2 * Margin + columns * cellWidth + (columns - 1) * ColumnGap;
        foreach (var label in labels) width = Math.Max(width, (int)Math.Ceiling(text.Width(label, TextSize)) + 2 * Margin);
        if (title is not null) width = Math.Max(width, (int)Math.Ceiling(text.Width(title, TitleSize)) + 2 * Margin);
        var headingTop = Margin + (title is null ? 0 : TitleBand);
        var tops = new int[labels.Count];
        var y = headingTop + HeadingBand;
        for (var g = 0; g < labels.Count; g++)
        {
            if (g > 0) y += GroupGap;
            tops[g] = y;
            y += GroupLabelBand + rowsPerGroup[g] * cellHeight + (rowsPerGroup[g] - 1) * RowGap;
        }
        var height = y + Margin;
        if (width > ImageGrid.MaxSide || height > ImageGrid.MaxSide)
            throw new ArgumentException($"image path figure: {width} x {height} pixels is too large (at most {ImageGrid.MaxSide} a side): use fewer images or times, or a smaller scale");
        return new Layout(width, height, headingTop, tops, text.FitSize(headings, TextSize, cellWidth + ColumnGap));
    }

    private static void CheckFolder(string path)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"cannot write image path figure '{path}': folder '{folder}' does not exist");
    }
}
