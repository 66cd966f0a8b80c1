using System.Diagnostics;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Data;
using StochasticInterpolants.Files;
using StochasticInterpolants.Runs;
using StochasticInterpolants.Training;
using SkiaSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Benchmarks;

/// <summary>What a fuzzing run tried and saw, per reader.</summary>
public sealed record FuzzReport(IReadOnlyDictionary<string, (int Tried, int Parsed, int Refused)> Readers, TimeSpan Elapsed, TimeSpan SlowestInput)
{
    /// <summary>Inputs tried over all readers.</summary>
    public int Total => Readers.Values.Sum(r => r.Tried);
}

/// <summary>Raised when a reader crashes (an exception other than its documented clear error) on some input.</summary>
public sealed class FuzzFailure(string message, Exception inner) : Exception(message, inner);

/// <summary>
/// A mutation fuzzer for every reader of user-supplied files: CSV matrices, tables (with several option sets), safetensors weights, checkpoint manifests,
/// training snapshots, training configs, NumPy .npy/.npz arrays (read as images), IDX files (raw and gzip) and folders of
/// class folders of PNG images. It starts from valid files (a tiny training run, small arrays and images) and applies random
/// byte and token mutations (bit flips, interesting bytes and numbers, deletions, insertions, duplications, truncation,
/// splices), plus structurally valid safetensors files with random headers. Each input must be parsed or refused with
/// the reader's one-line error; anything else is a crash. Shared by the test suite (a few thousand inputs) and
/// <c>scripts/bench.sh --fuzz N</c> (long runs).
/// </summary>
public static class ReaderFuzzer
{
    private static readonly string[] InterestingTokens =
        ["-1", "0", "1e309", "-1e309", "9223372036854775807", "-9223372036854775808", "4294967296", "NaN", "null", "[]", "{}", "\"\"", "\"x\"",
         "1.5", "true", "\"../x\"", "\"F64\"", "[-1]", "[0,0]", "[1,-4]", "\"\\u0000\""];
    private static readonly byte[] InterestingBytes = [0, 0xFF, 0x7F, 0x80, (byte)'-', (byte)'9', (byte)'"', (byte)'{', (byte)'}', (byte)',', (byte)'\n', (byte)'e', (byte)'.'];

