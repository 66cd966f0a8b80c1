using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using StochasticInterpolants.Data;
using StochasticInterpolants.Runtime;
using static TorchSharp.torch;

namespace StochasticInterpolants.Files;

/// <summary>How a table file is read (the command line's --columns, --skip-rows and --label-column).</summary>
/// <param name="Columns">
/// Which file columns are features: comma-separated items, each a 1-based file column index (<c>3</c>), an inclusive
/// range (<c>2-5</c>), <c>last</c>, or a header name (case-insensitive; <c>colK</c> always names file column K). Without
/// a prefix only the listed columns are kept, in the listed order; with the prefix <c>drop:</c> the listed columns are
/// removed and the rest kept in file order. Null keeps every column.
/// </param>
/// <param name="SkipRows">Leading physical lines ignored before anything else (a metadata line, say); 0 or more.</param>
/// <param name="LabelColumn">One column (index, <c>last</c> or name) whose texts are class labels; never a feature. Null for none.</param>
public sealed record TableReadOptions(string? Columns = null, int SkipRows = 0, string? LabelColumn = null);

/// <summary>A table read from a file: numeric feature rows, their names, optional class labels, and which columns hold only whole numbers.</summary>
public sealed class TableData : IDisposable
{
    internal TableData(Tensor rows, IReadOnlyList<string> columnNames, long[]? labels, IReadOnlyList<string>? classNames,
        IReadOnlyList<int> integerColumns, string sha256, string path)
    {
        Rows = rows;
        ColumnNames = columnNames;
        Labels = labels;
        ClassNames = classNames;
        IntegerColumns = integerColumns;
        Sha256 = sha256;
        Path = path;
        // Kept as a number so that it stays readable after the tensor is disposed.
        Count = rows.shape[0];
    }

    /// <summary>The selected feature columns in output order: float64 [n, d] on the CPU, every value exactly as parsed (float32
    /// would change the file as it is read: above 2^24 it cannot hold the odd integers, so counts, identifiers and prices
    /// in cents would lose their last digit).</summary>
    public Tensor Rows { get; }

    /// <summary>The d feature names: the header's names, or <c>col&lt;k&gt;</c> with k the 1-based file column.</summary>
    public IReadOnlyList<string> ColumnNames { get; }

    /// <summary>Per row, an index into <see cref="ClassNames"/>; null without a label column.</summary>
    public long[]? Labels { get; }

    /// <summary>The distinct label texts, sorted (numerically when all parse as numbers, else ordinal); null without a label column.</summary>
    public IReadOnlyList<string>? ClassNames { get; }

    /// <summary>Indices into the feature columns whose every value is a whole number (counts, codes, categories).</summary>
    public IReadOnlyList<int> IntegerColumns { get; }

    /// <summary>SHA-256 of the file's bytes as read, lowercase hex: records exactly which data a result came from.</summary>
    public string Sha256 { get; }

    /// <summary>The file read.</summary>
    public string Path { get; }

    /// <summary>The number of rows.</summary>
    public long Count { get; }

    /// <summary>What the reader decided without being told, one line each (a first line skipped as metadata): worth showing the user.</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];

    /// <summary>
    /// Each row's class as an index into <paramref name="classes"/> (the classes of another table, e.g. the one a model was
    /// trained on), matched by label text; a label outside them is a <see cref="DataFormatException"/> naming it.
    /// </summary>
    public long[] LabelsIn(IReadOnlyList<string> classes)
    {
        if (Labels is null || ClassNames is null) throw new InvalidOperationException($"'{Path}' was read without a label column");
        var index = new long[ClassNames.Count];
        for (var c = 0; c < index.Length; c++)
        {
            index[c] = classes.ToList().IndexOf(ClassNames[c]);
            if (index[c] < 0) throw new DataFormatException($"'{Path}' has class '{ClassNames[c]}', which the training rows lack ({string.Join(", ", classes)})");
        }
        return Labels.Select(l => index[l]).ToArray();
    }

    /// <summary>Frees <see cref="Rows"/>.</summary>
    public void Dispose() => Rows.Dispose();
}

