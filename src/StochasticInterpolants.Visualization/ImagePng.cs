using System.Buffers.Binary;
using System.IO.Compression;
using StochasticInterpolants.Files;
using static TorchSharp.torch;

namespace StochasticInterpolants.Visualization;

/// <summary>
/// Lossless PNG files of 8-bit images, written here rather than by SkiaSharp so that grey stays grey: one byte per pixel
/// (PNG colour type 0) for one channel and three (type 2, RGB) for three, with no alpha, which keeps image grids and
/// animations of grey data a quarter of the size of RGBA. Pixel values are stored exactly as given.
/// </summary>
public static class ImagePng
{
    private static readonly byte[] Signature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>
    /// <paramref name="pixels"/> (uint8 [c, h, w], c = 1 grey or 3 RGB) as the bytes of a PNG file of w x h pixels, bit
    /// depth 8, colour type 0 (grey) or 2 (RGB).
    /// </summary>
    public static byte[] Encode(Tensor pixels) => Encode(Raster.FromPixels(pixels, "PNG image"));

    /// <summary>Writes <see cref="Encode(Tensor)"/>'s PNG to <paramref name="path"/>: into a temporary file beside it, then renamed over it.</summary>
    public static void Save(string path, Tensor pixels) => Write(path, Encode(pixels), "image");

    internal static void Write(string path, byte[] png, string what)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"cannot write {what} '{path}': folder '{folder}' does not exist");
        AtomicFile.Write(path, s => s.Write(png));
    }

    /// <summary>
    /// The PNG of a raster. Each row is filtered with whichever of PNG's five filters (none, sub, up, average, Paeth)
    /// gives the smallest sum of |residual| as signed bytes (the usual heuristic: upscaled images repeat rows and pixels,
    /// which "up" and "sub" turn into runs of zeros), then deflated.
    /// </summary>
    internal static byte[] Encode(Raster raster)
    {
        var bpp = raster.Channels;
        var stride = raster.Width * bpp;
        using var compressed = new MemoryStream();
        using (var zlib = new ZLibStream(compressed, Level, leaveOpen: true))
        {
            var previous = new byte[stride];
            var current = new byte[stride];
            var candidates = new byte[5][];
            for (var f = 0; f < 5; f++) { candidates[f] = new byte[stride + 1]; candidates[f][0] = (byte)f; }
            for (var y = 0; y < raster.Height; y++)
            {
                Array.Copy(raster.Data, y * stride, current, 0, stride);
                Filter(current, previous, bpp, candidates);
                var best = 0; var bestCost = long.MaxValue;
                for (var f = 0; f < 5; f++)
                {
                    long cost = 0;
                    foreach (var residual in candidates[f].AsSpan(1))
                    {
                        int signed = (sbyte)residual;
                        cost += signed < 0 ? -signed : signed; // not Math.Abs: -128 as sbyte has no positive counterpart
                    }
                    if (cost < bestCost) { bestCost = cost; best = f; }
                }
                zlib.Write(candidates[best]);
                (previous, current) = (current, previous);
            }
        }
        using var png = new MemoryStream();
        png.Write(Signature);
        var header = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(header, (uint)raster.Width);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), (uint)raster.Height);
        header[8] = 8;                                  // bit depth
        header[9] = (byte)(raster.Channels == 1 ? 0 : 2); // colour type: grey or RGB
        // header[10..12] = 0: deflate, adaptive filtering, no interlace
        ApngWriter.WriteChunk(png, "IHDR", header);
        ApngWriter.WriteChunk(png, "IDAT", compressed.ToArray());
        ApngWriter.WriteChunk(png, "IEND", []);
        return png.ToArray();
    }

    /// <summary>zlib level 6: on upscaled noise its output was within 1% of level 9's at a fraction of the time.</summary>
    private const CompressionLevel Level = CompressionLevel.Optimal;

    /// <summary>The five filtered versions of one row (each after its filter-type byte): residual = value - prediction mod 256.</summary>
    private static void Filter(byte[] row, byte[] above, int bpp, byte[][] into)
    {
        var (none, sub, up, average, paeth) = (into[0], into[1], into[2], into[3], into[4]);
        for (var i = 0; i < row.Length; i++)
        {
            int a = i >= bpp ? row[i - bpp] : 0, b = above[i], c = i >= bpp ? above[i - bpp] : 0, x = row[i];
            none[i + 1] = (byte)x;
            sub[i + 1] = (byte)(x - a);
            up[i + 1] = (byte)(x - b);
            average[i + 1] = (byte)(x - ((a + b) >> 1));
            paeth[i + 1] = (byte)(x - Paeth(a, b, c));
        }
    }

    /// <summary>PNG's Paeth predictor: whichever of left a, above b, upper-left c is closest to a + b - c.</summary>
    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }
}
