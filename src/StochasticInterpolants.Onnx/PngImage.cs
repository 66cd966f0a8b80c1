using System.Buffers.Binary;
using System.IO.Compression;

namespace StochasticInterpolants.Onnx;

/// <summary>
/// A small PNG encoder (no dependency beyond the framework): the signature, an IHDR chunk (bit depth 8, colour type 0 grey
/// for one channel or 2 RGB for three, no interlace), one IDAT chunk holding the rows — each behind filter byte 0 (none) —
/// deflated by <see cref="ZLibStream"/>, and IEND; every chunk ends with the CRC-32 (polynomial 0xEDB88320) of its type and data.
/// <see cref="SaveGrid"/> tiles generated images into one picture.
/// </summary>
public static class PngImage
{
    private static readonly byte[] Signature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];
    private static readonly uint[] CrcTable = MakeCrcTable();

    /// <summary>The largest width or height written: beyond it a grid is a mistake (too many images or too large a scale).</summary>
    public const int MaxSide = 16384;

    /// <summary>
    /// The bytes of a PNG file of <paramref name="width"/> x <paramref name="height"/> pixels from <paramref name="pixels"/>:
    /// row-major, <paramref name="channels"/> bytes per pixel interleaved (1: grey, 3: RGB).
    /// </summary>
    public static byte[] Encode(byte[] pixels, int width, int height, int channels)
    {
        if (channels is not (1 or 3)) throw new ArgumentOutOfRangeException(nameof(channels), channels, "a PNG here is grey (1 channel) or RGB (3)");
        if (width < 1 || height < 1 || width > MaxSide || height > MaxSide)
            throw new ArgumentOutOfRangeException(nameof(width), $"{width} x {height} is outside 1..{MaxSide} pixels a side");
        if (pixels.Length != (long)width * height * channels)
            throw new ArgumentException($"{pixels.Length} bytes are not {width} x {height} pixels of {channels} channel(s)");
        using var file = new MemoryStream();
        file.Write(Signature);
        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8;                               // bit depth
        header[9] = (byte)(channels == 1 ? 0 : 2);   // colour type: grey or RGB
        // header[10..12]: deflate compression, adaptive filtering, no interlace (all 0).
        Chunk(file, "IHDR", header);
        using (var compressed = new MemoryStream())
        {
            using (var z = new ZLibStream(compressed, CompressionLevel.SmallestSize, leaveOpen: true))
            {
                var stride = width * channels;
                for (var row = 0; row < height; row++)
                {
                    z.WriteByte(0); // filter type none: upscaled rows repeat, which deflate finds by itself
                    z.Write(pixels, row * stride, stride);
                }
            }
            Chunk(file, "IDAT", compressed.ToArray());
        }
        Chunk(file, "IEND", []);
        return file.ToArray();
    }

    /// <summary>
    /// Tiles <paramref name="count"/> images of <paramref name="shape"/> [c, h, w] (c = 1 or 3; <paramref name="images"/>
    /// holds them one after another, each row-major c, h, w, as <see cref="OnnxGenerator.DecodeImages"/> returns them) with
    /// values 0..<paramref name="levels"/> - 1 into a grid of <paramref name="columns"/> columns (image i in row i / columns,
    /// column i % columns), each pixel upscaled to a <paramref name="scale"/> x <paramref name="scale"/> block, with
    /// <paramref name="padding"/> pixels of <paramref name="paddingValue"/> (0..255) between and around the cells. A value k
    /// is written as round(255 k / (L - 1)). Returns the PNG's bytes.
    /// </summary>
    public static byte[] EncodeGrid(byte[] images, int count, IReadOnlyList<int> shape, int levels, int columns, int scale = 1, int padding = 1, byte paddingValue = 255)
    {
        if (shape.Count != 3) throw new ArgumentException($"an image shape is [c, h, w], got [{string.Join(", ", shape)}]");
        var (c, h, w) = (shape[0], shape[1], shape[2]);
        if (c is not (1 or 3)) throw new ArgumentException($"images of {c} channels: a PNG grid takes 1 (grey) or 3 (RGB)");
        if (count < 1 || columns < 1 || scale < 1 || padding < 0) throw new ArgumentOutOfRangeException(nameof(count), "count, columns and scale must be >= 1, padding >= 0");
        if (levels is < 2 or > 256) throw new ArgumentOutOfRangeException(nameof(levels), levels, "pixel levels must be in 2..256");
        var size = c * h * w;
        if (images.Length != (long)count * size) throw new ArgumentException($"{images.Length} bytes are not {count} images of [{c}, {h}, {w}]");
        columns = Math.Min(columns, count);
        var rows = (count + columns - 1) / columns;
        long width = padding + (long)columns * (w * scale + padding), height = padding + (long)rows * (h * scale + padding);
        if (width > MaxSide || height > MaxSide) throw new ArgumentException($"a grid of {rows} x {columns} images at scale {scale} is {width} x {height} pixels, over {MaxSide} a side");
        var brightness = new byte[levels];
        for (var k = 0; k < levels; k++) brightness[k] = (byte)Math.Round(255.0 * k / (levels - 1), MidpointRounding.AwayFromZero);
        var canvas = new byte[width * height * c];
        Array.Fill(canvas, paddingValue);
        for (var i = 0; i < count; i++)
        {
            var (top, left) = (padding + i / columns * (h * scale + padding), padding + i % columns * (w * scale + padding));
            for (var y = 0; y < h * scale; y++)
                for (var x = 0; x < w * scale; x++)
                    for (var ch = 0; ch < c; ch++)
                    {
                        var k = images[(long)i * size + (ch * h + y / scale) * w + x / scale];
                        if (k >= levels) throw new ArgumentException($"image {i} holds the value {k}, not below its {levels} levels");
                        canvas[((top + y) * width + left + x) * c + ch] = brightness[k];
                    }
        }
        return Encode(canvas, (int)width, (int)height, c);
    }

    /// <summary>
    /// Writes <see cref="EncodeGrid"/>'s PNG to <paramref name="path"/>: into a temporary file beside it, then moved over it, so
    /// an existing file is never left half-written.
    /// </summary>
    public static void SaveGrid(string path, byte[] images, int count, IReadOnlyList<int> shape, int levels, int columns, int scale = 1, int padding = 1, byte paddingValue = 255)
        => Save(path, EncodeGrid(images, count, shape, levels, columns, scale, padding, paddingValue));

    /// <summary>Writes PNG bytes to <paramref name="path"/> through a temporary file beside it.</summary>
    public static void Save(string path, byte[] png)
    {
        var full = Path.GetFullPath(path);
        var folder = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"cannot write '{path}': folder '{folder}' does not exist");
        var temporary = Path.Combine(folder, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        try
        {
            File.WriteAllBytes(temporary, png);
            File.Move(temporary, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temporary)) File.Delete(temporary);
        }
    }

    /// <summary>The CRC-32 of PNG (and zlib's crc32): reflected polynomial 0xEDB88320, initial and final value 0xFFFFFFFF.</summary>
    public static uint Crc32(ReadOnlySpan<byte> data, uint crc = 0)
    {
        crc = ~crc;
        foreach (var b in data) crc = CrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return ~crc;
    }

    // length, type, data, CRC of type and data.
    private static void Chunk(Stream file, string type, byte[] data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        file.Write(word);
        var typeBytes = System.Text.Encoding.ASCII.GetBytes(type);
        file.Write(typeBytes);
        file.Write(data);
        BinaryPrimitives.WriteUInt32BigEndian(word, Crc32(data, Crc32(typeBytes)));
        file.Write(word);
    }

    private static uint[] MakeCrcTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            var c = n;
            for (var k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
            table[n] = c;
        }
        return table;
    }
}