/// <summary>
/// Reads tables of numbers as real data files come: comma- or whitespace-delimited, with leading metadata lines, a header
/// or none, columns picked or dropped by index, range or name, and an optional column of class labels (any text). Every
/// problem is a one-line error naming the file, the physical line and the file column.
/// </summary>
public static class CsvTable
{
    private const string DropPrefix = "drop:";

    /// <summary>
    /// Reads <paramref name="path"/> as described by <paramref name="options"/>.
    /// Delimiter: comma, unless the first data line has no comma, in which case runs of whitespace. Fields are trimmed and a
    /// field wrapped in double quotes is unwrapped (no escaped quotes or quoted commas); blank lines are skipped.
    /// Header: after <see cref="TableReadOptions.SkipRows"/>, the first non-blank line is read with the next. With text only
    /// where the next line has text too (a label, a dropped name column) it is data. Otherwise, a line of names only is the
    /// header (its names are used when there is one per data column, else the columns are called <c>col1</c>.. and a note
    /// says so); a line of numbers and text is a metadata line, skipped with a note, when its field count differs from the
    /// data's or when it is sklearn's (<c>150,4,setosa,versicolor,virginica</c>: the number of rows that follow, then the
    /// number of columns before the last); a line of that kind whose text sits only in columns that are not features is data;
    /// anything else is an error naming the line (a first row with a missing value is never dropped on a guess).
    /// Only feature columns must hold numbers: dropped columns may hold anything, the label column holds class texts.
    /// </summary>
    /// <exception cref="DataFormatException">The file is malformed: ragged rows, a non-number, NaN, infinite or float32-overflowing feature value, an empty label, a first line neither header nor data (<see cref="DataFormatException.MetadataLine"/>), or no data rows. A word in a feature column sets <see cref="DataFormatException.TextColumn"/>.</exception>
    /// <exception cref="InvalidSettingException">An option does not fit the file; <see cref="InvalidSettingException.Setting"/> is <c>columns</c>, <c>skip-rows</c> or <c>label-column</c>.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static TableData Read(string path, TableReadOptions? options = null)
    {
        options ??= new TableReadOptions();
        // Setting errors that need no file come first, so that a bad flag is reported even for a bad file.
        if (options.SkipRows < 0) throw new InvalidSettingException("skip-rows", $"skip-rows must be 0 or more, got {options.SkipRows}");
        var spec = ParseColumnsSpec(options.Columns);
        var labelItem = ParseLabelItem(options.LabelColumn);
        CheckFile(path);

        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        // The digest is taken from the very bytes parsed, so it cannot describe a file that changed between hashing and reading.
        using var reader = new StreamReader(new HashingStream(File.OpenRead(path), hash), Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        var rows = new List<double[]>();
        var labelTexts = new List<string>();
        string[]? header = null;
        var headerChecked = false;
        var whitespace = false;
        var width = -1;
        int[] features = [];
        int? label = null;
        string[] names = [];
        var lineNumber = 0;
        var notes = new List<string>();
        (string Line, int Number)? pending = null; // a first line with text, until the next line shows whether it is a header
        (string Line, int Number, long Rows, (double[] Values, string? Label)? AsData)? countLine = null; // sklearn's line, until the rows are counted
        while (reader.ReadLine() is { } raw)
        {
            lineNumber++;
            if (lineNumber <= options.SkipRows) continue;
            var line = raw.Trim();
            if (line.Length == 0) continue;
            if (!headerChecked)
            {
                headerChecked = true;
                if (Split(line, whitespace: !line.Contains(',')).Any(f => !IsNumberText(f)))
                {
                    pending = (line, lineNumber);
                    continue;
                }
            }
            else if (pending is { } first)
            {
                pending = null;
                FirstLine(first.Line, first.Number, line, lineNumber);
            }
            Process(line, lineNumber);
        }
        if (pending is { } only) header = Split(only.Line, whitespace: !only.Line.Contains(',')); // a lone text line: a header over no data
        if (countLine is { } counted)
        {
            // sklearn's metadata line begins with the number of rows that follow; a line of that shape that does not count them
            // is a data row (kept if it reads as one, an error if not): never dropped on a guess.
            if (counted.Rows == rows.Count)
                notes.Add($"{System.IO.Path.GetFileName(path)}: line {counted.Number} ('{ShortenLine(counted.Line)}') skipped as a metadata line: it counts the {rows.Count} rows that follow (sklearn's format)");
            else if (counted.AsData is { } data) { rows.Insert(0, data.Values); if (data.Label is { } text) labelTexts.Insert(0, text); }
            else throw NeitherHeaderNorData(counted.Line, counted.Number, next: null, nextNumber: 0);
        }

        // A first line with text, seen with the line after it (the first data row). Names only: a header. Text where the data
        // has numbers, with numbers too: a metadata line when its field count differs from the data's, or when it is sklearn's
        // (n rows, n columns, names); else an error — unless its text sits only in columns that are not features (a dropped
        // column, the label), in which case it is data, as the same line anywhere else in the file would be.
        void FirstLine(string text, int number, string next, int nextNumber)
        {
            var a = Split(text, whitespace: !text.Contains(','));
            var b = Split(next, whitespace: !next.Contains(','));
            var textOverNumbers = a.Length != b.Length || a.Where((f, j) => !IsNumberText(f) && IsNumberText(b[j])).Any();
            if (!textOverNumbers) { Process(text, number); return; }
            header = a;
            if (a.All(f => !IsNumberText(f)))
            {
                if (a.Length != b.Length)
                    notes.Add($"{System.IO.Path.GetFileName(path)}: line {number} ('{ShortenLine(text)}') has {a.Length} names for {b.Length} columns: not used as names (the columns are called col1..col{b.Length})");
                return;
            }
            if (a.Length != b.Length)
            {
                notes.Add($"{System.IO.Path.GetFileName(path)}: line {number} ('{ShortenLine(text)}') skipped as a metadata line: it has {a.Length} fields, the data rows {b.Length}");
                return;
            }
            // Same width, numbers and text: resolve the columns as a data row would see them (names come only from a header of names).
            header = null;
            Layout(next);
            (double[], string?)? asData;
            try { asData = Parse(text, number); }
            catch (DataFormatException) { asData = null; }
            if (IsWholeNumber(a[0], out var n) && IsWholeNumber(a[1], out var d) && d == a.Length - 1) countLine = (text, number, n, asData);
            else if (asData is { } data) Add(data);
            else throw NeitherHeaderNorData(text, number, b, nextNumber);
        }

        DataFormatException NeitherHeaderNorData(string text, int number, string[]? next, int nextNumber)
        {
            var a = Split(text, whitespace);
            // The field that stops it being data (a feature's non-number, or an empty label), else the first non-number.
            var textField = Enumerable.Range(0, a.Length).Where(j => (features.Contains(j) && !IsNumberText(a[j])) || (label == j && a[j].Length == 0))
                .DefaultIfEmpty(Enumerable.Range(0, a.Length).First(j => !IsNumberText(a[j]))).First();
            var numberField = Enumerable.Range(0, a.Length).First(j => IsNumberText(a[j]));
            var where = next is not null && IsNumberText(next[textField]) ? $" where line {nextNumber} has one" : "";
            return new DataFormatException($"{path}: line {number} ('{ShortenLine(text)}') is neither a header nor a data row: field {textField + 1} ('{Shorten(a[textField])}') is not a number{where}, " +
                $"but field {numberField + 1} ('{Shorten(a[numberField])}') is (a header holds only names); skip the line if it is metadata, or fix the value if it is data")
            { MetadataLine = number };
        }

        void Layout(string line)
        {
            if (width >= 0) return;
            // Columns can only be resolved once the data's width (and whether the header names them) is known.
            whitespace = !line.Contains(',');
            width = Split(line, whitespace).Length;
            names = ColumnNamesFor(header, width);
            (features, label) = Resolve(spec, labelItem, options.Columns, width, names);
        }

        void Process(string line, int number)
        {
            Layout(line);
            Add(Parse(line, number));
        }

        void Add((double[] Values, string? Label) row)
        {
            rows.Add(row.Values);
            if (row.Label is { } text) labelTexts.Add(text);
        }

        (double[] Values, string? Label) Parse(string line, int number)
        {
            var fields = Split(line, whitespace);
            if (fields.Length != width) throw new DataFormatException($"{path}: line {number} has {fields.Length} fields, expected {width}");
            var values = new double[features.Length];
            for (var j = 0; j < features.Length; j++)
            {
                var f = fields[features[j]];
                try { values[j] = ParseValue(path, number, features[j] + 1, f); }
                catch (DataFormatException e) when (f.Any(char.IsLetter) && !IsNumberText(f) && !IsMissingMarker(f))
                {
                    // A word in a feature column: the column is likely text throughout (a name, a code, a category).
                    throw new DataFormatException(e.Message) { TextColumn = names[features[j]] };
                }
            }
            string? labelText = null;
            if (label is { } l)
            {
                // An empty label is a missing class, not a class called "": refusing it keeps the classes honest.
                if (fields[l].Length == 0) throw new DataFormatException($"{path}: line {number}, field {l + 1} (the label) is empty");
                labelText = fields[l];
            }
            return (values, labelText);
        }
        if (rows.Count == 0) throw new DataFormatException($"{path}: no data rows");

        var d = features.Length;
        var flat = new double[rows.Count * d];
        for (var i = 0; i < rows.Count; i++)
            for (var j = 0; j < d; j++) flat[i * d + j] = rows[i][j];
        long[]? labels = null;
        IReadOnlyList<string>? classNames = null;
        if (label is not null) (labels, classNames) = Classes(labelTexts);
        var integerColumns = IntegerColumns([.. rows]);
        var sha = Convert.ToHexStringLower(hash.GetHashAndReset());
        return new TableData(tensor(flat, [rows.Count, d]), [.. features.Select(k => names[k])], labels, classNames, integerColumns, sha, path) { Notes = notes };
    }

    /// <summary>The columns of <paramref name="rows"/> (all of one length) in which every value is a whole number.</summary>
    public static IReadOnlyList<int> IntegerColumns(double[][] rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.Length == 0) return [];
        var d = rows[0].Length;
        if (rows.Any(r => r is null || r.Length != d)) throw new ArgumentException("every row must have the same number of values", nameof(rows));
        var result = new List<int>();
        for (var j = 0; j < d; j++)
        {
            var whole = true;
            for (var i = 0; i < rows.Length && whole; i++) whole = rows[i][j] == Math.Round(rows[i][j]);
            if (whole) result.Add(j);
        }
        return result;
    }

