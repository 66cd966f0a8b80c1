using System.Security.Cryptography;
using StochasticInterpolants.Data;
using StochasticInterpolants.Files;
using StochasticInterpolants.Runtime;

namespace StochasticInterpolants.Tests.Files;

public sealed class CsvTableTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-table-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private string File(string name, string text) { var p = Path.Combine(_dir, name); System.IO.File.WriteAllText(p, text); return p; }

    private const string Abcde = "a,b,c,d,e\n1,2,3,4,5\n6,7,8,9,10\n";

    private static float[] Values(TableData t) => t.Rows.data<double>().ToArray().Select(v => (float)v).ToArray();

    [Theory]
    [InlineData("3,1", new[] { "c", "a" }, new[] { 3f, 1f, 8f, 6f })]
    [InlineData("2-4", new[] { "b", "c", "d" }, new[] { 2f, 3f, 4f, 7f, 8f, 9f })]
    [InlineData("E,a", new[] { "e", "a" }, new[] { 5f, 1f, 10f, 6f })]
    [InlineData("last,col2", new[] { "e", "b" }, new[] { 5f, 2f, 10f, 7f })]
    [InlineData("drop:last", new[] { "a", "b", "c", "d" }, new[] { 1f, 2f, 3f, 4f, 6f, 7f, 8f, 9f })]
    [InlineData("drop:4,a,2-3", new[] { "e" }, new[] { 5f, 10f })]
    public void Columns_are_picked_by_index_range_name_and_last_in_the_given_order(string columns, string[] names, float[] values)
    {
        using var t = CsvTable.Read(File("t.csv", Abcde), new TableReadOptions(Columns: columns));
        Assert.Equal(names, t.ColumnNames);
        Assert.Equal(new long[] { 2, names.Length }, t.Rows.shape);
        Assert.Equal(values, Values(t));
        Assert.Equal(2, t.Count);
        Assert.Null(t.Labels);
        Assert.Null(t.ClassNames);
    }

    [Fact]
    public void A_metadata_line_is_skipped_and_a_count_line_is_not_taken_for_names()
    {
        const string iris = "150,4,setosa,versicolor,virginica\n5.1,3.5,1.4,0.2,0\n4.9,3.0,1.4,0.2,1\n";
        using var skipped = CsvTable.Read(File("iris.csv", iris), new TableReadOptions(SkipRows: 1, LabelColumn: "last"));
        Assert.Equal(new[] { "col1", "col2", "col3", "col4" }, skipped.ColumnNames);
        Assert.Equal(new[] { 5.1f, 3.5f, 1.4f, 0.2f, 4.9f, 3.0f, 1.4f, 0.2f }, Values(skipped));
        Assert.Equal(new long[] { 0, 1 }, skipped.Labels);
        // Without skip-rows the same line is sklearn's metadata line (the number of rows that follow, the number of feature
        // columns, the class names): skipped, and said so; its numbers are not taken for names.
        using var header = CsvTable.Read(File("iris2.csv", iris.Replace("150,4,", "2,4,")));
        Assert.Equal(new[] { "col1", "col2", "col3", "col4", "col5" }, header.ColumnNames);
        Assert.Equal(2, header.Count);
        Assert.Contains("line 1 ('2,4,setosa,versicolor,virginica') skipped as a metadata line", Assert.Single(header.Notes));
        // A header of names is no news.
        using var named = CsvTable.Read(File("named.csv", Abcde));
        Assert.Empty(named.Notes);
        // A header with fewer fields than the data (sklearn's breast_cancer.csv) is skipped too.
        using var cancer = CsvTable.Read(File("bc.csv", "3,2,malignant,benign\n1,2,0\n3,4,1\n4,5,1\n"));
        Assert.Equal(new[] { "col1", "col2", "col3" }, cancer.ColumnNames);
        Assert.Equal(3, cancer.Count);
        Assert.Contains("has 4 fields, the data rows 3", Assert.Single(cancer.Notes));
        // Line numbers in errors count the skipped lines.
        var bad = File("bad.csv", "meta\n1,2\n3,x\n");
        Assert.Contains("line 3, field 2 is not a number", Assert.Throws<DataFormatException>(() => CsvTable.Read(bad, new TableReadOptions(SkipRows: 1))).Message);
    }

    [Fact]
    public void A_first_row_with_text_only_in_its_label_column_is_data_not_a_header()
    {
        // No header: the first row's only text is its label, text in the next row too, so it is kept.
        using var t = CsvTable.Read(File("noheader.csv", "5.1,3.5,setosa\n4.9,3.0,versicolor\n"), new TableReadOptions(LabelColumn: "last"));
        Assert.Equal(2, t.Count);
        Assert.Equal([5.1f, 3.5f, 4.9f, 3.0f], Values(t));
        Assert.Equal(["col1", "col2"], t.ColumnNames);
        // With a header, the header still goes: it has text where the data has numbers.
        using var h = CsvTable.Read(File("header.csv", "x,y,species\n5.1,3.5,setosa\n4.9,3.0,versicolor\n"), new TableReadOptions(LabelColumn: "species"));
        Assert.Equal(2, h.Count);
        Assert.Equal(["x", "y"], h.ColumnNames);
    }

    [Theory]
    [InlineData("na.csv", "1,NA\n2,3\n3,4\n4,5\n5,6\n", "field 2 ('NA')")]
    [InlineData("empty.csv", "1,,3\n2,3,4\n3,4,5\n4,5,6\n5,6,7\n", "field 2 ('')")]
    [InlineData("mixed.csv", "x,y,2020\n2,3,4\n3,4,5\n", "field 1 ('x')")]
    // Shaped like sklearn's line, but 1 is not the number of rows that follow: a data row with a missing value.
    [InlineData("small.csv", "1,1,NA\n2,3,4\n3,4,5\n", "field 3 ('NA')")]
    public void A_first_line_that_is_neither_names_nor_data_is_an_error_naming_it(string name, string text, string field)
    {
        // Line 2 with the same text is an error; line 1 was taken for a header and dropped (a 5-row file read as 4 rows).
        var path = File(name, text);
        var e = Assert.Throws<DataFormatException>(() => CsvTable.Read(path));
        Assert.Contains($"{name}: line 1 (", e.Message);
        Assert.Contains(field, e.Message);
        Assert.Contains("neither a header nor a data row", e.Message);
        Assert.Contains("is not a number where line 2 has one", e.Message);
        Assert.Equal(1, e.MetadataLine);
        Assert.DoesNotContain("\n", e.Message);
        // Skipped on purpose, the rest reads.
        using var skipped = CsvTable.Read(path, new TableReadOptions(SkipRows: 1));
        Assert.Equal(text.Count(c => c == '\n') - 1, skipped.Count);
    }

    [Fact]
    public void A_first_line_with_text_only_in_dropped_columns_is_data()
    {
        // The same line on line 2 would be read: text in a column that is not a feature is fine, so line 1 is data too.
        using var t = CsvTable.Read(File("drop.csv", "1,NA,3\n2,5,4\n"), new TableReadOptions(Columns: "drop:2"));
        Assert.Equal(2, t.Count);
        Assert.Equal([1f, 3f, 2f, 4f], Values(t));
        Assert.Empty(t.Notes);
    }

    [Fact]
    public void Whitespace_delimited_rows_are_read()
    {
        using var t = CsvTable.Read(File("diabetes.txt", "59 2 32.1 101.0 157 93.2 38.0 4.0 4.8598 87\n\n48\t1  21.6 87.0 183 103.2 70.0 3.0 3.8918 69\n"));
        Assert.Equal(new long[] { 2, 10 }, t.Rows.shape);
        Assert.Equal(48f, Values(t)[10]);
        Assert.Equal(3.8918f, Values(t)[18]);
        Assert.Equal(new[] { 0, 1, 3, 4, 6, 7, 9 }, t.IntegerColumns); // 101.0, 38.0 and 4.0 are whole numbers too
        using var named = CsvTable.Read(File("named.txt", "age sex bmi\n59 2 32.1\n48 1 21.6\n"), new TableReadOptions(Columns: "bmi,age"));
        Assert.Equal(new[] { "bmi", "age" }, named.ColumnNames);
        Assert.Equal(new[] { 32.1f, 59f, 21.6f, 48f }, Values(named));
    }

    [Fact]
    public void Text_labels_become_sorted_classes_and_leave_the_features()
    {
        using var t = CsvTable.Read(File("l.csv", "x,kind,y\n1,b,2\n3,a,4\n5,b,6\n"), new TableReadOptions(LabelColumn: "kind"));
        Assert.Equal(new[] { "a", "b" }, t.ClassNames);
        Assert.Equal(new long[] { 1, 0, 1 }, t.Labels);
        Assert.Equal(new[] { "x", "y" }, t.ColumnNames);
        Assert.Equal(new[] { 1f, 2f, 3f, 4f, 5f, 6f }, Values(t));
        // The label is removed even when the columns list it; quoted texts are unwrapped.
        using var listed = CsvTable.Read(File("q.csv", "\"x\",\"kind\"\n1,\"b\"\n2,\"a\"\n"), new TableReadOptions(Columns: "1,2", LabelColumn: "2"));
        Assert.Equal(new[] { "x" }, listed.ColumnNames);
        Assert.Equal(new[] { "a", "b" }, listed.ClassNames);
        Assert.Equal(new long[] { 1, 0 }, listed.Labels);
    }

    [Fact]
    public void Numeric_labels_sort_numerically_and_one_class_is_allowed()
    {
        using var t = CsvTable.Read(File("n.csv", "1,10\n2,9\n3,10\n"), new TableReadOptions(LabelColumn: "last"));
        Assert.Equal(new[] { "9", "10" }, t.ClassNames);
        Assert.Equal(new long[] { 1, 0, 1 }, t.Labels);
        Assert.Equal(new[] { "col1" }, t.ColumnNames);
        using var one = CsvTable.Read(File("one.csv", "1,7\n2,7\n"), new TableReadOptions(LabelColumn: "2"));
        Assert.Equal(new[] { "7" }, one.ClassNames);
        Assert.Equal(new long[] { 0, 0 }, one.Labels);
    }

    [Fact]
    public void Integer_columns_are_those_of_whole_numbers_only()
    {
        Assert.Equal(new[] { 0, 2 }, CsvTable.IntegerColumns([[1.0, 1.5, -3], [2, 2, 0], [3, 3, 1e6]]));
        Assert.Empty(CsvTable.IntegerColumns([]));
        using var t = CsvTable.Read(File("i.csv", "a,b,c\n1.0,1.5,x\n2,2,y\n3,3,z\n"), new TableReadOptions(Columns: "drop:c"));
        Assert.Equal(new[] { 0 }, t.IntegerColumns);
    }

    [Theory]
    [InlineData("foo", null, "columns", "no column 'foo' (columns: a, b, c, d, e)")]
    [InlineData("9", null, "columns", "column 9 is out of range (the file has 5 columns)")]
    [InlineData("2-9", null, "columns", "column 9 is out of range (the file has 5 columns)")]
    [InlineData("4-2", null, "columns", "range '4-2' runs backwards")]
    [InlineData("1,a", null, "columns", "column 1 ('a') is listed twice")]
    [InlineData("drop:1-5", null, "columns", "no feature columns left")]
    [InlineData("drop:", null, "columns", "lists no columns")]
    [InlineData("e", "e", "columns", "no feature columns left")]
    [InlineData(null, "kind", "label-column", "no column 'kind' (columns: a, b, c, d, e)")]
    [InlineData(null, "1-2", "label-column", "names one column")]
    public void Bad_options_name_the_setting_the_item_and_what_exists(string? columns, string? label, string setting, string fragment)
    {
        var path = File("t.csv", Abcde);
        var e = Assert.Throws<InvalidSettingException>(() => CsvTable.Read(path, new TableReadOptions(columns, 0, label)));
        Assert.Equal(setting, e.Setting);
        Assert.Contains(fragment, e.Message);
        Assert.DoesNotContain("\n", e.Message);
        Assert.Equal("skip-rows", Assert.Throws<InvalidSettingException>(() => CsvTable.Read(path, new TableReadOptions(SkipRows: -1))).Setting);
    }

    [Theory]
    [InlineData("word.csv", "a,b,c\n1,2,3\n4,oops,6\n", null, "line 3, field 2 is not a number ('oops')")]
    [InlineData("nan.csv", "1,2\n3,NaN\n", null, "line 2, field 2 is NaN")]
    [InlineData("big.csv", "1,2\n3,1e39\n", null, "line 2, field 2 overflows float32")]
    [InlineData("ragged.csv", "1,2\n3,4,5\n", null, "line 2 has 3 fields, expected 2")]
    [InlineData("empty.csv", "x,y\n\n", null, "no data rows")]
    [InlineData("label.csv", "1,a\n2,\n", "last", "line 2, field 2 (the label) is empty")]
    public void Bad_values_name_the_file_line_and_field(string name, string text, string? label, string fragment)
    {
        var path = File(name, text);
        var e = Assert.Throws<DataFormatException>(() => CsvTable.Read(path, new TableReadOptions(LabelColumn: label)));
        Assert.Contains(fragment, e.Message);
        Assert.Contains(name, e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    [Fact]
    public void Text_in_a_feature_column_names_the_column_so_that_a_front_end_can_suggest_dropping_it()
    {
        var e = Assert.Throws<DataFormatException>(() => CsvTable.Read(File("sex.csv", "age,sex\n59,M\n48,F\n")));
        Assert.Contains("line 2, field 2 is not a number ('M')", e.Message);
        Assert.Equal("sex", e.TextColumn);
        // Without a header the column is named as the options name it; a missing value is not a column of text.
        Assert.Equal("col1", Assert.Throws<DataFormatException>(() => CsvTable.Read(File("t.csv", "1,2\nx,3\n"))).TextColumn);
        Assert.Null(Assert.Throws<DataFormatException>(() => CsvTable.Read(File("m.csv", "1,2\n2,3\n4,NA\n"))).TextColumn);
        Assert.Null(Assert.Throws<DataFormatException>(() => CsvTable.Read(File("n.csv", "1,2\n2,3\n4,\n"))).TextColumn);
    }

    [Fact]
    public void Text_in_a_dropped_column_is_fine()
    {
        using var t = CsvTable.Read(File("d.csv", "id,x\nr1,1.5\nr2,2.5\n"), new TableReadOptions(Columns: "drop:id"));
        Assert.Equal(new[] { 1.5f, 2.5f }, Values(t));
        using var kept = CsvTable.Read(File("k.csv", "id,x\nr1,1.5\nr2,2.5\n"), new TableReadOptions(Columns: "x"));
        Assert.Equal(new[] { "x" }, kept.ColumnNames);
        Assert.Contains("line 2, field 1 is not a number", Assert.Throws<DataFormatException>(() => CsvTable.Read(Path.Combine(_dir, "k.csv"))).Message);
    }

    [Fact]
    public void Sha256_is_the_digest_of_the_file_bytes()
    {
        var path = File("s.csv", "x,y\r\n1,2\r\n\r\n3,4\r\n");
        var expected = Convert.ToHexString(SHA256.HashData(System.IO.File.ReadAllBytes(path))).ToLowerInvariant();
        Assert.Equal(expected, CsvTable.Sha256(path));
        using var t = CsvTable.Read(path, new TableReadOptions(SkipRows: 1));
        Assert.Equal(expected, t.Sha256);
        Assert.Equal(path, t.Path);
        Assert.Throws<FileNotFoundException>(() => CsvTable.Read(Path.Combine(_dir, "missing.csv")));
    }
}
