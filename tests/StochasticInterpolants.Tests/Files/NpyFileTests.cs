using System.IO.Compression;
using System.Text;
using StochasticInterpolants.Data;
using StochasticInterpolants.Files;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Files;

public sealed class NpyFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-npy-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private string PathOf(string name) => Path.Combine(_dir, name);

    private string Bytes(string name, byte[] bytes) { var p = PathOf(name); File.WriteAllBytes(p, bytes); return p; }

    // Written by NumPy 1.24 (numpy.lib.format.write_array), base64: the reader is checked against the real format, not only against our writer.
    private const string FortranBigEndianInt16 = "k05VTVBZAQB2AHsnZGVzY3InOiAnPmkyJywgJ2ZvcnRyYW5fb3JkZXInOiBUcnVlLCAnc2hhcGUnOiAoMiwgMywgNCksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAMAAQAEAAIABQAAQANAAUAEQAJABUAAgAOAAYAEgAKABYAAwAPAAcAEwALABc=";
    private const string BigEndianFloat64 = "k05VTVBZAQB2AHsnZGVzY3InOiAnPmY4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDIpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAo/+AAAAAAAAMACAAAAAAAAQhvwjrAAAACAAAAAAAAAAA==";
    private const string Bool = "k05VTVBZAQB2AHsnZGVzY3InOiAnfGIxJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoBAAE=";
    private const string UInt16 = "k05VTVBZAQB2AHsnZGVzY3InOiAnPHUyJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAEA//8=";
    private const string Version2Float32 = "k05VTVBZAgB0AAAAeydkZXNjcic6ICc8ZjQnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMywgMiksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAACAPwAAAEAAAEBAAACAQAAAoEA=";
    private const string Version3Int32 = "k05VTVBZAwB0AAAAeydkZXNjcic6ICc8aTQnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMywgMiksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAQAAAAIAAAADAAAABAAAAAUAAAA=";
    private const string ScalarFloat32 = "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKCksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAOBA";
    private const string EmptyInt64 = "k05VTVBZAQB2AHsnZGVzY3InOiAnPGk4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDAsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAo=";
    // numpy.savez_compressed(f, x=np.arange(12, dtype=np.uint8).reshape(3, 2, 2), y=np.array([7, 3, 7])): deflated entries with zip64 extra fields.
    private const string NumpyNpz = "UEsDBBQAAAAIAAAAIQCaCbEcVAAAAIwAAAAFABQAeC5ucHkBABAAjAAAAAAAAABUAAAAAAAAAJvsF+obEMnIUMZQrZ6SWpxcpG6loF5Taqiuo6Cell9UUpSYF59flJIKEndLzClOBYoXZyQWpAL5GsY6CkZApKmjUKtAHuBiYGRiZmFlY+fg5OIGAFBLAwQUAAAACAAAACEAh1xKFEwAAACYAAAABQAUAHkubnB5AQAQAJgAAAAAAAAATAAAAAAAAACb7BfqGxDJyFDGUK2eklqcXKRupaBuk2mhrqOgnpZfVFKUmBefX5SSChJ3S8wpTgWKF2ckFqQC+RrGOpo6CrUKFAAudgYIYIbSMD4AUEsBAhQDFAAAAAgAAAAhAJoJsRxUAAAAjAAAAAUAAAAAAAAAAAAAAIABAAAAAHgubnB5UEsBAhQDFAAAAAgAAAAhAIdcShRMAAAAmAAAAAUAAAAAAAAAAAAAAIABiwAAAHkubnB5UEsFBgAAAAACAAIAZgAAAA4BAAAAAA==";

    private Tensor ReadFixture(string base64) => NpyFile.Read(Bytes("f.npy", Convert.FromBase64String(base64)));

    public static TheoryData<ScalarType, int> DtypesAndRanks()
    {
        var data = new TheoryData<ScalarType, int>();
        foreach (var dtype in new[] { ScalarType.Byte, ScalarType.Int64, ScalarType.Float32, ScalarType.Float64, ScalarType.Int8, ScalarType.Int16, ScalarType.Int32, ScalarType.Bool })
            foreach (var rank in new[] { 0, 1, 2, 4 })
                data.Add(dtype, rank);
        return data;
    }

    [Theory]
    [MemberData(nameof(DtypesAndRanks))]
    public void Arrays_round_trip_with_their_dtype_shape_and_values(ScalarType dtype, int rank)
    {
        using var scope = NewDisposeScope();
        long[] shape = rank switch { 0 => [], 1 => [5], 2 => [3, 4], _ => [2, 1, 3, 2] };
        var generator = new Generator(7);
        var values = randn(shape, dtype: float64, generator: generator).mul(40);
        var t = dtype == ScalarType.Bool ? values.gt(0) : dtype == ScalarType.Byte ? values.abs().to(dtype) : values.to(dtype);
        var path = PathOf($"a{rank}.npy");
        NpyFile.Write(path, t);
        var back = NpyFile.Read(path);
        Assert.Equal(dtype == ScalarType.Bool ? ScalarType.Byte : dtype, back.dtype);
        Assert.Equal(shape, back.shape);
        Assert.True(back.to(float64).equal(t.to(float64)).all().item<bool>());
        // The data starts at a multiple of 64 bytes, as NumPy aligns it.
        Assert.Equal(0, (new FileInfo(path).Length - t.numel() * t.element_size()) % 64);
    }

    [Fact]
    public void The_writer_produces_the_same_bytes_as_numpy_save()
    {
        // numpy.save(f, np.zeros((2, 3), dtype='<f4')): 128-byte header (room for the first axis to grow), then 24 zero bytes.
        using var t = zeros(2, 3);
        using var stream = new MemoryStream();
        NpyFile.Write(stream, t);
        var expected = "\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" + new string(' ', 58) + "\n";
        Assert.Equal(Encoding.Latin1.GetBytes(expected).Concat(new byte[24]).ToArray(), stream.ToArray());
    }

    [Fact]
    public void Numpy_files_are_read_fortran_order_big_endian_bool_uint16_and_every_version()
    {
        using var scope = NewDisposeScope();
        // np.asfortranarray(np.arange(24, dtype='>i2').reshape(2, 3, 4)): the same values as the C-order array.
        var fortran = ReadFixture(FortranBigEndianInt16);
        Assert.Equal(ScalarType.Int16, fortran.dtype);
        Assert.Equal(new long[] { 2, 3, 4 }, fortran.shape);
        Assert.Equal(Enumerable.Range(0, 24).Select(i => (short)i).ToArray(), fortran.contiguous().data<short>().ToArray());
        var f8 = ReadFixture(BigEndianFloat64);
        Assert.Equal(new[] { 1.5, -2.25, 3e10, -0.0 }, f8.data<double>().ToArray());
        Assert.True(double.IsNegative(f8.data<double>()[3]));
        var flags = ReadFixture(Bool);
        Assert.Equal(ScalarType.Byte, flags.dtype);
        Assert.Equal(new byte[] { 1, 0, 1 }, flags.data<byte>().ToArray());
        var u2 = ReadFixture(UInt16);
        Assert.Equal(ScalarType.Int32, u2.dtype);
        Assert.Equal(new[] { 0, 1, 65535 }, u2.data<int>().ToArray());
        var v2 = ReadFixture(Version2Float32);
        Assert.Equal(new long[] { 3, 2 }, v2.shape);
        Assert.Equal(new[] { 0f, 1, 2, 3, 4, 5 }, v2.data<float>().ToArray());
        var v3 = ReadFixture(Version3Int32);
        Assert.Equal(new[] { 0, 1, 2, 3, 4, 5 }, v3.data<int>().ToArray());
        var scalar = ReadFixture(ScalarFloat32);
        Assert.Empty(scalar.shape);
        Assert.Equal(7f, scalar.item<float>());
        var empty = ReadFixture(EmptyInt64);
        Assert.Equal(new long[] { 0, 3 }, empty.shape);
    }

    [Fact]
    public void Fortran_order_is_permuted_to_c_order_for_every_rank()
    {
        using var scope = NewDisposeScope();
        // A hand-made Fortran-order float32 [2, 3]: column-major data 0 3 1 4 2 5 is the row-major matrix 0..5.
        var header = "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }";
        var data = new[] { 0f, 3, 1, 4, 2, 5 }.SelectMany(BitConverter.GetBytes).ToArray();
        var t = NpyFile.Read(Bytes("f.npy", Npy(header, data)));
        Assert.Equal(new long[] { 2, 3 }, t.shape);
        Assert.True(t.is_contiguous());
        Assert.Equal(new[] { 0f, 1, 2, 3, 4, 5 }, t.data<float>().ToArray());
        // Rank 1 and 0 are the same in both orders.
        var one = NpyFile.Read(Bytes("g.npy", Npy("{'descr': '<f4', 'fortran_order': True, 'shape': (3,), }", data[..12])));
        Assert.Equal(new[] { 0f, 3, 1 }, one.data<float>().ToArray());
    }

    /// <summary>A version 1.0 .npy file with the given header text (no padding) and data.</summary>
    private static byte[] Npy(string header, byte[] data, byte major = 1)
    {
        var text = Encoding.Latin1.GetBytes(header + "\n");
        var prefix = new List<byte>(Encoding.Latin1.GetBytes("\x93NUMPY")) { major, 0 };
        if (major == 1) prefix.AddRange(BitConverter.GetBytes((ushort)text.Length));
        else prefix.AddRange(BitConverter.GetBytes((uint)text.Length));
        return [.. prefix, .. text, .. data];
    }

    private const string Good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
    private static readonly byte[] EightBytes = new byte[8];

    public static TheoryData<string, byte[], string> MalformedFiles() => new()
    {
        { "empty file", [], "truncated" },
        { "bad magic", Encoding.Latin1.GetBytes("\x93NUMPX\x01\x00\x10\x00{}"), "not a NumPy .npy file" },
        { "csv text", Encoding.ASCII.GetBytes("1,2,3\n4,5,6\n"), "not a NumPy .npy file" },
        { "version 4.0", Npy(Good, EightBytes, major: 4), "version 4.0" },
        { "header longer than the file", [.. Npy(Good, EightBytes)[..8], 0xFF, 0xFF, (byte)'{'], "truncated" },
        { "huge v2 header length", [.. Encoding.Latin1.GetBytes("\x93NUMPY\x02\x00"), 0xFF, 0xFF, 0xFF, 0x7F, (byte)'{'], "more than the" },
        { "header not a dict", Npy("('<f4', False, (2,))", EightBytes), "not a dict" },
        { "unclosed dict", Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), ", EightBytes), "ends early" },
        { "garbage after the dict", Npy(Good + " x", EightBytes), "after the dict" },
        { "missing shape", Npy("{'descr': '<f4', 'fortran_order': False}", EightBytes), "lacks 'shape'" },
        { "extra key", Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", EightBytes), "unexpected key 'x'" },
        { "duplicate key", Npy("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", EightBytes), "appears twice" },
        { "text dtype", Npy("{'descr': '<U10', 'fortran_order': False, 'shape': (2,), }", new byte[80]), "'<U10' (text) is not supported" },
        { "object dtype", Npy("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", new byte[16]), "(Python objects)" },
        { "complex dtype", Npy("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", new byte[16]), "(complex numbers)" },
        { "float16", Npy("{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }", new byte[4]), "'<f2'" },
        { "uint64", Npy("{'descr': '<u8', 'fortran_order': False, 'shape': (2,), }", new byte[16]), "uint64" },
        { "structured dtype", Npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", EightBytes), "structured arrays" },
        { "descr not a string", Npy("{'descr': 4, 'fortran_order': False, 'shape': (2,), }", EightBytes), "descr is not a string" },
        { "fortran_order not a bool", Npy("{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }", EightBytes), "fortran_order is not True or False" },
        { "shape a list", Npy("{'descr': '<f4', 'fortran_order': False, 'shape': [2], }", EightBytes), "shape is not a tuple" },
        { "shape (2) is a number", Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2), }", EightBytes), "shape is not a tuple" },
        { "negative dimension", Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", EightBytes), "not an integer >= 0" },
        { "text dimension", Npy("{'descr': '<f4', 'fortran_order': False, 'shape': ('2',), }", EightBytes), "not an integer >= 0" },
        { "number too long", Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", EightBytes), "not a number" },
        { "absurd size", Npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000, 1000000000), }", EightBytes), "too large" },
        { "large size, small file", Npy("{'descr': '<f8', 'fortran_order': False, 'shape': (100000000,), }", EightBytes), "truncated" },
        { "truncated data", Npy(Good, EightBytes[..5]), "truncated" },
        { "data after the array", Npy(Good, new byte[12]), "after the" },
        { "deep nesting", Npy("{'descr': " + new string('(', 40) + new string(')', 40) + "}", EightBytes), "nested more than" },
        { "bad UTF-8 in version 3", Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), '\xff': 1}", EightBytes, major: 3), "not valid UTF-8" },
    };

    [Theory]
    [MemberData(nameof(MalformedFiles))]
    public void Malformed_files_are_refused_with_one_line_naming_the_file(string what, byte[] bytes, string expected)
    {
        var path = Bytes("bad.npy", bytes);
        var e = Assert.Throws<DataFormatException>(() => NpyFile.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.False(string.IsNullOrEmpty(what));
    }

    [Fact]
    public void A_compressed_stream_of_unknown_length_is_checked_as_it_arrives()
    {
        // Inside a deflated zip entry the length is unknown: a header announcing 800 MB over 8 bytes of data must fail as
        // truncated after reading what is there, without allocating the announced size first.
        var bytes = Npy("{'descr': '<f8', 'fortran_order': False, 'shape': (100000000,), }", EightBytes);
        using var packed = new MemoryStream();
        using (var zip = new DeflateStream(packed, CompressionLevel.Fastest, leaveOpen: true)) zip.Write(bytes);
        packed.Position = 0;
        using var unpacked = new DeflateStream(packed, CompressionMode.Decompress);
        var before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<DataFormatException>(() => NpyFile.Read(unpacked, "stream.npy"));
        Assert.Contains("truncated", e.Message);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 16 << 20, "the reader allocated from the header's size");
    }

    [Fact]
    public void Npz_archives_stored_and_deflated_round_trip_with_labels()
    {
        using var scope = NewDisposeScope();
        var x = arange(24, dtype: ScalarType.Byte).reshape(2, 3, 4);
        var y = tensor(new long[] { 5, 2 });
        foreach (var compressed in new[] { false, true })
        {
            var path = PathOf($"a{compressed}.npz");
            NpzFile.Write(path, new Dictionary<string, Tensor> { ["x"] = x, ["y"] = y }, compressed);
            // The local header's compression method: 0 = stored, 8 = deflated.
            Assert.Equal(compressed ? 8 : 0, BitConverter.ToUInt16(File.ReadAllBytes(path), 8));
            var arrays = NpzFile.Read(path);
            Assert.Equal(new[] { "x", "y" }, arrays.Keys.Order());
            Assert.True(arrays["x"].equal(x).all().item<bool>());
            Assert.Equal(new long[] { 5, 2 }, arrays["y"].data<long>().ToArray());
        }
    }

    [Fact]
    public void A_numpy_savez_compressed_archive_is_read()
    {
        using var scope = NewDisposeScope();
        var arrays = NpzFile.Read(Bytes("np.npz", Convert.FromBase64String(NumpyNpz)));
        Assert.Equal(new long[] { 3, 2, 2 }, arrays["x"].shape);
        Assert.Equal(Enumerable.Range(0, 12).Select(i => (byte)i).ToArray(), arrays["x"].data<byte>().ToArray());
        Assert.Equal(new long[] { 7, 3, 7 }, arrays["y"].data<long>().ToArray());
    }

    [Fact]
    public void Corrupt_archives_are_refused_with_one_line()
    {
        var good = Convert.FromBase64String(NumpyNpz);
        var flipped = (byte[])good.Clone();
        flipped[60] ^= 0x55; // inside x.npy's deflated data
        var noArrays = PathOf("empty.npz");
        using (var zip = ZipFile.Open(noArrays, ZipArchiveMode.Create)) zip.CreateEntry("readme.txt");
        foreach (var (name, bytes) in new[] { ("random.npz", Encoding.ASCII.GetBytes("not a zip at all")), ("cut.npz", good[..200]), ("flipped.npz", flipped) })
        {
            var path = Bytes(name, bytes);
            var e = Assert.Throws<DataFormatException>(() => NpzFile.Read(path));
            Assert.Contains(path, e.Message);
            Assert.DoesNotContain('\n', e.Message);
        }
        Assert.Contains("holds no .npy arrays", Assert.Throws<DataFormatException>(() => NpzFile.Read(noArrays)).Message);
    }
}
