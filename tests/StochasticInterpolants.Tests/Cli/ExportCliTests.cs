using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Export;
using StochasticInterpolants.Tests.Export;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Cli;

/// <summary>si export: a trained checkpoint's velocity as ONNX, equal to the checkpoint's network in ONNX Runtime, with the manifest in its metadata; refusals.</summary>
public sealed class ExportCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-export-cli-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private static (int Code, string Out, string Err) Run(params string[] args) => SiRunner.Run(args);

    private string Train(string name, params string[] extra)
    {
        var run = Path.Combine(_dir, name);
        var (code, _, error) = Run(["train", "--steps", "30", "--width", "32", "--depth", "2", "--batch", "64", "--threads", "1", "--progress", "none", "--out", run, .. extra]);
        Assert.True(code == 0, error);
        return run;
    }

    [Fact]
    public void An_exported_checkpoint_runs_in_onnx_runtime_as_its_moving_average_network_with_the_manifest_beside()
    {
        var run = Train("cb", "--target", "checkerboard");
        var file = Path.Combine(_dir, "cb.onnx");
        var (code, output, error) = Run("export", "--checkpoint", run, "--out", file);
        Assert.True(code == 0, error);
        Assert.Contains("moving-average weights", output);
        using var checkpoint = Checkpoint.Load(run);
        using var scope = NewDisposeScope();
        var x = randn(100, 2, generator: new Generator(3));
        var t = rand(100, generator: new Generator(4));
        float[] expected;
        using (no_grad()) expected = checkpoint.Networks[0].Network.forward(x, t, null).data<float>().ToArray();
        using var session = new InferenceSession(file);
        using var results = session.Run(OnnxInputs.Of(x, t));
        var actual = results.Single().AsEnumerable<float>().ToArray();
        var error2 = expected.Zip(actual, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(error2 < 2e-5, $"ONNX Runtime differs from the checkpoint's network by {error2}");
        var metadata = session.ModelMetadata.CustomMetadataMap;
        Assert.Equal("velocity", metadata[OnnxExport.FieldKey]);
        Assert.Equal("ema", metadata[OnnxExport.WeightsKey]);
        Assert.Equal("[2]", metadata[OnnxExport.ShapeKey]);
        Assert.Equal("none", metadata[OnnxExport.DecodingKey]);
        Assert.Equal("gaussian", metadata[OnnxExport.BaseKey]);
        Assert.Equal("[0,1]", metadata[OnnxExport.IntervalKey]);
        Assert.False(metadata.ContainsKey(OnnxExport.ClassesKey));
        using var manifest = JsonDocument.Parse(metadata[OnnxExport.ManifestKey]);
        Assert.Equal("linear", manifest.RootElement.GetProperty("interpolant").GetProperty("family").GetString());
        // An existing file is kept unless --force.
        (code, _, _) = Run("export", "--checkpoint", run, "--out", file);
        Assert.NotEqual(0, code);
    }

    /// <summary>
    /// A class-conditional U-Net on 8x8 digits, exported: ONNX Runtime's output on flattened images, with labels and the
    /// "no class" entry, equals the checkpoint's moving-average U-Net (tolerance 1e-4, as the U-Net export tests), and the
    /// metadata says how to decode it (shape [1,8,8], image, 17 levels, 10 class names).
    /// </summary>
    [Fact]
    public void An_exported_unet_checkpoint_runs_in_onnx_runtime_as_its_moving_average_network_with_image_metadata()
    {
        var run = Path.Combine(_dir, "d8");
        var (code, _, error) = Run("train", "--target", "digits8", "--unet", "tiny", "--steps", "20", "--batch", "16", "--threads", "1", "--progress", "none", "--out", run);
        Assert.True(code == 0, error);
        var file = Path.Combine(_dir, "d8.onnx");
        (code, _, error) = Run("export", "--checkpoint", run, "--out", file);
        Assert.True(code == 0, error);
        using var checkpoint = Checkpoint.Load(run);
        Assert.Equal("unet", checkpoint.Networks[0].Network.Spec?.Type);
        using var scope = NewDisposeScope();
        const int n = 33;
        var x = randn(n, 64, generator: new Generator(3));
        var t = rand(n, generator: new Generator(4));
        var labels = Enumerable.Range(0, n).Select(i => (long)(i % 11) - 1).ToArray();
        float[] expected;
        using (no_grad()) expected = checkpoint.Networks[0].Network.forward(x, t, tensor(labels)).data<float>().ToArray();
        using var session = new InferenceSession(file);
        using var results = session.Run(OnnxInputs.Of(x, t, classes: tensor(labels)));
        var actual = results.Single(r => r.Name == "y").AsEnumerable<float>().ToArray();
        Assert.Equal(expected.Length, actual.Length);
        var gap = expected.Zip(actual, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(expected.Max(Math.Abs) > 0.1, "the network's output is nearly zero: the comparison would be vacuous");
        Assert.True(gap < 1e-4, $"ONNX Runtime differs from the checkpoint's U-Net by {gap}");
        var metadata = session.ModelMetadata.CustomMetadataMap;
        Assert.Equal("velocity", metadata[OnnxExport.FieldKey]);
        Assert.Equal("ema", metadata[OnnxExport.WeightsKey]);
        Assert.Equal("[1,8,8]", metadata[OnnxExport.ShapeKey]);
        Assert.Equal("image", metadata[OnnxExport.DecodingKey]);
        Assert.Equal("17", metadata[OnnxExport.ImageLevelsKey]);
        using var classes = JsonDocument.Parse(metadata[OnnxExport.ClassesKey]);
        Assert.Equal(10, classes.RootElement.GetArrayLength());
        Assert.All(classes.RootElement.EnumerateArray(), c => Assert.False(string.IsNullOrEmpty(c.GetString())));
    }

    [Fact]
    public void A_network_without_an_exporter_is_refused_with_exit_2_and_no_file()
    {
        var run = Train("sphere", "--target", "vmf-mixture");
        var file = Path.Combine(_dir, "sphere.onnx");
        var (code, _, error) = Run("export", "--checkpoint", run, "--out", file);
        Assert.Equal(2, code);
        Assert.Contains("no ONNX exporter for the network 'manifold-mlp'", error);
        Assert.False(File.Exists(file));
        (code, _, error) = Run("export", "--checkpoint", run, "--out", Path.Combine(_dir, "x.bin"));
        Assert.Equal(2, code);
        Assert.Contains("FILE.onnx", error);
    }
}

/// <summary>The TorchSharp-free generator (StochasticInterpolants.Onnx) against the library's solvers on the same X_0.</summary>
public sealed class OnnxGeneratorTests(Xunit.Abstractions.ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-onnx-generator-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    /// <summary>
    /// Each solver of the generator carries the same 500 X_0 as the library's solver of the same name and steps over the
    /// exported network: measured 2.4e-7 (Euler, Heun, midpoint) and 4.8e-7 (RK4) apart, float32 rounding; tolerance 1e-4.
    /// </summary>
    [Theory]
    [InlineData("euler", 10)]
    [InlineData("heun", 8)]
    [InlineData("midpoint", 8)]
    [InlineData("rk4", 20)]
    public void The_onnx_generator_follows_the_library_solver_from_the_same_noise(string solver, int steps)
    {
        var run = Path.Combine(_dir, "cb");
        var (code, _, error) = SiRunner.Run("train", "--target", "checkerboard", "--steps", "40", "--width", "32", "--depth", "2", "--batch", "64", "--threads", "1", "--progress", "none", "--out", run);
        Assert.True(code == 0, error);
        var file = Path.Combine(_dir, "cb.onnx");
        (code, _, error) = SiRunner.Run("export", "--checkpoint", run, "--out", file);
        Assert.True(code == 0, error);
        using var checkpoint = Checkpoint.Load(run);
        using var scope = NewDisposeScope();
        var x0 = randn(500, 2, generator: new Generator(8));
        using var library = StochasticInterpolants.Sampling.OdeSolvers.Create(solver, steps).Integrate(checkpoint.Fields().Velocity(), x0, 0, 1);
        using var generator = StochasticInterpolants.Onnx.OnnxGenerator.Load(file);
        var onnx = generator.Integrate(x0.data<float>().ToArray(), 500, solver, steps);
        var reference = library.Final.data<float>().ToArray();
        var gap = reference.Zip(onnx, (a, b) => Math.Abs(a - b)).Max();
        output.WriteLine($"{solver} {steps}: max |ONNX generator - library| = {gap:G3}");
        Assert.True(gap < 1e-4, $"{solver} {steps}: the ONNX generator ends {gap} from the library");
        var drawn = generator.Sample(200, new Random(1));
        Assert.Equal(400, drawn.Length);
        Assert.All(drawn, v => Assert.True(float.IsFinite(v)));
    }

    /// <summary>
    /// A flow map exported with its two times: the generator's jumps from the same X_0 land where the library's
    /// <c>FlowMapSampler</c> lands (tolerance 1e-4), at 1, 2 and 4 jumps.
    /// </summary>
    [Fact]
    public void The_onnx_generator_jumps_as_the_library_flow_map_sampler_does()
    {
        var run = Path.Combine(_dir, "map");
        var (code, _, error) = SiRunner.Run("train", "--target", "checkerboard", "--learn", "flow-map", "--steps", "30", "--width", "32", "--depth", "2", "--batch", "64",
            "--threads", "1", "--progress", "none", "--out", run);
        Assert.True(code == 0, error);
        var file = Path.Combine(_dir, "map.onnx");
        (code, _, error) = SiRunner.Run("export", "--checkpoint", run, "--out", file);
        Assert.True(code == 0, error);
        using var checkpoint = Checkpoint.Load(run);
        using var scope = NewDisposeScope();
        var x0 = randn(300, 2, generator: new Generator(5));
        using var generator = StochasticInterpolants.Onnx.OnnxGenerator.Load(file);
        Assert.True(generator.IsFlowMap);
        foreach (var jumps in new[] { 1, 2, 4 })
        {
            var library = StochasticInterpolants.Sampling.FlowMapSampler.Sample(checkpoint.FlowMap!, x0, jumps).data<float>().ToArray();
            var onnx = generator.Jumps(x0.data<float>().ToArray(), 300, jumps);
            var gap = library.Zip(onnx, (a, b) => Math.Abs(a - b)).Max();
            output.WriteLine($"{jumps} jumps: max |ONNX generator - library| = {gap:G3}");
            Assert.True(gap < 1e-4, $"{jumps} jumps: {gap}");
        }
        // Its diagonal is the velocity: the generator integrates it as the library's RK4 does.
        using var ode = new StochasticInterpolants.Sampling.Rk4Solver(10).Integrate(checkpoint.Fields().Velocity(), x0, 0, 1);
        var diagonal = generator.Integrate(x0.data<float>().ToArray(), 300, "rk4", 10);
        Assert.True(ode.Final.data<float>().ToArray().Zip(diagonal, (a, b) => Math.Abs(a - b)).Max() < 1e-4);
    }
}
