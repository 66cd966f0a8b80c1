using SkiaSharp;
using StochasticInterpolants.Data;
using StochasticInterpolants.Manifolds;
using StochasticInterpolants.Visualization;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Visualization;

/// <summary>Torus and sphere figures decode at their stated sizes, are not blank, and put density peaks where they belong.</summary>
public sealed class ManifoldFiguresTests : IDisposable
{
    private const double Degree = Math.PI / 180;
    private readonly string _dir = Directory.CreateTempSubdirectory("si-manifold-fig-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    /// <summary>The top of Viridis (253, 231, 37): only the densest cells are drawn in it.</summary>
    private static bool Brightest(SKColor c) => c.Red > 200 && c.Green > 200 && c.Blue < 90;

    /// <summary>Variance of the pixels' luminance: a blank (one-colour) image has 0.</summary>
    private static double Variance(SKBitmap b)
    {
        double s = 0, s2 = 0; var n = 0;
        for (var y = 0; y < b.Height; y += 2)
            for (var x = 0; x < b.Width; x += 2)
            {
                var c = b.GetPixel(x, y);
                var l = 0.299 * c.Red + 0.587 * c.Green + 0.114 * c.Blue;
                s += l; s2 += l * l; n++;
            }
        return s2 / n - (s / n) * (s / n);
    }

    /// <summary>Centroid and count of the brightest pixels inside a panel's data rectangle.</summary>
    private static (double Column, double Row, int Count) BrightCentroid(SKBitmap b, ManifoldFigures.PanelFrame f)
    {
        double sx = 0, sy = 0; var n = 0;
        // Clamped to the bitmap: a frameless data area reaches a pixel past the edges, and SKBitmap.GetPixel does not check bounds.
        for (var y = Math.Max(0, (int)f.DataRect.Top); y < Math.Min(b.Height, (int)f.DataRect.Bottom); y++)
            for (var x = Math.Max(0, f.Left + (int)f.DataRect.Left); x < Math.Min(b.Width, f.Left + (int)f.DataRect.Right); x++)
                if (Brightest(b.GetPixel(x, y))) { sx += x; sy += y; n++; }
        return (sx / n, sy / n, n);
    }

    private static SKBitmap Decode(string path) => SKBitmap.Decode(File.ReadAllBytes(path)) ?? throw new Xunit.Sdk.XunitException($"{path} does not decode");

    [Fact]
    public void A_von_mises_peak_at_minus_60_minus_45_degrees_is_drawn_there_on_the_torus()
    {
        using var scope = NewDisposeScope();
        var peak = new VonMisesProduct([-60 * Degree, -45 * Degree], [12, 12]);
        var options = new ManifoldFigureOptions { PanelSize = 300, Bins = 90, TorusAxes = TorusAxes.Ramachandran };
        var (bitmap, frames) = ManifoldFigures.RenderPanels(new ManifoldFigures.TorusChart(options.TorusAxes), [new ManifoldPanel("peak", LogDensity: peak.LogDensity)], options, true);
        using (bitmap)
        {
            Assert.Equal(390, bitmap.Width); Assert.Equal(300, bitmap.Height);
            var (col, row, count) = BrightCentroid(bitmap, frames[0]);
            var (ecol, erow) = frames[0].Pixel(-60 * Degree, -45 * Degree);
            var tolerance = 0.02 * frames[0].DataRect.Width; // 2% of the square, 7.2°
            Assert.True(count > 5, $"only {count} brightest pixels");
            Assert.True(Math.Abs(col - ecol) < tolerance && Math.Abs(row - erow) < tolerance,
                $"brightest pixels centred at ({col:F1}, {row:F1}), the peak is at ({ecol:F1}, {erow:F1}), tolerance {tolerance:F1} px");
            // And the square is square: (180°, 180°) - (-180°, -180°) spans as many pixels across as up.
            Assert.Equal(frames[0].DataRect.Width, frames[0].DataRect.Height, 2.0);
        }

        // The saved file: data | model samples | model density, Ramachandran axes.
        using var g = new Generator(1);
        var path = Path.Combine(_dir, "torus.png");
        ManifoldFigures.SaveTorus(path, [
            new ManifoldPanel("data", peak.Sample(500, g)),
            new ManifoldPanel("model samples", peak.Sample(500, g)),
            new ManifoldPanel("model density", LogDensity: peak.LogDensity)], options);
        using var file = Decode(path);
        Assert.Equal(3 * 390, file.Width); Assert.Equal(300, file.Height);
        Assert.True(Variance(file) > 500, $"luminance variance {Variance(file):F0}: the figure looks blank");
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));
    }

    [Fact]
    public void A_vmf_peak_at_the_north_pole_is_drawn_at_the_top_of_the_map_and_one_on_the_y_axis_right_of_centre()
    {
        using var scope = NewDisposeScope();
        var options = new ManifoldFigureOptions { PanelSize = 200, Bins = 100 };
        var north = new VonMisesFisher([0, 0, 1], 30);
        var east = new VonMisesFisher([0, 1, 0], 30);
        var (bitmap, frames) = ManifoldFigures.RenderPanels(ManifoldFigures.SphereChart.Instance,
            [new ManifoldPanel("north", LogDensity: north.LogDensity), new ManifoldPanel("east", LogDensity: east.LogDensity)], options, false);
        using (bitmap)
        {
            Assert.Equal(2 * (350 + 90), bitmap.Width); Assert.Equal(200, bitmap.Height);
            var f = frames[0];
            var (col, row, count) = BrightCentroid(bitmap, f);
            var (pcol, prow) = f.Pixel(0, HammerProjection.HalfHeight);  // the pole
            var (ccol, crow) = f.Pixel(0, 0);                            // the centre
            Assert.True(count > 5, $"only {count} brightest pixels");
            Assert.True(Math.Abs(col - pcol) < 0.03 * f.DataRect.Width, $"north peak centred at column {col:F1}, the pole at {pcol:F1}");
            Assert.True(row > prow && row - prow < 0.2 * (crow - prow), $"north peak centred at row {row:F1}, pole row {prow:F1}, centre row {crow:F1}");

            // (0, 1, 0) is longitude 90° on the equator: X = 2 sqrt 2 sin 45° / sqrt(1 + cos 45°).
            var e = frames[1];
            var (ecol, erow, ecount) = BrightCentroid(bitmap, e);
            var (xcol, xrow) = e.Pixel(2 * Math.Sqrt(2) * Math.Sin(Math.PI / 4) / Math.Sqrt(1 + Math.Cos(Math.PI / 4)), 0);
            Assert.True(ecount > 5);
            Assert.True(Math.Abs(ecol - xcol) < 0.02 * e.DataRect.Width && Math.Abs(erow - xrow) < 0.02 * e.DataRect.Width,
                $"east peak centred at ({ecol:F1}, {erow:F1}), expected ({xcol:F1}, {xrow:F1})");
            // Off the map (the corners of the bounding box) nothing is painted: the background stays white.
            var corner = bitmap.GetPixel(f.Left + Math.Max(0, (int)f.DataRect.Left) + 3, Math.Max(0, (int)f.DataRect.Top) + 3);
            Assert.True(corner.Red > 240 && corner.Green > 240 && corner.Blue > 240, $"corner pixel {corner} is painted");
        }
    }

    [Fact]
    public void Sphere_panels_with_points_and_density_rows_render_at_their_sizes()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(2);
        var target = ManifoldTargets.VmfMixture();
        var path = Path.Combine(_dir, "sphere.png");
        ManifoldFigures.SaveSphere(path, [new ManifoldPanel("samples", target.Sample(800, g)), new ManifoldPanel("density", LogDensity: target.LogDensity)],
            new ManifoldFigureOptions { PanelSize = 180, Bins = 60 });
        using (var b = Decode(path))
        {
            Assert.Equal(2 * (315 + 90), b.Width); Assert.Equal(180, b.Height);
            Assert.True(Variance(b) > 300, "sphere figure looks blank");
        }

        // rho(t) at three times: from the uniform law to the mixture, log rho(t) = log((1 - t) / 4 pi + t rho1).
        Func<double, Tensor, Tensor> path01 = (t, x) => ((1 - t) / (4 * Math.PI) + t * target.LogDensity(x).exp()).log();
        var rows = Path.Combine(_dir, "sphere-rows.png");
        ManifoldFigures.SaveSphereDensityRow(rows, path01, [0, 0.5, 1], [target.Sample(100, g), target.Sample(100, g), target.Sample(100, g)],
            new ManifoldFigureOptions { PanelSize = 120, Bins = 40 });
        using (var b = Decode(rows)) { Assert.Equal(3 * (210 + 90), b.Width); Assert.Equal(120, b.Height); Assert.True(Variance(b) > 200); }

        var torusRows = Path.Combine(_dir, "torus-rows.png");
        var vm = TorusTargets.VonMisesMixture();
        ManifoldFigures.SaveTorusDensityRow(torusRows, (t, x) => ((1 - t) / (4 * Math.PI * Math.PI) + t * vm.LogDensity(x).exp()).log(),
            options: new ManifoldFigureOptions { PanelSize = 150, Bins = 40 });
        using (var b = Decode(torusRows)) { Assert.Equal(5 * (150 + 90), b.Width); Assert.Equal(150, b.Height); Assert.True(Variance(b) > 200); }
    }

    [Fact]
    public void Torus_and_sphere_animations_are_apngs_of_one_frame_per_snapshot()
    {
        using var scope = NewDisposeScope();
        // 30 particles drifting at constant speed, crossing the torus' edges; on the sphere, rotating about z across the seam.
        using var g = new Generator(5);
        var start = new FlatTorus(2).SampleUniform(30, g, ScalarType.Float64);
        var times = Enumerable.Range(0, 5).Select(k => k / 4.0).ToList();
        var torus = times.Select(t => FlatTorus.Wrap(start + t * tensor(new[] { 2.5, -1.5 }, float64))).ToList();
        var path = Path.Combine(_dir, "torus.apng"); var still = Path.Combine(_dir, "torus-still.png");
        ManifoldFigures.SaveTorusAnimation(path, torus, times, new ManifoldAnimationOptions { Size = 200, TrailFrames = 3, StillPath = still, TorusAxes = TorusAxes.Ramachandran });
        Assert.Equal(5, ApngWriter.FrameCount(path));
        Assert.All(ApngWriter.FrameControls(path), f => { Assert.Equal(200, f.Width); Assert.Equal(200, f.Height); });
        Assert.Equal(1500, ApngWriter.FrameControls(path)[^1].Milliseconds, 1e-9);
        using (var first = Decode(path)) Assert.True(Variance(first) > 100, "first torus frame looks blank");
        using (var last = Decode(still)) Assert.True(Variance(last) > 100, "torus still looks blank");

        var p0 = new Sphere(3).SampleUniform(30, g, ScalarType.Float64);
        var sphere = times.Select(t =>
        {
            var (c, s) = (Math.Cos(2 * t), Math.Sin(2 * t));
            using var r = tensor(new[] { c, -s, 0, s, c, 0, 0, 0, 1.0 }, [3, 3]);
            return p0.matmul(r);
        }).ToList();
        var spherePath = Path.Combine(_dir, "sphere.apng");
        ManifoldFigures.SaveSphereAnimation(spherePath, sphere, times, new ManifoldAnimationOptions
        {
            Size = 150, Bins = 30, LogDensity = (t, x) => new VonMisesFisher([0, 0, 1], 1 + 4 * t).LogDensity(x),
        });
        Assert.Equal(5, ApngWriter.FrameCount(spherePath));
        Assert.All(ApngWriter.FrameControls(spherePath), f => { Assert.Equal(262 + 90, f.Width); Assert.Equal(150, f.Height); });
        using (var first = Decode(spherePath)) Assert.True(Variance(first) > 100, "first sphere frame looks blank");
    }

    [Fact]
    public void Bad_shapes_options_and_folders_give_clear_errors()
    {
        using var flat = zeros(10, 2, dtype: float64);
        using var ambient = zeros(10, 3, dtype: float64);
        var file = Path.Combine(_dir, "x.png");
        var e = Assert.Throws<ArgumentException>(() => ManifoldFigures.SaveSphere(file, [new ManifoldPanel("p", flat)]));
        Assert.Contains("[n, 3]", e.Message);
        e = Assert.Throws<ArgumentException>(() => ManifoldFigures.SaveTorus(file, [new ManifoldPanel("p", ambient)]));
        Assert.Contains("[n, 2]", e.Message);
        Assert.Throws<ArgumentException>(() => ManifoldFigures.SaveTorus(file, []));
        Assert.Throws<ArgumentException>(() => ManifoldFigures.SaveTorus(file, [new ManifoldPanel("p", flat)], new ManifoldFigureOptions { PanelSize = 50 }));
        Assert.Throws<ArgumentException>(() => ManifoldFigures.SaveTorusAnimation(file, [flat], [0.0]));
        Assert.Throws<ArgumentException>(() => ManifoldFigures.SaveTorusAnimation(file, [flat, flat], [0.0]));
        Assert.Throws<ArgumentException>(() => ManifoldFigures.SaveTorusDensityRow(file, (_, x) => zeros(x.shape[0]), [0.0, 1.0], [flat]));
        Assert.Throws<DirectoryNotFoundException>(() => ManifoldFigures.SaveTorus(Path.Combine(_dir, "no", "x.png"), [new ManifoldPanel("p", flat)]));
        Assert.Empty(Directory.GetFiles(_dir, "*", SearchOption.AllDirectories));

        // A zero vector on the sphere has no direction: it is left out and counted in the title, not drawn at some place.
        using var withZero = tensor(new[] { 0.0, 0, 1, 0, 0, 0, 1, 0, 0 }, [3, 3]);
        ManifoldFigures.SaveSphere(file, [new ManifoldPanel("p", withZero)], new ManifoldFigureOptions { PanelSize = 100 });
        Assert.True(File.Exists(file));
    }

    [Fact]
    public void The_manifold_decides_which_picture_is_drawn()
    {
        Assert.True(ManifoldFigures.CanDraw(new FlatTorus(2)));
        Assert.True(ManifoldFigures.CanDraw(new Sphere(3)));
        Assert.False(ManifoldFigures.CanDraw(new FlatTorus(3)));
        Assert.False(ManifoldFigures.CanDraw(new Sphere(4)));
        Assert.False(ManifoldFigures.CanDraw(new Euclidean(2)));
        using var angles = zeros(5, 2, dtype: float64);
        using var directions = tensor(new[] { 0.0, 0, 1, 1, 0, 0 }, [2, 3]);
        var torus = Path.Combine(_dir, "t.png"); var sphere = Path.Combine(_dir, "s.png");
        ManifoldFigures.Save(torus, new FlatTorus(2), [new ManifoldPanel("p", angles)], new ManifoldFigureOptions { PanelSize = 120 });
        ManifoldFigures.Save(sphere, new Sphere(3), [new ManifoldPanel("p", directions)], new ManifoldFigureOptions { PanelSize = 120 });
        using (var t = Decode(torus)) Assert.Equal((120, 120), (t.Width, t.Height));
        using (var s = Decode(sphere)) Assert.Equal((210, 120), (s.Width, s.Height));
        var e = Assert.Throws<ArgumentException>(() => ManifoldFigures.Save(torus, new Euclidean(2), [new ManifoldPanel("p", angles)]));
        Assert.Contains("R:2", e.Message);
        // Points of the wrong manifold are refused by shape: angles are not directions.
        Assert.Throws<ArgumentException>(() => ManifoldFigures.Save(sphere, new Sphere(3), [new ManifoldPanel("p", angles)]));
    }

    [Fact]
    public void The_documented_examples_are_written()
    {
        var (torus, sphere) = ManifoldFigures.SaveExamples(_dir, panelSize: 200);
        using var t = Decode(torus);
        using var s = Decode(sphere);
        Assert.Equal((2 * 290, 200), (t.Width, t.Height));
        Assert.Equal((2 * 440, 200), (s.Width, s.Height));
        Assert.True(Variance(t) > 500 && Variance(s) > 500);
    }
}
