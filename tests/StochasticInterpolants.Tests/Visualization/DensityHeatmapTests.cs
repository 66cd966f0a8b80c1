using SkiaSharp;
using StochasticInterpolants.Visualization;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Visualization;

public sealed class DensityHeatmapTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-heat-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    // Viridis runs from dark purple (low) to yellow-green (high).
    private static bool Low(SKColor c) => c.Red < 100 && c.Green < 40 && c.Blue > 60;
    private static bool High(SKColor c) => c.Green > 150 && c.Blue < 150;

    private static int Count(SKBitmap bitmap, int x0, int x1, int y0, int y1, Func<SKColor, bool> test)
    {
        var count = 0;
        for (var x = x0; x < x1; x++) for (var y = y0; y < y1; y++) if (test(bitmap.GetPixel(x, y))) count++;
        return count;
    }

    [Fact]
    public void Histogram_rows_run_from_the_top_and_columns_from_the_left()
    {
        double[] xs = [-0.9, 0.9, 0.9, 1.0, 1.5, 0.1];
        double[] ys = [-0.9, 0.9, -0.9, 1.0, 0.0, -2.0];
        var (counts, outside) = DensityHeatmap.Histogram2D(xs, ys, 2, -1, 1);
        Assert.Equal(1, counts[1, 0]); // bottom-left
        Assert.Equal(2, counts[0, 1]); // top-right, including the point on the upper edge
        Assert.Equal(1, counts[1, 1]); // bottom-right
        Assert.Equal(0, counts[0, 0]);
        Assert.Equal(2, outside);
    }

    [Fact]
    public void Notes_name_what_was_left_out()
    {
        Assert.Equal("", DensityHeatmap.Notes(0, 0));
        Assert.Equal("(1 non-finite point not counted)", DensityHeatmap.Notes(1, 0));
        Assert.Equal("(3 non-finite points, 1 point outside the range not counted)", DensityHeatmap.Notes(3, 1));
    }

    [Fact]
    public void Png_puts_mass_where_the_points_are_with_a_colour_bar_and_a_title()
    {
        using var g = new Generator(4);
        // All points in the lower-left quadrant: the image must be bright there and dark above, or the rows are flipped.
        using var p = rand(5000, 2, generator: g) - 1;
        var path = Path.Combine(_dir, "h.png");
        DensityHeatmap.SaveHistogram2D(path, p, bins: 20, range: (-1, 1), title: "lower-left quadrant", size: 300);
        var bytes = File.ReadAllBytes(path);
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, bytes[..8]);
        using var bitmap = SKBitmap.Decode(bytes);
        Assert.Equal(360, bitmap.Width); Assert.Equal(300, bitmap.Height);
        Assert.True(bitmap.Pixels.Distinct().Count() > 50, "figure looks blank");
        // The square data area sits roughly in x 50..260, y 30..260; compare its left half, top against bottom.
        Assert.True(Count(bitmap, 70, 140, 170, 240, High) > 2000, "no mass drawn in the lower-left quadrant");
        Assert.True(Count(bitmap, 70, 140, 50, 120, Low) > 2000, "upper-left quadrant is not empty");
        Assert.True(Count(bitmap, 70, 140, 50, 120, High) < 50, "mass drawn in the upper-left quadrant: rows flipped");
        // The colour bar is a Viridis gradient to the right of the data area.
        Assert.True(Count(bitmap, 270, 360, 0, 300, High) > 100 && Count(bitmap, 270, 360, 0, 300, Low) > 100, "no colour bar");
        Assert.True(Count(bitmap, 0, 360, 0, 25, c => c.Red + c.Green + c.Blue < 300) > 20, "no dark title glyphs");
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));
    }

    [Fact]
    public void Bad_inputs_and_missing_folders_give_clear_errors()
    {
        using var bad = zeros(10, 3);
        var e = Assert.Throws<ArgumentException>(() => DensityHeatmap.SaveHistogram2D(Path.Combine(_dir, "x.png"), bad));
        Assert.Contains("[n, 2]", e.Message);
        using var ok = zeros(10, 2);
        Assert.Throws<ArgumentException>(() => DensityHeatmap.SaveHistogram2D(Path.Combine(_dir, "x.png"), ok, bins: 1));
        Assert.Throws<ArgumentException>(() => DensityHeatmap.SaveHistogram2D(Path.Combine(_dir, "x.png"), ok, range: (2, 1)));
        var missing = Path.Combine(_dir, "no", "x.png");
        var d = Assert.Throws<DirectoryNotFoundException>(() => DensityHeatmap.SaveHistogram2D(missing, ok));
        Assert.Contains(Path.Combine(_dir, "no"), d.Message);
        Assert.Empty(Directory.GetFiles(_dir, "*", SearchOption.AllDirectories));
        // Nothing finite still renders (an all-zero map) rather than failing.
        using var nan = full(4, 2, float.NaN);
        DensityHeatmap.SaveHistogram2D(Path.Combine(_dir, "nan.png"), nan, size: 100);
        Assert.True(File.Exists(Path.Combine(_dir, "nan.png")));
    }
}
