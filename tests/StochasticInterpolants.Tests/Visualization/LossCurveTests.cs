using SkiaSharp;
using StochasticInterpolants.Training;
using StochasticInterpolants.Visualization;

namespace StochasticInterpolants.Tests.Visualization;

public sealed class LossCurveTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-loss-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void Loss_curve_png_is_drawn_with_one_line_per_network()
    {
        var log = Enumerable.Range(1, 40).Select(i => new LossLogEntry(i * 100, 10.0 / i + 1, 1e-3, i, [8.0 / i + 0.5, 2.0 / i + 0.5])).ToList();
        var path = Path.Combine(_dir, "loss.png");
        LossCurvePlot.Save(path, log, partNames: ["velocity", "denoiser"], width: 600, height: 400);
        using var bitmap = SKBitmap.Decode(File.ReadAllBytes(path));
        Assert.Equal(600, bitmap.Width); Assert.Equal(400, bitmap.Height);
        var colours = new HashSet<SKColor>();
        for (var x = 0; x < 600; x += 3) for (var y = 0; y < 400; y += 3) colours.Add(bitmap.GetPixel(x, y));
        Assert.True(colours.Count > 20, "the figure looks blank");
        Assert.Throws<ArgumentException>(() => LossCurvePlot.Save(path, []));
        Assert.Throws<DirectoryNotFoundException>(() => LossCurvePlot.Save(Path.Combine(_dir, "no", "x.png"), log));
    }
}