    /// <summary>Runs <paramref name="inputs"/> inputs (spread over the readers) from seed <paramref name="seed"/> in <paramref name="workFolder"/>.</summary>
    public static FuzzReport Run(int inputs, int seed, string workFolder, Action<string>? log = null)
    {
        Directory.CreateDirectory(workFolder);
        var corpus = Path.Combine(workFolder, "corpus");
        MakeCorpus(corpus);
        var rng = new Random(seed);
        var stats = new Dictionary<string, (int Tried, int Parsed, int Refused)>();
        var watch = Stopwatch.StartNew();
        var slowest = TimeSpan.Zero;
        var csvSeeds = new[] { "x,y\n1,2\n3.5,-4e3\n", "1,2,3\n4,5,6\n", "a\n1\n2\n", "1,2\r\n3,4\r\n" }.Select(Encoding.UTF8.GetBytes).ToArray();
        // Tables also come with metadata lines, whitespace delimiters, text labels and quoted names.
        var tableSeeds = csvSeeds.Concat(new[] { "150,4,setosa,versicolor,virginica\n5.1,3.5,1.4,0.2,0\n4.9,3.0,1.4,0.2,1\n", "59 2 32.1 101.0\n48\t1 21.6 87.0\n",
            "x,y,label\n1,2,b\n3,4,a\n", "\"id\",\"x\",\"kind\"\n\"1\",0.5,\"setosa\"\n\"2\",1.5,\"virginica\"\n" }.Select(Encoding.UTF8.GetBytes)).ToArray();
        (string Name, TableReadOptions Options)[] tableOptions =
            [("csv-table", new()), ("csv-table drop:last", new(Columns: "drop:last")), ("csv-table label last", new(LabelColumn: "last")), ("csv-table skip 1", new(SkipRows: 1))];
        var weights = File.ReadAllBytes(Path.Combine(corpus, "run", "weights.velocity.safetensors"));
        var manifest = File.ReadAllBytes(Path.Combine(corpus, "run", Checkpoint.ManifestFileName));
        var stateJson = File.ReadAllBytes(Path.Combine(corpus, "run", TrainingStateFolder.FolderName, "state.json"));
        var adam = File.ReadAllBytes(Path.Combine(corpus, "run", TrainingStateFolder.FolderName, "network0.adam.safetensors"));
        var config = File.ReadAllBytes(Path.Combine(corpus, "run", "config.json"));
        var images = MakeImageCorpus(Path.Combine(corpus, "images"));
        var scratch = Path.Combine(workFolder, "input");
        for (var i = 0; i < inputs; i++)
        {
            var which = i % 12;
            var one = Stopwatch.StartNew();
            switch (which)
            {
                case 0:
                    Try("csv", Mutate(rng, csvSeeds[rng.Next(csvSeeds.Length)], csvSeeds[rng.Next(csvSeeds.Length)]), ".csv", p => { using var t = CsvMatrix.Read(p); }, e => e is DataFormatException);
                    break;
                case 1:
                    Try("safetensors", Mutate(rng, weights, adam), ".safetensors", p => Dispose(SafeTensors.Load(p)), e => e is CheckpointException);
                    break;
                case 2:
                    Try("safetensors-header", RandomHeaderFile(rng), ".safetensors", p => Dispose(SafeTensors.Load(p)), e => e is CheckpointException);
                    break;
                case 3:
                    TryFolder("checkpoint", Path.Combine(corpus, "run"), Checkpoint.ManifestFileName, Mutate(rng, manifest, config),
                        f => Checkpoint.Load(f).Dispose(), e => e is CheckpointException);
                    break;
                case 4:
                    TryFolder("train-state", Path.Combine(corpus, "run"), Path.Combine(TrainingStateFolder.FolderName, "state.json"), Mutate(rng, stateJson, manifest),
                        f => TrainingStateFolder.Load(f).State.DisposeTensors(), e => e is CheckpointException);
                    break;
                case 5:
                {
                    // Option errors that depend on the file (e.g. dropping its only column) are the table reader's other clear error.
                    var (name, options) = tableOptions[rng.Next(tableOptions.Length)];
                    Try(name, Mutate(rng, tableSeeds[rng.Next(tableSeeds.Length)], tableSeeds[rng.Next(tableSeeds.Length)]), ".csv",
                        p => { using var t = CsvTable.Read(p, options); }, e => e is DataFormatException or Runtime.InvalidSettingException);
                    break;
                }
                case 6:
                    Try("config", Mutate(rng, config, manifest), ".json", p => TrainingRunConfig.FromJsonFile(p), e => e is ArgumentException);
                    break;
                case 7:
                    Try("npy", Mutate(rng, Pick(images.Npy), Pick(images.Npy)), ".npy", p => NpyFile.Read(p).Dispose(), e => e is DataFormatException);
                    break;
                case 8:
                    Try("npy-images", Mutate(rng, Pick(images.Npy), Pick(images.Npy)), ".npy", p => ImageArrays.Read(p).Dispose(), e => e is DataFormatException);
                    break;
                case 9:
                    // Through the image reader: the archive, its entries, the choice of entries and the pixel checks.
                    Try("npz-images", Mutate(rng, Pick(images.Npz), Pick(images.Npz)), ".npz", p => ImageArrays.Read(p).Dispose(), e => e is DataFormatException);
                    break;
                case 10:
                    Try("idx", Mutate(rng, Pick(images.Idx), Pick(images.Idx)), ".idx", p => IdxFile.Read(p).Dispose(), e => e is DataFormatException);
                    break;
                default:
                {
                    var file = rng.Next(images.FolderFiles.Length);
                    var bytes = File.ReadAllBytes(Path.Combine(images.Folder, images.FolderFiles[file]));
                    TryFolder("image-folder", images.Folder, images.FolderFiles[file], Mutate(rng, bytes, File.ReadAllBytes(Path.Combine(images.Folder, images.FolderFiles[rng.Next(images.FolderFiles.Length)]))),
                        f => ImageDatasets.Load(f).Dispose(), e => e is DataFormatException);
                    break;
                }
            }
            if (one.Elapsed > slowest) slowest = one.Elapsed;
            if (log is not null && (i + 1) % 10_000 == 0) log($"  {i + 1} inputs, {watch.Elapsed.TotalSeconds:F0} s");
        }
        return new FuzzReport(stats, watch.Elapsed, slowest);

        byte[] Pick(byte[][] seeds) => seeds[rng.Next(seeds.Length)];

        void Try(string reader, byte[] input, string extension, Action<string> read, Func<Exception, bool> clear)
        {
            var path = scratch + extension;
            File.WriteAllBytes(path, input);
            Check(reader, input, () => read(path), clear);
        }

        void TryFolder(string reader, string template, string relative, byte[] input, Action<string> read, Func<Exception, bool> clear)
        {
            var folder = scratch + ".dir";
            if (Directory.Exists(folder)) Directory.Delete(folder, true);
            CopyFolder(template, folder);
            File.WriteAllBytes(Path.Combine(folder, relative), input);
            Check(reader, input, () => read(folder), clear);
        }

        void Check(string reader, byte[] input, Action read, Func<Exception, bool> clear)
        {
            var s = stats.GetValueOrDefault(reader);
            s.Tried++;
            try
            {
                using var scope = NewDisposeScope();
                read();
                s.Parsed++;
            }
            catch (Exception e) when (clear(e) && !e.Message.Contains('\n'))
            {
                s.Refused++;
            }
            catch (Exception e)
            {
                var sample = Encoding.UTF8.GetString(input[..Math.Min(input.Length, 300)]);
                throw new FuzzFailure($"{reader} crashed on input #{s.Tried} (seed {seed}) with {e.GetType().Name}: {e.Message.Split('\n')[0]}; input starts {sample}", e);
            }
            stats[reader] = s;
        }
    }

