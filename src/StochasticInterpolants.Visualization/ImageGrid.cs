using SkiaSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Visualization;

/// <summary>
/// How <see cref="ImageGrid"/> lays images out. With no <see cref="Title"/>, <see cref="RowLabels"/>,
/// <see cref="ColumnHeadings"/> or <see cref="Caption"/> the grid is raw: exactly the images, tiled with
/// <see cref="Padding"/> between cells and nothing around them.
/// </summary>
public sealed record ImageGridOptions
{
    /// <summary>Each image pixel becomes Scale x Scale screen pixels (nearest neighbour); null: <see cref="ImageGrid.DefaultScale"/>.</summary>
    public int? Scale { get; init; }
    /// <summary>Pixels between neighbouring cells (after upscaling).</summary>
    public int Padding { get; init; } = 2;
    /// <summary>Brightness in [0, 1] of the padding and of empty cells in the last row (1: white).</summary>
    public double PaddingBrightness { get; init; } = 1.0;
    /// <summary>One label per row, drawn at the left (e.g. class names when rows are classes); null for none.</summary>
    public IReadOnlyList<string>? RowLabels { get; init; }
    /// <summary>One heading per column, drawn above it (e.g. "w = 2" for guidance scales); null for none.</summary>
    public IReadOnlyList<string>? ColumnHeadings { get; init; }
    /// <summary>A title above everything; null for none.</summary>
    public string? Title { get; init; }
    /// <summary>A line of text under the grid (e.g. "t = 0.37" in an animation); null for none.</summary>
    public string? Caption { get; init; }

    /// <summary>True when any text is to be drawn, false for a raw grid.</summary>
    public bool HasText => Title is not null || RowLabels is not null || ColumnHeadings is not null || Caption is not null;
}

/// <summary>
/// Images [n, c, h, w] (brightness in [0, 1], c = 1 grey or 3 RGB) tiled row by row into one PNG: image i sits in row
/// i / columns, column i % columns, each pixel upscaled to a Scale x Scale block. Brightness becomes
/// k = round(255 clamp(x, 0, 1)); NaN is refused. Grey images give a grey PNG.
/// </summary>
public static class ImageGrid
{
    internal const int Margin = 6, TitleBand = 24, HeadingBand = 20, CaptionBand = 20, LabelGap = 6;
    internal const float TitleSize = 15, TextSize = 13;
    /// <summary>Largest width or height of a figure: beyond this a grid is a mistake (too many images or too large a scale).</summary>
    internal const int MaxSide = 16384;

    /// <summary>
    /// The upscaling that shows an h x w image at about 48 pixels or more: s = max(1, ceil(48 / max(h, w)))
    /// (28 x 28 at 56, 8 x 8 at 48, 32 x 32 at 64; 48 and larger as they are).
    /// </summary>
    public static int DefaultScale(int height, int width) => Math.Max(1, (int)Math.Ceiling(48.0 / Math.Max(height, width)));

