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
public sealed class OptimalTransportCoupling : ICoupling, IDisposable
{
    private readonly Dictionary<long, MinibatchTransport> _solvers = [];

    /// <summary>Couples <paramref name="baseDistribution"/> and <paramref name="target"/> by exact minibatch OT; their shapes must agree.</summary>
    public OptimalTransportCoupling(IDistribution baseDistribution, IDistribution target)
    {
        if (baseDistribution.Dimension != target.Dimension)
            throw new ArgumentException($"base '{baseDistribution.Name}' has dimension {baseDistribution.Dimension} but target '{target.Name}' has dimension {target.Dimension}");
        Base = baseDistribution; Target = target;
    }

    /// <summary>rho0.</summary>
    public IDistribution Base { get; }
    /// <summary>rho1.</summary>
    public IDistribution Target { get; }
    /// <inheritdoc />
    public int Dimension => Target.Dimension;
    /// <summary>Solver settings for new classes' solvers: columns per row of the sparse graph.</summary>
    public int Candidates { get; init; } = LinearAssignment.DefaultCandidates;
    /// <summary>Whether each batch starts from the previous batch's potentials.</summary>
    public bool WarmStart { get; init; } = true;

    /// <summary>What the last batch's solves did, one per class (one entry, key -1, without classes).</summary>
    public IReadOnlyDictionary<long, TransportStep?> LastSteps => _solvers.ToDictionary(p => p.Key, p => p.Value.Last);

    /// <inheritdoc />
    public CoupledSample Sample(int count, Generator generator)
    {
        var x0 = Base.Sample(count, generator);
        var (x1, condition) = Target.SampleWithCondition(count, generator);
        if (!x0.shape.SequenceEqual(x1.shape)) x0 = x0.reshape(x1.shape);
        var pairing = condition is { } c && c.dtype == ScalarType.Int64 && c.dim() == 1 ? PairWithinClasses(x0, x1, c) : Solver(-1).Pair(x0, x1);
        using var index = tensor(pairing.Select(i => (long)i).ToArray(), dtype: int64);
        var paired = x0.index_select(0, index);
        x0.Dispose();
        return new CoupledSample(paired, x1, condition);
    }

    // Rows of class k in x1 (in order) are paired among themselves with the next block of x0 rows.
    private int[] PairWithinClasses(Tensor x0, Tensor x1, Tensor labels)
    {
        var n = (int)x1.shape[0];
        var label = labels.data<long>().ToArray();
        var pairing = new int[n];
        var next = 0;
        foreach (var group in Enumerable.Range(0, n).GroupBy(j => label[j]).OrderBy(g => g.Key))
        {
            var rows = group.ToArray();
            using var targetRows = tensor(rows.Select(j => (long)j).ToArray(), dtype: int64);
            using var block = x0.narrow(0, next, rows.Length);
            using var targets = x1.index_select(0, targetRows);
            var local = Solver(group.Key).Pair(block, targets);
            for (var r = 0; r < rows.Length; r++) pairing[rows[r]] = next + local[r];
            next += rows.Length;
        }
        return pairing;
    }

    private MinibatchTransport Solver(long key)
    {
        if (!_solvers.TryGetValue(key, out var solver))
            _solvers[key] = solver = new MinibatchTransport { Candidates = Candidates, WarmStart = WarmStart };
        return solver;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var s in _solvers.Values) s.Dispose();
        _solvers.Clear();
    }
}
