using System.Buffers.Binary;
using System.Text;
using StochasticInterpolants.Files;
using SkiaSharp;

namespace StochasticInterpolants.Visualization;

/// <summary>
/// Writes animated PNG (APNG): plays in every current browser without plug-ins, is lossless (sharp scatter plots and
/// text, unlike GIF's 256 colours), and its first frame is an ordinary PNG, so any viewer shows a still image.
/// Frames are PNG-encoded (by SkiaSharp, or beforehand by <see cref="ImagePng"/>); their IDAT data is re-labelled as fdAT
/// chunks behind an acTL header.
/// </summary>
public static class ApngWriter
{
    private static readonly byte[] Signature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>Writes <paramref name="frames"/> (all the same size) as an APNG looping forever, each shown
    /// <paramref name="frameMilliseconds"/> ms; atomically. With <paramref name="stillPath"/>, the last frame is also
    /// written there as a plain PNG, for print.</summary>
    public static void Write(string path, IReadOnlyList<SKBitmap> frames, int frameMilliseconds = 80, string? stillPath = null)
    {
        if (frames.Count == 0) throw new ArgumentException("an animation needs at least one frame");
        if (frameMilliseconds is < 1 or > 65535) throw new ArgumentException($"frame time must be 1..65535 ms, got {frameMilliseconds}");
        var (w, h) = (frames[0].Width, frames[0].Height);
        if (frames.Any(f => f.Width != w || f.Height != h)) throw new ArgumentException("all frames must have the same size");
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"cannot write animation '{path}': folder '{folder}' does not exist");
        var encoded = frames.Select(f => { using var data = f.Encode(SKEncodedImageFormat.Png, 100); return data.ToArray(); }).ToList();
        Write(path, encoded, Enumerable.Repeat(frameMilliseconds, frames.Count).ToList(), stillPath);
    }

    /// <summary>
    /// Writes already encoded PNG frames (all the same size, bit depth and colour type, as from <see cref="ImagePng"/>) as an
    /// APNG looping forever, frame i shown <paramref name="frameMilliseconds"/>[i] ms (e.g. the last one held longer);
    /// atomically. With <paramref name="stillPath"/>, the last frame is also written there as it is, a plain PNG.
    /// </summary>
    public static void Write(string path, IReadOnlyList<byte[]> pngFrames, IReadOnlyList<int> frameMilliseconds, string? stillPath = null)
    {
        if (pngFrames.Count == 0) throw new ArgumentException("an animation needs at least one frame");
        if (frameMilliseconds.Count != pngFrames.Count) throw new ArgumentException($"{frameMilliseconds.Count} frame times for {pngFrames.Count} frames");
        for (var i = 0; i < frameMilliseconds.Count; i++)
            if (frameMilliseconds[i] is < 1 or > 65535) throw new ArgumentException($"frame time must be 1..65535 ms, got {frameMilliseconds[i]} for frame {i}");
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"cannot write animation '{path}': folder '{folder}' does not exist");
        var frameChunks = pngFrames.Select(ReadChunks).ToList();
        byte[] Header(int i) => frameChunks[i].FirstOrDefault(c => c.Type == "IHDR").Data ?? throw new ArgumentException($"frame {i} has no IHDR chunk");
        var ihdr = Header(0);
        for (var i = 1; i < frameChunks.Count; i++)
            if (!Header(i).AsSpan().SequenceEqual(ihdr))
                throw new ArgumentException($"frame {i} is {Describe(Header(i))} but frame 0 is {Describe(ihdr)}: all frames must have the same size and pixel format");
        var (w, h) = (BinaryPrimitives.ReadUInt32BigEndian(ihdr), BinaryPrimitives.ReadUInt32BigEndian(ihdr.AsSpan(4)));
        AtomicFile.Write(path, stream =>
        {
            stream.Write(Signature);
            var sequence = 0u;
            for (var i = 0; i < frameChunks.Count; i++)
            {
                var chunks = frameChunks[i];
                if (i == 0)
                {
                    WriteChunk(stream, "IHDR", ihdr);
                    var actl = new byte[8];
                    BinaryPrimitives.WriteUInt32BigEndian(actl, (uint)frameChunks.Count);
                    BinaryPrimitives.WriteUInt32BigEndian(actl.AsSpan(4), 0); // loop forever
                    WriteChunk(stream, "acTL", actl);
                }
                var fctl = new byte[26];
                BinaryPrimitives.WriteUInt32BigEndian(fctl, sequence++);
                BinaryPrimitives.WriteUInt32BigEndian(fctl.AsSpan(4), w);
                BinaryPrimitives.WriteUInt32BigEndian(fctl.AsSpan(8), h);
                // x, y offsets 0; delay = frameMilliseconds / 1000 s; dispose_op 0 (none), blend_op 0 (source)
                BinaryPrimitives.WriteUInt16BigEndian(fctl.AsSpan(20), (ushort)frameMilliseconds[i]);
                BinaryPrimitives.WriteUInt16BigEndian(fctl.AsSpan(22), 1000);
                WriteChunk(stream, "fcTL", fctl);
                foreach (var idat in chunks.Where(c => c.Type == "IDAT"))
                {
                    if (i == 0) { WriteChunk(stream, "IDAT", idat.Data); continue; }
                    var fdat = new byte[4 + idat.Data.Length];
                    BinaryPrimitives.WriteUInt32BigEndian(fdat, sequence++);
                    idat.Data.CopyTo(fdat, 4);
                    WriteChunk(stream, "fdAT", fdat);
                }
            }
            WriteChunk(stream, "IEND", []);
        });
        if (stillPath is not null) AtomicFile.Write(stillPath, s => s.Write(pngFrames[^1]));
    }

    private static string Describe(byte[] ihdr) =>
        $"{BinaryPrimitives.ReadUInt32BigEndian(ihdr)} x {BinaryPrimitives.ReadUInt32BigEndian(ihdr.AsSpan(4))} (bit depth {ihdr[8]}, colour type {ihdr[9]})";

    /// <summary>Each frame's control chunk (fcTL) of an APNG file: its width, height and delay in milliseconds.</summary>
    internal static List<(int Width, int Height, double Milliseconds)> FrameControls(string path) =>
        ReadChunks(File.ReadAllBytes(path)).Where(c => c.Type == "fcTL").Select(c => (
            (int)BinaryPrimitives.ReadUInt32BigEndian(c.Data.AsSpan(4)), (int)BinaryPrimitives.ReadUInt32BigEndian(c.Data.AsSpan(8)),
            1000.0 * BinaryPrimitives.ReadUInt16BigEndian(c.Data.AsSpan(20)) / Math.Max((ushort)1, BinaryPrimitives.ReadUInt16BigEndian(c.Data.AsSpan(22))))).ToList();

    /// <summary>The number of frames an APNG file declares (its acTL chunk), or 1 for a plain PNG.</summary>
    public static int FrameCount(string path)
    {
        var chunks = ReadChunks(File.ReadAllBytes(path));
        var actl = chunks.FirstOrDefault(c => c.Type == "acTL");
        return actl.Data is null ? 1 : (int)BinaryPrimitives.ReadUInt32BigEndian(actl.Data);
    }

    private static List<(string Type, byte[] Data)> ReadChunks(byte[] png)
    {
        if (png.Length < 8 || !png.AsSpan(0, 8).SequenceEqual(Signature)) throw new InvalidDataException("not a PNG");
        var chunks = new List<(string, byte[])>();
        for (var at = 8; at + 12 <= png.Length;)
        {
            var length = (int)BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(at));
            var type = Encoding.ASCII.GetString(png, at + 4, 4);
            chunks.Add((type, png.AsSpan(at + 8, length).ToArray()));
            at += 12 + length;
            if (type == "IEND") break;
        }
        return chunks;
    }

    internal static void WriteChunk(Stream stream, string type, byte[] data)
    {
        Span<byte> header = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32BigEndian(header, (uint)data.Length);
        Encoding.ASCII.GetBytes(type, header[4..]);
        stream.Write(header);
        stream.Write(data);
        var crc = Crc32.Compute(header[4..], data);
        Span<byte> tail = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(tail, crc);
        stream.Write(tail);
    }

    /// <summary>The CRC-32 of PNG chunks (ISO 3309, polynomial 0xEDB88320), over the chunk type and data.</summary>
    internal static class Crc32
    {
        private static readonly uint[] Table = Enumerable.Range(0, 256).Select(n =>
        {
            var c = (uint)n;
            for (var k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            return c;
        }).ToArray();

        public static uint Compute(ReadOnlySpan<byte> type, ReadOnlySpan<byte> data)
        {
            var c = 0xFFFFFFFFu;
            foreach (var b in type) c = Table[(c ^ b) & 0xFF] ^ (c >> 8);
            foreach (var b in data) c = Table[(c ^ b) & 0xFF] ^ (c >> 8);
            return c ^ 0xFFFFFFFFu;
        }
    }
}