    /// <summary>Writes the grid of <paramref name="images"/> as a PNG at <paramref name="path"/> (atomically).</summary>
    public static void Save(string path, Tensor images, int columns, ImageGridOptions? options = null)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"cannot write image grid '{path}': folder '{folder}' does not exist");
        ImagePng.Write(path, Encode(images, columns, options), "image grid");
    }

    /// <summary>The grid of <paramref name="images"/> as the bytes of a PNG file (e.g. to embed in a report).</summary>
    public static byte[] Encode(Tensor images, int columns, ImageGridOptions? options = null) =>
        ImagePng.Encode(Render(Raster.FromBrightness(images, "image grid"), columns, options ?? new ImageGridOptions()));

    /// <summary>Where everything goes: the figure's size, the grid's top-left corner, cell sizes and text sizes.</summary>
    internal sealed record Layout(int Width, int Height, int GridLeft, int GridTop, int Scale, int CellWidth, int CellHeight, int Rows, int Columns,
        int GridWidth, int GridHeight, float LabelSize, float HeadingSize);

    internal static Layout Measure(int count, int height, int width, int columns, ImageGridOptions options)
    {
        if (columns < 1) throw new ArgumentException($"image grid: columns must be >= 1, got {columns}");
        var scale = options.Scale ?? DefaultScale(height, width);
        if (scale is < 1 or > 64) throw new ArgumentException($"image grid: scale must be 1..64, got {scale}");
        if (options.Padding is < 0 or > 256) throw new ArgumentException($"image grid: padding must be 0..256 pixels, got {options.Padding}");
        if (!(options.PaddingBrightness is >= 0 and <= 1)) throw new ArgumentException($"image grid: padding brightness must be in [0, 1], got {options.PaddingBrightness}");
        var rows = (count + columns - 1) / columns;
        if (options.RowLabels is { } labels && labels.Count != rows)
            throw new ArgumentException($"image grid: {labels.Count} row labels for {rows} rows ({count} images in {columns} columns)");
        if (options.ColumnHeadings is { } headings && headings.Count != columns)
            throw new ArgumentException($"image grid: {headings.Count} column headings for {columns} columns");
        var (cellWidth, cellHeight, pad) = (width * scale, height * scale, options.Padding);
        var gridWidth = (long)columns * cellWidth + (long)(columns - 1) * pad;
        var gridHeight = (long)rows * cellHeight + (long)(rows - 1) * pad;
        if (gridWidth > MaxSide || gridHeight > MaxSide)
            throw new ArgumentException($"image grid: {gridWidth} x {gridHeight} pixels is too large (at most {MaxSide} a side): use fewer images or columns, or a smaller scale than {scale}");
        var labelSize = Math.Clamp(cellHeight, 8f, TextSize);
        if (!options.HasText)
            return new Layout((int)gridWidth, (int)gridHeight, 0, 0, scale, cellWidth, cellHeight, rows, columns, (int)gridWidth, (int)gridHeight, labelSize, TextSize);
        using var text = new FigureText();
        var headingSize = options.ColumnHeadings is { } h ? text.FitSize(h, TextSize, cellWidth + pad) : TextSize;
        var labelWidth = options.RowLabels is { } l ? (int)Math.Ceiling(l.Select(s => text.Width(s, labelSize)).DefaultIfEmpty(0).Max()) + LabelGap : 0;
        var left = Margin + labelWidth;
        var top = Margin + (options.Title is null ? 0 : TitleBand) + (options.ColumnHeadings is null ? 0 : HeadingBand);
        var figureWidth = left + (int)gridWidth + Margin;
        if (options.Title is { } title) figureWidth = Math.Max(figureWidth, (int)Math.Ceiling(text.Width(title, TitleSize)) + 2 * Margin);
        if (options.Caption is { } caption) figureWidth = Math.Max(figureWidth, (int)Math.Ceiling(text.Width(caption, TextSize)) + 2 * Margin);
        var figureHeight = top + (int)gridHeight + (options.Caption is null ? 0 : CaptionBand) + Margin;
        return new Layout(figureWidth, figureHeight, left, top, scale, cellWidth, cellHeight, rows, columns, (int)gridWidth, (int)gridHeight, labelSize, headingSize);
    }

    /// <summary>
    /// The grid as a raster, grey when every image is grey. Text is drawn first on a white canvas and the images pasted
    /// over their cells afterwards, so that every image pixel appears exactly (no resampling or blending), text or not.
    /// A figure smaller than <paramref name="minWidth"/> x <paramref name="minHeight"/> is extended with white at the
    /// right and bottom (the frames of an animation must all have one size).
    /// </summary>
    internal static Raster Render(IReadOnlyList<Raster> images, int columns, ImageGridOptions options, int minWidth = 0, int minHeight = 0)
    {
        if (images.Count == 0) throw new ArgumentException("image grid: no images");
        var (w, h) = (images[0].Width, images[0].Height);
        var layout = Measure(images.Count, h, w, columns, options);
        var channels = images.Any(i => i.Channels == 3) ? 3 : 1;
        var pad = Raster.ToByte((float)options.PaddingBrightness);
        var (width, height) = (Math.Max(layout.Width, minWidth), Math.Max(layout.Height, minHeight));
        Raster figure;
        if (!options.HasText && width == layout.Width && height == layout.Height) figure = new Raster(channels, width, height, pad);
        else
        {
            using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul));
            using (var canvas = new SKCanvas(bitmap))
            {
                canvas.Clear(SKColors.White);
                DrawText(canvas, layout, options);
            }
            figure = Raster.FromBitmap(bitmap, channels);
            figure.Fill(layout.GridLeft, layout.GridTop, layout.GridWidth, layout.GridHeight, pad);
        }
        for (var i = 0; i < images.Count; i++)
        {
            if (images[i].Width != w || images[i].Height != h) throw new ArgumentException($"image grid: image {i} is {images[i].Width} x {images[i].Height}, image 0 {w} x {h}");
            var (row, column) = (i / columns, i % columns);
            figure.Paste(images[i], layout.GridLeft + column * (layout.CellWidth + options.Padding), layout.GridTop + row * (layout.CellHeight + options.Padding), layout.Scale);
        }
        return figure;
    }

    private static void DrawText(SKCanvas canvas, Layout layout, ImageGridOptions options)
    {
        using var text = new FigureText();
        var pitchX = layout.CellWidth + options.Padding;
        var pitchY = layout.CellHeight + options.Padding;
        if (options.Title is { } title)
            text.Draw(canvas, title, layout.Width / 2f, Margin + TitleBand / 2f, TitleSize, SKTextAlign.Center);
        if (options.ColumnHeadings is { } headings)
            for (var c = 0; c < headings.Count; c++)
                text.Draw(canvas, headings[c], layout.GridLeft + c * pitchX + layout.CellWidth / 2f, layout.GridTop - HeadingBand / 2f, layout.HeadingSize, SKTextAlign.Center);
        if (options.RowLabels is { } labels)
            for (var r = 0; r < labels.Count; r++)
                text.Draw(canvas, labels[r], layout.GridLeft - LabelGap, layout.GridTop + r * pitchY + layout.CellHeight / 2f, layout.LabelSize, SKTextAlign.Right);
        if (options.Caption is { } caption)
            text.Draw(canvas, caption, Margin, layout.GridTop + layout.GridHeight + CaptionBand / 2f, TextSize, SKTextAlign.Left);
    }
}
