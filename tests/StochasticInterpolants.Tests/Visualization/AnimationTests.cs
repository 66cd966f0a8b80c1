using SkiaSharp;
using StochasticInterpolants.Fields;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Visualization;

namespace StochasticInterpolants.Tests.Visualization;

public sealed class AnimationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-anim-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void One_dimensional_animation_is_a_valid_apng_with_a_still_frame()
    {
        var field = new GaussianMixtureField(new LinearInterpolant(), [new MixtureComponent(1, [0.0], [1.0])],
            [new MixtureComponent(0.4, [-2.0], [0.2]), new MixtureComponent(0.6, [2.0], [0.3])]);
        var path = Path.Combine(_dir, "anim.png"); var still = Path.Combine(_dir, "still.png");
        TransportAnimation.OneDimensional(path, field.LogDensity, field, (-5, 5), frames: 6, particles: 10, width: 600, height: 300, stillPath: still);
        Assert.Equal(6, ApngWriter.FrameCount(path));
        var bytes = File.ReadAllBytes(path);
        using var first = SKBitmap.Decode(bytes); // a plain decoder sees the first frame
        Assert.Equal(600, first.Width); Assert.Equal(300, first.Height);
        using var last = SKBitmap.Decode(File.ReadAllBytes(still));
        Assert.Equal(600, last.Width);
        var colours = new HashSet<SKColor>();
        for (var x = 0; x < 600; x += 2) for (var y = 0; y < 300; y += 2) colours.Add(last.GetPixel(x, y));
        Assert.True(colours.Count > 50, "the still frame looks blank");
        Assert.Equal(1, ApngWriter.FrameCount(still));
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));
    }

    [Fact]
    public void Apng_chunks_carry_valid_crcs_and_bad_input_is_refused()
    {
        // CRC-32 of "IEND" with no data is the well-known AE426082.
        Assert.Equal(0xAE426082u, ApngWriter.Crc32.Compute("IEND"u8, []));
        using var a = new SKBitmap(10, 10); using var b = new SKBitmap(12, 10);
        Assert.Throws<ArgumentException>(() => ApngWriter.Write(Path.Combine(_dir, "x.png"), [a, b]));
        Assert.Throws<ArgumentException>(() => ApngWriter.Write(Path.Combine(_dir, "x.png"), []));
        Assert.Throws<DirectoryNotFoundException>(() => ApngWriter.Write(Path.Combine(_dir, "no", "x.png"), [a]));
    }
}

public sealed class DensityRowsFigureTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-rows-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void Two_rows_of_densities_render_at_the_expected_size()
    {
        var it = new LinearInterpolant();
        var target = new StochasticInterpolants.Data.GaussianMixture([0.5, 0.5], [[-2, 0], [2, 1]], [[0.3, 0.3], [0.5, 0.2]]);
        var oracle = new GaussianMixtureField(it, [new MixtureComponent(1, [0, 0], [1, 1])],
            [new MixtureComponent(0.5, [-2, 0], [0.3, 0.3]), new MixtureComponent(0.5, [2, 1], [0.5, 0.2])]);
        using var g = new TorchSharp.torch.Generator(1);
        using var x0 = new StochasticInterpolants.Data.StandardGaussian(2).Sample(3000, g);
        using var x1 = target.Sample(3000, g);
        var path = Path.Combine(_dir, "rows.png");
        DensityRowsFigure.Save(path, it, x0, x1, oracle.LogDensity, (-4, 4), times: [0, 0.5, 1], bins: 20, panelSize: 200);
        using var bitmap = SKBitmap.Decode(File.ReadAllBytes(path));
        Assert.Equal(26 + 3 * (200 + 70), bitmap.Width); Assert.Equal(400, bitmap.Height);
        var colours = new HashSet<SKColor>();
        for (var x = 0; x < bitmap.Width; x += 2) for (var y = 0; y < bitmap.Height; y += 2) colours.Add(bitmap.GetPixel(x, y));
        Assert.True(colours.Count > 100, "the figure looks blank");
        // Equal units on both axes: the heatmap of the first panel (a square region of the plane) is drawn square.
        var (w, h) = HeatmapExtent(bitmap, 26, 0, 270, 200);
        Assert.True(Math.Abs(w - h) <= 3, $"the data area is {w} x {h} pixels, not square");
    }

    /// <summary>
    /// Width and height of the heatmap in a panel: rho is ~0 along the edges of the plotted square, which Viridis draws
    /// dark purple, so from the top-left dark pixel the dark run along the top edge is the width and the run down the
    /// left edge the height (the colour bar's dark end is separate from both).
    /// </summary>
    internal static (int Width, int Height) HeatmapExtent(SKBitmap bitmap, int left, int top, int width, int height)
    {
        bool Dark(int x, int y)
        {
            var p = bitmap.GetPixel(x, y);
            return Math.Abs(p.Red - 68) + Math.Abs(p.Green - 1) + Math.Abs(p.Blue - 84) <= 12;
        }
        for (var y = top; y < top + height; y++)
            for (var x = left; x < left + width; x++)
            {
                if (!Dark(x, y)) continue;
                var w = 0; while (x + w < left + width && Dark(x + w, y)) w++;
                var h = 0; while (y + h < top + height && Dark(x, y + h)) h++;
                return (w, h);
            }
        Assert.Fail("no heatmap found in the panel");
        return (0, 0);
    }
}

