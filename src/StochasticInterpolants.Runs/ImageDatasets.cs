using System.ComponentModel;
using System.Diagnostics;
using System.Formats.Tar;
using System.Globalization;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using StochasticInterpolants.Data;
using StochasticInterpolants.Files;
using StochasticInterpolants.Runtime;
using StochasticInterpolants.Visualization;
using static TorchSharp.torch;

namespace StochasticInterpolants.Runs;

/// <summary>
/// Images split into a training and a test part, with where they came from and a SHA-256 of the source files (stored in
/// checkpoints to notice changed data). Owns both sets.
/// </summary>
/// <param name="Train">The training images.</param>
/// <param name="Test">The held-out images.</param>
/// <param name="Source">What was read: the data set's name and folder, or the path.</param>
/// <param name="Sha256">Lower-case hex SHA-256 of the source (see <see cref="ImageDatasets.Load"/>).</param>
public sealed record ImageData(ImageSet Train, ImageSet Test, string Source, string Sha256) : IDisposable
{
    /// <inheritdoc />
    public void Dispose()
    {
        Train.Dispose();
        Test.Dispose();
    }
}

/// <summary>
/// Image data by name or path, offline: the named sets come from Debian packages (downloaded and unpacked into a cache
/// folder on first use, nothing installed), folders of PNG/JPEG files sorted into class folders, and NumPy arrays.
/// </summary>
public static class ImageDatasets
{
    /// <summary>The named data sets.</summary>
    public static IReadOnlyList<string> Names { get; } = ["fashion-mnist", "digits", "digits8"];

    /// <summary>Class names of Fashion-MNIST, by label.</summary>
    public static IReadOnlyList<string> FashionMnistClasses { get; } =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    private static readonly IReadOnlyList<string> DigitClasses = Enumerable.Range(0, 10).Select(k => k.ToString(CultureInfo.InvariantCulture)).ToList();

    /// <summary>Where Debian's dataset-fashion-mnist package installs Fashion-MNIST (used when present).</summary>
    public const string SystemFashionMnist = "/usr/share/datasets/fashion-mnist";

    /// <summary>The fraction held out when the source has no split of its own: <see cref="RowSplit.Random"/>(n, 0.1, 0).</summary>
    public const double TestFraction = 0.1;

    private static readonly string[] ImageExtensions = [".png", ".jpg", ".jpeg"];

    private static readonly DebianSource FashionMnist = new("Fashion-MNIST", "dataset-fashion-mnist", "31 MB", "fashion-mnist",
        [.. new[] { "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz" }
            .Select(f => new DebianFile("usr/share/datasets/fashion-mnist/" + f, f))]);

    private static readonly DebianSource OpenCvDigits = new("OpenCV's digits.png", "opencv-doc", "96 MB", "digits",
        [new DebianFile("usr/share/doc/opencv-doc/examples/data/digits.png", "digits.png")]);

    // The Python path inside the package changes with Debian releases: matched by its tail.
    private static readonly DebianSource SklearnDigits = new("scikit-learn's 8x8 digits", "python3-sklearn", "2 MB", "sklearn",
        [new DebianFile("/sklearn/datasets/data/digits.csv.gz", "digits.csv.gz", MatchTail: true)]);

