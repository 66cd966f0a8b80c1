using System.IO.Compression;
using StochasticInterpolants.Data;
using StochasticInterpolants.Files;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Files;

public sealed class IdxFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-idx-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    /// <summary>An IDX file: 00 00 type rank, big-endian int32 sizes, data.</summary>
    private static byte[] Idx(byte type, int[] sizes, byte[] data)
    {
        var bytes = new List<byte> { 0, 0, type, (byte)sizes.Length };
        foreach (var s in sizes) bytes.AddRange(BitConverter.GetBytes(s).Reverse());
        bytes.AddRange(data);
        return [.. bytes];
    }

    private static byte[] Gzip(byte[] bytes)
    {
        using var packed = new MemoryStream();
        using (var zip = new GZipStream(packed, CompressionLevel.Fastest, leaveOpen: true)) zip.Write(bytes);
        return packed.ToArray();
    }

    private string Write(string name, byte[] bytes) { var p = Path.Combine(_dir, name); File.WriteAllBytes(p, bytes); return p; }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Images_and_labels_are_read_raw_or_gzipped(bool gzip)
    {
        var pixels = Enumerable.Range(0, 2 * 3 * 4).Select(i => (byte)(i * 10)).ToArray();
        var images = Idx(0x08, [2, 3, 4], pixels);
        var labels = Idx(0x08, [2], [9, 0]);
        using var x = IdxFile.Read(Write("images", gzip ? Gzip(images) : images));
        using var y = IdxFile.Read(Write("labels", gzip ? Gzip(labels) : labels));
        Assert.Equal(ScalarType.Byte, x.dtype);
        Assert.Equal(new long[] { 2, 3, 4 }, x.shape);
        Assert.Equal(pixels, x.data<byte>().ToArray());
        Assert.Equal(new byte[] { 9, 0 }, y.data<byte>().ToArray());
    }

    public static TheoryData<string, byte[], string> Malformed()
    {
        var good = Idx(0x08, [2, 3], [1, 2, 3, 4, 5, 6]);
        return new()
        {
            { "empty", [], "truncated" },
            { "bad magic", [1, 0, 8, 1, 0, 0, 0, 1, 7], "not an IDX file" },
            { "float type", Idx(0x0D, [1], [0, 0, 0, 0]), "0x0D (float32) is not supported" },
            { "rank 0", [0, 0, 8, 0], "rank 0" },
            { "sizes cut", good[..6], "truncated" },
            { "negative size", Idx(0x08, [-1, 3], []), "size -1" },
            { "absurd size", Idx(0x08, [int.MaxValue, int.MaxValue], [1]), "too large" },
            { "truncated data", good[..^1], "truncated" },
            { "size mismatch", [.. good, 7], "after the" },
            { "gzip truncated", Gzip(good)[..^12], "" },
            { "gzip of a short file", Gzip(good[..^2]), "truncated" },
        };
    }

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Malformed_files_are_refused_with_one_line_naming_the_file(string what, byte[] bytes, string expected)
    {
        var path = Write(what.Replace(' ', '-'), bytes);
        var e = Assert.Throws<DataFormatException>(() => IdxFile.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }
}