    /// <summary>SHA-256 of the bytes of <paramref name="path"/>, lowercase hex.</summary>
    public static string Sha256(string path)
    {
        CheckFile(path);
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    /// <summary>True when <paramref name="f"/> is a number, including the non-finite words (which a header check must not mistake for names).</summary>
    internal static bool IsNumberText(string f) =>
        double.TryParse(f.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out _) || IsNonFiniteWord(f);

    /// <summary>Parses one value, refusing non-numbers, NaN, infinities and float32 overflow with "path: line L, field F ..." (shared with <see cref="CsvMatrix"/>).</summary>
    internal static double ParseValue(string path, int line, int field, string f)
    {
        if (IsNonFiniteWord(f))
            throw new DataFormatException($"{path}: line {line}, field {field} is {(f.Contains("nan", StringComparison.OrdinalIgnoreCase) ? "NaN" : "infinite")} ('{Shorten(f)}')");
        if (!double.TryParse(f, NumberStyles.Float, CultureInfo.InvariantCulture, out var v))
            throw new DataFormatException($"{path}: line {line}, field {field} is not a number ('{Shorten(f)}')");
        if (double.IsNaN(v)) throw new DataFormatException($"{path}: line {line}, field {field} is NaN");
        if (double.IsInfinity(v)) throw new DataFormatException($"{path}: line {line}, field {field} is infinite");
        if (Math.Abs(v) > float.MaxValue) throw new DataFormatException($"{path}: line {line}, field {field} overflows float32 ({f})");
        return v;
    }

    // The usual spellings of a missing value (R, pandas, spreadsheets): a hole in a numeric column, not a column of text.
    private static bool IsMissingMarker(string f) => f.Trim().ToLowerInvariant() is "" or "na" or "n/a" or "null" or "none" or "missing" or "?" or "-" or ".";

    private static bool IsWholeNumber(string f, out long value) =>
        long.TryParse(f, NumberStyles.None, CultureInfo.InvariantCulture, out value);

    private static bool IsNonFiniteWord(string f) => f.Trim().ToLowerInvariant() is "nan" or "inf" or "-inf" or "infinity" or "-infinity" or "+inf";
    private static string Shorten(string s) => s.Length <= 20 ? s : s[..20] + "...";
    private static string ShortenLine(string s) => s.Length <= 60 ? s : s[..60] + "...";

    private static void CheckFile(string path)
    {
        if (Directory.Exists(path)) throw new DataFormatException($"'{path}' is a folder, not a table file");
        if (!File.Exists(path)) throw new FileNotFoundException($"file '{path}' does not exist");
    }

    private static string[] Split(string line, bool whitespace)
    {
        var fields = whitespace ? line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries) : line.Split(',');
        for (var i = 0; i < fields.Length; i++)
        {
            var f = fields[i].Trim();
            // Spreadsheets and R quote texts ("setosa"); the quotes are not part of the name or label.
            if (f.Length >= 2 && f[0] == '"' && f[^1] == '"') f = f[1..^1].Trim();
            fields[i] = f;
        }
        return fields;
    }

