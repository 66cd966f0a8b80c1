using SkiaSharp;
using StochasticInterpolants.Data;
using StochasticInterpolants.Visualization;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Visualization;

public sealed class ScatterPlotTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-png-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void Side_by_side_png_has_the_expected_size_content_and_text()
    {
        using var g = new Generator(1);
        using var a = new Checkerboard().Sample(3000, g);
        using var b = randn(3000, 2, generator: g);
        b[0, 0] = float.NaN;
        var path = Path.Combine(_dir, "s.png");
        SampleScatterPlot.SaveSideBySide(path, [new ScatterPanel("target", a), new ScatterPanel("generated", b)], panelSize: 300);
        var bytes = File.ReadAllBytes(path);
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47 }, bytes[..4]);
        using var bitmap = SKBitmap.Decode(bytes);
        Assert.Equal(600, bitmap.Width); Assert.Equal(300, bitmap.Height);
        // Both panels have points: dark pixels in the plotting area of each half.
        int Count(int x0, int x1, int y0, int y1, Func<SKColor, bool> test)
        {
            var count = 0;
            for (var x = x0; x < x1; x++) for (var y = y0; y < y1; y++) if (test(bitmap.GetPixel(x, y))) count++;
            return count;
        }
        int Dark(int x0, int x1, int y0, int y1) => Count(x0, x1, y0, y1, c => c.Red + c.Green + c.Blue < 450);
        // Translucent black markers on the left (grey, darker than the faint grid), blue ones on the right.
        Assert.True(Count(60, 290, 60, 260, c => c.Red + c.Green + c.Blue < 600) > 500, "left panel is empty");
        Assert.True(Count(360, 590, 60, 260, c => c.Blue - c.Red > 30) > 500, "right panel is empty");
        Assert.True(PlotFonts.HasFonts, PlotFonts.MissingFontsWarning);
        // Title text sits in the top band, centred over each panel.
        Assert.True(Dark(100, 200, 0, 30) > 20, "no title text drawn");
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));
    }

    [Fact]
    public void Bad_shapes_and_missing_folders_give_clear_errors()
    {
        using var bad = zeros(10, 3);
        var e = Assert.Throws<ArgumentException>(() => SampleScatterPlot.SaveSideBySide(Path.Combine(_dir, "x.png"), [new ScatterPanel("p", bad)]));
        Assert.Contains("[n, 2]", e.Message);
        using var ok = zeros(10, 2);
        Assert.Throws<DirectoryNotFoundException>(() => SampleScatterPlot.SaveSideBySide(Path.Combine(_dir, "no", "x.png"), [new ScatterPanel("p", ok)]));
    }
}
