using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Text;
using StochasticInterpolants.Data;
using static TorchSharp.torch;

namespace StochasticInterpolants.Files;

/// <summary>
/// NumPy's <c>.npy</c> format: the magic <c>\x93NUMPY</c>, a version byte pair (1.0, 2.0 or 3.0), the header length
/// (uint16 little-endian for 1.0, uint32 for 2.0 and 3.0), a header that is a Python dict literal
/// <c>{'descr': '&lt;f4', 'fortran_order': False, 'shape': (n, d), }</c> (latin-1, UTF-8 for 3.0), then the elements
/// in C (row-major) or Fortran (column-major) order. Element types read: bool (b1), u1, i1, i2, u2, i4, u4, i8, f4, f8,
/// little- or big-endian; u2 widens to int32 and u4 to int64 (TorchSharp has no unsigned types beyond uint8), bool
/// becomes uint8 0/1. Every malformed input throws a one-line <see cref="DataFormatException"/> naming the file.
/// </summary>
public static class NpyFile
{
    private static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>The longest header accepted (NumPy itself refuses headers over 10,000 bytes from untrusted files by default).</summary>
    public const int MaxHeaderBytes = 1 << 16;

    /// <summary>The highest rank accepted (NumPy 2's limit).</summary>
    public const int MaxRank = 64;

    /// <summary>The header's data alignment: NumPy pads the header so the data starts at a multiple of 64 bytes.</summary>
    private const int Alignment = 64;

    /// <summary>NumPy's GROWTH_AXIS_MAX_DIGITS: header space kept for the growing axis.</summary>
    private const int GrowthDigits = 21;

    /// <summary>Reads the array in <paramref name="path"/> (see the class summary for what is accepted).</summary>
    public static Tensor Read(string path)
    {
        using var stream = BinaryInput.OpenFile(path, ".npy");
        return Read(stream, path);
    }

    /// <summary>
    /// Reads one array from <paramref name="stream"/>, which must end with it; <paramref name="name"/> names the source in
    /// errors. The data block is read before any tensor is made, and checked against the stream's length when known.
    /// </summary>
    public static Tensor Read(Stream stream, string name)
    {
        var prefix = BinaryInput.ReadExactly(stream, 8, name, "the .npy preamble");
        if (!prefix.AsSpan(0, 6).SequenceEqual(Magic))
            throw new DataFormatException($"'{name}' is not a NumPy .npy file (it does not start with \\x93NUMPY)");
        var (major, minor) = (prefix[6], prefix[7]);
        if (major is < 1 or > 3 || minor != 0)
            throw new DataFormatException($"'{name}': .npy format version {major}.{minor} is not supported (expected 1.0, 2.0 or 3.0)");
        var lengthBytes = BinaryInput.ReadExactly(stream, major == 1 ? 2 : 4, name, "the header length");
        long headerLength = major == 1 ? BinaryPrimitives.ReadUInt16LittleEndian(lengthBytes) : BinaryPrimitives.ReadUInt32LittleEndian(lengthBytes);
        if (headerLength > MaxHeaderBytes)
            throw new DataFormatException($"'{name}': the .npy header claims {headerLength} bytes, more than the {MaxHeaderBytes} accepted (a corrupt file?)");
        var headerBytes = BinaryInput.ReadExactly(stream, headerLength, name, "the header");
        string text;
        try { text = major == 3 ? new UTF8Encoding(false, true).GetString(headerBytes) : Encoding.Latin1.GetString(headerBytes); }
        catch (DecoderFallbackException) { throw new DataFormatException($"'{name}': the .npy header is not valid UTF-8"); }
        var header = NpyHeader.Parse(text, name);
        var count = BinaryInput.Elements(header.Shape, BinaryInput.MaxBytes / header.Type.Size)
            ?? throw new DataFormatException($"'{name}': shape {header.ShapeText} is too large (over {BinaryInput.MaxBytes} bytes)");
        var data = BinaryInput.ReadExactly(stream, count * header.Type.Size, name, $"shape {header.ShapeText} of {header.Type.Descr}");
        BinaryInput.ExpectEnd(stream, name, $"{count} elements of {header.Type.Descr}");
        return ToTensor(data, header);
    }

    /// <summary>Writes <paramref name="t"/> (uint8, int8, int16, int32, int64, float32, float64 or bool; any rank) as a version 1.0 .npy file, atomically.</summary>
    public static void Write(string path, Tensor t) => AtomicFile.Write(path, stream => Write(stream, t));

