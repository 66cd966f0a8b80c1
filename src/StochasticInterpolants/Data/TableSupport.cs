using System.Globalization;
using System.Text.Json.Serialization;
using static TorchSharp.torch;

namespace StochasticInterpolants.Data;

/// <summary>What the training rows show of one column's values: its range and, for a column of few whole numbers, the set.</summary>
/// <param name="Min">The smallest training value.</param>
/// <param name="Max">The largest training value.</param>
/// <param name="Values">The distinct training values, ascending, when the column holds only whole numbers and at most
/// <see cref="TableSupport.FewValues"/> of them (a code, a category, a small count); else null.</param>
public sealed record ColumnSupport(double Min, double Max, IReadOnlyList<double>? Values = null);

/// <summary>How many generated values of one column fall outside what the training rows show.</summary>
/// <param name="Column">The column's name.</param>
/// <param name="Below">Fraction of the samples below the training minimum.</param>
/// <param name="Above">Fraction above the training maximum.</param>
/// <param name="OffSet">Fraction inside the range but not one of the observed values (only for a column of few whole
/// numbers; 0 otherwise).</param>
public sealed record ColumnOutside(
    [property: JsonPropertyName("column")] string Column,
    [property: JsonPropertyName("below_min")] double Below,
    [property: JsonPropertyName("above_max")] double Above,
    [property: JsonPropertyName("off_observed_set")] double OffSet)
{
    /// <summary>Below + Above + OffSet: the fraction of the column's samples that no training row resembles.</summary>
    [JsonPropertyName("outside")] public double Outside => Below + Above + OffSet;
}

/// <summary>
/// The support a table's training rows show, column by column (docs/theory.md §8): a flow has a density everywhere, so
/// it generates values outside the training range (a negative concentration, a sex coded 3). This record lets sampling
/// and evaluation count them: <see cref="Outside"/> gives, per column, the fraction of generated values below the
/// minimum, above the maximum, and (for a column of few whole numbers) not one of the observed values.
/// </summary>
/// <param name="Columns">One entry per column, in the flow's order.</param>
public sealed record TableSupport(IReadOnlyList<ColumnSupport> Columns)
{
    /// <summary>A whole-number column with at most this many distinct training values counts as a set of codes.</summary>
    public const int FewValues = 32;

    /// <summary>The support of <paramref name="rows"/> ([n, d], data units, as read: not dequantised).</summary>
    public static TableSupport Of(Tensor rows)
    {
        if (rows.dim() != 2 || rows.shape[0] < 1) throw new ArgumentException($"the support needs [n, d] rows with n >= 1, got [{string.Join(",", rows.shape)}]");
        using var x = rows.detach().to(float64).cpu().contiguous();
        var n = (int)x.shape[0]; var d = (int)x.shape[1];
        var v = x.data<double>().ToArray();
        var columns = new List<ColumnSupport>(d);
        for (var j = 0; j < d; j++)
        {
            var column = Enumerable.Range(0, n).Select(i => v[i * d + j]).ToArray();
            var whole = column.All(c => c == Math.Round(c));
            var distinct = whole ? column.Distinct().Order().ToArray() : [];
            columns.Add(new ColumnSupport(column.Min(), column.Max(), whole && distinct.Length <= FewValues ? distinct : null));
        }
        return new TableSupport(columns);
    }

    /// <summary>Per column (named by <paramref name="names"/>), the fractions of <paramref name="samples"/> ([n, d], data
    /// units) outside this support.</summary>
    public IReadOnlyList<ColumnOutside> Outside(Tensor samples, IReadOnlyList<string> names)
    {
        var d = Columns.Count;
        if (samples.dim() != 2 || samples.shape[1] != d || samples.shape[0] < 1)
            throw new ArgumentException($"the range check takes [n, {d}] samples with n >= 1, got [{string.Join(",", samples.shape)}]");
        if (names.Count != d) throw new ArgumentException($"{names.Count} names for {d} columns");
        using var x = samples.detach().to(float64).cpu().contiguous();
        var n = (int)x.shape[0];
        var v = x.data<double>().ToArray();
        var result = new List<ColumnOutside>(d);
        for (var j = 0; j < d; j++)
        {
            var c = Columns[j];
            var set = c.Values is null ? null : new HashSet<double>(c.Values);
            int below = 0, above = 0, off = 0;
            for (var i = 0; i < n; i++)
            {
                var s = v[i * d + j];
                if (s < c.Min) below++;
                else if (s > c.Max) above++;
                else if (set is not null && !set.Contains(s)) off++;
            }
            result.Add(new ColumnOutside(names[j], (double)below / n, (double)above / n, (double)off / n));
        }
        return result;
    }

    /// <summary>The fraction of the rows of <paramref name="samples"/> ([n, d], data units) with at least one value outside this support.</summary>
    public double RowsOutside(Tensor samples)
    {
        var d = Columns.Count;
        if (samples.dim() != 2 || samples.shape[1] != d || samples.shape[0] < 1)
            throw new ArgumentException($"the range check takes [n, {d}] samples with n >= 1, got [{string.Join(",", samples.shape)}]");
        using var x = samples.detach().to(float64).cpu().contiguous();
        var n = (int)x.shape[0];
        var v = x.data<double>().ToArray();
        var sets = Columns.Select(c => c.Values is null ? null : new HashSet<double>(c.Values)).ToArray();
        var outside = 0;
        for (var i = 0; i < n; i++)
            for (var j = 0; j < d; j++)
            {
                var s = v[i * d + j];
                if (s < Columns[j].Min || s > Columns[j].Max || (sets[j] is { } set && !set.Contains(s))) { outside++; break; }
            }
        return (double)outside / n;
    }

    /// <summary>
    /// One line for a user: the columns with generated values outside the training range (largest first), each with its
    /// percentage and which side, or a statement that there are none.
    /// </summary>
    public static string Summary(IReadOnlyList<ColumnOutside> outside, int shown = 6, string lead = "generated values outside the training rows' range: ")
    {
        var bad = outside.Where(o => o.Outside > 0).OrderByDescending(o => o.Outside).ToList();
        if (bad.Count == 0) return "every generated value is inside the training rows' range (and observed set, for columns of few whole numbers)";
        string P(double f) => (100 * f).ToString(f < 0.001 ? "G2" : "F1", CultureInfo.InvariantCulture) + " %";
        var parts = bad.Take(shown).Select(o =>
        {
            var sides = new List<string>();
            if (o.Below > 0) sides.Add($"{P(o.Below)} below min");
            if (o.Above > 0) sides.Add($"{P(o.Above)} above max");
            if (o.OffSet > 0) sides.Add($"{P(o.OffSet)} not an observed value");
            return $"{o.Column} {P(o.Outside)} ({string.Join(", ", sides)})";
        });
        var more = bad.Count > shown ? $", and {bad.Count - shown} more column{(bad.Count - shown == 1 ? "" : "s")}" : "";
        return $"{lead}{string.Join("; ", parts)}{more}";
    }
}
