using StochasticInterpolants.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Couplings;

/// <summary>
/// Exact minibatch optimal transport (docs/theory.md §12.1): n draws of x0 ~ rho0 and n of x1 ~ rho1 are paired by the
/// permutation minimising sum |x0 - x1|^2 (<see cref="MinibatchTransport"/>), and x0 is reordered to it, so x1 keeps its
/// condition row by row. When the condition is a class label (int64 [n]), the pairing is solved within each class
/// (§12.3): the x0 draws are iid, so the first n_0 of them serve class 0's rows, the next n_1 class 1's, and so on; no
/// pair ever crosses labels. Each class keeps its own warm-start potentials.
/// </summary>
public sealed class OptimalTransportCoupling(IDistribution baseDistribution, IDistribution target) : TwoDensityCoupling(baseDistribution, target), IDisposable
{
    private readonly Dictionary<(long Label, int Block), MinibatchTransport> _solvers = [];

    /// <summary>Solver settings for new classes' solvers: columns per row of the sparse graph.</summary>
    public int Candidates { get; init; }
    /// <summary>Whether each batch starts from the previous batch's potentials.</summary>
    public bool WarmStart { get; init; } = true;

    /// <summary>Threads of the solver's full passes; 0 (default): libtorch's thread count at each solve (the run's --threads,
    /// which the command line divides among the ranks sharing a host), never more cores than the run was given.</summary>
    public int Threads { get; init; }

    /// <summary>Rows per exact solve: 0 pairs the whole batch (each class) at once; B &gt; 0 cuts it into consecutive
    /// blocks of at most B rows, each paired exactly (an approximation of the batch's plan, faster for large batches).</summary>
    public int BlockSize { get; init; }

    /// <summary>What the last batch's solves did, per (class, block); class -1 without classes.</summary>
    public IReadOnlyDictionary<(long Label, int Block), TransportStep?> LastSteps => _solvers.ToDictionary(p => p.Key, p => p.Value.Last);

    /// <inheritdoc />
    public override CoupledSample Sample(int count, Generator generator)
    {
        var (x0, x1, condition) = DrawIndependent(count, generator);
        return Pair(x0, x1, condition, Solver);
    }

    /// <summary>Pairs the given rows exactly, as a batch, with solvers of their own (started cold), so the training batches'
    /// warm start is left as it was.</summary>
    protected override CoupledSample PairDrawn(Tensor x0, Tensor x1, Tensor? condition, Generator generator)
    {
        var own = new Dictionary<(long, int), MinibatchTransport>();
        try
        {
            return Pair(x0, x1, condition, key => own.TryGetValue(key, out var s) ? s
                : own[key] = new MinibatchTransport { Candidates = Candidates, WarmStart = false, Threads = Threads });
        }
        finally { foreach (var s in own.Values) s.Dispose(); }
    }

    // x0 reordered to its optimal partners of x1 (within classes when the condition is class labels) by the solvers
    // `solver` hands out per (class, block); x0 is consumed.
    private CoupledSample Pair(Tensor x0, Tensor x1, Tensor? condition, Func<(long, int), MinibatchTransport> solver)
    {
        var labels = condition is { } c && c.dtype == ScalarType.Int64 && c.dim() == 1 ? c.data<long>().ToArray() : null;
        var pairing = PairByGroups(x0, x1, labels, solver);
        Canonicalise(pairing, x1, labels);
        using var index = tensor(pairing.Select(i => (long)i).ToArray(), dtype: int64);
        var paired = x0.index_select(0, index);
        x0.Dispose();
        return new CoupledSample(paired, x1, condition);
    }

    // Rows of class k in x1 (in order) are paired among themselves with the next block of x0 rows; with a block size,
    // each class's rows are further cut into consecutive blocks of at most that many rows, each solved exactly.
    private int[] PairByGroups(Tensor x0, Tensor x1, long[]? labels, Func<(long, int), MinibatchTransport> solver)
    {
        var n = (int)x1.shape[0];
        var pairing = new int[n];
        var next = 0;
        var groups = labels is null ? [Enumerable.Range(0, n).ToArray()]
            : Enumerable.Range(0, n).GroupBy(j => labels[j]).OrderBy(g => g.Key).Select(g => g.ToArray()).ToList();
        foreach (var rows in groups)
        {
            var label = labels is null ? -1 : labels[rows[0]];
            var size = BlockSize > 0 ? BlockSize : rows.Length;
            for (int start = 0, block = 0; start < rows.Length; start += size, block++)
            {
                var part = rows.Skip(start).Take(size).ToArray();
                using var targetRows = tensor(part.Select(j => (long)j).ToArray(), dtype: int64);
                using var sources = x0.narrow(0, next, part.Length);
                using var targets = x1.index_select(0, targetRows);
                var local = solver((label, block)).Pair(sources, targets);
                for (var r = 0; r < part.Length; r++) pairing[part[r]] = next + local[r];
                next += part.Length;
            }
        }
        return pairing;
    }

    // Identical x1 rows (same values, same label) can swap partners at no cost, so which optimum the solver returns could
    // depend on its start (the previous batch); sorting their partners makes the batch a function of the draws alone, as
    // resuming from a snapshot (which starts cold) requires. Continuous data never has such rows; a table sampled with
    // replacement does.
    private static void Canonicalise(int[] pairing, Tensor x1, long[]? labels)
    {
        var n = pairing.Length;
        var flat = x1.reshape(n, -1).to(float32).contiguous().data<float>().ToArray();
        var d = flat.Length / Math.Max(1, n);
        var groups = new Dictionary<RowKey, List<int>>();
        for (var j = 0; j < n; j++)
        {
            var key = new RowKey(flat, j * d, d, labels?[j] ?? -1);
            if (!groups.TryGetValue(key, out var list)) groups[key] = list = [];
            list.Add(j);
        }
        foreach (var rows in groups.Values)
        {
            if (rows.Count < 2) continue;
            var partners = rows.Select(j => pairing[j]).OrderBy(i => i).ToArray();
            for (var r = 0; r < rows.Count; r++) pairing[rows[r]] = partners[r];
        }
    }

    private readonly record struct RowKey(float[] Data, int Offset, int Length, long Label)
    {
        public bool Equals(RowKey other) => Label == other.Label && Data.AsSpan(Offset, Length).SequenceEqual(other.Data.AsSpan(other.Offset, other.Length));
        public override int GetHashCode()
        {
            var h = new HashCode();
            h.Add(Label);
            foreach (var x in Data.AsSpan(Offset, Length)) h.Add(x);
            return h.ToHashCode();
        }
    }

    private MinibatchTransport Solver((long, int) key)
    {
        if (!_solvers.TryGetValue(key, out var solver))
            _solvers[key] = solver = new MinibatchTransport { Candidates = Candidates, WarmStart = WarmStart, Threads = Threads };
        return solver;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var s in _solvers.Values) s.Dispose();
        _solvers.Clear();
    }
}
