using static TorchSharp.torch;

namespace StochasticInterpolants.Data;

/// <summary>
/// The training rows of a table as the flow sees them: a row drawn uniformly with replacement, dequantised afresh on
/// every draw and mapped by the <see cref="TableEncoding"/> (docs/theory.md §8). With class labels, each row's label is
/// its condition (<see cref="IDistribution.SampleWithCondition"/>). No density (an empirical measure has none).
/// </summary>
public sealed class EncodedTable : SampledDistribution, IDistribution, IDisposable // (re-listed: its SampleWithCondition replaces the interface's default)
{
    private readonly Tensor _rows;
    private readonly Tensor? _labels;

    /// <summary>Wraps <paramref name="rows"/> ([n, d], data units; copied) with optional per-row class indices.</summary>
    public EncodedTable(Tensor rows, long[]? labels, TableEncoding encoding, string name)
    {
        if (rows.dim() != 2 || rows.shape[0] < 1) throw new ArgumentException($"'{name}': the table must be [n, d] with n >= 1, got [{string.Join(",", rows.shape)}]");
        if (rows.shape[1] != encoding.Dimension) throw new ArgumentException($"'{name}' has {rows.shape[1]} columns, its encoding {encoding.Dimension}");
        if (labels is not null && labels.Length != rows.shape[0]) throw new ArgumentException($"'{name}': {labels.Length} labels for {rows.shape[0]} rows");
        // Owned by this object, whatever dispose scope it is built in. Kept in float64, as read: float32 cannot hold the odd
        // integers above 2^24, and above 2^22 its spacing would swallow the dequantisation noise (docs/theory.md §8).
        _rows = rows.detach().to(float64).cpu().clone().DetachFromDisposeScope();
        _labels = labels is null ? null : tensor(labels).DetachFromDisposeScope();
        Encoding = encoding; Name = name;
    }

    /// <inheritdoc />
    public override string Name { get; }
    /// <inheritdoc />
    public override int Dimension => Encoding.Dimension;
    /// <summary>The data-to-model map.</summary>
    public TableEncoding Encoding { get; }
    /// <summary>The rows in data units ([n, d] float64, exactly as given; owned by this object).</summary>
    public Tensor Rows => _rows;
    /// <summary>Rows n.</summary>
    public long Count => _rows.shape[0];

    /// <inheritdoc />
    public override Tensor Sample(int count, Generator generator)
    {
        var (samples, condition) = SampleWithCondition(count, generator);
        condition?.Dispose();
        return samples;
    }

    /// <summary>Rows drawn with replacement, dequantised and encoded, with their class indices (int64 [count]) when labelled.</summary>
    public (Tensor Samples, Tensor? Condition) SampleWithCondition(int count, Generator generator)
    {
        CheckCount(count);
        using var index = randint(0, _rows.shape[0], [count], generator: generator);
        using var rows = _rows.index_select(0, index);
        return (Encoding.Encode(rows, generator), _labels?.index_select(0, index));
    }

    /// <inheritdoc />
    public void Dispose() { _rows.Dispose(); _labels?.Dispose(); }
}

/// <summary>A seeded split of n rows into training and validation rows (docs/theory.md §8).</summary>
public static class RowSplit
{
    /// <summary>
    /// Row indices (0-based, ascending in each part) of a random split with round(fraction n) validation rows, at least 1
    /// when the fraction is positive, and at least 2 training rows. The permutation comes from <paramref name="seed"/>
    /// through a .NET <see cref="Random"/>, so the split depends only on (n, fraction, seed), on any machine.
    /// </summary>
    public static (int[] Training, int[] Validation) Random(int n, double fraction, long seed)
    {
        if (!(fraction >= 0 && fraction < 1)) throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "the validation fraction must be in [0, 1)");
        var validation = fraction == 0 ? 0 : Math.Max(1, (int)Math.Round(fraction * n));
        if (n - validation < 2) throw new ArgumentException($"a validation fraction of {fraction} leaves {n - validation} of {n} rows to train on; at least 2 are needed");
        var order = Enumerable.Range(0, n).ToArray();
        new Random(unchecked((int)(seed ^ (seed >> 32)) ^ 0x5EED)).Shuffle(order);
        return (order[validation..].Order().ToArray(), order[..validation].Order().ToArray());
    }

    /// <summary>
    /// A split that keeps every group whole: the distinct values of <paramref name="groups"/> (one per row) are split as
    /// <see cref="Random"/> splits rows, and each row goes where its group went. For data with copies of one item (the
    /// identical chains of a protein complex, docs/theory.md §15.8), so that no held-out row has a copy among the training rows.
    /// </summary>
    public static (int[] Training, int[] Validation) ByGroup(IReadOnlyList<long> groups, double fraction, long seed)
    {
        var distinct = groups.Distinct().Order().ToArray();
        var (_, heldGroups) = Random(distinct.Length, fraction, seed);
        var held = heldGroups.Select(i => distinct[i]).ToHashSet();
        var rows = Enumerable.Range(0, groups.Count);
        return (rows.Where(i => !held.Contains(groups[i])).ToArray(), rows.Where(i => held.Contains(groups[i])).ToArray());
    }
}