    /// <summary>The header's names when it names every data column (and is not a line of counts such as sklearn's), else col1..colD.</summary>
    private static string[] ColumnNamesFor(string[]? header, int width)
    {
        var named = header is not null && header.Length == width && header.All(f => !IsNumberText(f));
        return [.. Enumerable.Range(0, width).Select(k => named && header![k].Length > 0 ? header[k] : $"col{k + 1}")];
    }

    private sealed record ColumnsSpec(bool Drop, string[] Items);

    private static ColumnsSpec? ParseColumnsSpec(string? columns)
    {
        if (columns is null) return null;
        var text = columns.Trim();
        var drop = text.StartsWith(DropPrefix, StringComparison.OrdinalIgnoreCase);
        if (drop) text = text[DropPrefix.Length..];
        var items = text.Split(',').Select(s => s.Trim()).ToArray();
        if (text.Trim().Length == 0) throw new InvalidSettingException("columns", $"columns '{columns}' lists no columns");
        if (items.Any(s => s.Length == 0)) throw new InvalidSettingException("columns", $"columns '{columns}' has an empty item");
        return new ColumnsSpec(drop, items);
    }

    private static string? ParseLabelItem(string? labelColumn)
    {
        if (labelColumn is null) return null;
        var item = labelColumn.Trim();
        if (item.Length == 0) throw new InvalidSettingException("label-column", "label-column is empty (give a column index, 'last' or a name)");
        if (item.Contains(',') || IsRange(item, out _, out _))
            throw new InvalidSettingException("label-column", $"label-column names one column, got '{labelColumn}'");
        return item;
    }

