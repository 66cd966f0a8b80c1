using SkiaSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Visualization;

/// <summary>
/// An 8-bit picture in memory: <see cref="Channels"/> = 1 (grey) or 3 (RGB) values per pixel, rows top to bottom,
/// channels interleaved (index = (y W + x) C + channel). The common currency of the image figures: tensors become rasters,
/// rasters are tiled exactly (no resampling), and text is drawn by SkiaSharp on a bitmap that is read back into one.
/// </summary>
internal sealed class Raster
{
    public Raster(int channels, int width, int height, byte fill)
    {
        if (channels is not (1 or 3)) throw new ArgumentException($"a raster has 1 or 3 channels, got {channels}");
        if (width < 1 || height < 1) throw new ArgumentException($"a raster needs a positive size, got {width} x {height}");
        Channels = channels; Width = width; Height = height;
        Data = new byte[checked(channels * width * height)];
        if (fill != 0) Array.Fill(Data, fill);
    }

    public int Channels { get; }
    public int Width { get; }
    public int Height { get; }
    public byte[] Data { get; }

    /// <summary>
    /// Brightness images [n, c, h, w] (floating point, c = 1 or 3) as rasters, k = round(255 clamp(x, 0, 1)) with ties to
    /// even. NaN has no brightness, so it is refused rather than drawn as some arbitrary grey that would hide a diverged model.
    /// </summary>
    public static Raster[] FromBrightness(Tensor images, string what)
    {
        if (images.dim() != 4 || images.shape.Any(s => s < 1))
            throw new ArgumentException($"{what}: images must be [n, channels, height, width] with every size >= 1, got [{string.Join(",", images.shape)}]");
        if (!images.is_floating_point()) throw new ArgumentException($"{what}: images must be floating-point brightness in [0, 1], got {images.dtype}");
        var (n, c, h, w) = ((int)images.shape[0], (int)images.shape[1], (int)images.shape[2], (int)images.shape[3]);
        if (c is not (1 or 3)) throw new ArgumentException($"{what}: images must have 1 (grey) or 3 (RGB) channels, got {c}");
        float[] values;
        using (var scope = NewDisposeScope())
            values = images.detach().to(ScalarType.Float32).cpu().contiguous().data<float>().ToArray();
        var plane = h * w;
        var rasters = new Raster[n];
        for (var i = 0; i < n; i++)
        {
            var raster = new Raster(c, w, h, 0);
            var from = i * c * plane;
            for (var ch = 0; ch < c; ch++)
                for (var p = 0; p < plane; p++)
                {
                    var v = values[from + ch * plane + p];
                    if (float.IsNaN(v))
                    {
                        var bad = Enumerable.Range(0, n).Count(j => HasNaN(values.AsSpan(j * c * plane, c * plane)));
                        throw new ArgumentException($"{what}: image {i} has NaN brightness at channel {ch}, row {p / w}, column {p % w} ({bad} of {n} images have NaN): nothing to draw");
                    }
                    raster.Data[p * c + ch] = ToByte(v);
                }
            rasters[i] = raster;
        }
        return rasters;
    }

    private static bool HasNaN(ReadOnlySpan<float> values)
    {
        foreach (var v in values) if (float.IsNaN(v)) return true;
        return false;
    }

    /// <summary>k = round(255 clamp(x, 0, 1)), ties to even.</summary>
    internal static byte ToByte(float brightness) => (byte)MathF.Round(Math.Clamp(brightness, 0f, 1f) * 255f, MidpointRounding.ToEven);

    /// <summary>Pixels uint8 [c, h, w] (c = 1 or 3) as a raster, values as they are.</summary>
    public static Raster FromPixels(Tensor pixels, string what)
    {
        if (pixels.dim() != 3 || pixels.shape.Any(s => s < 1))
            throw new ArgumentException($"{what}: pixels must be [channels, height, width] with every size >= 1, got [{string.Join(",", pixels.shape)}]");
        if (pixels.dtype != ScalarType.Byte) throw new ArgumentException($"{what}: pixels must be uint8, got {pixels.dtype}");
        var (c, h, w) = ((int)pixels.shape[0], (int)pixels.shape[1], (int)pixels.shape[2]);
        if (c is not (1 or 3)) throw new ArgumentException($"{what}: pixels must have 1 (grey) or 3 (RGB) channels, got {c}");
        byte[] values;
        using (var scope = NewDisposeScope())
            values = pixels.detach().cpu().contiguous().data<byte>().ToArray();
        var raster = new Raster(c, w, h, 0);
        var plane = h * w;
        for (var ch = 0; ch < c; ch++)
            for (var p = 0; p < plane; p++)
                raster.Data[p * c + ch] = values[ch * plane + p];
        return raster;
    }

