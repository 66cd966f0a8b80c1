using StochasticInterpolants.Data;

namespace StochasticInterpolants.Files;

/// <summary>
/// Reads binary data files whose headers announce the size of what follows. A header is untrusted input: no buffer is
/// sized from it alone. When the stream's length is known the announced size is checked against it first; otherwise the
/// buffer grows with the data that actually arrives (at most twice the bytes read), so a fuzzed size cannot make the
/// reader allocate gigabytes.
/// </summary>
internal static class BinaryInput
{
    /// <summary>The largest block read into one managed array (.NET's array limit, ~2 GiB).</summary>
    public static long MaxBytes => Array.MaxLength;

    /// <summary>Opens <paramref name="path"/> for reading, or throws <see cref="FileNotFoundException"/> / <see cref="DataFormatException"/> for a missing file or a folder.</summary>
    public static FileStream OpenFile(string path, string kind)
    {
        if (Directory.Exists(path)) throw new DataFormatException($"'{path}' is a folder, not a {kind} file");
        if (!File.Exists(path)) throw new FileNotFoundException($"file '{path}' does not exist");
        return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
    }

    /// <summary>Bytes left in <paramref name="stream"/>, or null when it cannot tell (compressed streams).</summary>
    public static long? Remaining(Stream stream)
    {
        if (!stream.CanSeek) return null;
        try { return Math.Max(0, stream.Length - stream.Position); }
        catch (NotSupportedException) { return null; }
    }

    /// <summary>
    /// Exactly <paramref name="count"/> bytes of <paramref name="stream"/>; a <see cref="DataFormatException"/>
    /// "<paramref name="name"/>: truncated: ..." when fewer arrive, or when a compressed stream turns out corrupt.
    /// </summary>
    public static byte[] ReadExactly(Stream stream, long count, string name, string what)
    {
        if (count < 0 || count > MaxBytes) throw new DataFormatException($"'{name}': {what} would be {count} bytes, more than the {MaxBytes} one array can hold");
        if (Remaining(stream) is { } left && left < count)
            throw new DataFormatException($"'{name}' is truncated: {what} needs {count} bytes, only {left} are left");
        var buffer = new byte[Math.Min(count, 1 << 20)];
        var filled = 0;
        try
        {
            while (filled < count)
            {
                if (filled == buffer.Length) Array.Resize(ref buffer, (int)Math.Min(count, 2L * buffer.Length));
                var read = stream.Read(buffer, filled, buffer.Length - filled);
                if (read == 0) throw new DataFormatException($"'{name}' is truncated: {what} needs {count} bytes, only {filled} are there");
                filled += read;
            }
        }
        catch (InvalidDataException e) { throw Corrupt(name, e); }
        return buffer;
    }

    /// <summary>Throws when <paramref name="stream"/> holds bytes past the announced data (a size that does not match the header).</summary>
    public static void ExpectEnd(Stream stream, string name, string announced)
    {
        long extra;
        try
        {
            if (Remaining(stream) is { } left) extra = left;
            else extra = stream.ReadByte() < 0 ? 0 : 1;
        }
        catch (InvalidDataException e) { throw Corrupt(name, e); }
        if (extra > 0)
            throw new DataFormatException($"'{name}' holds {(stream.CanSeek ? $"{extra} bytes" : "data")} after the {announced} its header announces: the header's shape does not match the data");
    }

    /// <summary>A corrupt compressed stream (gzip, deflate, zip) as a one-line <see cref="DataFormatException"/>.</summary>
    public static DataFormatException Corrupt(string name, Exception e) => new($"'{name}' has corrupt compressed data: {OneLine(e.Message)}");

    /// <summary>The first line of a message (library messages sometimes carry more).</summary>
    public static string OneLine(string message) => message.Split('\n')[0].TrimEnd('\r', ' ');

    /// <summary>The product of <paramref name="shape"/> (elements), or null when it exceeds <paramref name="limit"/>.</summary>
    public static long? Elements(IReadOnlyList<long> shape, long limit)
    {
        long count = 1;
        foreach (var s in shape)
        {
            if (s == 0) return 0;
            if (count > limit / s) return null;
            count *= s;
        }
        return count;
    }
}