public sealed class FlowFiguresTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-flow-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void Trajectory_and_velocity_figures_render_at_the_expected_size()
    {
        var it = new LinearInterpolant();
        var oracle = new GaussianMixtureField(it, [new MixtureComponent(1, [0, 0], [1, 1])],
            [new MixtureComponent(0.5, [-2, 0], [0.3, 0.3]), new MixtureComponent(0.5, [2, 1], [0.5, 0.2])]);
        using var g = new TorchSharp.torch.Generator(2);
        using var x0 = TorchSharp.torch.randn(50, 2, generator: g);
        using var ode = new StochasticInterpolants.Sampling.Rk4Solver(10).Integrate(oracle, x0, 0, 1, new StochasticInterpolants.Sampling.OdeOptions(SaveTimes: [0, 0.25, 0.5, 0.75, 1]));
        var traj = Path.Combine(_dir, "traj.png");
        FlowFigures.SaveTrajectories(traj, [new TrajectoryPanel("ODE", ode.Trajectory)], (-4, 4), panelSize: 300);
        var vel = Path.Combine(_dir, "vel.png");
        FlowFigures.SaveVelocityField(vel, oracle.Velocity, oracle.LogDensity, [0.3, 0.8], (-4, 4), arrows: 8, bins: 20, panelSize: 250);
        foreach (var (file, w, h) in new[] { (traj, 300, 300), (vel, 2 * (250 + 70), 250) })
        {
            using var bitmap = SKBitmap.Decode(File.ReadAllBytes(file));
            Assert.Equal(w, bitmap.Width); Assert.Equal(h, bitmap.Height);
            var colours = new HashSet<SKColor>();
            for (var x = 0; x < w; x += 2) for (var y = 0; y < h; y += 2) colours.Add(bitmap.GetPixel(x, y));
            Assert.True(colours.Count > 30, $"{file} looks blank");
        }
        using (var velocityBitmap = SKBitmap.Decode(File.ReadAllBytes(vel)))
        {
            var (hw, hh) = DensityRowsFigureTests.HeatmapExtent(velocityBitmap, 0, 0, 320, 250);
            Assert.True(Math.Abs(hw - hh) <= 3, $"the velocity panel's data area is {hw} x {hh} pixels, not square");
        }
        Assert.Throws<DirectoryNotFoundException>(() => FlowFigures.SaveTrajectories(Path.Combine(_dir, "no", "x.png"), [new TrajectoryPanel("ODE", ode.Trajectory)], (-4, 4)));
    }
}