    /// <summary>Writes <paramref name="t"/> as .npy to <paramref name="stream"/>: little-endian, C order, the header padded with spaces to a multiple of 64 bytes as NumPy does.</summary>
    public static void Write(Stream stream, Tensor t)
    {
        using var scope = NewDisposeScope();
        var cpu = t.detach().cpu().contiguous();
        var (descr, bytes) = cpu.dtype switch
        {
            ScalarType.Byte => ("|u1", cpu.data<byte>().ToArray()),
            ScalarType.Int8 => ("|i1", MemoryMarshal.AsBytes<sbyte>(cpu.data<sbyte>().ToArray()).ToArray()),
            ScalarType.Bool => ("|b1", MemoryMarshal.AsBytes<bool>(cpu.data<bool>().ToArray()).ToArray()),
            ScalarType.Int16 => ("<i2", LittleEndian<short>(cpu.data<short>().ToArray())),
            ScalarType.Int32 => ("<i4", LittleEndian<int>(cpu.data<int>().ToArray())),
            ScalarType.Int64 => ("<i8", LittleEndian<long>(cpu.data<long>().ToArray())),
            ScalarType.Float32 => ("<f4", LittleEndian<float>(cpu.data<float>().ToArray())),
            ScalarType.Float64 => ("<f8", LittleEndian<double>(cpu.data<double>().ToArray())),
            var other => throw new ArgumentException($"cannot write a {other} tensor as .npy (uint8, int8, int16, int32, int64, float32, float64 or bool)"),
        };
        var shape = cpu.shape.Length == 1 ? $"({cpu.shape[0]},)" : $"({string.Join(", ", cpu.shape)})"; // Python's repr of the tuple
        var dict = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}";
        // NumPy leaves room for the first dimension to grow to 21 digits (appending in place), then pads so that magic (6)
        // + version (2) + length (2) + header + '\n' is a multiple of 64 and the data is aligned: the same bytes as numpy.save.
        if (cpu.shape.Length > 0) dict += new string(' ', GrowthDigits - cpu.shape[0].ToString(CultureInfo.InvariantCulture).Length);
        var total = 10 + dict.Length + 1;
        var padded = dict + new string(' ', (Alignment - total % Alignment) % Alignment) + "\n";
        if (padded.Length > ushort.MaxValue) throw new ArgumentException($"the .npy header of shape {shape} is too long for format 1.0");
        stream.Write(Magic);
        stream.Write([1, 0]);
        Span<byte> length = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(length, (ushort)padded.Length);
        stream.Write(length);
        stream.Write(Encoding.Latin1.GetBytes(padded));
        stream.Write(bytes);
    }

    private static byte[] LittleEndian<T>(T[] values) where T : struct
    {
        // Every machine TorchSharp runs on is little-endian; the check keeps a big-endian port from writing wrong files.
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException(".npy writing assumes a little-endian machine");
        return MemoryMarshal.AsBytes<T>(values).ToArray();
    }

    private static Tensor ToTensor(byte[] data, NpyHeader header)
    {
        using var scope = NewDisposeScope();
        var type = header.Type;
        // A Fortran-order array is the C-order array of the reversed shape, transposed (all axes reversed).
        var shape = header.FortranOrder ? header.Shape.Reverse().ToArray() : header.Shape.ToArray();
        if (type.BigEndian && type.Size > 1) SwapBytes(data, type.Size);
        var t = type.Kind switch
        {
            'b' => tensor(data.Select(b => b == 0 ? (byte)0 : (byte)1).ToArray(), shape),
            'u' when type.Size == 1 => tensor(data, shape),
            'i' when type.Size == 1 => tensor(MemoryMarshal.Cast<byte, sbyte>(data).ToArray(), shape),
            'i' when type.Size == 2 => tensor(MemoryMarshal.Cast<byte, short>(data).ToArray(), shape),
            'u' when type.Size == 2 => tensor(Widen(MemoryMarshal.Cast<byte, ushort>(data)), shape),
            'i' when type.Size == 4 => tensor(MemoryMarshal.Cast<byte, int>(data).ToArray(), shape),
            'u' when type.Size == 4 => tensor(Widen(MemoryMarshal.Cast<byte, uint>(data)), shape),
            'i' when type.Size == 8 => tensor(MemoryMarshal.Cast<byte, long>(data).ToArray(), shape),
            'f' when type.Size == 4 => tensor(MemoryMarshal.Cast<byte, float>(data).ToArray(), shape),
            'f' when type.Size == 8 => tensor(MemoryMarshal.Cast<byte, double>(data).ToArray(), shape),
            _ => throw new InvalidOperationException($"unhandled .npy type {type.Descr}"), // NpyType.Parse admits only the cases above
        };
        if (header.FortranOrder && shape.Length > 1)
            t = t.permute(Enumerable.Range(0, shape.Length).Reverse().Select(i => (long)i).ToArray()).contiguous();
        return t.MoveToOuterDisposeScope();
    }

    private static int[] Widen(ReadOnlySpan<ushort> values)
    {
        var wide = new int[values.Length];
        for (var i = 0; i < values.Length; i++) wide[i] = values[i];
        return wide;
    }

    private static long[] Widen(ReadOnlySpan<uint> values)
    {
        var wide = new long[values.Length];
        for (var i = 0; i < values.Length; i++) wide[i] = values[i];
        return wide;
    }

    private static void SwapBytes(byte[] data, int size)
    {
        switch (size)
        {
            case 2: { var s = MemoryMarshal.Cast<byte, ushort>(data.AsSpan()); BinaryPrimitives.ReverseEndianness(s, s); break; }
            case 4: { var s = MemoryMarshal.Cast<byte, uint>(data.AsSpan()); BinaryPrimitives.ReverseEndianness(s, s); break; }
            case 8: { var s = MemoryMarshal.Cast<byte, ulong>(data.AsSpan()); BinaryPrimitives.ReverseEndianness(s, s); break; }
        }
    }
}

