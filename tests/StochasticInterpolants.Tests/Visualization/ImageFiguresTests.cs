using SkiaSharp;
using StochasticInterpolants.Visualization;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Visualization;

/// <summary>Helpers shared by the image figure tests.</summary>
internal static class ImagePixels
{
    public static bool Dark(SKColor c) => c.Red + c.Green + c.Blue < 300;

    public static int Count(SKBitmap bitmap, int x0, int x1, int y0, int y1, Func<SKColor, bool> test)
    {
        var count = 0;
        for (var x = x0; x < x1; x++) for (var y = y0; y < y1; y++) if (test(bitmap.GetPixel(x, y))) count++;
        return count;
    }

    /// <summary>The PNG colour type in the IHDR chunk (byte 25 of the file): 0 grey, 2 RGB, 6 RGBA.</summary>
    public static byte ColourType(byte[] png) => png[25];

    /// <summary>Grey brightness images [n, 1, h, w] whose bytes are exactly <paramref name="value"/>(i, y, x) after k = round(255 x).</summary>
    public static Tensor Grey(int n, int h, int w, Func<int, int, int, int> value)
    {
        var data = new float[n * h * w];
        for (var i = 0; i < n; i++) for (var y = 0; y < h; y++) for (var x = 0; x < w; x++) data[(i * h + y) * w + x] = value(i, y, x) / 255f;
        return tensor(data, [n, 1, h, w]);
    }
}

public sealed class ImagePngTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-imgpng-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void Grey_pixels_round_trip_exactly_as_an_8_bit_grey_png()
    {
        // 37 x 41 so that rows are not aligned to anything; a gradient, a random patch and flat areas push the encoder
        // through all five row filters.
        using var g = new Generator(3);
        using var pixels = zeros([1, 37, 41], ScalarType.Byte);
        using (var noise = randint(0, 256, [1, 10, 41], dtype: ScalarType.Byte, generator: g)) pixels[.., 20..30, ..] = noise;
        for (var y = 0; y < 20; y++) for (var x = 0; x < 41; x++) pixels[0, y, x] = (byte)((3 * x + 7 * y) % 256);
        var png = ImagePng.Encode(pixels);
        Assert.Equal(0, ImagePixels.ColourType(png));
        using var bitmap = SKBitmap.Decode(png);
        Assert.Equal(41, bitmap.Width); Assert.Equal(37, bitmap.Height);
        var expected = pixels.data<byte>().ToArray();
        for (var y = 0; y < 37; y++)
            for (var x = 0; x < 41; x++)
            {
                var c = bitmap.GetPixel(x, y);
                Assert.True(c.Red == expected[y * 41 + x] && c.Green == c.Red && c.Blue == c.Red, $"pixel ({x}, {y}) is {c}, expected grey {expected[y * 41 + x]}");
            }
    }

    [Fact]
    public void Rgb_pixels_round_trip_exactly_and_save_writes_atomically()
    {
        using var g = new Generator(4);
        using var pixels = randint(0, 256, [3, 9, 14], dtype: ScalarType.Byte, generator: g);
        var path = Path.Combine(_dir, "rgb.png");
        ImagePng.Save(path, pixels);
        var png = File.ReadAllBytes(path);
        Assert.Equal(2, ImagePixels.ColourType(png));
        using var bitmap = SKBitmap.Decode(png);
        Assert.Equal(14, bitmap.Width); Assert.Equal(9, bitmap.Height);
        var v = pixels.data<byte>().ToArray();
        for (var y = 0; y < 9; y++)
            for (var x = 0; x < 14; x++)
                Assert.Equal(new SKColor(v[y * 14 + x], v[126 + y * 14 + x], v[252 + y * 14 + x]), bitmap.GetPixel(x, y));
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));
        Assert.Throws<DirectoryNotFoundException>(() => ImagePng.Save(Path.Combine(_dir, "no", "x.png"), pixels));
    }

    [Fact]
    public void Wrong_dtype_or_channel_count_is_refused()
    {
        using var floats = zeros(1, 4, 4);
        Assert.Contains("uint8", Assert.Throws<ArgumentException>(() => ImagePng.Encode(floats)).Message);
        using var two = zeros([2, 4, 4], ScalarType.Byte);
        Assert.Contains("channels", Assert.Throws<ArgumentException>(() => ImagePng.Encode(two)).Message);
        using var flat = zeros([16], ScalarType.Byte);
        Assert.Throws<ArgumentException>(() => ImagePng.Encode(flat));
    }
}