    private static (int[] Features, int? Label) Resolve(ColumnsSpec? spec, string? labelItem, string? columnsText, int width, string[] names)
    {
        int? label = labelItem is null ? null : ResolveItem(labelItem, width, names, "label-column")[0];
        List<int> features;
        if (spec is null) features = [.. Enumerable.Range(0, width)];
        else if (spec.Drop)
        {
            var dropped = spec.Items.SelectMany(item => ResolveItem(item, width, names, "columns")).ToHashSet();
            features = [.. Enumerable.Range(0, width).Where(k => !dropped.Contains(k))];
        }
        else
        {
            features = [];
            foreach (var item in spec.Items)
                foreach (var k in ResolveItem(item, width, names, "columns"))
                {
                    // A column listed twice would silently double its weight in every distance: refuse it.
                    if (features.Contains(k)) throw new InvalidSettingException("columns", $"column {k + 1} ('{Shorten(names[k])}') is listed twice in '{columnsText}'");
                    features.Add(k);
                }
        }
        // The label is never a feature, whatever the columns say: a model given its own answer learns nothing.
        if (label is { } l) features.Remove(l);
        if (features.Count == 0)
            throw new InvalidSettingException(spec is null ? "label-column" : "columns",
                $"no feature columns left (the file has {width} column{(width == 1 ? "" : "s")}{(label is { } lb ? $", column {lb + 1} is the label" : "")})");
        return ([.. features], label);
    }

