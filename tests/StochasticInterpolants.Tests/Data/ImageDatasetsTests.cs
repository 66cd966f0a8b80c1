using System.Runtime.InteropServices;
using System.Security.Cryptography;
using SkiaSharp;
using StochasticInterpolants.Data;
using StochasticInterpolants.Files;
using StochasticInterpolants.Runs;
using StochasticInterpolants.Runtime;
using StochasticInterpolants.Visualization;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Data;

/// <summary>Image files and folders (decoded with SkiaSharp), the digits sheet, scikit-learn's digits and the data set names.</summary>
public sealed class ImageDatasetsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-images-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    /// <summary>Writes a PNG (or JPEG) of <paramref name="width"/> x <paramref name="height"/> whose pixel (x, y) has colour <paramref name="colour"/>(x, y); grey files are Gray8.</summary>
    private static string Image(string path, int width, int height, Func<int, int, (byte R, byte G, byte B)> colour, bool grey = false, bool jpeg = false)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, grey ? SKColorType.Gray8 : SKColorType.Rgba8888, SKAlphaType.Opaque));
        // Filled through one buffer: SetPixel per pixel takes seconds for the 2000 x 1000 digits sheet.
        var size = grey ? 1 : 4;
        var pixels = new byte[bitmap.RowBytes * height];
        for (var y = 0; y < height; y++)
            for (var x = 0; x < width; x++)
            {
                var (r, g, b) = colour(x, y);
                var at = y * bitmap.RowBytes + size * x;
                if (grey) pixels[at] = r;
                else (pixels[at], pixels[at + 1], pixels[at + 2], pixels[at + 3]) = (r, g, b, 255);
            }
        Marshal.Copy(pixels, 0, bitmap.GetPixels(), pixels.Length);
        using var data = bitmap.Encode(jpeg ? SKEncodedImageFormat.Jpeg : SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, data.ToArray());
        return path;
    }

    private static (byte, byte, byte) Grey(int v) => ((byte)v, (byte)v, (byte)v);

    [Fact]
    public void Decoding_gives_one_channel_for_grey_files_and_three_for_colour()
    {
        using var scope = NewDisposeScope();
        var gray8 = ImageDecoding.Read(Image(Path.Combine(_dir, "g.png"), 3, 2, (x, y) => Grey(10 * x + 100 * y), grey: true));
        Assert.Equal(new long[] { 1, 2, 3 }, gray8.shape);
        Assert.Equal(new byte[] { 0, 10, 20, 100, 110, 120 }, gray8.data<byte>().ToArray());
        // An RGB file whose pixels all have R = G = B is grey too.
        var rgbGrey = ImageDecoding.Read(Image(Path.Combine(_dir, "rg.png"), 3, 2, (x, y) => Grey(10 * x + 100 * y)));
        Assert.True(rgbGrey.equal(gray8).all().item<bool>());
        var colour = ImageDecoding.Read(Image(Path.Combine(_dir, "c.png"), 3, 2, (x, y) => ((byte)x, (byte)(50 + y), 200)));
        Assert.Equal(new long[] { 3, 2, 3 }, colour.shape);
        Assert.Equal(new byte[] { 0, 1, 2, 0, 1, 2 }, colour[0].contiguous().data<byte>().ToArray());
        Assert.Equal(new byte[] { 50, 50, 50, 51, 51, 51 }, colour[1].contiguous().data<byte>().ToArray());
        Assert.Equal(200, colour[2].min().ToInt32());
        var jpeg = ImageDecoding.Read(Image(Path.Combine(_dir, "j.jpg"), 8, 8, (x, y) => Grey(16 * x), grey: true, jpeg: true));
        Assert.Equal(new long[] { 1, 8, 8 }, jpeg.shape);
    }

    [Fact]
    public void Undecodable_and_truncated_files_are_refused_naming_the_file()
    {
        var text = Path.Combine(_dir, "x.png");
        File.WriteAllText(text, "not an image");
        var e = Assert.Throws<DataFormatException>(() => ImageDecoding.Read(text));
        Assert.Contains(text, e.Message);
        var png = File.ReadAllBytes(Image(Path.Combine(_dir, "big.png"), 64, 64, (x, y) => ((byte)(x * y), (byte)x, (byte)y)));
        var cut = Path.Combine(_dir, "cut.png");
        File.WriteAllBytes(cut, png[..(png.Length / 2)]);
        Assert.Contains(cut, Assert.Throws<DataFormatException>(() => ImageDecoding.Read(cut)).Message);
    }

    /// <summary>root/cat/{a,b,c}.png and root/dog/{d,e,f}.PNG, 4 x 3 grey; pixel (0, 0) of image k (in that order) is 10 k.</summary>
    private string ClassFolder(string name)
    {
        var root = Path.Combine(_dir, name);
        var files = new[] { "cat/a.png", "cat/b.png", "cat/c.png", "dog/d.PNG", "dog/e.png", "dog/f.png" };
        for (var k = 0; k < files.Length; k++)
        {
            var first = 10 * k;
            Image(Path.Combine(root, files[k]), 4, 3, (x, y) => Grey(x == 0 && y == 0 ? first : 200), grey: k % 2 == 0);
        }
        File.WriteAllText(Path.Combine(root, "cat", "notes.txt"), "ignored");
        return root;
    }

    [Fact]
    public void A_folder_of_class_folders_is_read_in_order_and_split_at_random()
    {
        var root = ClassFolder("pets");
        Assert.True(ImageDatasets.IsImageSpec(root));
        using var data = ImageDatasets.Load(root);
        Assert.Equal(new[] { "cat", "dog" }, data.Train.ClassNames);
        Assert.Equal(new[] { "cat", "dog" }, data.Test.ClassNames);
        Assert.Equal(5, data.Train.Count);
        Assert.Equal(1, data.Test.Count); // round(0.1 x 6) = 1
        Assert.Equal(new long[] { 1, 3, 4 }, data.Train.Shape);
        Assert.Equal(256, data.Train.Levels);
        // Every image is where RowSplit put it, with its label: image k has first pixel 10 k and class k / 3.
        var (trainRows, testRows) = RowSplit.Random(6, 0.1, 0);
        for (var i = 0; i < trainRows.Length; i++)
        {
            Assert.Equal(10 * trainRows[i], data.Train.Pixels[i, 0, 0, 0].ToInt32());
            Assert.Equal(trainRows[i] / 3, data.Train.Labels![i]);
        }
        Assert.Equal(10 * testRows[0], data.Test.Pixels[0, 0, 0, 0].ToInt32());
        Assert.Equal(root, data.Source);
        Assert.Matches("^[0-9a-f]{64}$", data.Sha256);
        using (var again = ImageDatasets.Load(root)) Assert.Equal(data.Sha256, again.Sha256);
        // A changed pixel or a file moved to another class changes the hash.
        File.Move(Path.Combine(root, "dog", "f.png"), Path.Combine(root, "cat", "f.png"));
        using var moved = ImageDatasets.Load(root);
        Assert.NotEqual(data.Sha256, moved.Sha256);
    }

    [Fact]
    public void Grey_and_colour_files_together_are_all_read_as_colour()
    {
        var root = ClassFolder("mixed");
        Image(Path.Combine(root, "dog", "g.png"), 4, 3, (x, y) => (255, 0, 0));
        using var data = ImageDatasets.Load(root);
        Assert.Equal(new long[] { 3, 3, 4 }, data.Train.Shape);
        using var all = cat([data.Train.Pixels, data.Test.Pixels]);
        // Grey images have three equal channels; the red one does not.
        using var differs = all[.., 0].ne(all[.., 1]).flatten(1).any(1);
        Assert.Equal(1, differs.sum().ToInt32());
    }

    [Fact]
    public void Folder_errors_name_the_file_or_folder()
    {
        var root = ClassFolder("sizes");
        var odd = Image(Path.Combine(root, "dog", "z.png"), 5, 3, (x, y) => Grey(0));
        var e = Assert.Throws<DataFormatException>(() => ImageDatasets.Load(root));
        Assert.Contains($"'{odd}' is 5 x 3 pixels", e.Message);
        Assert.Contains("same size", e.Message);
        File.Delete(odd);
        var broken = Path.Combine(root, "cat", "broken.jpg");
        File.WriteAllText(broken, "?");
        Assert.Contains(broken, Assert.Throws<DataFormatException>(() => ImageDatasets.Load(root)).Message);
        var empty = Path.Combine(_dir, "empty");
        Directory.CreateDirectory(Path.Combine(empty, "cat"));
        File.WriteAllText(Path.Combine(empty, "cat", "x.txt"), "");
        Assert.Contains("holds no images", Assert.Throws<DataFormatException>(() => ImageDatasets.Load(empty)).Message);
        var loose = ClassFolder("loose");
        Image(Path.Combine(loose, "stray.png"), 4, 3, (x, y) => Grey(0));
        Assert.Contains("not in a class folder", Assert.Throws<DataFormatException>(() => ImageDatasets.Load(loose)).Message);
    }

    [Fact]
    public void Train_and_test_folders_are_the_split()
    {
        var root = Path.Combine(_dir, "split");
        Image(Path.Combine(root, "train", "a", "1.png"), 2, 2, (x, y) => Grey(1), grey: true);
        Image(Path.Combine(root, "train", "b", "2.png"), 2, 2, (x, y) => Grey(2), grey: true);
        Image(Path.Combine(root, "train", "b", "3.png"), 2, 2, (x, y) => Grey(3), grey: true);
        Image(Path.Combine(root, "test", "b", "4.png"), 2, 2, (x, y) => Grey(4), grey: true);
        using var data = ImageDatasets.Load(root);
        Assert.Equal(new[] { "a", "b" }, data.Train.ClassNames);
        Assert.Equal(new long[] { 0, 1, 1 }, data.Train.Labels);
        Assert.Equal(new long[] { 1 }, data.Test.Labels);
        Assert.Equal(4, data.Test.Pixels[0, 0, 0, 0].ToInt32());
        Image(Path.Combine(root, "test", "c", "5.png"), 2, 2, (x, y) => Grey(5), grey: true);
        Assert.Contains("class 'c' of the test part has no training images", Assert.Throws<DataFormatException>(() => ImageDatasets.Load(root)).Message);
    }

    [Fact]
    public void Array_files_are_split_at_random_and_hashed_as_the_file()
    {
        using var scope = NewDisposeScope();
        var path = Path.Combine(_dir, "digits.npz");
        NpzFile.Write(path, new Dictionary<string, Tensor> { ["x"] = arange(10 * 4, dtype: ScalarType.Byte).reshape(10, 2, 2), ["y"] = arange(10).remainder(2) });
        Assert.True(ImageDatasets.IsImageSpec(path));
        using var data = ImageDatasets.Load(path);
        Assert.Equal(9, data.Train.Count);
        Assert.Equal(1, data.Test.Count);
        Assert.Equal(new[] { "0", "1" }, data.Train.ClassNames);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path))), data.Sha256);
        Assert.Throws<FileNotFoundException>(() => ImageDatasets.Load(Path.Combine(_dir, "missing.npy")));
    }

    [Fact]
    public void The_digits_sheet_is_cut_into_padded_cells_by_class_with_the_last_fifty_held_out()
    {
        using var scope = NewDisposeScope();
        // Cell (row r, column c) of a synthetic sheet holds r at its top-left pixel, c beside it, and 255 elsewhere.
        var path = Image(Path.Combine(_dir, "digits.png"), 2000, 1000, (x, y) => Grey((x % 20, y % 20) switch { (0, 0) => y / 20, (1, 0) => x / 20, _ => 255 }), grey: true);
        var sheet = ImageDecoding.Read(path);
        var (train, test) = ImageDatasets.SliceDigits(sheet, path);
        using (train)
        using (test)
        {
            Assert.Equal(4500, train.Count);
            Assert.Equal(500, test.Count);
            Assert.Equal(new long[] { 1, 28, 28 }, train.Shape);
            Assert.Equal(Enumerable.Repeat(450L, 10), train.ClassCounts()!);
            Assert.Equal(Enumerable.Repeat(50L, 10), test.ClassCounts()!);
            Assert.Equal(Enumerable.Range(0, 10).Select(k => k.ToString()), train.ClassNames!);
            // Image i of class k came from cell row 5k + i / 100, column i % 100; its digit sits 4 pixels in from each side.
            foreach (var (set, index, k, i) in new[] { (train, 0, 0, 0), (train, 449, 0, 449), (train, 450 * 7 + 123, 7, 123), (test, 0, 0, 450), (test, 50 * 9 + 49, 9, 499) })
            {
                Assert.Equal(k, set.Labels![index]);
                Assert.Equal(5 * k + i / 100, set.Pixels[index, 0, 4, 4].ToInt32());
                Assert.Equal(i % 100, set.Pixels[index, 0, 4, 5].ToInt32());
                Assert.Equal(255, set.Pixels[index, 0, 23, 23].ToInt32());
                Assert.Equal(0, set.Pixels[index, 0, 3, 10].ToInt32());
                Assert.Equal(0, set.Pixels[index, 0, 24, 24].ToInt32());
            }
        }
        using var wrong = zeros([1, 1000, 1999], ScalarType.Byte);
        Assert.Contains("2000 x 1000", Assert.Throws<DataFormatException>(() => ImageDatasets.SliceDigits(wrong, "w.png")).Message);
    }

    [Fact]
    public void Scikit_learn_digits_are_fetched_and_read()
    {
        // Fetches python3-sklearn (~2 MB) with apt-get download the first time on this machine.
        using var data = ImageDatasets.Load("digits8", m => Console.WriteLine(m));
        Assert.Equal(1797, data.Train.Count + data.Test.Count);
        Assert.Equal(180, data.Test.Count);
        Assert.Equal(new long[] { 1, 8, 8 }, data.Train.Shape);
        Assert.Equal(17, data.Train.Levels);
        Assert.Equal(10, data.Train.ClassNames!.Count);
        Assert.All(data.Train.ClassCounts()!, c => Assert.InRange(c, 140, 190));
        Assert.Equal(16, data.Train.Pixels.max().ToInt32());
        Assert.Matches("^[0-9a-f]{64}$", data.Sha256);
    }

    [Fact]
    public void Without_apt_get_a_missing_data_set_says_where_to_put_the_files()
    {
        var (data, path) = (Environment.GetEnvironmentVariable("SI_DATA"), Environment.GetEnvironmentVariable("PATH"));
        var cache = Path.Combine(_dir, "cache");
        try
        {
            Environment.SetEnvironmentVariable("SI_DATA", cache);
            Environment.SetEnvironmentVariable("PATH", Path.Combine(_dir, "no-programs"));
            Assert.Equal(cache, ImageDatasets.CacheFolder);
            var e = Assert.Throws<DataFormatException>(() => ImageDatasets.Load("digits8"));
            Assert.Contains("apt-get", e.Message);
            Assert.Contains($"put digits.csv.gz into {Path.Combine(cache, "sklearn")}", e.Message);
        }
        finally
        {
            Environment.SetEnvironmentVariable("SI_DATA", data);
            Environment.SetEnvironmentVariable("PATH", path);
        }
    }

    [Fact]
    public void A_failed_download_is_retried_after_apt_get_update_as_root_and_the_file_lands_in_the_cache()
    {
        if (OperatingSystem.IsWindows()) return; // shell-script stand-ins; apt-get is a Debian tool anyway
        // Stand-ins for apt-get and dpkg-deb: the first download fails as with an empty package list, update fixes it,
        // and the "package" is a tar of the data tree (what dpkg-deb --fsys-tarfile prints).
        var bin = Path.Combine(_dir, "bin");
        Directory.CreateDirectory(bin);
        var tar = Path.Combine(_dir, "data.tar");
        var rows = string.Join("\n", Enumerable.Range(0, 10).Select(i => string.Join(",", Enumerable.Repeat(i % 17, 64).Append(i % 10))));
        using (var file = File.Create(tar))
        using (var writer = new System.Formats.Tar.TarWriter(file))
        {
            var entry = new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.RegularFile, "./usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz");
            using var gz = new MemoryStream();
            using (var zip = new System.IO.Compression.GZipStream(gz, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true)) zip.Write(System.Text.Encoding.ASCII.GetBytes(rows + "\n"));
            gz.Position = 0;
            entry.DataStream = gz;
            writer.WriteEntry(entry);
        }
        var log = Path.Combine(_dir, "apt.log");
        void Script(string name, string body)
        {
            var path = Path.Combine(bin, name);
            File.WriteAllText(path, "#!/bin/sh\n" + body);
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        Script("apt-get", $$"""
            echo "$*" >> '{{log}}'
            case "$1" in
              update) touch '{{_dir}}/updated' ;;
              download) [ -e '{{_dir}}/updated' ] || { echo "E: Can't select candidate version from package $3 as it has no candidate" >&2; exit 100; }; cp '{{tar}}' ./python3-sklearn_9.9_all.deb ;;
            esac
            """);
        Script("dpkg-deb", "cat \"$2\"\n");
        var (data, path) = (Environment.GetEnvironmentVariable("SI_DATA"), Environment.GetEnvironmentVariable("PATH"));
        var cache = Path.Combine(_dir, "cache");
        var messages = new List<string>();
        try
        {
            Environment.SetEnvironmentVariable("SI_DATA", cache);
            Environment.SetEnvironmentVariable("PATH", bin + ":" + path);
            if (!Environment.IsPrivilegedProcess)
            {
                Assert.Contains("as root run 'apt-get update'", Assert.Throws<DataFormatException>(() => ImageDatasets.Load("digits8", messages.Add)).Message);
                return;
            }
            using var digits = ImageDatasets.Load("digits8", messages.Add);
            Assert.Equal(10, digits.Train.Count + digits.Test.Count);
            Assert.Equal(new[] { "download -q python3-sklearn", "update -qq", "download -q python3-sklearn" }, File.ReadAllLines(log));
            Assert.StartsWith($"fetching scikit-learn's 8x8 digits (Debian package python3-sklearn, 2 MB) into {Path.Combine(cache, "sklearn")}", messages[0]);
            Assert.Contains("running apt-get update and retrying", messages[1]);
            Assert.True(File.Exists(Path.Combine(cache, "sklearn", "digits.csv.gz")));
            // Nothing but the file is left in the cache folder (no temporary copies).
            Assert.Single(Directory.GetFiles(Path.Combine(cache, "sklearn")));
        }
        finally
        {
            Environment.SetEnvironmentVariable("SI_DATA", data);
            Environment.SetEnvironmentVariable("PATH", path);
        }
    }

    [Fact]
    public void The_cache_folder_follows_the_rule_of_datasets_sh()
    {
        var saved = new[] { "SI_DATA", "XDG_CACHE_HOME", "HOME" }.ToDictionary(v => v, Environment.GetEnvironmentVariable);
        try
        {
            Environment.SetEnvironmentVariable("SI_DATA", "");
            Environment.SetEnvironmentVariable("XDG_CACHE_HOME", "/x/cache");
            Assert.Equal("/x/cache/stochastic-interpolants/datasets", ImageDatasets.CacheFolder);
            Environment.SetEnvironmentVariable("XDG_CACHE_HOME", null);
            Environment.SetEnvironmentVariable("HOME", "/home/u");
            Assert.Equal("/home/u/.cache/stochastic-interpolants/datasets", ImageDatasets.CacheFolder);
            Environment.SetEnvironmentVariable("SI_DATA", "/data");
            Assert.Equal("/data", ImageDatasets.CacheFolder);
        }
        finally
        {
            foreach (var (k, v) in saved) Environment.SetEnvironmentVariable(k, v);
        }
    }

    [Fact]
    public void Image_specs_are_told_from_tables()
    {
        foreach (var name in ImageDatasets.Names) Assert.True(ImageDatasets.IsImageSpec(name));
        Assert.True(ImageDatasets.IsImageSpec(" Fashion-MNIST "));
        Assert.True(ImageDatasets.IsImageSpec("later.npy"));
        Assert.True(ImageDatasets.IsImageSpec("x.NPZ"));
        Assert.True(ImageDatasets.IsImageSpec(_dir));
        Assert.False(ImageDatasets.IsImageSpec("moons"));
        Assert.False(ImageDatasets.IsImageSpec("table.csv"));
        Assert.False(ImageDatasets.IsImageSpec(""));
        Assert.Throws<InvalidSettingException>(() => ImageDatasets.Load("moons"));
    }
}