public sealed class ImageGridTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-imggrid-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void Raw_grid_places_image_i_at_row_i_over_columns_and_column_i_mod_columns()
    {
        // 5 images of 3 x 2 in 2 columns with 1 pixel of padding: 3 rows, the last cell empty.
        static int Value(int i, int y, int x) => (i * 6 + y * 2 + x + 1) * 7;
        using var images = ImagePixels.Grey(5, 3, 2, Value);
        var png = ImageGrid.Encode(images, 2, new ImageGridOptions { Scale = 1, Padding = 1, PaddingBrightness = 0.2 });
        Assert.Equal(0, ImagePixels.ColourType(png));
        using var bitmap = SKBitmap.Decode(png);
        Assert.Equal(2 * 2 + 1, bitmap.Width); Assert.Equal(3 * 3 + 2, bitmap.Height);
        const byte pad = 51; // round(255 * 0.2)
        for (var y = 0; y < bitmap.Height; y++)
            for (var x = 0; x < bitmap.Width; x++)
            {
                var (row, inY) = (y / 4, y % 4); var (column, inX) = (x / 3, x % 3);
                var i = row * 2 + column;
                var expected = inY == 3 || inX == 2 || i >= 5 ? pad : Value(i, inY, inX);
                Assert.True(bitmap.GetPixel(x, y).Red == expected, $"pixel ({x}, {y}) is {bitmap.GetPixel(x, y).Red}, expected {expected}");
            }
    }

    [Fact]
    public void Upscaling_is_nearest_neighbour_and_rgb_stays_rgb()
    {
        using var images = tensor(new float[] { 1, 0, 0, 0.5f, /* G */ 0, 1, 0, 0.5f, /* B */ 0, 0, 1, 0.25f }, [1, 3, 2, 2]);
        var png = ImageGrid.Encode(images, 1, new ImageGridOptions { Scale = 3 });
        Assert.Equal(2, ImagePixels.ColourType(png));
        using var bitmap = SKBitmap.Decode(png);
        Assert.Equal(6, bitmap.Width); Assert.Equal(6, bitmap.Height);
        SKColor[] source = [new(255, 0, 0), new(0, 255, 0), new(0, 0, 255), new(128, 128, 64)];
        for (var y = 0; y < 6; y++) for (var x = 0; x < 6; x++) Assert.Equal(source[(y / 3) * 2 + x / 3], bitmap.GetPixel(x, y));
    }

    [Fact]
    public void Brightness_outside_0_1_is_clamped_and_nan_is_refused()
    {
        using var images = tensor(new[] { -0.5f, 1.7f, float.PositiveInfinity, float.NegativeInfinity, 0.5f, 0.2f }, [1, 1, 1, 6]);
        using var bitmap = SKBitmap.Decode(ImageGrid.Encode(images, 1, new ImageGridOptions { Scale = 1 }));
        Assert.Equal(new byte[] { 0, 255, 255, 0, 128, 51 }, Enumerable.Range(0, 6).Select(x => bitmap.GetPixel(x, 0).Red).ToArray());
        using var bad = zeros(4, 1, 3, 3);
        bad[2, 0, 1, 2] = float.NaN; bad[3, 0, 0, 0] = float.NaN;
        var error = Assert.Throws<ArgumentException>(() => ImageGrid.Save(Path.Combine(_dir, "nan.png"), bad, 2));
        Assert.Contains("image 2 has NaN", error.Message);
        Assert.Contains("2 of 4 images", error.Message);
        Assert.False(File.Exists(Path.Combine(_dir, "nan.png")));
    }

    [Fact]
    public void Default_scale_shows_small_images_at_about_48_to_84_pixels()
    {
        Assert.Equal(2, ImageGrid.DefaultScale(28, 28));
        Assert.Equal(6, ImageGrid.DefaultScale(8, 8));
        Assert.Equal(2, ImageGrid.DefaultScale(32, 32));
        Assert.Equal(1, ImageGrid.DefaultScale(64, 64));
        foreach (var side in new[] { 8, 10, 16, 20, 28, 32, 40 })
            Assert.InRange(side * ImageGrid.DefaultScale(side, side), 48, 84);
        using var images = zeros(3, 1, 8, 8);
        using var bitmap = SKBitmap.Decode(ImageGrid.Encode(images, 3, new ImageGridOptions { Padding = 0 }));
        Assert.Equal(3 * 48, bitmap.Width); Assert.Equal(48, bitmap.Height);
    }

    [Fact]
    public void Row_labels_headings_and_title_are_drawn_as_text_around_exact_images()
    {
        Assert.True(PlotFonts.HasFonts, PlotFonts.MissingFontsWarning);
        // 6 mid-grey images (brightness 0.6, byte 153: not "dark") in 2 rows of 3.
        using var images = full(6, 1, 8, 8, 0.6f);
        var options = new ImageGridOptions
        {
            Scale = 4, RowLabels = ["Sneaker", "Ankle boot"], ColumnHeadings = ["w = 0", "w = 1", "w = 3"], Title = "class-conditional samples",
        };
        var path = Path.Combine(_dir, "labelled.png");
        ImageGrid.Save(path, images, 3, options);
        using var bitmap = SKBitmap.Decode(File.ReadAllBytes(path));
        var layout = ImageGrid.Measure(6, 8, 8, 3, options);
        Assert.Equal(layout.Width, bitmap.Width); Assert.Equal(layout.Height, bitmap.Height);
        Assert.Equal(ImageGrid.Margin + ImageGrid.TitleBand + ImageGrid.HeadingBand, layout.GridTop);
        Assert.True(layout.GridLeft > ImageGrid.Margin + 40, $"the label column is only {layout.GridLeft} pixels wide for 'Ankle boot'");
        // The images are pasted exactly, the padding is white.
        for (var i = 0; i < 6; i++)
        {
            var (x, y) = (layout.GridLeft + i % 3 * (32 + 2), layout.GridTop + i / 3 * (32 + 2));
            Assert.Equal(153, bitmap.GetPixel(x, y).Red); Assert.Equal(153, bitmap.GetPixel(x + 31, y + 31).Red);
        }
        Assert.Equal(SKColors.White, bitmap.GetPixel(layout.GridLeft + 32, layout.GridTop));
        // Dark glyphs in the label column beside each row, in the heading band over each column, in the title band.
        for (var r = 0; r < 2; r++)
            Assert.True(ImagePixels.Count(bitmap, 0, layout.GridLeft, layout.GridTop + r * 34, layout.GridTop + r * 34 + 32, ImagePixels.Dark) > 15, $"no label beside row {r}");
        for (var c = 0; c < 3; c++)
            Assert.True(ImagePixels.Count(bitmap, layout.GridLeft + c * 34, layout.GridLeft + c * 34 + 32, layout.GridTop - ImageGrid.HeadingBand, layout.GridTop, ImagePixels.Dark) > 10, $"no heading over column {c}");
        Assert.True(ImagePixels.Count(bitmap, 0, bitmap.Width, 0, ImageGrid.Margin + ImageGrid.TitleBand, ImagePixels.Dark) > 50, "no title");
        // Without text, the same images give the raw grid: no margins, nothing dark.
        using var raw = SKBitmap.Decode(ImageGrid.Encode(images, 3, new ImageGridOptions { Scale = 4 }));
        Assert.Equal((3 * 32 + 2 * 2, 2 * 32 + 2), (raw.Width, raw.Height));
        Assert.Equal(0, ImagePixels.Count(raw, 0, raw.Width, 0, raw.Height, ImagePixels.Dark));
    }

    [Fact]
    public void Label_and_heading_counts_must_match_the_grid()
    {
        using var images = zeros(5, 1, 4, 4);
        Assert.Contains("2 row labels for 3 rows", Assert.Throws<ArgumentException>(() => ImageGrid.Encode(images, 2, new ImageGridOptions { RowLabels = ["a", "b"] })).Message);
        Assert.Contains("3 column headings for 2 columns", Assert.Throws<ArgumentException>(() => ImageGrid.Encode(images, 2, new ImageGridOptions { ColumnHeadings = ["a", "b", "c"] })).Message);
        Assert.Throws<ArgumentException>(() => ImageGrid.Encode(images, 0));
        using var twoChannels = zeros(1, 2, 4, 4);
        Assert.Contains("channels", Assert.Throws<ArgumentException>(() => ImageGrid.Encode(twoChannels, 1)).Message);
        Assert.Throws<DirectoryNotFoundException>(() => ImageGrid.Save(Path.Combine(_dir, "no", "g.png"), images, 2));
    }
}