    /// <summary>The 0-based file columns one item names: an index, a range, <c>last</c>, a header name or <c>colK</c>.</summary>
    private static List<int> ResolveItem(string item, int width, string[] names, string setting)
    {
        if (item.Equals("last", StringComparison.OrdinalIgnoreCase)) return [width - 1];
        if (IsDigits(item)) return [Index(item)];
        if (IsRange(item, out var from, out var to))
        {
            var a = Index(from);
            var b = Index(to);
            if (a > b) throw new InvalidSettingException(setting, $"range '{item}' runs backwards (write {to}-{from})");
            return [.. Enumerable.Range(a, b - a + 1)];
        }
        var matches = Enumerable.Range(0, width).Where(k => names[k].Equals(item, StringComparison.OrdinalIgnoreCase)).ToList();
        if (matches.Count == 1) return matches;
        if (matches.Count > 1)
            throw new InvalidSettingException(setting, $"column name '{item}' is ambiguous (columns {string.Join(", ", matches.Select(k => k + 1))}); give an index");
        if (item.Length > 3 && item.StartsWith("col", StringComparison.OrdinalIgnoreCase) && IsDigits(item[3..])) return [Index(item[3..])];
        const int shown = 40;
        var list = string.Join(", ", names.Take(shown).Select(Shorten)) + (width > shown ? $", ... ({width} in all)" : "");
        throw new InvalidSettingException(setting, $"no column '{Shorten(item)}' (columns: {list})");

        int Index(string digits)
        {
            if (!int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var k) || k < 1 || k > width)
                throw new InvalidSettingException(setting, $"column {Shorten(digits)} is out of range (the file has {width} column{(width == 1 ? "" : "s")})");
            return k - 1;
        }
    }

    private static bool IsDigits(string s) => s.Length > 0 && s.All(char.IsAsciiDigit);

    private static bool IsRange(string item, out string from, out string to)
    {
        var dash = item.IndexOf('-');
        from = dash > 0 ? item[..dash].Trim() : "";
        to = dash > 0 ? item[(dash + 1)..].Trim() : "";
        return IsDigits(from) && IsDigits(to);
    }

    /// <summary>Class names sorted numerically when every label is a number (so "10" follows "9"), else ordinally; and each row's index.</summary>
    private static (long[] Labels, IReadOnlyList<string> ClassNames) Classes(List<string> texts)
    {
        var distinct = texts.Distinct(StringComparer.Ordinal).ToList();
        var numbers = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var t in distinct)
            if (double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var v)) numbers[t] = v;
        var sorted = numbers.Count == distinct.Count
            ? distinct.OrderBy(t => numbers[t]).ThenBy(t => t, StringComparer.Ordinal).ToList()
            : distinct.OrderBy(t => t, StringComparer.Ordinal).ToList();
        var index = new Dictionary<string, long>(StringComparer.Ordinal);
        for (var i = 0; i < sorted.Count; i++) index[sorted[i]] = i;
        return ([.. texts.Select(t => index[t])], sorted);
    }

    /// <summary>A read-only stream that feeds every byte it passes on into a hash.</summary>
    private sealed class HashingStream(Stream inner, IncrementalHash hash) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = inner.Read(buffer, offset, count);
            hash.AppendData(buffer, offset, n);
            return n;
        }

        public override int Read(Span<byte> buffer)
        {
            var n = inner.Read(buffer);
            hash.AppendData(buffer[..n]);
            return n;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
