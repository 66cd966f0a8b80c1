using SkiaSharp;
using StochasticInterpolants.Data;
using StochasticInterpolants.Visualization;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Visualization;

public sealed class ScatterPlotTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-png-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private static int Count(SKBitmap bitmap, int x0, int x1, int y0, int y1, Func<SKColor, bool> test)
    {
        var count = 0;
        for (var x = x0; x < x1; x++) for (var y = y0; y < y1; y++) if (test(bitmap.GetPixel(x, y))) count++;
        return count;
    }

    [Fact]
    public void Side_by_side_png_has_the_expected_size_content_and_text()
    {
        using var g = new Generator(1);
        using var a = new Checkerboard().Sample(10_000, g);
        using var b = randn(10_000, 2, generator: g);
        b[0, 0] = float.NaN;
        var path = Path.Combine(_dir, "s.png");
        SampleScatterPlot.SaveSideBySide(path, [new ScatterPanel("target", a), new ScatterPanel("generated", b)], panelSize: 300);
        var bytes = File.ReadAllBytes(path);
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, bytes[..8]);
        using var bitmap = SKBitmap.Decode(bytes);
        Assert.Equal(600, bitmap.Width); Assert.Equal(300, bitmap.Height);
        // Translucent markers blend into many shades; a blank or failed render has a handful of colours.
        Assert.True(bitmap.Pixels.Distinct().Count() > 50, "figure looks blank");
        // Translucent black markers on the left (grey, darker than the faint grid), blue ones on the right.
        Assert.True(Count(bitmap, 60, 290, 60, 260, c => c.Red + c.Green + c.Blue < 600) > 500, "left panel is empty");
        Assert.True(Count(bitmap, 360, 590, 60, 260, c => c.Blue - c.Red > 30) > 500, "right panel is empty");
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));
    }

    [Fact]
    public void Titles_are_drawn_as_text()
    {
        Assert.True(PlotFonts.HasFonts, PlotFonts.MissingFontsWarning);
        Assert.Equal("DejaVu Sans", PlotFonts.Family);
        using var g = new Generator(2);
        using var p = randn(500, 2, generator: g);
        SKBitmap Render(string title)
        {
            var path = Path.Combine(_dir, $"t{title.Length}.png");
            SampleScatterPlot.SaveSideBySide(path, [new ScatterPanel(title, p)], panelSize: 200);
            return SKBitmap.Decode(path);
        }
        using var with = Render("target checkerboard");
        using var without = Render("");
        // Same points and limits, so only the title band can differ; dark glyph pixels must appear there.
        var differing = 0;
        for (var x = 0; x < 200; x++) for (var y = 0; y < 30; y++) if (with.GetPixel(x, y) != without.GetPixel(x, y)) differing++;
        Assert.True(differing > 50, $"title band differs in only {differing} pixels: no text drawn");
        Assert.True(Count(with, 0, 200, 0, 30, c => c.Red + c.Green + c.Blue < 300) > 20, "no dark title glyphs");
    }

    [Fact]
    public void Non_finite_points_are_skipped_and_reported_in_the_title()
    {
        using var p = zeros(100, 2);
        for (var i = 0; i < 12; i++) p[i, i % 2] = i % 3 == 0 ? float.NaN : float.PositiveInfinity;
        var (xs, ys, dropped) = SampleScatterPlot.Extract(new ScatterPanel("g", p));
        Assert.Equal(12, dropped);
        Assert.Equal(88, xs.Length); Assert.Equal(88, ys.Length);
        Assert.Equal("g (12 non-finite points not drawn)", SampleScatterPlot.PanelTitle("g", dropped));
        Assert.Equal("g (1 non-finite point not drawn)", SampleScatterPlot.PanelTitle("g", 1));
        Assert.Equal("g", SampleScatterPlot.PanelTitle("g", 0));
        // A panel with nothing finite still renders rather than failing the whole figure.
        using var allNan = full(5, 2, float.NaN);
        SampleScatterPlot.SaveSideBySide(Path.Combine(_dir, "nan.png"), [new ScatterPanel("nan", allNan)], panelSize: 100);
        Assert.True(File.Exists(Path.Combine(_dir, "nan.png")));
    }

    [Fact]
    public void Long_titles_shrink_to_fit_the_panel()
    {
        Assert.Equal(16f, PlotFonts.FitSize("target", 16, 276));
        var small = PlotFonts.FitSize("generated (1234 non-finite points not drawn)", 16, 276);
        Assert.InRange(small, 8f, 15.9f);
        using var typeface = SKTypeface.FromFamilyName(PlotFonts.Family);
        using var font = new SKFont(typeface, small);
        Assert.True(font.MeasureText("generated (1234 non-finite points not drawn)") <= 276);
    }

    [Fact]
    public void Shared_range_ignores_a_few_outliers()
    {
        var rng = new Random(3);
        var values = Enumerable.Range(0, 20_000).Select(_ => rng.NextDouble() * 2 - 1).ToList();
        values.AddRange([1e6, -1e6, 5e5, 3e4]);
        var (lo, hi) = SampleScatterPlot.SharedRange(values);
        Assert.InRange(lo, -1.2, -0.9);
        Assert.InRange(hi, 0.9, 1.2);
    }

    [Fact]
    public void Bad_inputs_and_missing_folders_give_clear_errors()
    {
        using var bad = zeros(10, 3);
        var e = Assert.Throws<ArgumentException>(() => SampleScatterPlot.SaveSideBySide(Path.Combine(_dir, "x.png"), [new ScatterPanel("p", bad)]));
        Assert.Contains("[n, 2]", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        using var flat = zeros(10);
        Assert.Throws<ArgumentException>(() => SampleScatterPlot.SaveSideBySide(Path.Combine(_dir, "x.png"), [new ScatterPanel("p", flat)]));
        using var ok = zeros(10, 2);
        Assert.Throws<ArgumentException>(() => SampleScatterPlot.SaveSideBySide(Path.Combine(_dir, "x.png"), [new ScatterPanel("p", ok)], range: (1, 1)));
        Assert.Throws<ArgumentException>(() => SampleScatterPlot.SaveSideBySide(Path.Combine(_dir, "x.png"), []));
        var missing = Path.Combine(_dir, "no", "x.png");
        var d = Assert.Throws<DirectoryNotFoundException>(() => SampleScatterPlot.SaveSideBySide(missing, [new ScatterPanel("p", ok)]));
        Assert.Contains(Path.Combine(_dir, "no"), d.Message);
        Assert.Empty(Directory.GetFiles(_dir, "*", SearchOption.AllDirectories));
    }
}