    /// <summary>
    /// Copies <paramref name="image"/> with its top-left corner at (<paramref name="left"/>, <paramref name="top"/>), each pixel
    /// becoming a <paramref name="scale"/> x <paramref name="scale"/> block (nearest neighbour: no new values are invented).
    /// A grey image pasted into an RGB raster is repeated in all three channels.
    /// </summary>
    public void Paste(Raster image, int left, int top, int scale = 1)
    {
        if (image.Channels == 3 && Channels == 1) throw new ArgumentException("cannot paste an RGB image into a grey raster");
        if (left < 0 || top < 0 || left + image.Width * scale > Width || top + image.Height * scale > Height)
            throw new ArgumentException($"a {image.Width} x {image.Height} image at scale {scale} does not fit at ({left}, {top}) in {Width} x {Height}");
        for (var y = 0; y < image.Height * scale; y++)
        {
            var sourceRow = (y / scale) * image.Width;
            var targetRow = (top + y) * Width + left;
            for (var x = 0; x < image.Width * scale; x++)
            {
                var s = (sourceRow + x / scale) * image.Channels;
                var t = (targetRow + x) * Channels;
                for (var ch = 0; ch < Channels; ch++) Data[t + ch] = image.Data[s + (image.Channels == 1 ? 0 : ch)];
            }
        }
    }

    /// <summary>Sets every channel of the rectangle at (<paramref name="left"/>, <paramref name="top"/>) to <paramref name="value"/>.</summary>
    public void Fill(int left, int top, int width, int height, byte value)
    {
        for (var y = top; y < top + height; y++) Array.Fill(Data, value, (y * Width + left) * Channels, width * Channels);
    }

    /// <summary>This raster on a larger canvas of <paramref name="fill"/>, at the top-left corner (frames of one animation must share a size).</summary>
    public Raster Extend(int width, int height, byte fill)
    {
        if (width == Width && height == Height) return this;
        var larger = new Raster(Channels, Math.Max(width, Width), Math.Max(height, Height), fill);
        larger.Paste(this, 0, 0);
        return larger;
    }

    /// <summary>An opaque RGBA bitmap (byte order fixed as R, G, B, A on every platform) for drawing text over.</summary>
    public SKBitmap ToBitmap()
    {
        var bitmap = new SKBitmap(new SKImageInfo(Width, Height, SKColorType.Rgba8888, SKAlphaType.Premul));
        var row = new byte[Width * 4];
        var (start, rowBytes) = (bitmap.GetPixels(), bitmap.RowBytes);
        for (var y = 0; y < Height; y++)
        {
            for (var x = 0; x < Width; x++)
            {
                var s = (y * Width + x) * Channels;
                row[4 * x] = Data[s];
                row[4 * x + 1] = Data[s + (Channels == 1 ? 0 : 1)];
                row[4 * x + 2] = Data[s + (Channels == 1 ? 0 : 2)];
                row[4 * x + 3] = 255;
            }
            System.Runtime.InteropServices.Marshal.Copy(row, 0, start + y * rowBytes, row.Length);
        }
        return bitmap;
    }

    /// <summary>
    /// The pixels of an opaque <paramref name="bitmap"/> as a raster of <paramref name="channels"/>; grey takes the red
    /// channel, which is exact for the black text on white that these figures draw (antialiased grey has R = G = B).
    /// </summary>
    public static Raster FromBitmap(SKBitmap bitmap, int channels)
    {
        using var rgba = bitmap.ColorType == SKColorType.Rgba8888 ? null : bitmap.Copy(SKColorType.Rgba8888);
        var source = rgba ?? bitmap;
        // Width, Height and RowBytes are native calls: read them once, not per pixel.
        var (width, height, rowBytes) = (source.Width, source.Height, source.RowBytes);
        var raster = new Raster(channels, width, height, 0);
        var pixels = source.GetPixelSpan();
        for (var y = 0; y < height; y++)
            for (var x = 0; x < width; x++)
            {
                var s = y * rowBytes + 4 * x;
                var t = (y * width + x) * channels;
                for (var ch = 0; ch < channels; ch++) raster.Data[t + ch] = pixels[s + ch];
            }
        return raster;
    }
}

/// <summary>Text for the image figures: black, in the figure font (<see cref="PlotFonts"/>), measured and placed by SkiaSharp.</summary>
internal sealed class FigureText : IDisposable
{
    private readonly SKTypeface _typeface = SKTypeface.FromFamilyName(PlotFonts.Family ?? "DejaVu Sans");
    private readonly SKPaint _paint = new() { Color = SKColors.Black, IsAntialias = true };

    public float Width(string text, float size)
    {
        using var font = new SKFont(_typeface, size);
        return font.MeasureText(text);
    }

    /// <summary>The largest size up to <paramref name="preferred"/> (and no smaller than 8) at which every one of <paramref name="texts"/> fits in <paramref name="maxWidth"/>.</summary>
    public float FitSize(IEnumerable<string> texts, float preferred, float maxWidth) =>
        texts.Select(t => PlotFonts.FitSize(t, preferred, maxWidth)).DefaultIfEmpty(preferred).Min();

    /// <summary>
    /// Draws <paramref name="text"/> vertically centred on <paramref name="centreY"/>; <paramref name="align"/> says whether
    /// <paramref name="x"/> is its left end, centre or right end.
    /// </summary>
    public void Draw(SKCanvas canvas, string text, float x, float centreY, float size, SKTextAlign align)
    {
        using var font = new SKFont(_typeface, size) { Edging = SKFontEdging.Antialias };
        var metrics = font.Metrics;
        // Ascent is negative (above the baseline): this baseline puts the middle of the glyph box on centreY.
        var baseline = centreY - (metrics.Ascent + metrics.Descent) / 2;
        canvas.DrawText(text, x, baseline, align, font, _paint);
    }

    public void Dispose() { _paint.Dispose(); _typeface.Dispose(); }
}