public sealed class ImagePathFigureTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-imgpath-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void Figure_has_one_column_per_time_and_k_rows_per_group_with_text()
    {
        double[] times = [0, 0.25, 0.5, 0.75, 1];
        // Image i of group g at time j has brightness byte 20 + 40 j + 5 i + 100 g (all distinct, none dark for g = 1).
        Tensor Path5(int g, int k)
        {
            var data = new float[5 * k * 8 * 8];
            for (var j = 0; j < 5; j++) for (var i = 0; i < k; i++) Array.Fill(data, (20 + 40 * j + 5 * i + (g == 1 ? 25 : 0)) / 255f, (j * k + i) * 64, 64);
            return tensor(data, [5, k, 1, 8, 8]);
        }
        using var interpolant = Path5(0, 2);
        using var model = Path5(1, 3);
        var path = Path.Combine(_dir, "paths.png");
        ImagePathFigure.Save(path, [("x_t", interpolant), ("X_t", model)], times, scale: 2);
        using var bitmap = SKBitmap.Decode(File.ReadAllBytes(path));
        const int cell = 16, m = ImagePathFigure.Margin;
        Assert.Equal(2 * m + 5 * cell + 4 * ImagePathFigure.ColumnGap, bitmap.Width);
        var group0 = ImagePathFigure.GroupLabelBand + 2 * cell + ImagePathFigure.RowGap;
        var group1 = ImagePathFigure.GroupLabelBand + 3 * cell + 2 * ImagePathFigure.RowGap;
        Assert.Equal(m + ImagePathFigure.HeadingBand + group0 + ImagePathFigure.GroupGap + group1 + m, bitmap.Height);
        // Every image where the layout says, with its exact brightness.
        var top = new[] { m + ImagePathFigure.HeadingBand, m + ImagePathFigure.HeadingBand + group0 + ImagePathFigure.GroupGap };
        for (var g = 0; g < 2; g++)
            for (var j = 0; j < 5; j++)
                for (var i = 0; i < 2 + g; i++)
                {
                    var (x, y) = (m + j * (cell + ImagePathFigure.ColumnGap), top[g] + ImagePathFigure.GroupLabelBand + i * (cell + ImagePathFigure.RowGap));
                    var expected = 20 + 40 * j + 5 * i + (g == 1 ? 25 : 0);
                    Assert.Equal(expected, bitmap.GetPixel(x, y).Red); Assert.Equal(expected, bitmap.GetPixel(x + cell - 1, y + cell - 1).Red);
                }
        // Headings over the columns and each group's label in its band are drawn as text.
        Assert.True(ImagePixels.Count(bitmap, 0, bitmap.Width, m, m + ImagePathFigure.HeadingBand, ImagePixels.Dark) > 40, "no column headings");
        foreach (var t in top) Assert.True(ImagePixels.Count(bitmap, 0, bitmap.Width, t, t + ImagePathFigure.GroupLabelBand, ImagePixels.Dark) > 10, $"no group label at y = {t}");
        Assert.Equal("t = 0.25", ImagePathFigure.TimeHeading(0.25));
        Assert.Equal("t = 1", ImagePathFigure.TimeHeading(1));
    }

    [Fact]
    public void Long_labels_and_titles_widen_the_figure_and_bad_shapes_are_refused()
    {
        using var a = zeros([1, 1, 1, 8, 8]);
        using var wide = SKBitmap.Decode(ImagePathFigure.Encode([("model ODE path X_t (same x0)", a)], [0.5], scale: 1, title: "noise to images"));
        Assert.True(wide.Width > 150, $"width {wide.Width} cannot hold the label");
        Assert.Equal(ImagePathFigure.Margin + ImagePathFigure.TitleBand + ImagePathFigure.HeadingBand + ImagePathFigure.GroupLabelBand + 8 + ImagePathFigure.Margin, wide.Height);
        Assert.Contains("[T = 2 times", Assert.Throws<ArgumentException>(() => ImagePathFigure.Encode([("x", a)], [0, 1])).Message);
        using var b = zeros(2, 1, 8, 8); using var c = zeros(3, 1, 8, 8);
        Assert.Contains("different lengths", Assert.Throws<ArgumentException>(() => ImagePathFigure.Encode([new ImageRowGroup("g", [b, c])], ["t = 0", "t = 1"])).Message);
        Assert.Contains("2 columns, the headings 3", Assert.Throws<ArgumentException>(() => ImagePathFigure.Encode([new ImageRowGroup("g", [b, b])], ["a", "b", "c"])).Message);
        using var nan = full(2, 1, 8, 8, float.NaN);
        Assert.Contains("NaN", Assert.Throws<ArgumentException>(() => ImagePathFigure.Encode([new ImageRowGroup("g", [b, nan])], ["a", "b"])).Message);
    }
}