    private static void Dispose(Dictionary<string, Tensor> tensors) { foreach (var t in tensors.Values) t.Dispose(); }

    private static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
        foreach (var d in Directory.GetDirectories(from)) CopyFolder(d, Path.Combine(to, Path.GetFileName(d)));
    }

    /// <summary>A tiny training run stopped after 2 of 4 steps: a checkpoint, its snapshot and its config.</summary>
    private static void MakeCorpus(string corpus)
    {
        if (Directory.Exists(corpus)) Directory.Delete(corpus, true);
        var config = new TrainingRunConfig(Target: "moons", CheckpointEvery: 1, Model: new ModelOptions(Width: 4, Depth: 1, TimeFrequencies: 1),
            Training: new TrainingOptions(Steps: 4, BatchSize: 8, LogEvery: 1));
        using var cts = new CancellationTokenSource();
        TrainingRun.Execute(config, Path.Combine(corpus, "run"), new Runtime.SyncProgress<TrainingProgress>(p => { if (p.Step == 2) cts.Cancel(); }), cts.Token);
    }

    /// <summary>Valid image inputs: .npy files (several dtypes, a Fortran-order big-endian one), .npz archives (stored and
    /// deflated, with labels), IDX files (raw and gzip) and a folder of two class folders of tiny PNGs (grey and colour).</summary>
    private sealed record ImageCorpus(byte[][] Npy, byte[][] Npz, byte[][] Idx, string Folder, string[] FolderFiles);

    private static ImageCorpus MakeImageCorpus(string dir)
    {
        Directory.CreateDirectory(dir);
        using var scope = NewDisposeScope();
        byte[] Npy(Tensor t) { using var s = new MemoryStream(); NpyFile.Write(s, t); return s.ToArray(); }
        var pixels = arange(3 * 4 * 4, dtype: ScalarType.Byte).reshape(3, 4, 4);
        // np.asfortranarray(np.arange(24, dtype='>i2').reshape(2, 3, 4)) as NumPy writes it.
        var fortran = Convert.FromBase64String("k05VTVBZAQB2AHsnZGVzY3InOiAnPmkyJywgJ2ZvcnRyYW5fb3JkZXInOiBUcnVlLCAnc2hhcGUnOiAoMiwgMywgNCksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAMAAQAEAAIABQAAQANAAUAEQAJABUAAgAOAAYAEgAKABYAAwAPAAcAEwALABc=");
        byte[][] npy = [Npy(pixels), Npy(pixels.to(float32).div(255).permute(0, 2, 1).unsqueeze(3)), Npy(pixels.to(int64)), Npy(pixels.gt(7)), fortran];
        byte[] Npz(bool compressed)
        {
            var path = Path.Combine(dir, $"a{compressed}.npz");
            NpzFile.Write(path, new Dictionary<string, Tensor> { ["x"] = pixels, ["y"] = tensor(new long[] { 3, 1, 3 }) }, compressed);
            return File.ReadAllBytes(path);
        }
        byte[] Idx(long[] shape)
        {
            var bytes = new List<byte> { 0, 0, 8, (byte)shape.Length };
            foreach (var s in shape) bytes.AddRange(BitConverter.GetBytes((int)s).Reverse());
            bytes.AddRange(Enumerable.Range(0, (int)shape.Aggregate(1L, (a, b) => a * b)).Select(i => (byte)(i * 7)));
            return [.. bytes];
        }
        byte[] Gzip(byte[] bytes)
        {
            using var packed = new MemoryStream();
            using (var zip = new GZipStream(packed, CompressionLevel.Fastest, leaveOpen: true)) zip.Write(bytes);
            return packed.ToArray();
        }
        byte[][] idx = [Idx([3, 4, 4]), Idx([5]), Gzip(Idx([3, 4, 4])), Gzip(Idx([5]))];
        var folder = Path.Combine(dir, "folder");
        string[] files = ["a/1.png", "a/2.png", "b/3.png", "b/4.jpg"];
        for (var k = 0; k < files.Length; k++)
        {
            var path = Path.Combine(folder, files[k]);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            using var bitmap = new SKBitmap(new SKImageInfo(6, 5, k == 0 ? SKColorType.Gray8 : SKColorType.Rgba8888, SKAlphaType.Opaque));
            for (var y = 0; y < 5; y++)
                for (var x = 0; x < 6; x++) bitmap.SetPixel(x, y, new SKColor((byte)(40 * x), (byte)(50 * y), (byte)(k == 2 ? 0 : 40 * x)));
            using var data = bitmap.Encode(files[k].EndsWith(".jpg") ? SKEncodedImageFormat.Jpeg : SKEncodedImageFormat.Png, 90);
            File.WriteAllBytes(path, data.ToArray());
        }
        return new ImageCorpus(npy, [Npz(false), Npz(true)], idx, folder, files);
    }

    /// <summary>One to four random mutations of <paramref name="input"/>; sometimes spliced with <paramref name="other"/>.</summary>
    public static byte[] Mutate(Random rng, byte[] input, byte[] other)
    {
        var data = new List<byte>(input);
        var rounds = 1 + rng.Next(4);
        for (var r = 0; r < rounds; r++)
        {
            var n = data.Count;
            switch (rng.Next(9))
            {
                case 0 when n > 0: { var i = rng.Next(n); data[i] ^= (byte)(1 << rng.Next(8)); break; }
                case 1 when n > 0: data[rng.Next(n)] = InterestingBytes[rng.Next(InterestingBytes.Length)]; break;
                case 2 when n > 0: { var i = rng.Next(n); data.RemoveRange(i, Math.Min(n - i, 1 + rng.Next(16))); break; }
                case 3: { var bytes = new byte[1 + rng.Next(16)]; rng.NextBytes(bytes); data.InsertRange(rng.Next(n + 1), bytes); break; }
                case 4 when n > 0: { var i = rng.Next(n); var len = Math.Min(n - i, 1 + rng.Next(64)); data.InsertRange(rng.Next(n + 1), data.GetRange(i, len)); break; }
                case 5 when n > 0: { var keep = rng.Next(n); data.RemoveRange(keep, n - keep); break; }
                case 6 when other.Length > 0: { var cut = rng.Next(n + 1); var from = rng.Next(other.Length); data = [.. data.Take(cut), .. other.Skip(from)]; break; }
                default:
                {
                    // Replace a number, string or literal token with an interesting one (reaches past the JSON parser).
                    var text = Encoding.UTF8.GetString(data.ToArray());
                    var tokens = System.Text.RegularExpressions.Regex.Matches(text, "-?[0-9][0-9.eE+-]*|\"[^\"]*\"|true|false|null");
                    if (tokens.Count == 0) break;
                    var t = tokens[rng.Next(tokens.Count)];
                    text = text[..t.Index] + InterestingTokens[rng.Next(InterestingTokens.Length)] + text[(t.Index + t.Length)..];
                    data = [.. Encoding.UTF8.GetBytes(text)];
                    break;
                }
            }
        }
        return [.. data];
    }

    /// <summary>A safetensors file whose data block and digest are valid but whose header entries are random.</summary>
    public static byte[] RandomHeaderFile(Random rng)
    {
        var data = new byte[4 * rng.Next(0, 12)];
        rng.NextBytes(data);
        long Pick() => rng.Next(6) switch { 0 => -1, 1 => 0, 2 => rng.Next(0, data.Length + 8), 3 => long.MaxValue, 4 => int.MaxValue + 1L, _ => rng.Next(0, 4) };
        var entries = new List<string>();
        for (var i = 0; i < rng.Next(0, 3); i++)
        {
            var shape = string.Join(",", Enumerable.Range(0, rng.Next(0, 3)).Select(_ => Pick()));
            var dtype = rng.Next(5) == 0 ? "F16" : "F32";
            entries.Add($"\"t{i}\":{{\"dtype\":\"{dtype}\",\"shape\":[{shape}],\"data_offsets\":[{Pick()},{Pick()}]}}");
        }
        var digest = Convert.ToHexString(SHA256.HashData(data)).ToLowerInvariant();
        entries.Add(rng.Next(4) == 0 ? "\"__metadata__\":{\"si.sha256\":5}" : $"\"__metadata__\":{{\"si.sha256\":\"{digest}\"}}");
        var header = Encoding.UTF8.GetBytes("{" + string.Join(",", entries.OrderBy(_ => rng.Next())) + "}");
        var file = new byte[8 + header.Length + data.Length];
        BitConverter.TryWriteBytes(file.AsSpan(0, 8), (ulong)header.Length);
        header.CopyTo(file, 8);
        data.CopyTo(file, 8 + header.Length);
        return file;
    }
}