    /// <summary>
    /// The cache folder of downloaded data sets: <c>${SI_DATA:-${XDG_CACHE_HOME:-$HOME/.cache}/stochastic-interpolants/datasets}</c>
    /// (the rule of <c>scripts/datasets.sh</c>; an empty variable counts as unset).
    /// </summary>
    public static string CacheFolder
    {
        get
        {
            static string? Variable(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;
            if (Variable("SI_DATA") is { } data) return data;
            var cache = Variable("XDG_CACHE_HOME")
                ?? Path.Combine(Variable("HOME") ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
            return Path.Combine(cache, "stochastic-interpolants", "datasets");
        }
    }

    /// <summary>
    /// True for a data set name, an existing folder, or a path ending in .npy or .npz (existing or not): what <see cref="Load"/>
    /// reads as images rather than a table. A folder named like a table (.csv, .tsv, .txt) is not: it is a mistaken table path.
    /// </summary>
    public static bool IsImageSpec(string spec)
    {
        var s = spec.Trim();
        var tableName = Path.GetExtension(s.TrimEnd('/')).ToLowerInvariant() is ".csv" or ".tsv" or ".txt";
        return Names.Contains(s.ToLowerInvariant()) || (s.Length > 0 && !tableName && Directory.Exists(s))
            || s.EndsWith(".npy", StringComparison.OrdinalIgnoreCase) || s.EndsWith(".npz", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// The images a checkpoint was trained on (<paramref name="record"/>), loaded to score it: a changed SHA-256 is reported
    /// through <paramref name="message"/> (the data are scored as they are now); a changed image shape is refused.
    /// </summary>
    public static ImageData LoadToScore(Checkpoints.ImageRecord record, Action<string>? message = null)
    {
        var data = Load(record.Source, message);
        if (data.Sha256 != record.Sha256) message?.Invoke($"'{record.Source}' changed since training (SHA-256 differs): scoring the data as it is now");
        if (data.Test.Shape.SequenceEqual(record.Shape)) return data;
        var shape = string.Join(",", data.Test.Shape);
        data.Dispose();
        throw new DataFormatException($"'{record.Source}' now holds images of [{shape}], the checkpoint [{string.Join(",", record.Shape)}]");
    }

    /// <summary>
    /// Loads <paramref name="spec"/>:
    /// <c>fashion-mnist</c> (60,000 / 10,000 images 28 x 28, 10 classes, from <see cref="SystemFashionMnist"/> or the cache);
    /// <c>digits</c> (OpenCV's sheet of 5,000 MNIST digits 20 x 20, padded to 28 x 28; in each class the last 50 of its 500 are the test part);
    /// <c>digits8</c> (scikit-learn's 1,797 digits 8 x 8 with 17 levels, split by <see cref="RowSplit.Random"/>(n, 0.1, 0));
    /// a folder of class folders of images (with <c>train/</c> and <c>test/</c> folders as its split, else split like digits8);
    /// or an .npy/.npz file (<see cref="ImageArrays.Read"/>, split like digits8).
    /// A named set missing from the cache is fetched with apt-get download, reporting through <paramref name="message"/>.
    /// <see cref="ImageData.Sha256"/> is the SHA-256 of the file for an .npy/.npz file, and otherwise of, per file read in
    /// order, its relative path (UTF-8), a zero byte, its length (int64 little-endian) and its bytes.
    /// </summary>
    public static ImageData Load(string spec, Action<string>? message = null)
    {
        var s = spec.Trim();
        switch (s.ToLowerInvariant())
        {
            case "fashion-mnist": return LoadFashionMnist(message);
            case "digits": return LoadDigits(message);
            case "digits8": return LoadDigits8(message);
        }
        if (s.Length > 0 && Directory.Exists(s)) return LoadFolder(s);
        if (s.EndsWith(".npy", StringComparison.OrdinalIgnoreCase) || s.EndsWith(".npz", StringComparison.OrdinalIgnoreCase))
        {
            if (!File.Exists(s)) throw new FileNotFoundException($"file '{s}' does not exist");
            using var all = ImageArrays.Read(s);
            var hash = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(s)));
            return Split(all, Path.GetFullPath(s), hash);
        }
        throw new InvalidSettingException("images", $"'{spec}' is not image data: expected {string.Join(", ", Names)}, a folder of class folders of images, or an .npy/.npz file");
    }

    private static ImageData Split(ImageSet all, string source, string hash)
    {
        if (all.Count < 3) throw new DataFormatException($"'{source}' holds {all.Count} image(s): at least 3 are needed for a training and a test part");
        var (train, test) = RowSplit.Random(all.Count, TestFraction, 0);
        var trainSet = all.Subset(train, all.Name);
        try { return new ImageData(trainSet, all.Subset(test, all.Name + " (test)"), source, hash); }
        catch { trainSet.Dispose(); throw; }
    }

    /// <summary>Hashes files as documented on <see cref="Load"/>.</summary>
    private sealed class SourceHash : IDisposable
    {
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        public void Add(string relative, byte[] bytes)
        {
            _hash.AppendData(Encoding.UTF8.GetBytes(relative.Replace('\\', '/')));
            _hash.AppendData([0]);
            _hash.AppendData(BitConverter.GetBytes((long)bytes.Length));
            _hash.AppendData(bytes);
        }

        public string Hex() => Convert.ToHexStringLower(_hash.GetCurrentHash());

        public void Dispose() => _hash.Dispose();
    }

    // ---- named sets ---------------------------------------------------------------------------------------------------

    private static ImageData LoadFashionMnist(Action<string>? message)
    {
        var dir = FashionMnist.Files.All(f => File.Exists(Path.Combine(SystemFashionMnist, f.Cached))) ? SystemFashionMnist : Fetch(FashionMnist, message);
        using var hash = new SourceHash();
        byte[] Bytes(string file)
        {
            var bytes = File.ReadAllBytes(Path.Combine(dir, file));
            hash.Add(file, bytes);
            return bytes;
        }
        var train = Mnist(dir, "train", Bytes("train-images-idx3-ubyte.gz"), Bytes("train-labels-idx1-ubyte.gz"), "fashion-mnist");
        try { return new ImageData(train, Mnist(dir, "t10k", Bytes("t10k-images-idx3-ubyte.gz"), Bytes("t10k-labels-idx1-ubyte.gz"), "fashion-mnist (test)"), $"fashion-mnist ({dir})", hash.Hex()); }
        catch { train.Dispose(); throw; }
    }

    /// <summary>An MNIST-style pair of IDX files: images [n, h, w] uint8 and labels [n] in 0..9.</summary>
    internal static ImageSet Mnist(string dir, string part, byte[] images, byte[] labels, string name)
    {
        using var scope = NewDisposeScope();
        var imagesName = Path.Combine(dir, $"{part}-images-idx3-ubyte.gz");
        var labelsName = Path.Combine(dir, $"{part}-labels-idx1-ubyte.gz");
        var x = IdxFile.Read(new MemoryStream(images, writable: false), imagesName);
        var y = IdxFile.Read(new MemoryStream(labels, writable: false), labelsName);
        if (x.dim() != 3 || x.shape[0] < 1) throw new DataFormatException($"'{imagesName}': expected images [n, h, w], got [{string.Join(", ", x.shape)}]");
        if (y.dim() != 1 || y.shape[0] != x.shape[0])
            throw new DataFormatException($"'{labelsName}': expected {x.shape[0]} labels (one per image), got shape [{string.Join(", ", y.shape)}]");
        var label = y.to(ScalarType.Int64).data<long>().ToArray();
        var bad = Array.FindIndex(label, l => l >= DigitClasses.Count);
        if (bad >= 0) throw new DataFormatException($"'{labelsName}': label {label[bad]} of image {bad + 1} is outside 0..9");
        return new ImageSet(x.unsqueeze(1), label, FashionMnistClasses, 256, name);
    }

    private static ImageData LoadDigits(Action<string>? message)
    {
        var dir = Fetch(OpenCvDigits, message);
        var path = Path.Combine(dir, "digits.png");
        var bytes = File.ReadAllBytes(path);
        using var hash = new SourceHash();
        hash.Add("digits.png", bytes);
        using var sheet = ImageDecoding.Decode(bytes, path);
        var (train, test) = SliceDigits(sheet, path);
        return new ImageData(train, test, $"digits ({path})", hash.Hex());
    }

    /// <summary>
    /// OpenCV's digits sheet (uint8 [1, 1000, 2000]: 50 rows of 100 cells of 20 x 20 pixels, class k in cell rows 5k..5k+4)
    /// as 28 x 28 images (4 zero pixels added on each side, as MNIST's 20 x 20 digits sit in 28 x 28 frames); in each
    /// class, cells are taken row by row and the last 50 of its 500 form the test part.
    /// </summary>
    internal static (ImageSet Train, ImageSet Test) SliceDigits(Tensor sheet, string name)
    {
        if (sheet.dim() != 3 || sheet.shape[0] != 1 || sheet.shape[1] != 1000 || sheet.shape[2] != 2000)
            throw new DataFormatException($"'{name}': expected a greyscale 2000 x 1000 sheet of 20 x 20 digits, got [{string.Join(", ", sheet.shape)}] (channels, height, width)");
        using var scope = NewDisposeScope();
        // [row, y, col, x] -> [row, col, y, x] -> [class, 500, 20, 20]: cell rows 5k..5k+4 hold class k in reading order.
        var cells = sheet[0].reshape(50, 20, 100, 20).permute(0, 2, 1, 3).reshape(10, 500, 20, 20);
        var padded = zeros([10, 500, 28, 28], ScalarType.Byte);
        padded.narrow(2, 4, 20).narrow(3, 4, 20).copy_(cells);
        var trainPixels = padded.narrow(1, 0, 450).reshape(4500, 1, 28, 28);
        var testPixels = padded.narrow(1, 450, 50).reshape(500, 1, 28, 28);
        long[] Labels(int per) => Enumerable.Range(0, 10).SelectMany(k => Enumerable.Repeat((long)k, per)).ToArray();
        var train = new ImageSet(trainPixels, Labels(450), DigitClasses, 256, "digits");
        return (train, new ImageSet(testPixels, Labels(50), DigitClasses, 256, "digits (test)"));
    }

    private static ImageData LoadDigits8(Action<string>? message)
    {
        var dir = Fetch(SklearnDigits, message);
        var path = Path.Combine(dir, "digits.csv.gz");
        var bytes = File.ReadAllBytes(path);
        using var hash = new SourceHash();
        hash.Add("digits.csv.gz", bytes);
        using var all = ParseDigits8(bytes, path);
        return Split(all, $"digits8 ({path})", hash.Hex());
    }

    /// <summary>scikit-learn's digits.csv.gz: one image per line, 64 values 0..16 (8 x 8, row by row) and the label 0..9 last.</summary>
    internal static ImageSet ParseDigits8(byte[] gzip, string name)
    {
        var pixels = new List<byte>();
        var labels = new List<long>();
        var lineNumber = 0;
        try
        {
            using var reader = new StreamReader(new GZipStream(new MemoryStream(gzip, writable: false), CompressionMode.Decompress), Encoding.UTF8);
            while (reader.ReadLine() is { } line)
            {
                lineNumber++;
                if (line.Trim().Length == 0) continue;
                var fields = line.Split(',');
                if (fields.Length != 65) throw new DataFormatException($"'{name}': line {lineNumber} has {fields.Length} fields, expected 65 (64 pixels and a label)");
                for (var j = 0; j < 65; j++)
                {
                    var max = j < 64 ? 16 : 9;
                    if (!double.TryParse(fields[j], NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || v != Math.Floor(v) || v < 0 || v > max)
                        throw new DataFormatException($"'{name}': line {lineNumber}, field {j + 1} is '{fields[j].Trim()}', not a whole number in 0..{max}");
                    if (j < 64) pixels.Add((byte)v);
                    else labels.Add((long)v);
                }
            }
        }
        catch (InvalidDataException e) { throw new DataFormatException($"'{name}' has corrupt gzip data: {e.Message.Split('\n')[0]}"); }
        if (labels.Count == 0) throw new DataFormatException($"'{name}' holds no images");
        using var t = tensor(pixels.ToArray(), [labels.Count, 1, 8, 8]);
        return new ImageSet(t, [.. labels], DigitClasses, 17, "digits8");
    }

    // ---- folders ------------------------------------------------------------------------------------------------------

    private sealed record ImageFile(string Path, string Relative, string? ClassName, bool Test);

    private static ImageData LoadFolder(string folder)
    {
        var root = Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar);
        var name = Path.GetFileName(root) is { Length: > 0 } n ? n : root;
        var (trainDir, testDir) = (Path.Combine(root, "train"), Path.Combine(root, "test"));
        var presplit = Directory.Exists(trainDir) && Directory.Exists(testDir);
        List<ImageFile> files = presplit ? [.. List(trainDir, root, test: false), .. List(testDir, root, test: true)] : List(root, root, test: false);
        if (files.Count == 0)
            throw new DataFormatException($"'{root}' holds no images: expected one sub-folder per class with .png/.jpg/.jpeg files{(presplit ? " in train/ and test/" : "")}");
        var labelled = files.Count(f => f.ClassName is not null);
        if (labelled != 0 && labelled != files.Count)
        {
            var odd = files.First(f => f.ClassName is null);
            throw new DataFormatException($"'{odd.Path}' is not in a class folder while other images are: put every image in a class folder (or none)");
        }
        IReadOnlyList<string>? classes = null;
        if (labelled > 0)
        {
            classes = files.Where(f => !f.Test).Select(f => f.ClassName!).Distinct().Order(StringComparer.Ordinal).ToList();
            if (presplit && files.FirstOrDefault(f => f.Test && !classes.Contains(f.ClassName!)) is { } stray)
                throw new DataFormatException($"'{stray.Path}': class '{stray.ClassName}' of the test part has no training images");
        }
        using var hash = new SourceHash();
        using var all = Decode(files, classes, hash, name);
        var digest = hash.Hex();
        if (!presplit) return Split(all, root, digest);
        var train = all.Subset(Enumerable.Range(0, files.Count).Where(i => !files[i].Test).ToArray(), name);
        try
        {
            var testRows = Enumerable.Range(0, files.Count).Where(i => files[i].Test).ToArray();
            if (train.Count == 0 || testRows.Length == 0) throw new DataFormatException($"'{root}': train/ and test/ must both hold images");
            return new ImageData(train, all.Subset(testRows, name + " (test)"), root, digest);
        }
        catch { train.Dispose(); throw; }
    }

    /// <summary>Images of <paramref name="dir"/>: in its class sub-folders (ordinal order of folder, then file names), or directly in it when it has no class folder with images.</summary>
    private static List<ImageFile> List(string dir, string root, bool test)
    {
        static bool Visible(string p) => !Path.GetFileName(p).StartsWith('.');
        static IEnumerable<string> Images(string d) => Directory.EnumerateFiles(d)
            .Where(f => Visible(f) && ImageExtensions.Contains(Path.GetExtension(f).ToLowerInvariant())).Order(StringComparer.Ordinal);
        var files = new List<ImageFile>();
        foreach (var classDir in Directory.EnumerateDirectories(dir).Where(Visible).Order(StringComparer.Ordinal))
            foreach (var f in Images(classDir)) files.Add(new ImageFile(f, Path.GetRelativePath(root, f), Path.GetFileName(classDir), test));
        foreach (var f in Images(dir)) files.Add(new ImageFile(f, Path.GetRelativePath(root, f), null, test));
        return files;
    }

    /// <summary>Decodes every file: all must have one size; grey when every file is grey, else all RGB (grey ones repeated in 3 channels).</summary>
    private static ImageSet Decode(List<ImageFile> files, IReadOnlyList<string>? classes, SourceHash hash, string name)
    {
        using var scope = NewDisposeScope();
        var images = new List<Tensor>(files.Count);
        foreach (var file in files)
        {
            var bytes = File.ReadAllBytes(file.Path);
            hash.Add(file.Relative, bytes);
            var image = ImageDecoding.Decode(bytes, file.Path);
            if (images.Count > 0 && (image.shape[1] != images[0].shape[1] || image.shape[2] != images[0].shape[2]))
                throw new DataFormatException($"'{file.Path}' is {image.shape[2]} x {image.shape[1]} pixels, but '{files[0].Path}' is {images[0].shape[2]} x {images[0].shape[1]}: all images must have the same size");
            images.Add(image);
        }
        var channels = images.Any(i => i.shape[0] == 3) ? 3 : 1;
        var pixels = stack(images.Select(i => i.shape[0] == channels ? i : i.expand(channels, -1, -1)).ToArray());
        var labels = classes is null ? null : files.Select(f => (long)IndexOf(classes, f.ClassName!)).ToArray();
        return new ImageSet(pixels, labels, classes, 256, name);
    }

    private static int IndexOf(IReadOnlyList<string> list, string item)
    {
        for (var i = 0; i < list.Count; i++) if (list[i] == item) return i;
        return -1;
    }

    // ---- fetching from Debian packages --------------------------------------------------------------------------------

    /// <summary>A file inside a Debian package (path without the leading "./", or its tail) and its name in the cache folder.</summary>
    internal sealed record DebianFile(string InPackage, string Cached, bool MatchTail = false);

    internal sealed record DebianSource(string Title, string Package, string Size, string Folder, DebianFile[] Files)
    {
        public string FileList => string.Join(", ", Files.Select(f => f.Cached));
    }

    /// <summary>
    /// The cache folder of <paramref name="source"/>, fetched first when a file is missing: <c>apt-get download</c> into a
    /// temporary folder (after one <c>apt-get update</c> when that fails and this process is root, as scripts/datasets.sh
    /// does), then the wanted files are taken from <c>dpkg-deb --fsys-tarfile</c>'s stream (no 270 MB unpacking of
    /// opencv-doc). Each file is written beside its name and renamed into place, so a concurrent reader sees it whole or not at all.
    /// </summary>
    internal static string Fetch(DebianSource source, Action<string>? message)
    {
        var dir = Path.Combine(CacheFolder, source.Folder);
        if (source.Files.All(f => new FileInfo(Path.Combine(dir, f.Cached)) is { Exists: true, Length: > 0 })) return dir;
        var missingTools = new[] { "apt-get", "dpkg-deb" }.Where(t => FindProgram(t) is null).ToList();
        if (missingTools.Count > 0)
            throw new DataFormatException($"{source.Title} is not in {dir}, and fetching it from Debian's {source.Package} package needs {string.Join(" and ", missingTools)}: "
                + $"put {source.FileList} into {dir}");
        message?.Invoke($"fetching {source.Title} (Debian package {source.Package}, {source.Size}) into {dir} ...");
        Directory.CreateDirectory(dir);
        var temp = Directory.CreateTempSubdirectory("si-datasets-").FullName;
        try
        {
            var (ok, error) = Run("apt-get", ["download", "-q", source.Package], temp);
            if (!ok && Environment.IsPrivilegedProcess)
            {
                // Usually an empty or stale package list, which only root can refresh.
                message?.Invoke($"apt-get download {source.Package} failed ({error}); running apt-get update and retrying");
                var (updated, updateError) = Run("apt-get", ["update", "-qq"], temp);
                if (!updated) throw new DataFormatException($"apt-get update failed ({updateError}): put {source.FileList} into {dir}");
                (ok, error) = Run("apt-get", ["download", "-q", source.Package], temp);
            }
            if (!ok)
                throw new DataFormatException($"apt-get download {source.Package} failed ({error}): "
                    + $"{(Environment.IsPrivilegedProcess ? "check the network and apt sources" : "as root run 'apt-get update'")} and retry, or put {source.FileList} into {dir}");
            var deb = Directory.GetFiles(temp, source.Package + "_*.deb").Order(StringComparer.Ordinal).FirstOrDefault()
                ?? throw new DataFormatException($"apt-get download {source.Package} left no {source.Package}_*.deb in {temp}");
            Extract(deb, source, dir);
            message?.Invoke($"{Path.GetFileName(deb)}: {source.FileList} in {dir}");
            return dir;
        }
        finally
        {
            try { Directory.Delete(temp, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>Copies the wanted files out of <paramref name="deb"/>'s data archive into <paramref name="dir"/>.</summary>
    private static void Extract(string deb, DebianSource source, string dir)
    {
        var wanted = source.Files.ToList();
        var start = new ProcessStartInfo("dpkg-deb") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("--fsys-tarfile");
        start.ArgumentList.Add(deb);
        Process process;
        try { process = Process.Start(start) ?? throw new DataFormatException("dpkg-deb did not start"); }
        catch (Win32Exception e) { throw new DataFormatException($"dpkg-deb could not be started: {e.Message}"); }
        using var owned = process;
        var errors = process.StandardError.ReadToEndAsync();
        try
        {
            using var tar = new TarReader(process.StandardOutput.BaseStream);
            while (wanted.Count > 0 && tar.GetNextEntry() is { } entry)
            {
                if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || entry.DataStream is not { } data) continue;
                var name = entry.Name.StartsWith("./", StringComparison.Ordinal) ? entry.Name[2..] : entry.Name;
                var file = wanted.FirstOrDefault(f => f.MatchTail ? name.EndsWith(f.InPackage, StringComparison.Ordinal) : name == f.InPackage);
                if (file is null) continue;
                AtomicFile.Write(Path.Combine(dir, file.Cached), stream => data.CopyTo(stream));
                wanted.Remove(file);
            }
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or EndOfStreamException)
        {
            throw new DataFormatException($"'{deb}' could not be unpacked: {e.Message.Split('\n')[0]}");
        }
        finally
        {
            // Once the files are out the rest of the archive is not needed (opencv-doc unpacks to ~270 MB).
            if (!process.HasExited) { try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { } }
            process.WaitForExit();
        }
        if (wanted.Count > 0)
        {
            var stderr = errors.Result.Trim().Split('\n')[^1];
            throw new DataFormatException($"'{deb}' lacks {string.Join(", ", wanted.Select(f => f.InPackage))}{(stderr.Length > 0 ? $" (dpkg-deb: {stderr})" : "")}");
        }
    }

    /// <summary>Runs a program in <paramref name="folder"/>; false and the gist of its error output (its "E:" lines, else its last line) when it fails.</summary>
    private static (bool Ok, string Error) Run(string program, string[] arguments, string folder)
    {
        var start = new ProcessStartInfo(program) { WorkingDirectory = folder, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        try
        {
            using var process = Process.Start(start) ?? throw new DataFormatException($"{program} did not start");
            var output = process.StandardOutput.ReadToEndAsync();
            var errors = process.StandardError.ReadToEndAsync();
            process.WaitForExit();
            var lines = (errors.Result + "\n" + output.Result).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var gist = lines.Where(l => l.StartsWith("E:", StringComparison.Ordinal)).ToList();
            var text = gist.Count > 0 ? string.Join("; ", gist) : lines.LastOrDefault() ?? $"exit code {process.ExitCode}";
            return (process.ExitCode == 0, text);
        }
        catch (Win32Exception e) { return (false, $"{program} could not be started: {e.Message}"); }
    }

    private static string? FindProgram(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);
}
