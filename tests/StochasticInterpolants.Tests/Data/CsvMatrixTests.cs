using StochasticInterpolants.Data;
using StochasticInterpolants.Files;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Data;

public sealed class CsvMatrixTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-csv-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private string File(string name, string text) { var p = Path.Combine(_dir, name); System.IO.File.WriteAllText(p, text); return p; }

    [Fact]
    public void Round_trip_is_exact_for_float32()
    {
        using var g = new Generator(3);
        using var x = randn(257, 3, generator: g) * 1e3;
        var path = Path.Combine(_dir, "x.csv");
        CsvMatrix.Write(path, x);
        using var back = CsvMatrix.Read(path);
        Assert.True(back.allclose(x, 0, 0));
        Assert.Equal(257, System.IO.File.ReadAllLines(path).Length);
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));
    }

    [Fact]
    public void Header_and_blank_lines_are_skipped()
    {
        using var x = CsvMatrix.Read(File("h.csv", "a,b\n1,2\n\n3.5,-4e-1\n"));
        Assert.Equal(new long[] { 2, 2 }, x.shape);
        Assert.Equal(new[] { 1f, 2f, 3.5f, -0.4f }, x.data<float>().ToArray());
        using var e = DataSources.ReadCsv(File("e.csv", "1,2,3\n4,5,6\n"));
        Assert.Equal(3, e.Dimension);
        using var gen = new Generator(1);
        using var s = e.Sample(100, gen);
        Assert.Equal(new long[] { 100, 3 }, s.shape);
    }

    [Theory]
    [InlineData("ragged.csv", "1,2\n3,4,5\n", "line 2 has 3 fields, expected 2")]
    [InlineData("word.csv", "1,2\n3,abc\n", "line 2, field 2 is not a number")]
    [InlineData("nan.csv", "1,2\n3,NaN\n", "line 2, field 2 is NaN")]
    [InlineData("inf.csv", "x,y\n1,2\n-Infinity,2\n", "line 3, field 1 is infinite")]
    [InlineData("empty.csv", "", "no data rows")]
    [InlineData("header-only.csv", "x,y\n", "no data rows")]
    public void Malformed_files_name_the_line_and_problem(string name, string text, string fragment)
    {
        var path = File(name, text);
        var e = Assert.Throws<DataFormatException>(() => CsvMatrix.Read(path));
        Assert.Contains(fragment, e.Message);
        Assert.Contains(name, e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    [Fact]
    public void Writing_into_a_missing_folder_fails_cleanly_and_a_failed_write_keeps_the_old_file()
    {
        using var x = ones(2, 2);
        Assert.Throws<DirectoryNotFoundException>(() => CsvMatrix.Write(Path.Combine(_dir, "missing", "x.csv"), x));
        var path = File("keep.csv", "7,8\n");
        using var bad = ones(2);
        Assert.Throws<ArgumentException>(() => CsvMatrix.Write(path, bad));
        Assert.Equal("7,8\n", System.IO.File.ReadAllText(path));
        // NaN or infinite samples are refused, naming the row and column, and the old file stays.
        using var nan = tensor(new float[] { 1, 2, 3, float.NaN }).reshape(2, 2);
        Assert.Contains("row 2, column 2", Assert.Throws<DataFormatException>(() => CsvMatrix.Write(path, nan)).Message);
        Assert.Equal("7,8\n", System.IO.File.ReadAllText(path));
    }
}