/// <summary>An element type of a .npy header: kind b (bool), i, u or f, size in bytes, byte order.</summary>
internal sealed record NpyType(string Descr, char Kind, int Size, bool BigEndian)
{
    private const string Accepted = "bool, u1, i1, i2, u2, i4, u4, i8, f4 or f8";

    /// <summary>Parses a descr such as '&lt;f4', '|u1', '&gt;i2' or '|b1'; anything else (text, objects, structured, complex, float16) is refused.</summary>
    public static NpyType Parse(string descr, string name)
    {
        var s = descr;
        var big = false;
        if (s.Length > 0 && s[0] is '<' or '>' or '|' or '=')
        {
            // '=' is the writer's native order and '|' "not applicable": NumPy writes neither for multi-byte types, and
            // every platform NumPy runs on today is little-endian.
            big = s[0] == '>';
            s = s[1..];
        }
        (char Kind, int Size)? known = s switch
        {
            "b1" or "?" => ('b', 1),
            "u1" or "B" => ('u', 1),
            "i1" or "b" => ('i', 1),
            "i2" => ('i', 2),
            "u2" => ('u', 2),
            "i4" => ('i', 4),
            "u4" => ('u', 4),
            "i8" => ('i', 8),
            "f4" => ('f', 4),
            "f8" => ('f', 8),
            _ => null,
        };
        if (known is null)
        {
            var what = s.Length == 0 ? "" : s[0] switch
            {
                'U' or 'S' or 'a' => " (text)",
                'O' => " (Python objects)",
                'V' => " (raw or structured records)",
                'c' => " (complex numbers)",
                'M' or 'm' => " (dates or times)",
                'f' => " (this float width)",
                'u' => " (this unsigned width; uint64 does not fit int64)",
                _ => "",
            };
            throw new DataFormatException($"'{name}': element type '{Clip(descr)}'{what} is not supported (expected {Accepted})");
        }
        return new NpyType(descr, known.Value.Kind, known.Value.Size, big);
    }

    /// <summary>At most 40 characters of a value for a message, with control characters shown as '?'.</summary>
    public static string Clip(string value)
    {
        var shown = new string(value.Take(40).Select(c => char.IsControl(c) ? '?' : c).ToArray());
        return value.Length > 40 ? shown + "..." : shown;
    }
}

/// <summary>The parsed header dict of a .npy file.</summary>
internal sealed record NpyHeader(NpyType Type, bool FortranOrder, IReadOnlyList<long> Shape)
{
    /// <summary>The shape as Python writes the tuple: (), (3,), (2, 3).</summary>
    public string ShapeText => Shape.Count == 1 ? $"({Shape[0]},)" : $"({string.Join(", ", Shape)})";