public sealed class ImageAnimationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-imganim-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    /// <summary>Frames of noise turning into a smooth pattern: x_t = (1 - t) noise + t pattern, brightness (x + 1) / 2.</summary>
    private static List<Tensor> NoiseToImages(int frames, int n, int side, double[] times)
    {
        using var g = new Generator(5);
        using var noise = randn([n, 1, side, side], generator: g);
        using var ramp = linspace(-1, 1, side);
        using var pattern = (ramp.unsqueeze(0) * ramp.unsqueeze(1)).expand(n, 1, side, side);
        return times.Select(t => ((1 - t) * noise + t * pattern + 1) / 2).Select(x => x.DetachFromDisposeScope()).ToList();
    }

    [Fact]
    public void Animation_is_an_apng_with_one_control_chunk_per_frame_and_a_held_last_frame()
    {
        double[] times = [0, 1.0 / 3, 2.0 / 3, 1];
        var frames = NoiseToImages(4, 6, 8, times);
        try
        {
            var path = Path.Combine(_dir, "anim.png"); var still = Path.Combine(_dir, "still.png");
            ImageAnimation.Save(path, frames, times, 3, new ImageAnimationOptions { Scale = 2, FrameMilliseconds = 50, LastFrameMilliseconds = 700, StillPath = still });
            Assert.Equal(4, ApngWriter.FrameCount(path));
            var bytes = File.ReadAllBytes(path);
            Assert.Equal(0, ImagePixels.ColourType(bytes)); // grey images, grey animation
            using var first = SKBitmap.Decode(bytes);
            var layout = ImageGrid.Measure(6, 8, 8, 3, new ImageGridOptions { Scale = 2, Caption = "t = 0.00" });
            Assert.Equal((layout.Width, layout.Height), (first.Width, first.Height));
            var controls = ApngWriter.FrameControls(path);
            Assert.Equal(4, controls.Count);
            Assert.All(controls, c => Assert.Equal((first.Width, first.Height), (c.Width, c.Height)));
            Assert.Equal(new[] { 50.0, 50, 50, 700 }, controls.Select(c => c.Milliseconds));
            // The still is the last frame: the pattern's image 0 and the caption "t = 1.00" under the grid.
            using var last = SKBitmap.Decode(File.ReadAllBytes(still));
            Assert.Equal(1, ApngWriter.FrameCount(still));
            var pattern = frames[^1].data<float>().ToArray();
            Assert.Equal((byte)MathF.Round(pattern[0] * 255), last.GetPixel(layout.GridLeft, layout.GridTop).Red);
            Assert.True(ImagePixels.Count(last, 0, last.Width, layout.GridTop + layout.GridHeight, last.Height, ImagePixels.Dark) > 20, "no caption");
            Assert.Equal("t = 0.37", ImageAnimation.TimeCaption(0.37));
            Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));
        }
        finally { foreach (var f in frames) f.Dispose(); }
    }

    [Fact]
    public void Sixty_four_images_per_frame_stay_small()
    {
        // 64 images of 28 x 28 at the default scale (a 474 x 494 frame), 12 frames from noise to a smooth pattern.
        // Measured with 40 frames: 2.5 MB. Grey frames are one byte per pixel and upscaled blocks filter to zeros.
        var times = Enumerable.Range(0, 12).Select(k => k / 11.0).ToArray();
        var frames = NoiseToImages(12, 64, 28, times);
        try
        {
            var path = Path.Combine(_dir, "big.png");
            ImageAnimation.Save(path, frames, times, 8);
            var size = new FileInfo(path).Length;
            Assert.True(size < 12 * 100_000, $"the animation is {size / 1e6:F2} MB, more than 100 kB a frame");
            Assert.Equal(12, ApngWriter.FrameCount(path));
        }
        finally { foreach (var f in frames) f.Dispose(); }
    }

    [Fact]
    public void Nan_frames_mismatched_shapes_and_bad_times_are_refused()
    {
        using var a = zeros(2, 1, 4, 4); using var b = zeros(3, 1, 4, 4); using var nan = full(2, 1, 4, 4, float.NaN);
        var path = Path.Combine(_dir, "x.png");
        Assert.Contains("frame 1", Assert.Throws<ArgumentException>(() => ImageAnimation.Save(path, [a, nan], [0, 1], 2)).Message);
        Assert.Contains("frame 1 is [3,1,4,4]", Assert.Throws<ArgumentException>(() => ImageAnimation.Save(path, [a, b], [0, 1], 2)).Message);
        Assert.Contains("1 times for 2 frames", Assert.Throws<ArgumentException>(() => ImageAnimation.Save(path, [a, a], [0], 2)).Message);
        Assert.Throws<ArgumentException>(() => ImageAnimation.Save(path, [a], [0], 2, new ImageAnimationOptions { LastFrameMilliseconds = 0 }));
        Assert.False(File.Exists(path));
        // Encoded frames of different pixel formats cannot share one APNG header.
        using var grey = zeros([1, 4, 4], ScalarType.Byte); using var rgb = zeros([3, 4, 4], ScalarType.Byte);
        Assert.Contains("pixel format", Assert.Throws<ArgumentException>(() => ApngWriter.Write(path, [ImagePng.Encode(grey), ImagePng.Encode(rgb)], [10, 10])).Message);
    }
}
