using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Data;
using StochasticInterpolants.Export;
using StochasticInterpolants.Models;
using StochasticInterpolants.Onnx;
using StochasticInterpolants.Runs;
using StochasticInterpolants.Sampling;
using StochasticInterpolants.Tests.Cli;
using StochasticInterpolants.Visualization;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Export;

/// <summary>
/// The TorchSharp-free generator's decoding (StochasticInterpolants.Onnx) against the library's: from the same X_0 (the one
/// <c>si sample</c> draws in-process, <see cref="CheckpointSampler"/>), a table model's rows and an image model's pixels come
/// out as the library's sampler returns them; the table decoding against <c>TableEncoding.Decode</c> on random encodings;
/// the PNG writer against the Visualization project's decoder; the refusals of models it does not generate.
/// </summary>
public sealed class OnnxGeneratorDecodingTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-onnx-decoding-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private string TrainAndExport(string name, params string[] train)
    {
        var run = Path.Combine(_dir, name);
        var (code, _, error) = SiRunner.Run(["train", .. train, "--threads", "1", "--progress", "none", "--out", run]);
        Assert.True(code == 0, error);
        var file = Path.Combine(_dir, name + ".onnx");
        (code, _, error) = SiRunner.Run("export", "--checkpoint", run, "--out", file);
        Assert.True(code == 0, error);
        return run;
    }

    /// <summary>
    /// A class-conditional table (a column of five whole numbers, snapped; a whole-number column of many values, dequantised;
    /// a strictly positive column through a log; a continuous column; whitened): 600 rows from the same X_0 and classes as
    /// <see cref="CheckpointSampler.Sample(Checkpoint, int, IOdeSolver, long, Device?, int?, IProgress{double}?, SampleClasses?, StochasticInterpolants.Distributed.IProcessGroup?)"/>,
    /// by Heun's 16 steps at guidance 1 and 1.5. The continuous columns agree to 1e-5 (1 + |x|) — measured 1.3e-7 relative,
    /// the float32 rounding of ONNX Runtime against TorchSharp carried through W^-1 and exp; the rounded columns agree exactly
    /// except in rows whose value before rounding lies within 1e-3 of an integer (measured: none).
    /// </summary>
    [Fact]
    public void A_table_model_decodes_to_the_library_samplers_rows_from_the_same_noise()
    {
        var csv = Path.Combine(_dir, "t.csv");
        var random = new Random(1);
        double Gauss() => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
        int[] pieces = [0, 1, 2, 4, 7];
        File.WriteAllLines(csv, new[] { "pieces,count,size,z,kind" }.Concat(Enumerable.Range(0, 400).Select(_ =>
        {
            var a = random.NextDouble() < 0.6;
            var size = Math.Exp(0.5 + 0.6 * Gauss());
            return string.Create(CultureInfo.InvariantCulture,
                $"{pieces[random.Next(5)]},{(int)Math.Abs((a ? 60 : 120) + 25 * Gauss()) % 300},{size:F5},{0.8 * Math.Log(size) + 0.3 * Gauss():F5},{(a ? "a" : "b")}");
        })));
        var run = TrainAndExport("table", "--target", csv, "--label-column", "kind", "--normalize", "whiten", "--log-columns", "size",
            "--integers", "snap", "--steps", "200", "--width", "32", "--depth", "2", "--batch", "64");
        using var checkpoint = Checkpoint.Load(run);
        using var generator = OnnxGenerator.Load(Path.Combine(_dir, "table.onnx"));
        Assert.Equal(SampleDecoding.Table, generator.Decoding);
        Assert.Equal([4], generator.Shape);
        Assert.Equal(["a", "b"], generator.ClassNames);
        Assert.Equal(["pieces", "count", "size", "z"], generator.Columns);
        Assert.Equal("whiten", generator.Table!.Normalization);
        Assert.Equal([2], generator.Table.LogColumns);
        Assert.Equal([0.0, 1, 2, 4, 7], generator.Table.SnappedColumns[0]);
        Assert.Equal(1, generator.ClassIndex("b"));
        Assert.Equal([1L, 0, 1], generator.ClassIndices("b", "a", "b"));
        Assert.Throws<ArgumentException>(() => generator.ClassIndex("c"));
        var encoding = checkpoint.Manifest.Table!.Encoding;
        // The un-rounded values of a row: the same encoding without its floor and snapping.
        var continuous = encoding with { DequantizedColumns = [], SnappedColumns = null };

        const int n = 600; const long seed = 11;
        foreach (var guidance in new[] { 1.0, 1.5 })
        {
            using var scope = NewDisposeScope();
            var (library, _) = CheckpointSampler.Sample(checkpoint, n, OdeSolvers.Create("heun", 16), seed, classes: new SampleClasses(Guidance: guidance));
            // What the sampler drew: X_0 from the base with a generator seeded by the seed (one draw block), and the classes.
            var x0 = CheckpointSampler.BaseOf(checkpoint.Manifest).Sample(n, new Generator((ulong)seed)).to(float32).data<float>().ToArray();
            var labels = CheckpointSampler.ClassesFor(checkpoint.Manifest, n, seed, new SampleClasses(Guidance: guidance))!.data<long>().ToArray();
            var y = generator.Integrate(x0, n, "heun", 16, labels, guidance);
            var onnx = generator.DecodeTable(y, n);
            var reference = library.data<double>().ToArray();
            var before = continuous.Decode(tensor(y, [n, 4])).data<double>().ToArray();
            double worst = 0; var nearBoundary = 0;
            for (var r = 0; r < n; r++)
                for (var j = 0; j < 4; j++)
                {
                    var (a, b) = (onnx[r][j], reference[r * 4 + j]);
                    if (j >= 2)
                    {
                        worst = Math.Max(worst, Math.Abs(a - b) / (1 + Math.Abs(b)));
                        continue;
                    }
                    if (a == b) continue;
                    // A rounded column may differ only where its value before rounding sits on a boundary.
                    var distance = Math.Abs(before[r * 4 + j] - Math.Round(before[r * 4 + j]));
                    Assert.True(distance < 1e-3, $"w = {guidance}: row {r}, column {j}: ONNX {a}, library {b}, {distance:G3} from the nearest integer before rounding");
                    nearBoundary++;
                }
            output.WriteLine($"w = {guidance}: max |ONNX - library| / (1 + |library|) on the continuous columns = {worst:G3}; rounded values that differ: {nearBoundary} of {2 * n}");
            Assert.True(worst < 1e-5, $"w = {guidance}: the continuous columns differ by {worst} relative");
            Assert.True(nearBoundary <= 2, $"w = {guidance}: {nearBoundary} rounded values differ");
            Assert.All(onnx, row => Assert.Contains(row[0], new[] { 0.0, 1, 2, 4, 7 }));
            Assert.All(onnx, row => Assert.True(row[2] > 0 && row[1] == Math.Floor(row[1])));
        }
    }

    /// <summary>
    /// digits8 (8 x 8, 17 levels, 10 classes) with an MLP: 10 digits of each class from the same X_0 as the library's
    /// sampler, by RK4 at guidance 1 and 2, decoded to pixels. They are equal except where a value sits on a level boundary:
    /// at most 0.1 % of the pixels may be one level off, none more (measured: 0 of 6,400 at both weights).
    /// </summary>
    [Fact]
    public void An_image_model_decodes_to_the_library_samplers_pixels_from_the_same_noise()
    {
        var run = TrainAndExport("digits", "--target", "digits8", "--model", "mlp", "--steps", "150", "--width", "64", "--depth", "2");
        using var checkpoint = Checkpoint.Load(run);
        using var generator = OnnxGenerator.Load(Path.Combine(_dir, "digits.onnx"));
        Assert.Equal(SampleDecoding.Image, generator.Decoding);
        Assert.Equal([1, 8, 8], generator.Shape);
        Assert.Equal(17, generator.ImageLevels);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => i.ToString(CultureInfo.InvariantCulture)), generator.ClassNames!);
        Assert.Null(generator.Table);
        Assert.Throws<InvalidOperationException>(() => generator.DecodeTable(new float[64], 1));
        // A conditional model needs classes, in range.
        Assert.Throws<ArgumentException>(() => generator.Integrate(new float[64], 1, "euler", 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => generator.Integrate(new float[64], 1, "euler", 1, [10]));

        const int perClass = 10, n = 100; const long seed = 4;
        foreach (var guidance in new[] { 1.0, 2.0 })
        {
            using var scope = NewDisposeScope();
            var classes = new SampleClasses(Guidance: guidance, PerClass: true);
            var (library, _) = CheckpointSampler.Sample(checkpoint, n, OdeSolvers.Create("rk4", 8), seed, classes: classes);
            var x0 = CheckpointSampler.BaseOf(checkpoint.Manifest).Sample(n, new Generator((ulong)seed)).to(float32).data<float>().ToArray();
            var labels = generator.EveryClass(perClass);
            Assert.Equal(CheckpointSampler.ClassesFor(checkpoint.Manifest, n, seed, classes)!.data<long>().ToArray(), labels);
            var pixels = generator.DecodeImages(generator.Integrate(x0, n, "rk4", 8, labels, guidance), n);
            var reference = library.data<byte>().ToArray();
            Assert.Equal(reference.Length, pixels.Length);
            var offByOne = 0;
            for (var i = 0; i < pixels.Length; i++)
            {
                var gap = Math.Abs(pixels[i] - reference[i]);
                Assert.True(gap <= 1, $"w = {guidance}: pixel {i} is {pixels[i]} here, {reference[i]} in the library");
                offByOne += gap;
            }
            output.WriteLine($"w = {guidance}: pixels one level off: {offByOne} of {pixels.Length}; levels used: {pixels.Distinct().Count()}");
            Assert.True(offByOne <= pixels.Length / 1000, $"w = {guidance}: {offByOne} of {pixels.Length} pixels are a level off");
            Assert.All(pixels, p => Assert.InRange(p, 0, 16));
        }
    }

    /// <summary>
    /// <see cref="TableDecoder"/> (forward substitution in double, Math.Exp, floor, snapping by binary search) against
    /// <c>TableEncoding.Decode</c> (LAPACK's triangular solve, TorchSharp's exp, searchsorted) on encodings fitted to random
    /// rows — standard and whitened, with and without log columns, dequantised and snapped columns — serialised as a
    /// checkpoint's manifest serialises them: equal to 1e-12 (1 + |x|) (measured 7.6e-15 at most), rounded values exactly equal
    /// except within 1e-9 of an integer or midpoint (measured: none).
    /// </summary>
    [Theory]
    [InlineData(Normalization.Standard, false, false, 1)]
    [InlineData(Normalization.Whiten, false, false, 2)]
    [InlineData(Normalization.Whiten, true, true, 3)]
    [InlineData(Normalization.Standard, true, true, 4)]
    [InlineData(Normalization.None, true, true, 5)]
    public void The_table_decoder_equals_the_librarys_table_encoding(Normalization normalization, bool logs, bool snap, int seed)
    {
        using var scope = NewDisposeScope();
        var g = new Generator((ulong)seed);
        const int d = 5, n = 2000;
        // Correlated columns of different scales; column 3 strictly positive (for the log); columns 0 and 4 whole numbers.
        var raw = randn(500, d, dtype: float64, generator: g).matmul(rand(d, d, dtype: float64, generator: g) + eye(d, dtype: float64));
        raw = raw * tensor(new[] { 3.0, 50, 0.01, 1, 20 }, dtype: float64) + tensor(new[] { 5.0, -3, 0, 0, 100 }, dtype: float64);
        raw[.., 3] = raw[.., 3].exp();
        raw[.., 0] = raw[.., 0].floor() + rand(500, dtype: float64, generator: g);
        raw[.., 4] = raw[.., 4].floor() + rand(500, dtype: float64, generator: g);
        var encoding = TableEncoding.Fit(raw, normalization, [0, 4], logs ? [3] : null);
        if (snap) encoding = encoding.WithSnapping([new SnappedColumn(4, [60, 80, 95, 96, 100, 130]), new SnappedColumn(0, [2])]);
        var json = JsonSerializer.Serialize(encoding, Checkpoint.Json);
        var decoder = TableDecoder.Parse(json);
        Assert.Equal(normalization.ToString().ToLowerInvariant(), decoder.Normalization);
        var y = (randn(n, d, generator: g) * 1.5f).data<float>().ToArray();
        var mine = decoder.Decode(y, n);
        var library = encoding.Decode(tensor(y, [n, d])).data<double>().ToArray();
        var before = (encoding with { DequantizedColumns = [], SnappedColumns = null }).Decode(tensor(y, [n, d])).data<double>().ToArray();
        double worst = 0; var onBoundary = 0;
        for (var r = 0; r < n; r++)
            for (var j = 0; j < d; j++)
            {
                var (a, b) = (mine[r][j], library[r * d + j]);
                if (j is 0 or 4 && a != b)
                {
                    Assert.True(Math.Abs(before[r * d + j] - Math.Round(before[r * d + j])) < 1e-9, $"row {r}, column {j}: {a} here, {b} in the library (before rounding {before[r * d + j]:R})");
                    onBoundary++;
                    continue;
                }
                worst = Math.Max(worst, Math.Abs(a - b) / (1 + Math.Abs(b)));
            }
        output.WriteLine($"{normalization}, logs {logs}, snap {snap}: max relative difference {worst:G3}; rounded values on a boundary: {onBoundary}");
        Assert.True(worst < 1e-12, $"the decoders differ by {worst} relative");
        Assert.True(onBoundary <= 2, $"{onBoundary} rounded values differ");
    }

    /// <summary>
    /// The PNG writer: CRC-32's check value, then a grey and an RGB grid (with upscaling and padding) decoded by SkiaSharp
    /// (the Visualization project's <see cref="ImageDecoding"/>) to exactly the pixels laid out by hand, and every chunk's CRC.
    /// </summary>
    [Fact]
    public void The_png_writer_round_trips_grids_of_grey_and_rgb_images()
    {
        Assert.Equal(0xCBF43926u, PngImage.Crc32(Encoding.ASCII.GetBytes("123456789")));
        var random = new Random(5);
        foreach (var (c, h, w, levels, count, columns, scale, padding) in new[] { (1, 8, 8, 17, 7, 3, 3, 2), (3, 5, 4, 256, 4, 4, 1, 0), (1, 2, 3, 2, 1, 1, 2, 1) })
        {
            var images = new byte[count * c * h * w];
            for (var i = 0; i < images.Length; i++) images[i] = (byte)random.Next(levels);
            var png = PngImage.EncodeGrid(images, count, [c, h, w], levels, columns, scale, padding, paddingValue: 200);
            CheckChunks(png);
            var path = Path.Combine(_dir, $"grid-{c}-{levels}.png");
            PngImage.Save(path, png);
            using var decoded = ImageDecoding.Read(path);
            var rows = (count + columns - 1) / columns;
            var (width, height) = (padding + columns * (w * scale + padding), padding + rows * (h * scale + padding));
            // A grey-looking RGB image decodes to one channel: compare an RGB grid only when its channels differ (they do here).
            Assert.Equal(new long[] { c, height, width }, decoded.shape);
            var actual = decoded.data<byte>().ToArray();
            for (var ch = 0; ch < c; ch++)
                for (var py = 0; py < height; py++)
                    for (var px = 0; px < width; px++)
                    {
                        byte expected = 200;
                        int cy = (py - padding) / (h * scale + padding), oy = (py - padding) % (h * scale + padding);
                        int cx = (px - padding) / (w * scale + padding), ox = (px - padding) % (w * scale + padding);
                        var i = cy * columns + cx;
                        if (py >= padding && px >= padding && oy < h * scale && ox < w * scale && i < count)
                            expected = (byte)Math.Round(255.0 * images[((i * c + ch) * h + oy / scale) * w + ox / scale] / (levels - 1), MidpointRounding.AwayFromZero);
                        Assert.True(expected == actual[(ch * height + py) * width + px], $"pixel ({ch}, {py}, {px}): expected {expected}, decoded {actual[(ch * height + py) * width + px]}");
                    }
        }
        var outside = new byte[64];
        outside[9] = 4;
        Assert.Throws<ArgumentException>(() => PngImage.EncodeGrid(outside, 1, [1, 8, 8], 4, 1)); // a value at or above the levels
    }

    // Every chunk's length and CRC-32 (over its type and data), in the order IHDR, IDAT..., IEND.
    private static void CheckChunks(byte[] png)
    {
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
        var types = new List<string>();
        for (var at = 8; at < png.Length;)
        {
            var length = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(at));
            types.Add(Encoding.ASCII.GetString(png, at + 4, 4));
            var crc = BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(at + 8 + length));
            Assert.Equal(PngImage.Crc32(png.AsSpan(at + 4, 4 + length)), crc);
            if (types[^1] == "IDAT")
            {
                // The data is a zlib stream that inflates.
                using var z = new ZLibStream(new MemoryStream(png, at + 8, length), CompressionMode.Decompress);
                z.CopyTo(Stream.Null);
            }
            at += 12 + length;
        }
        Assert.Equal("IHDR", types[0]);
        Assert.Equal("IEND", types[^1]);
        Assert.Contains("IDAT", types);
    }

    /// <summary>
    /// A class-conditional flow map's jumps under guidance: the generator blends the conditional and no-class maps in one run
    /// of 2n rows, and lands where the library's <c>FlowMapSampler</c> lands with <c>GuidedNetwork</c> (what <c>si sample</c>
    /// runs) from the same X_0, to 1e-4, at w = 0, 1 and 2.5 (a random network: outputs of order 1).
    /// </summary>
    [Fact]
    public void A_guided_flow_map_jumps_as_the_library_guided_sampler_does()
    {
        using var scope = NewDisposeScope();
        using var map = new MlpNetwork(new MlpConfig(Dimension: 2, Width: 32, Depth: 2, TimeFrequencies: 3, Classes: 3, TwoTimes: true), seed: 4);
        var file = Path.Combine(_dir, "guided-map.onnx");
        File.WriteAllBytes(file, OnnxExport.ToOnnx(map, new Dictionary<string, string>
        {
            [OnnxExport.FieldKey] = "flow-map", [OnnxExport.ManifestKey] = """{"dimension": 2, "base": "gaussian"}""", [OnnxExport.ShapeKey] = "[2]",
            [OnnxExport.DecodingKey] = "none", [OnnxExport.ClassesKey] = """["a", "b", "c"]""",
        }));
        using var generator = OnnxGenerator.Load(file);
        const int n = 90;
        var x0 = randn(n, 2, generator: new Generator(6));
        var labels = Enumerable.Range(0, n).Select(i => (long)(i % 3)).ToArray();
        foreach (var w in new[] { 0.0, 1.0, 2.5 })
        {
            float[] library;
            using (no_grad()) library = FlowMapSampler.Sample(new GuidedNetwork(map, w), x0, 3, tensor(labels)).data<float>().ToArray();
            var onnx = generator.Jumps(x0.data<float>().ToArray(), n, 3, labels, w);
            var gap = library.Zip(onnx, (a, b) => Math.Abs(a - b)).Max();
            output.WriteLine($"w = {w}: max |ONNX jumps - library| = {gap:G3}");
            Assert.True(gap < 1e-4, $"w = {w}: the guided jumps end {gap} from the library's");
        }
        // Guidance changes where the jumps land (else the comparison above would not see it).
        var plain = generator.Jumps(x0.data<float>().ToArray(), n, 3, labels);
        var guided = generator.Jumps(x0.data<float>().ToArray(), n, 3, labels, 2.5);
        Assert.True(plain.Zip(guided, (a, b) => Math.Abs(a - b)).Max() > 1e-2);
    }

    /// <summary>Manifold and sequence models, another base than N(0, I), the mirror interpolant and a time interval other than
    /// [0, 1] are refused when loaded, each in one line.</summary>
    [Theory]
    [InlineData("""{"dimension": 3, "base": "gaussian", "manifold": {"name": "sphere"}}""", "manifold model")]
    [InlineData("""{"dimension": 3, "base": "gaussian", "sequences": {"length": 3}}""", "sequence model")]
    [InlineData("""{"dimension": 3, "base": "uniform"}""", "base 'uniform'")]
    [InlineData("""{"dimension": 3, "base": "gaussian", "interpolant": {"family": "mirror"}}""", "mirror interpolant")]
    [InlineData("""{"dimension": 3, "base": "gaussian"}""", "t = 0 to t = 1 only", "[0.001,0.999]")]
    public void Models_it_does_not_generate_are_refused_in_one_line(string manifest, string reason, string interval = "[0,1]")
    {
        using var network = new MlpNetwork(new MlpConfig(Dimension: 3, Width: 8, Depth: 1), seed: 1);
        var file = Path.Combine(_dir, "m.onnx");
        File.WriteAllBytes(file, OnnxExport.ToOnnx(network, new Dictionary<string, string>
        {
            [OnnxExport.FieldKey] = "velocity", [OnnxExport.ManifestKey] = manifest, [OnnxExport.ShapeKey] = "[3]", [OnnxExport.DecodingKey] = "none",
            [OnnxExport.IntervalKey] = interval,
        }));
        var e = Assert.Throws<InvalidDataException>(() => OnnxGenerator.Load(file));
        Assert.Contains(reason, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }
}
