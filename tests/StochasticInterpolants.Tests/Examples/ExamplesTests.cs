using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using StochasticInterpolants.Tests.Bench; // Repo.Root

namespace StochasticInterpolants.Tests.Examples;

/// <summary>
/// Every program in examples/ is built and run the way a reader runs it — <c>dotnet run examples/NAME.cs -- --quick --out DIR</c>
/// from the repository root — and its printed figures and files are checked, so no example in the documentation can rot.
/// <c>dotnet run</c> builds the referenced library projects in Debug (their own bin/obj folders, apart from the Release build
/// these tests run from) and caches the example's own build: the first example of a fresh clone spends about a minute
/// building, later runs a few seconds each. In the "Examples" collection with the tutorial's tests, which `dotnet run`
/// examples/tutorial.cs: two builds of the same library projects at once would write the same obj/ folders.
/// </summary>
[Trait("Category", "Examples")]
[Collection("Examples")]
public sealed partial class ExamplesTests : IDisposable
{
    /// <summary>The examples these tests run; <see cref="Every_example_has_a_run_and_says_how_to_run_it"/> keeps it complete.</summary>
    internal static readonly string[] Covered = ["checkerboard", "own-table", "class-conditional-images", "custom-interpolant", "custom-network", "flow-map", "onnx-digits"];

    /// <summary>Examples that generate with the ONNX package alone: their only reference is StochasticInterpolants.Onnx.</summary>
    private static readonly string[] TorchSharpFree = ["onnx-digits"];

    // Long enough for the first run of a fresh clone on a loaded 2-core machine, which builds the library projects in Debug.
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(10);