    /// <summary>
    /// Parses the header text: a Python dict literal with exactly the keys 'descr' (a string), 'fortran_order'
    /// (True/False) and 'shape' (a tuple of integers &gt;= 0), optionally followed by spaces and a newline.
    /// </summary>
    public static NpyHeader Parse(string text, string name)
    {
        var parser = new PythonLiteral(text, name);
        var value = parser.ParseValue(0);
        parser.ExpectEnd();
        if (value is not Dictionary<string, object?> dict)
            throw new DataFormatException($"'{name}': the .npy header is not a dict");
        string[] keys = ["descr", "fortran_order", "shape"];
        var extra = dict.Keys.Where(k => !keys.Contains(k)).ToList();
        if (extra.Count > 0) throw new DataFormatException($"'{name}': the .npy header has an unexpected key '{NpyType.Clip(extra[0])}' (expected descr, fortran_order and shape)");
        var missing = keys.Where(k => !dict.ContainsKey(k)).ToList();
        if (missing.Count > 0) throw new DataFormatException($"'{name}': the .npy header lacks '{missing[0]}'");
        var type = dict["descr"] switch
        {
            string descr => NpyType.Parse(descr, name),
            List<object?> => throw new DataFormatException($"'{name}': structured arrays (a list of fields as descr) are not supported"),
            _ => throw new DataFormatException($"'{name}': the .npy header's descr is not a string"),
        };
        if (dict["fortran_order"] is not bool fortran) throw new DataFormatException($"'{name}': the .npy header's fortran_order is not True or False");
        if (dict["shape"] is not PythonTuple tuple) throw new DataFormatException($"'{name}': the .npy header's shape is not a tuple");
        if (tuple.Items.Count > NpyFile.MaxRank) throw new DataFormatException($"'{name}': the shape has {tuple.Items.Count} dimensions, more than {NpyFile.MaxRank}");
        var shape = new long[tuple.Items.Count];
        for (var i = 0; i < shape.Length; i++)
            shape[i] = tuple.Items[i] is long s && s >= 0 ? s
                : throw new DataFormatException($"'{name}': the shape's dimension {i + 1} is {NpyType.Clip(PythonLiteral.Show(tuple.Items[i]))}, not an integer >= 0");
        return new NpyHeader(type, fortran, shape);
    }
}

/// <summary>A Python tuple in a header (a list is kept as <see cref="List{T}"/>).</summary>
internal sealed record PythonTuple(List<object?> Items);

/// <summary>
/// A parser for the small subset of Python literals a .npy header uses: dicts, tuples, lists, quoted strings, integers,
/// True, False and None. Nesting is limited so a fuzzed header cannot exhaust the stack.
/// </summary>
internal sealed class PythonLiteral(string text, string name)
{
    private const int MaxDepth = 16;
    private int _at;

    private DataFormatException Error(string problem) => new($"'{name}': bad .npy header at character {_at + 1}: {problem}");

    private void SkipSpace() { while (_at < text.Length && text[_at] is ' ' or '\t' or '\n' or '\r') _at++; }

    /// <summary>Only whitespace may follow the dict (NumPy pads with spaces and a newline).</summary>
    public void ExpectEnd()
    {
        SkipSpace();
        if (_at < text.Length) throw Error($"unexpected '{Show(text[_at])}' after the dict");
    }

    /// <summary>One value at nesting <paramref name="depth"/>.</summary>
    public object? ParseValue(int depth)
    {
        if (depth > MaxDepth) throw Error($"nested more than {MaxDepth} deep");
        SkipSpace();
        if (_at >= text.Length) throw Error("it ends early");
        var c = text[_at];
        switch (c)
        {
            case '{':
            {
                _at++;
                var dict = new Dictionary<string, object?>();
                while (true)
                {
                    SkipSpace();
                    if (Peek('}')) break;
                    if (ParseValue(depth + 1) is not string key) throw Error("a dict key is not a string");
                    SkipSpace();
                    if (!Peek(':')) throw Error("expected ':' after a dict key");
                    var value = ParseValue(depth + 1);
                    if (!dict.TryAdd(key, value)) throw Error($"key '{NpyType.Clip(key)}' appears twice");
                    SkipSpace();
                    if (Peek('}')) break;
                    if (!Peek(',')) throw Error("expected ',' or '}' in the dict");
                }
                return dict;
            }
            case '(' or '[':
            {
                _at++;
                var close = c == '(' ? ')' : ']';
                var items = new List<object?>();
                var sawComma = false;
                while (true)
                {
                    SkipSpace();
                    if (Peek(close)) break;
                    items.Add(ParseValue(depth + 1));
                    SkipSpace();
                    if (Peek(close)) break;
                    if (!Peek(',')) throw Error($"expected ',' or '{close}'");
                    sawComma = true;
                }
                // (3) is the number 3 in Python, not a tuple; NumPy always writes (3,).
                if (c == '(' && items.Count == 1 && !sawComma) return items[0];
                return c == '(' ? new PythonTuple(items) : items;
            }
            case '\'' or '"':
            {
                _at++;
                var s = new StringBuilder();
                while (true)
                {
                    if (_at >= text.Length) throw Error("a string is not closed");
                    var ch = text[_at++];
                    if (ch == c) break;
                    if (ch == '\\')
                    {
                        if (_at >= text.Length) throw Error("a string is not closed");
                        ch = text[_at++];
                    }
                    s.Append(ch);
                }
                return s.ToString();
            }
            default:
            {
                var start = _at;
                while (_at < text.Length && (char.IsAsciiLetterOrDigit(text[_at]) || text[_at] is '_' or '-' or '+')) _at++;
                var word = text[start.._at];
                if (word.Length == 0) throw Error($"unexpected '{Show(c)}'");
                switch (word)
                {
                    case "True": return true;
                    case "False": return false;
                    case "None": return null;
                }
                // Python 2's NumPy wrote long integers as 3L.
                var digits = word.EndsWith('L') ? word[..^1] : word;
                if (long.TryParse(digits, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number)) return number;
                _at = start;
                throw Error($"'{NpyType.Clip(word)}' is not a number, string, True, False or None");
            }
        }
    }

