using System.Buffers.Binary;
using System.IO.Compression;
using StochasticInterpolants.Data;
using static TorchSharp.torch;

namespace StochasticInterpolants.Files;

/// <summary>
/// The IDX format of MNIST and Fashion-MNIST, raw or gzip-compressed (detected by the bytes 1f 8b): the magic
/// 00 00 TYPE NDIM, NDIM big-endian int32 sizes, then the elements in row-major order. Only TYPE 0x08 (unsigned bytes),
/// the type of every (Fashion-)MNIST file, is read.
/// </summary>
public static class IdxFile
{
    private const int MaxRank = 16;

    /// <summary>Reads <paramref name="path"/> as a uint8 tensor of the announced shape; throws a one-line <see cref="DataFormatException"/> for anything malformed.</summary>
    public static Tensor Read(string path)
    {
        using var file = BinaryInput.OpenFile(path, "IDX");
        return Read(file, path);
    }

    /// <summary>Reads one IDX array from <paramref name="stream"/> (raw or gzip; a gzip stream must be seekable to be detected), which must end with it.</summary>
    public static Tensor Read(Stream stream, string name)
    {
        var gzip = false;
        if (stream.CanSeek)
        {
            var start = stream.Position;
            var first = stream.ReadByte();
            var second = stream.ReadByte();
            stream.Position = start;
            gzip = first == 0x1f && second == 0x8b;
        }
        if (!gzip) return ReadRaw(stream, name);
        using var unzipped = new GZipStream(stream, CompressionMode.Decompress, leaveOpen: true);
        return ReadRaw(unzipped, name);
    }

    private static Tensor ReadRaw(Stream stream, string name)
    {
        var magic = BinaryInput.ReadExactly(stream, 4, name, "the IDX magic number");
        if (magic[0] != 0 || magic[1] != 0)
            throw new DataFormatException($"'{name}' is not an IDX file: it starts {magic[0]:x2} {magic[1]:x2}, expected 00 00");
        var (type, rank) = (magic[2], magic[3]);
        if (type != 0x08)
        {
            var kind = type switch { 0x09 => "int8", 0x0B => "int16", 0x0C => "int32", 0x0D => "float32", 0x0E => "float64", _ => "unknown" };
            throw new DataFormatException($"'{name}': IDX element type 0x{type:X2} ({kind}) is not supported: only 0x08 (unsigned bytes) is read");
        }
        if (rank is < 1 or > MaxRank) throw new DataFormatException($"'{name}': IDX rank {rank} is outside 1..{MaxRank}");
        var sizes = BinaryInput.ReadExactly(stream, 4L * rank, name, $"the {rank} IDX dimension sizes");
        var shape = new long[rank];
        for (var i = 0; i < rank; i++)
        {
            shape[i] = BinaryPrimitives.ReadInt32BigEndian(sizes.AsSpan(4 * i));
            if (shape[i] < 0) throw new DataFormatException($"'{name}': IDX dimension {i + 1} has size {shape[i]}");
        }
        var shown = string.Join(" x ", shape);
        var count = BinaryInput.Elements(shape, BinaryInput.MaxBytes)
            ?? throw new DataFormatException($"'{name}': IDX shape {shown} is too large (over {BinaryInput.MaxBytes} bytes)");
        var data = BinaryInput.ReadExactly(stream, count, name, $"IDX shape {shown}");
        BinaryInput.ExpectEnd(stream, name, $"{count} bytes of shape {shown}");
        return tensor(data, shape);
    }
}
