using System.Globalization;
using System.Text.RegularExpressions;
using SkiaSharp;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Runs;
using StochasticInterpolants.Training;
using StochasticInterpolants.Visualization;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Visualization;

/// <summary>
/// The report of a flow-map checkpoint (docs/theory.md §14): few-step samples at 1, 2, 4 (and 8) jumps beside the ODE's from
/// the same X_0, the jumps as particles over the ODE's paths, a table's marginals at a few jumps and image grids at a few
/// jumps; a velocity checkpoint's report gains none of them.
/// </summary>
public sealed class FlowMapReportTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-flowmap-report-").FullName;
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private static readonly byte[] PngSignature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    private string Train(string name, string target, string learn, ModelOptions model, TrainingOptions training)
    {
        var folder = Path.Combine(_dir, name);
        TrainingRun.Execute(new TrainingRunConfig(Target: target, Learn: learn, Model: model, Training: training), folder);
        return folder;
    }

    private string TinyPlane(string learn) => Train(learn, "checkerboard", learn, new ModelOptions(Width: 32, Depth: 2),
        new TrainingOptions(Steps: 50, BatchSize: 128, LogEvery: 25, Seed: 5));

    // A valid PNG of the given size (decoded, not just its signature).
    private static void AssertPng(string path, int width, int height)
    {
        Assert.True(File.Exists(path), path);
        var bytes = File.ReadAllBytes(path);
        Assert.Equal(PngSignature, bytes[..8]);
        using var bitmap = SKBitmap.Decode(bytes);
        Assert.NotNull(bitmap);
        Assert.Equal(width, bitmap.Width);
        Assert.Equal(height, bitmap.Height);
    }

    // The caption of the figure whose <img> embeds a PNG under the given title.
    private static string Caption(string html, string title)
    {
        var m = Regex.Match(html, "<h2>" + Regex.Escape(title) + "</h2><img alt=\"[^\"]*\" src=\"data:image/png;base64,[^\"]+\"><figcaption>([^<]*)</figcaption>");
        Assert.True(m.Success, $"no figure titled '{title}'");
        return System.Net.WebUtility.HtmlDecode(m.Groups[1].Value);
    }

    [Fact]
    public void A_flow_map_report_of_2d_data_shows_jumps_beside_the_ode_and_the_jumps_as_particles()
    {
        var run = TinyPlane("flow-map");
        var report = Path.Combine(_dir, "report");
        var html = File.ReadAllText(TransportReport.Write(report, run, new ReportOptions(Samples: 400, Particles: 60, Frames: 3, Seed: 2)));

        // Target, 1, 2, 4, 8 jumps and the ODE, 360 px each; two panels of 520 px for the particles.
        AssertPng(Path.Combine(report, "jump-samples.png"), 6 * 360, 360);
        AssertPng(Path.Combine(report, "jump-paths.png"), 2 * 520, 520);
        var samples = Caption(html, "Few-step samples: jumps of the flow map beside the ODE");
        foreach (var part in new[] { "1 jump: NFE 1", "2 jumps: NFE 2", "4 jumps: NFE 4", "8 jumps: NFE 8", "RK4 with 25 steps (NFE 100)", "same 400 base draws X_0 (seed 2)" })
            Assert.Contains(part, samples);
        var paths = Caption(html, "The jumps as particles");
        Assert.Contains("60 particles", paths);
        Assert.Contains("4-jump sampling (NFE 4)", paths);
        Assert.Contains("8-jump sampling (NFE 8)", paths);
        Assert.Contains("learned a <b>flow map</b>", html);
        // The figures of a velocity report are all still there (the diagonal gives the velocity they need).
        foreach (var f in new[] { "samples.png", "rho-t.png", "paths.png", "velocity.png", "transport-2d.png", "loss.png" })
            Assert.True(File.Exists(Path.Combine(report, f)), f);
        Assert.Equal(9, Regex.Matches(html, "<img alt=").Count);
    }

    [Fact]
    public void The_particles_of_the_jump_figure_are_the_flow_map_samplers_grid_states()
    {
        var run = TinyPlane("flow-map");
        using var checkpoint = Checkpoint.Load(run);
        var map = checkpoint.FlowMap!;
        using var picture = TransportReport.LagrangianJumps(checkpoint, 40, seed: 2, TransportReport.LagrangianJumpCounts);
        Assert.Equal(new long[] { 40, 2 }, picture.Starts.shape);
        Assert.Equal(TransportReport.LagrangianJumpCounts, picture.Jumps.Select(j => j.Jumps).ToArray());
        using var scope = NewDisposeScope();
        foreach (var (jumps, times, states) in picture.Jumps)
        {
            // The uniform grid of [0, 1] (the linear interpolant's velocity is defined at both ends), start included.
            Assert.Equal(Enumerable.Range(0, jumps + 1).Select(k => (double)k / jumps), times, (a, b) => Math.Abs(a - b) < 1e-12);
            Assert.Equal(jumps + 1, states.Count);
            Assert.True(states[0].equal(picture.Starts).all().item<bool>());
            // Each step recomputed from the network itself, with per-row times: x_{k+1} = x_k + (t_{k+1} - t_k) v(t_k, t_{k+1}, x_k).
            using (no_grad())
            {
                var x = picture.Starts;
                for (var k = 0; k < jumps; k++)
                {
                    var v = map.forward(x, full(40, times[k], dtype: float64), full(40, times[k + 1], dtype: float64), null);
                    x = x + (times[k + 1] - times[k]) * v;
                    Assert.True(x.allclose(states[k + 1], rtol: 1e-5, atol: 1e-6), $"{jumps} jumps: state {k + 1} differs from the direct computation");
                }
                // The figure's last state is what the sampler returns, and the particles moved (the map is not the identity).
                var direct = StochasticInterpolants.Sampling.FlowMapSampler.Sample(map, picture.Starts, jumps);
                Assert.True(direct.allclose(states[^1], rtol: 1e-6, atol: 1e-7));
                Assert.True((states[^1] - picture.Starts).abs().max().item<float>() > 1e-3);
            }
        }
        // The ODE's paths start at the same particles, and end where the diagonal velocity's RK4 ends.
        Assert.True(picture.OdePaths[0].equal(picture.Starts).all().item<bool>());
        Assert.Equal(picture.OdeTimes.Length, picture.OdePaths.Count);
        var fields = checkpoint.Fields();
        using var ode = new StochasticInterpolants.Sampling.Rk4Solver(picture.OdeTimes.Length - 1).Integrate(fields.Velocity(), picture.Starts, 0, 1);
        Assert.True(ode.Final.allclose(picture.OdePaths[^1], rtol: 1e-5, atol: 1e-6));
    }

    [Fact]
    public void A_velocity_checkpoints_report_gains_no_jump_sections()
    {
        var run = TinyPlane("velocity");
        var report = Path.Combine(_dir, "report");
        var html = File.ReadAllText(TransportReport.Write(report, run, new ReportOptions(Samples: 300, Particles: 40, Frames: 3)));
        Assert.False(File.Exists(Path.Combine(report, "jump-samples.png")));
        Assert.False(File.Exists(Path.Combine(report, "jump-paths.png")));
        var text = Regex.Replace(html, "data:image/png;base64,[^\"]+", ""); // base64 can spell anything
        Assert.DoesNotContain("jump", text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("flow map", text);
        Assert.Equal(7, Regex.Matches(html, "<img alt=").Count);
    }

    [Fact]
    public void A_flow_map_report_of_a_table_draws_the_columns_at_a_few_jumps_beside_the_ode()
    {
        var random = new Random(3);
        var lines = new List<string> { "a,b,c" };
        for (var i = 0; i < 200; i++)
        {
            var (u, w) = (random.NextDouble(), random.NextDouble());
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"{u:F4},{2 * u + w:F4},{10 * w - 3:F4}"));
        }
        var csv = Path.Combine(_dir, "table.csv");
        File.WriteAllLines(csv, lines);
        var run = Train("table", csv, "flow-map", new ModelOptions(Width: 32, Depth: 2), new TrainingOptions(Steps: 40, BatchSize: 64, LogEvery: 20));
        var report = Path.Combine(_dir, "report");
        var html = File.ReadAllText(TransportReport.Write(report, run, new ReportOptions(Samples: 300, Particles: 30, Frames: 3)));
        var file = Path.Combine(report, "marginals-jumps.png");
        Assert.True(File.Exists(file));
        using (var bitmap = SKBitmap.Decode(file))
        {
            Assert.NotNull(bitmap);
            Assert.True(bitmap.Width >= 2 * 200 && bitmap.Height >= 200, $"{bitmap.Width} x {bitmap.Height}");
        }
        var caption = Caption(html, "Columns at a few jumps of the flow map");
        foreach (var part in new[] { "1 jump: NFE 1", "2 jumps: NFE 2", "4 jumps: NFE 4", "RK4, 50 steps, NFE 200", "training rows" })
            Assert.Contains(part, caption);
        Assert.DoesNotContain("8 jumps", caption);
        // The table report's own sections are unchanged, in order, with the jumps right after the marginals.
        var order = new[] { "Columns, data vs generated", "Columns at a few jumps of the flow map", "Correlations" }.Select(t => html.IndexOf("<h2>" + t + "</h2>", StringComparison.Ordinal)).ToList();
        Assert.True(order.All(i => i >= 0) && order.SequenceEqual(order.Order()), string.Join(", ", order));
        Assert.False(File.Exists(Path.Combine(report, "jump-paths.png"))); // the 2-D pictures belong to 2-D data
    }

    [Fact]
    public void A_flow_map_report_of_class_conditional_images_draws_grids_at_a_few_jumps_beside_the_ode_grid()
    {
        var run = Train("images", "digits8", "flow-map", new ModelOptions(UNetPreset: "tiny"),
            new TrainingOptions(Steps: 6, BatchSize: 8, LogEvery: 3, ConditionDropout: 0.1, WarmupSteps: 2));
        var report = Path.Combine(_dir, "report");
        var html = File.ReadAllText(TransportReport.Write(report, run, new ReportOptions(Frames: 2)));
        var file = Path.Combine(report, "jump-images.png");
        using (var composite = SKBitmap.Decode(file))
        using (var ode = SKBitmap.Decode(Path.Combine(report, "report-samples-w1.png")))
        {
            Assert.NotNull(composite);
            // The ODE grid and three jump grids of the same layout (10 rows of classes, 10 digits each) side by side.
            Assert.Equal(ode.Height, composite.Height);
            Assert.InRange(composite.Width, 4 * ode.Width, 4 * ode.Width + 3 * 16 + 4 * 40);
        }
        var caption = Caption(html, "Few-step images: jumps of the flow map beside the ODE");
        foreach (var part in new[] { "1 jump: NFE 1", "2 jumps: NFE 2", "4 jumps: NFE 4", "RK4, NFE 160, w = 1", "one row per class" })
            Assert.Contains(part, caption);
    }

    [Fact]
    public void The_jump_figure_refuses_states_and_times_that_do_not_match()
    {
        using var a = zeros(5, 2);
        using var b = ones(5, 2);
        using var c = ones(4, 2);
        var path = Path.Combine(_dir, "jumps.png");
        var e = Assert.Throws<ArgumentException>(() => FlowMapFigures.SaveJumpPaths(path, [new JumpPanel("one", [0.0], [a, b])], (-2, 2)));
        Assert.Contains("has 2 states but 1 times", e.Message);
        e = Assert.Throws<ArgumentException>(() => FlowMapFigures.SaveJumpPaths(path, [new JumpPanel("two", [0.0, 1.0], [a, c])], (-2, 2)));
        Assert.Contains("state 1 has 4 particles, state 0 5", e.Message);
        e = Assert.Throws<ArgumentException>(() => FlowMapFigures.SaveJumpPaths(path, [new JumpPanel("three", [0.0, 1.0], [a, b], [c, c])], (-2, 2)));
        Assert.Contains("5 jump particles but 4 ODE particles", e.Message);
        Assert.False(File.Exists(path));
        FlowMapFigures.SaveJumpPaths(path, [new JumpPanel("ok", [0.0, 1.0], [a, b], [a, b])], (-2, 2), panelSize: 300);
        AssertPng(path, 300, 300);
    }
}
