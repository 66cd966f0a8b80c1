using static TorchSharp.torch;

namespace StochasticInterpolants.Couplings;

/// <summary>How one minibatch was paired (for benchmarks and logs).</summary>
/// <param name="Cost">The optimal total cost sum_j |x0_{p(j)} - x1_j|^2 of the float32 cost matrix.</param>
/// <param name="WarmStarted">Whether the prices came from the previous batch.</param>
/// <param name="Solve">The solver's statistics.</param>
/// <param name="MatrixMilliseconds">Time to build the cost matrix.</param>
/// <param name="PricesMilliseconds">Time to carry the previous potentials over (0 when cold).</param>
/// <param name="SolveMilliseconds">Time of the exact solve.</param>
public sealed record TransportStep(double Cost, bool WarmStarted, AssignmentStatistics Solve, double MatrixMilliseconds, double PricesMilliseconds, double SolveMilliseconds);

/// <summary>
/// Exact optimal transport between two equal-size minibatches with uniform weights and squared Euclidean cost
/// (docs/theory.md §12.1): the permutation p minimising sum_j |x0_{p(j)} - x1_j|^2. The cost matrix
/// C_ij = |x0_i|^2 + |x1_j|^2 - 2 x0_i . x1_j comes from one matmul (float32) and is solved in place by
/// <see cref="LinearAssignment"/>. Consecutive batches come from the same two densities, so the last batch's dual
/// potentials are carried over as <em>functions</em>: for the new base points, u(x) = min_j |x - x1_j^old|^2 - v_j^old
/// (their c-transform over the previous targets), then the new column prices v_j = min_i C_ij - u_i. This start is
/// dual-feasible and close to optimal, so few columns per row and few augmenting paths are needed; the solver's own
/// certificate keeps the result exact whatever the start. Not thread-safe: one instance per stream of batches.
/// </summary>
public sealed class MinibatchTransport : IDisposable
{
    private Tensor? _previousTargets; // x1 of the last batch, [m, d] float32
    private double[]? _previousPrices; // its column potentials v

    /// <summary>Columns per row of the solver's sparse graph (0: the solver's default for the batch size).</summary>
    public int Candidates { get; init; }

    /// <summary>A cold batch of at least 4 x this many rows starts from the potentials of its first quarter, solved first.</summary>
    public int CoarseSize { get; init; } = 128;

    /// <summary>Whether to start from the previous batch's potentials (true) or cold (from the column minima, or from a solved quarter of the batch).</summary>
    public bool WarmStart { get; init; } = true;

    /// <summary>Threads of the solver's full passes; 0 (default): libtorch's thread count (<c>torch.get_num_threads()</c>,
    /// which the run sets from its thread setting), read at each solve, so the solver never takes more cores than the run
    /// was given (ranks sharing a host each get their part).</summary>
    public int Threads { get; init; }

    /// <summary>The threads the next solve uses: <see cref="Threads"/>, or libtorch's thread count when it is 0.</summary>
    public int EffectiveThreads => Threads > 0 ? Threads : Math.Max(1, get_num_threads());

    /// <summary>What the last <see cref="Pair"/> did.</summary>
    public TransportStep? Last { get; private set; }

    /// <summary>
    /// The optimal pairing of <paramref name="x0"/> and <paramref name="x1"/> ([n, ...] each, same shape, on the CPU):
    /// for each row j of x1 the row of x0 it is paired with.
    /// </summary>
    public int[] Pair(Tensor x0, Tensor x1)
    {
        if (!x0.shape.SequenceEqual(x1.shape) || x0.dim() < 1)
            throw new ArgumentException($"optimal transport pairs two batches of one shape, got [{string.Join(",", x0.shape)}] and [{string.Join(",", x1.shape)}]");
        var n = (int)x0.shape[0];
        if (n == 0) return [];
        using var scope = NewDisposeScope();
        var threads = EffectiveThreads;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var a = x0.reshape(n, -1).to(float32).contiguous();
        var b = x1.reshape(n, -1).to(float32).contiguous();
        var cost = SquaredDistances(a, b);
        var matrixMs = clock.Elapsed.TotalMilliseconds;
        double[]? prices = null;
        var warm = WarmStart && _previousTargets is not null && _previousTargets.shape[1] == a.shape[1];
        if (warm) { prices = CarriedPrices(a, cost, _previousTargets!, _previousPrices!, threads); warm = prices is not null; }
        if (prices is null && n >= 4 * CoarseSize)
        {
            // Cold: solve the first quarter of the batch (itself from its quarter, down to CoarseSize) and carry its
            // potentials to the whole batch — the same carry as between batches, within one.
            using var coarse = new MinibatchTransport { Candidates = Candidates, Threads = threads, WarmStart = false };
            var m = n / 4;
            coarse.Pair(a.narrow(0, 0, m), b.narrow(0, 0, m));
            prices = CarriedPrices(a, cost, coarse._previousTargets!, coarse._previousPrices!, threads);
        }
        var pricesMs = clock.Elapsed.TotalMilliseconds - matrixMs;
        AssignmentResult result;
        unsafe
        {
            var span = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(cost.bytes);
            fixed (float* c = span) result = LinearAssignment.Solve(c, n, prices, Candidates, threads);
        }
        if (!double.IsFinite(result.Cost)) throw new ArgumentException("optimal transport: the batch's cost matrix is not finite (a non-finite sample?)");
        _previousTargets?.Dispose();
        _previousTargets = b.clone().DetachFromDisposeScope();
        _previousPrices = result.ColumnPotentials;
        Last = new TransportStep(result.Cost, warm, result.Statistics, matrixMs, pricesMs, clock.Elapsed.TotalMilliseconds - matrixMs - pricesMs);
        return result.RowOfColumn;
    }

    /// <summary>Forgets the carried potentials (the next batch starts cold).</summary>
    public void Reset()
    {
        _previousTargets?.Dispose(); _previousTargets = null; _previousPrices = null;
    }

    /// <summary>C_ij = |a_i|^2 + |b_j|^2 - 2 a_i . b_j, [n, m] float32, from one matmul.</summary>
    public static Tensor SquaredDistances(Tensor a, Tensor b)
    {
        using var na = a.square().sum(1, keepdim: true);
        using var nb = b.square().sum(1).unsqueeze(0);
        using var sum = na.add(nb);
        return sum.addmm_(a, b.t(), beta: 1, alpha: -2).contiguous();
    }

    // u_i = min_j (|a_i - y_j|^2 - v_j) over the previous targets y (a c-transform), then v_j = min_i (C_ij - u_i).
    private static unsafe double[]? CarriedPrices(Tensor a, Tensor cost, Tensor targets, double[] targetPrices, int threads)
    {
        var n = (int)a.shape[0];
        using var cross = SquaredDistances(a, targets);
        var m = (int)cross.shape[1];
        double[] u, prices;
        fixed (float* x = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(cross.bytes))
            u = LinearAssignment.RowTransform(x, n, m, targetPrices, threads);
        fixed (float* c = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(cost.bytes))
            prices = LinearAssignment.ColumnTransform(c, n, n, u, threads);
        return prices.All(double.IsFinite) ? prices : null; // a degenerate carry falls back to a cold start
    }

    /// <inheritdoc />
    public void Dispose() => Reset();
}
