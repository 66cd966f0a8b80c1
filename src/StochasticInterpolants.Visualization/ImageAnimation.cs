using System.Globalization;
using static TorchSharp.torch;

namespace StochasticInterpolants.Visualization;

/// <summary>How <see cref="ImageAnimation"/> draws and times its frames.</summary>
public sealed record ImageAnimationOptions
{
    /// <summary>How long each frame is shown, in milliseconds (1..65535).</summary>
    public int FrameMilliseconds { get; init; } = 80;
    /// <summary>How long the last frame (the finished images) is shown before the loop restarts.</summary>
    public int LastFrameMilliseconds { get; init; } = 1500;
    /// <summary>Upscaling of each image pixel (nearest neighbour); null: <see cref="ImageGrid.DefaultScale"/>.</summary>
    public int? Scale { get; init; }
    /// <summary>Pixels between neighbouring cells.</summary>
    public int Padding { get; init; } = 2;
    /// <summary>A title above the grid in every frame; null for none.</summary>
    public string? Title { get; init; }
    /// <summary>One label per row (e.g. the class each row was generated for); null for none.</summary>
    public IReadOnlyList<string>? RowLabels { get; init; }
    /// <summary>Where to write the last frame also as a plain PNG (for print); null for nowhere.</summary>
    public string? StillPath { get; init; }
}

/// <summary>
/// An animated PNG of noise turning into images: frame k is the grid of the ODE (or SDE) states X_{t_k} ([n, c, h, w],
/// brightness in [0, 1]) captioned "t = 0.37", all frames one size; the last is held longer. Frames are PNG-encoded by
/// <see cref="ImagePng"/> (one byte per pixel for grey images, rows filtered so that upscaled blocks compress to little),
/// which keeps 64 images of 28 x 28 over 40 frames at a couple of megabytes.
/// </summary>
public static class ImageAnimation
{
    /// <summary>"t = 0.37": a frame's caption (two decimals, so the caption keeps its width as t runs; invariant culture).</summary>
    public static string TimeCaption(double t) => "t = " + t.ToString("0.00", CultureInfo.InvariantCulture);

    /// <summary>
    /// Writes the animation of <paramref name="frames"/>[k] at <paramref name="times"/>[k] (all frames the same shape),
    /// each a grid of <paramref name="columns"/> columns, as an APNG at <paramref name="path"/> (atomically).
    /// </summary>
    public static void Save(string path, IReadOnlyList<Tensor> frames, IReadOnlyList<double> times, int columns, ImageAnimationOptions? options = null)
    {
        var o = options ?? new ImageAnimationOptions();
        if (frames.Count == 0) throw new ArgumentException("image animation: no frames");
        if (times.Count != frames.Count) throw new ArgumentException($"image animation: {times.Count} times for {frames.Count} frames");
        if (o.FrameMilliseconds is < 1 or > 65535) throw new ArgumentException($"image animation: frame time must be 1..65535 ms, got {o.FrameMilliseconds}");
        if (o.LastFrameMilliseconds is < 1 or > 65535) throw new ArgumentException($"image animation: last frame time must be 1..65535 ms, got {o.LastFrameMilliseconds}");
        if (frames[0].dim() != 4) throw new ArgumentException($"image animation: frames must be [n, channels, height, width], got [{string.Join(",", frames[0].shape)}]");
        for (var k = 1; k < frames.Count; k++)
            if (!frames[k].shape.SequenceEqual(frames[0].shape))
                throw new ArgumentException($"image animation: frame {k} is [{string.Join(",", frames[k].shape)}], frame 0 [{string.Join(",", frames[0].shape)}]");
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"cannot write animation '{path}': folder '{folder}' does not exist");

        ImageGridOptions Grid(int k) => new()
        {
            Scale = o.Scale, Padding = o.Padding, Title = o.Title, RowLabels = o.RowLabels, Caption = TimeCaption(times[k]),
        };
        var (n, h, w) = ((int)frames[0].shape[0], (int)frames[0].shape[^2], (int)frames[0].shape[^1]);
        // Captions differ in width (t = 10.00 is wider than t = 0.50), so every frame takes the largest frame's size.
        var layouts = Enumerable.Range(0, frames.Count).Select(k => ImageGrid.Measure(n, h, w, columns, Grid(k))).ToList();
        var (width, height) = (layouts.Max(l => l.Width), layouts.Max(l => l.Height));
        var encoded = new List<byte[]>(frames.Count);
        for (var k = 0; k < frames.Count; k++)
        {
            var images = Raster.FromBrightness(frames[k], $"image animation, frame {k} (t = {times[k].ToString(CultureInfo.InvariantCulture)})");
            encoded.Add(ImagePng.Encode(ImageGrid.Render(images, columns, Grid(k), width, height)));
        }
        var delays = Enumerable.Range(0, frames.Count).Select(k => k == frames.Count - 1 ? o.LastFrameMilliseconds : o.FrameMilliseconds).ToList();
        ApngWriter.Write(path, encoded, delays, o.StillPath);
    }
}