    private bool Peek(char c)
    {
        if (_at < text.Length && text[_at] == c) { _at++; return true; }
        return false;
    }

    private static string Show(char c) => char.IsControl(c) || c > '~' ? $"\\x{(int)c:x2}" : c.ToString();

    /// <summary>A parsed value for a message.</summary>
    public static string Show(object? value) => value switch
    {
        null => "None",
        string s => $"'{s}'",
        bool b => b ? "True" : "False",
        PythonTuple t => $"({string.Join(", ", t.Items.Select(Show))})",
        List<object?> l => $"[{string.Join(", ", l.Select(Show))}]",
        Dictionary<string, object?> => "a dict",
        _ => Convert.ToString(value, CultureInfo.InvariantCulture) ?? "?",
    };
}

/// <summary>
/// NumPy's <c>.npz</c>: a zip archive (stored or deflated entries) of <c>.npy</c> files, as written by <c>numpy.savez</c>
/// and <c>numpy.savez_compressed</c>; each entry <c>key.npy</c> is the array <c>key</c>.
/// </summary>
public static class NpzFile
{
    /// <summary>
    /// Every <c>.npy</c> entry of <paramref name="path"/> by key (entry name without <c>.npy</c>); other entries are ignored.
    /// A corrupt archive or entry throws a one-line <see cref="DataFormatException"/> naming the file and entry.
    /// </summary>
    public static IReadOnlyDictionary<string, Tensor> Read(string path)
    {
        using var file = BinaryInput.OpenFile(path, ".npz");
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var entryName = "";
        try
        {
            using var zip = new ZipArchive(file, ZipArchiveMode.Read);
            foreach (var entry in zip.Entries)
            {
                entryName = entry.FullName;
                if (!entry.FullName.EndsWith(".npy", StringComparison.Ordinal)) continue;
                var key = entry.FullName[..^4];
                if (result.ContainsKey(key)) throw new DataFormatException($"'{path}': the archive holds '{NpyType.Clip(entry.FullName)}' twice");
                using var stream = entry.Open();
                result[key] = NpyFile.Read(stream, $"{path}:{entry.FullName}");
            }
        }
        catch (Exception e)
        {
            foreach (var t in result.Values) t.Dispose();
            if (e is InvalidDataException or NotSupportedException or ArgumentException or EndOfStreamException)
                throw new DataFormatException($"'{path}' is not a valid .npz (zip) file{(entryName.Length > 0 ? $" (at entry '{NpyType.Clip(entryName)}')" : "")}: {BinaryInput.OneLine(e.Message)}");
            throw;
        }
        if (result.Count == 0)
        {
            throw new DataFormatException($"'{path}' holds no .npy arrays");
        }
        return result;
    }

    /// <summary>Writes <paramref name="arrays"/> as an .npz archive (each as <c>key.npy</c>, see <see cref="NpyFile.Write(Stream, Tensor)"/>), deflated or stored, atomically.</summary>
    public static void Write(string path, IEnumerable<KeyValuePair<string, Tensor>> arrays, bool compressed = true)
    {
        AtomicFile.Write(path, stream =>
        {
            using var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true);
            foreach (var (key, t) in arrays)
            {
                var entry = zip.CreateEntry(key + ".npy", compressed ? CompressionLevel.Optimal : CompressionLevel.NoCompression);
                using var entryStream = entry.Open();
                NpyFile.Write(entryStream, t);
            }
        });
    }
}