    private readonly string _dir = Directory.CreateTempSubdirectory("si-examples-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private static string ExamplesFolder => Path.Combine(Repo.Root, "examples");

    /// <summary>Runs examples/NAME.cs with --quick into a fresh folder; returns its output and that folder.</summary>
    private (string Output, string Folder) Run(string name, params string[] extra)
    {
        var folder = Path.Combine(_dir, name);
        var (code, output, elapsed) = ChildProcess.Run("dotnet", ["run", "-c", "Release", $"examples/{name}.cs", "--", "--quick", "--out", folder, .. extra],
            Repo.Root, Timeout);
        Assert.True(code == 0, $"examples/{name}.cs --quick exited with {code} after {elapsed.TotalSeconds:F0} s:\n{output}");
        return (output, folder);
    }

    /// <summary>The number printed after <paramref name="label"/> (invariant culture), failing the test when it is missing.</summary>
    private static double Number(string output, string label)
    {
        var m = Regex.Match(output, Regex.Escape(label) + @"\s*(-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)");
        Assert.True(m.Success, $"'{label}' followed by a number not found in:\n{output}");
        return double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    /// <summary>Width and height from a PNG file's IHDR chunk, after checking the signature.</summary>
    private static (int Width, int Height) PngSize(string path)
    {
        Assert.True(File.Exists(path), $"{path} was not written");
        var bytes = File.ReadAllBytes(path);
        Assert.True(bytes.Length > 33 && bytes.AsSpan(0, 8).SequenceEqual(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }), $"{path} is not a PNG");
        return (System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)), System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20)));
    }

    private static double[][] ReadRows(string path, bool header)
    {
        Assert.True(File.Exists(path), $"{path} was not written");
        return File.ReadAllLines(path).Skip(header ? 1 : 0).Where(l => l.Length > 0)
            .Select(l => l.Split(',').Select(f => double.Parse(f, CultureInfo.InvariantCulture)).ToArray()).ToArray();
    }

    [Fact]
    public void Checkerboard_learns_the_squares_and_writes_its_samples()
    {
        var (output, folder) = Run("checkerboard");
        // N(0, I) itself puts 0.50 of its mass inside the squares (the 10,000 samples' sd is 0.005); 600 quick steps were
        // measured at 0.640 (seed 0, 1 thread).
        var inside = Number(output, "fraction inside the squares:");
        Assert.True(inside > 0.55 && inside <= 1, $"fraction inside {inside}\n{output}");
        // The library region (the README's example) prints the same fraction as a bare number, first.
        var first = output.Split('\n')[0].Trim();
        Assert.True(double.TryParse(first, NumberStyles.Float, CultureInfo.InvariantCulture, out var bare) && Math.Abs(bare - inside) <= 5e-4,
            $"first line '{first}', fraction {inside}");
        var rows = ReadRows(Path.Combine(folder, "samples.csv"), header: false);
        Assert.Equal(10_000, rows.Length);
        Assert.All(rows, r => Assert.True(r.Length == 2 && r.All(double.IsFinite)));
        // The fraction printed is that of the samples written: recomputed from the CSV.
        var recomputed = rows.Count(r => StochasticInterpolants.Data.Checkerboard.Contains(r[0], r[1])) / (double)rows.Length;
        Assert.Equal(inside, recomputed, 3);
        var (width, height) = PngSize(Path.Combine(folder, "samples.png"));
        Assert.True(width == 1000 && height == 500, $"samples.png is {width} x {height}, expected two 500 x 500 panels");
    }

    [Fact]
    public void Own_table_generates_rows_in_the_data_units()
    {
        var (output, folder) = Run("own-table");
        var written = Path.Combine(folder, "measurements.csv");
        var data = ReadRows(written, header: true);
        var generated = ReadRows(Path.Combine(folder, "generated.csv"), header: true);
        Assert.Equal("length_mm,mass_g,pieces", File.ReadLines(Path.Combine(folder, "generated.csv")).First());
        Assert.Equal(data.Length, generated.Length);
        Assert.All(generated, r => Assert.True(r.Length == 3 && r.All(double.IsFinite)));
        // The whole-number column comes back as whole numbers (dequantised for training, rounded down after sampling).
        Assert.All(generated, r => Assert.Equal(Math.Floor(r[2]), r[2]));
        // Per column, the printed statistics: the generated mean within a quarter of the data's standard deviation of the
        // data's mean, and the standard deviations within 30 % (the columns differ in scale by a factor ~500).
        var names = new[] { "length_mm", "mass_g", "pieces" };
        for (var j = 0; j < names.Length; j++)
        {
            var column = names[j];
            var m = Regex.Match(output, $@"^{column}\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$", RegexOptions.Multiline);
            Assert.True(m.Success, $"no statistics line for {column}:\n{output}");
            var v = Enumerable.Range(1, 4).Select(i => double.Parse(m.Groups[i].Value, CultureInfo.InvariantCulture)).ToArray();
            Assert.True(Math.Abs(v[1] - v[0]) < 0.25 * v[2], $"{column}: data mean {v[0]}, generated {v[1]}, data std {v[2]}");
            Assert.True(v[3] > 0.7 * v[2] && v[3] < 1.3 * v[2], $"{column}: data std {v[2]}, generated {v[3]}");
            // The statistics printed are those of the files (5 significant digits).
            Assert.True(Math.Abs(data.Average(r => r[j]) - v[0]) <= 1e-4 * Math.Abs(v[0]) + 1e-9, $"{column}: data mean {v[0]} printed");
            Assert.True(Math.Abs(generated.Average(r => r[j]) - v[1]) <= 1e-4 * Math.Abs(v[1]) + 1e-9, $"{column}: generated mean {v[1]} printed");
        }
    }

    [Fact]
    public void Own_table_reads_a_given_file_with_columns_dropped()
    {
        // A table of the test's own: a header, a constant label column to drop, two columns.
        var file = Path.Combine(_dir, "given.csv");
        var random = new Random(3);
        File.WriteAllLines(file, new[] { "a,b,label" }.Concat(Enumerable.Range(0, 300).Select(_ =>
            string.Create(CultureInfo.InvariantCulture, $"{10 + random.NextDouble():R},{-5 + 2 * random.NextDouble():R},1"))));
        var (output, folder) = Run("own-table", file, "--columns", "drop:last");
        Assert.Contains("300 rows, columns a, b", output);
        Assert.False(File.Exists(Path.Combine(folder, "measurements.csv")), "the built-in table is written only without a file");
        var generated = ReadRows(Path.Combine(folder, "generated.csv"), header: true);
        Assert.Equal(300, generated.Length);
        Assert.Equal("a,b", File.ReadLines(Path.Combine(folder, "generated.csv")).First());
        // Uniform columns on [10, 11] and [-5, -3]: the generated means land near 10.5 and -4.
        Assert.InRange(generated.Average(r => r[0]), 10.3, 10.7);
        Assert.InRange(generated.Average(r => r[1]), -4.4, -3.6);
    }

    [Fact]
    public void Class_conditional_images_draws_a_grid_per_guidance_weight()
    {
        var (output, folder) = Run("class-conditional-images");
        // The nearest-neighbour classifier the figure relies on is itself good on the held-out digits.
        Assert.True(Number(output, "test digits:") > 0.9, output);
        var plain = Number(output, "w = 1:");
        var guided = Number(output, "w = 2:");
        Assert.InRange(plain, 0, 1);
        // Chance is 0.1; even the quick run's guided samples are told apart from it (measured 0.27 at w = 1 and 0.40 at w = 2 after 60 steps, 1 thread).
        Assert.True(guided > 0.15, $"guided samples classified as asked: {guided}\n{output}");
        foreach (var w in new[] { 1, 2 })
        {
            var (width, height) = PngSize(Path.Combine(folder, $"samples-w{w}.png"));
            // 10 x 10 digits of 8 x 8 pixels at 6x (48 px), with padding, row labels and a title.
            Assert.True(width >= 480 && height >= 480, $"samples-w{w}.png is {width} x {height}");
        }
    }

    [Fact]
    public void Custom_interpolant_is_registered_saved_loaded_and_learns_the_moons()
    {
        var (output, folder) = Run("custom-interpolant");
        Assert.Matches(@"registered interpolants: .*\bsmoothstep\b", output);
        Assert.Contains("loaded the checkpoint: interpolant 'smoothstep'", output);
        // The coefficients the loaded interpolant reports are the smoothstep's: beta(1/4) = 3/16 - 2/64 = 0.15625, beta' = 9/8.
        Assert.InRange(Number(output, "beta"), 0.1562, 0.1563);
        Assert.InRange(Number(output, "beta'"), 1.1249, 1.1251);
        Assert.Contains("\"family\": \"smoothstep\"", File.ReadAllText(Path.Combine(folder, "smoothstep", "checkpoint.json")));
        var custom = Number(output, "to the moons: smoothstep");
        var linear = Number(output, "linear");
        var noise = Number(output, "the noise x0");
        // Both flows carry the noise most of the way: their energy distance to the moons is a fraction of the noise's.
        Assert.True(custom < 0.25 * noise && linear < 0.25 * noise, $"D^2: smoothstep {custom}, linear {linear}, noise {noise}");
        Assert.Equal(2000, ReadRows(Path.Combine(folder, "samples.csv"), header: false).Length);
    }

    [Fact]
    public void Custom_network_trains_and_reloads_through_the_registry()
    {
        var (output, folder) = Run("custom-network");
        Assert.Contains("reloaded 'film-mlp'", output);
        // The registry rebuilt the same module and the weights were restored: the reloaded flow draws identical samples.
        Assert.Equal(0, Number(output, "largest difference between the two sample sets"));
        Assert.Contains("\"type\": \"film-mlp\"", File.ReadAllText(Path.Combine(folder, "film", "checkpoint.json")));
        var generated = Number(output, "to the spirals: generated");
        var noise = Number(output, "the noise x0");
        Assert.True(generated < 0.25 * noise, $"D^2: generated {generated}, noise {noise}");
    }

    [Fact]
    public void Flow_map_samples_in_jumps_and_on_its_diagonal()
    {
        var (output, folder) = Run("flow-map");
        var inside = new[] { "1 jump (", "2 jumps (", "4 jumps (", "8 jumps (" }
            .Select(label => Number(Regex.Match(output, Regex.Escape(label) + ".*$", RegexOptions.Multiline).Value, "per sample):")).ToArray();
        var ode = Number(output, "(100 evaluations per sample):");
        Assert.All(inside.Append(ode), f => Assert.InRange(f, 0, 1));
        // N(0, I) puts 0.50 inside (sd 0.005 for 10,000 samples); 600 quick steps were measured at 0.552 for 2 jumps and 0.560
        // for RK4 (seed 0, 1 thread).
        Assert.True(inside[1] > 0.53 && ode > 0.53, $"2 jumps {inside[1]}, RK4 {ode}\n{output}");
        Assert.Equal(10_000, ReadRows(Path.Combine(folder, "jumps-2.csv"), header: false).Length);
        var (width, height) = PngSize(Path.Combine(folder, "jumps.png"));
        Assert.True(width == 1600 && height == 400, $"jumps.png is {width} x {height}, expected four 400 x 400 panels");
    }

    [Fact]
    public void Onnx_digits_writes_a_grid_per_class_from_an_exported_model_without_torchsharp()
    {
        // A small class-conditional digits8 MLP, trained and exported in-process (the quality of its digits is not the point:
        // OnnxGeneratorDecodingTests compares the pixels with the library's sampler).
        var run = Path.Combine(_dir, "digits8");
        var (code, _, error) = Cli.SiRunner.Run("train", "--target", "digits8", "--model", "mlp", "--steps", "100", "--width", "64", "--depth", "2",
            "--threads", "1", "--progress", "none", "--out", run);
        Assert.True(code == 0, error);
        var model = Path.Combine(_dir, "digits8.onnx");
        (code, _, error) = Cli.SiRunner.Run("export", "--checkpoint", run, "--out", model);
        Assert.True(code == 0, error);
        var (output, folder) = Run("onnx-digits", "--model", model);
        Assert.Contains("10 classes", output);
        // --quick: 4 per class, 10 rows; 8 x 8 digits at 6x (48 px) with 2 px padding between and around the cells.
        Assert.True(Number(output, "generated") == 40, output);
        Assert.InRange(Number(output, "images in"), 0, 120);
        var (width, height) = PngSize(Path.Combine(folder, "digits.png"));
        Assert.True(width == 2 + 4 * 50 && height == 2 + 10 * 50, $"digits.png is {width} x {height}, expected 202 x 502");
        // The program's build output: ONNX Runtime and the Onnx package, nothing of TorchSharp or libtorch, nor the core library.
        var bin = Regex.Match(output, @"^program folder: (.+)$", RegexOptions.Multiline).Groups[1].Value.Trim();
        Assert.True(Directory.Exists(bin), $"the example's program folder '{bin}' does not exist\n{output}");
        var files = Directory.GetFiles(bin, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(bin, f)).ToArray();
        Assert.Contains(files, f => f.EndsWith("libonnxruntime.so", StringComparison.Ordinal));
        Assert.Contains("StochasticInterpolants.Onnx.dll", files);
        Assert.DoesNotContain(files, f => f.Contains("torch", StringComparison.OrdinalIgnoreCase) || f == "StochasticInterpolants.dll");
        // Nor ONNX Runtime's Windows library (20 MB), which its package's build props copy into any x64 output.
        Assert.DoesNotContain("onnxruntime.dll", files);
    }

    [Fact]
    public void Every_example_has_a_run_and_says_how_to_run_it()
    {
        // examples/tutorial*.cs belong to the tutorial, whose own tests run them.
        var examples = Directory.GetFiles(ExamplesFolder, "*.cs").Select(Path.GetFileNameWithoutExtension).OfType<string>()
            .Where(n => !n.StartsWith("tutorial", StringComparison.Ordinal)).Order().ToArray();
        Assert.Equal(Covered.Order(), examples);
        foreach (var name in examples)
        {
            var text = File.ReadAllText(Path.Combine(ExamplesFolder, $"{name}.cs"));
            Assert.StartsWith($"// {name}.cs — ", text);
            Assert.Contains($"//   dotnet run examples/{name}.cs ", text);
            Assert.Contains($"//   dotnet run examples/{name}.cs -- --quick", text);
            if (TorchSharpFree.Contains(name))
                Assert.Equal(["#:project ../src/StochasticInterpolants.Onnx/StochasticInterpolants.Onnx.csproj"],
                    text.Split('\n').Where(l => l.StartsWith("#:project", StringComparison.Ordinal) || l.StartsWith("#:package", StringComparison.Ordinal)).Select(l => l.TrimEnd()));
            else
            {
                Assert.Contains("#:project ../src/StochasticInterpolants/StochasticInterpolants.csproj", text);
                // The app chooses its libtorch (the core package carries none to its consumers) and keeps reflection-based JSON,
                // which checkpoints use and a file-based app's default (PublishAot) turns off.
                Assert.Contains("#:package libtorch-cpu-linux-x64@2.10.0", text);
            }
            Assert.Contains("#:property PublishAot=false", text);
            Assert.Contains("args.Contains(\"--quick\")", text);
            // Regions for the documentation are balanced: every // <name> has its // </name> after it.
            foreach (Match open in RegionOpen().Matches(text))
            {
                var close = text.IndexOf($"// </{open.Groups[1].Value}>", open.Index, StringComparison.Ordinal);
                Assert.True(close > open.Index, $"{name}.cs: region '{open.Groups[1].Value}' is not closed");
            }
        }
    }

    [GeneratedRegex(@"^\s*// <([a-z][a-z0-9-]*)>\s*$", RegexOptions.Multiline)]
    private static partial Regex RegionOpen();
}
