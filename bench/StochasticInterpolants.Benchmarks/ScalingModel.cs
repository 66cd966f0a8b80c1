namespace StochasticInterpolants.Benchmarks;

/// <summary>
/// A ring all-reduce's cost among N processes: each of the 2 (N - 1) steps (N - 1 of reduce-scatter, N - 1 of all-gather)
/// sends a 1/N slice of the buffer to the next process, so
/// <c>allreduce(bytes, N) = 2 (N - 1) alpha + 2 (N - 1) / N * bytes / beta</c>, and 0 for N = 1.
/// </summary>
/// <param name="LatencySeconds">alpha: the fixed cost of one step's message, in seconds.</param>
/// <param name="BytesPerSecond">beta: the bandwidth of one link, in bytes per second (<see cref="double.PositiveInfinity"/>: free transfer).</param>
public sealed record RingAllReduce(double LatencySeconds, double BytesPerSecond)
{
    /// <summary>Seconds to sum a buffer of <paramref name="bytes"/> bytes over <paramref name="processes"/> processes.</summary>
    public double Seconds(long bytes, int processes)
    {
        if (processes < 1) throw new ArgumentOutOfRangeException(nameof(processes), processes, "at least one process");
        if (bytes < 0) throw new ArgumentOutOfRangeException(nameof(bytes), bytes, "a buffer has 0 or more bytes");
        if (processes == 1) return 0;
        var n = (double)processes;
        return 2 * (n - 1) * LatencySeconds + 2 * (n - 1) / n * bytes / BytesPerSecond;
    }

    /// <summary>
    /// The ring whose two-process cost equals a two-process measurement <c>t(bytes) = a + bytes / b</c>: with N = 2 the ring
    /// has 2 steps of latency and sends the whole buffer once, <c>2 alpha + bytes / beta</c>, so alpha = a / 2 and beta = b.
    /// </summary>
    public static RingAllReduce FromTwoProcesses(AllReduceFit fit) => new(fit.LatencySeconds / 2, fit.BytesPerSecond);
}

/// <summary>
/// The projected time of one data-parallel training step on N processes that share a global batch (strong scaling),
/// <c>T_N = R + (C - R) / N + allreduce(bytes, N)</c>: C is the one-process step time (whose exchange is empty), R the
/// part of it every process repeats whatever N is (drawing the whole batch, clipping, Adam and the moving average on the
/// whole model; see <see cref="StochasticInterpolants.Training.TrainingStep"/>), and the rest, the forward and backward passes over the rows, is shared evenly.
/// With R = 0 this is <c>T_N = C / N + allreduce(bytes, N)</c>. Efficiency is <c>T_1 / (N T_N)</c>: 1 when the N processes
/// are N times as fast as one. A model, not a measurement: it ignores that kernels run less efficiently on fewer rows,
/// and load imbalance between processes.
/// </summary>
/// <param name="ComputeSeconds">C: one process's step time.</param>
/// <param name="ReplicatedSeconds">R: the part of C that every process repeats (0 &lt;= R &lt;= C).</param>
/// <param name="GradientBytes">The bytes summed across processes each step (the gradients, losses and stop flag).</param>
/// <param name="Network">How the processes are linked.</param>
public sealed record ScalingModel(double ComputeSeconds, double ReplicatedSeconds, long GradientBytes, RingAllReduce Network)
{
    /// <summary>T_N, the projected seconds per step on <paramref name="processes"/> processes (T_1 = C).</summary>
    public double StepSeconds(int processes)
    {
        if (!(ComputeSeconds >= 0) || !(ReplicatedSeconds >= 0) || ReplicatedSeconds > ComputeSeconds)
            throw new ArgumentException($"the step times need 0 <= replicated ({ReplicatedSeconds}) <= compute ({ComputeSeconds})");
        return ReplicatedSeconds + (ComputeSeconds - ReplicatedSeconds) / processes + Network.Seconds(GradientBytes, processes);
    }

    /// <summary>The projected all-reduce seconds per step on <paramref name="processes"/> processes.</summary>
    public double AllReduceSeconds(int processes) => Network.Seconds(GradientBytes, processes);

    /// <summary>T_1 / (N T_N) at N = <paramref name="processes"/>.</summary>
    public double Efficiency(int processes) => StepSeconds(1) / (processes * StepSeconds(processes));
}

/// <summary>
/// The latency and bandwidth of a measured all-reduce, <c>t(bytes) = a + bytes / b</c>, each taken from the sizes where it
/// dominates rather than from one least-squares line: an unweighted fit over sizes from 4 bytes to tens of megabytes is
/// decided by the largest sizes' absolute errors, which leave its intercept (the latency) at the mercy of a millisecond's
/// noise, often negative. Here a and s = 1 / b solve two equations: over the small sizes (at most <see cref="SmallBytes"/>)
/// the residuals t - a - s bytes average to zero, so a is essentially their mean time; over the large sizes (at least
/// <see cref="LargeBytes"/>) the residuals are orthogonal to bytes, the least-squares condition for the slope s with a
/// held. Noise-free measurements are reproduced exactly. The sizes between are shown beside the fit, not fitted (an MPI
/// changes protocol there).
/// </summary>
/// <param name="LatencySeconds">a, in seconds.</param>
/// <param name="BytesPerSecond">b, in bytes per second.</param>
public sealed record AllReduceFit(double LatencySeconds, double BytesPerSecond)
{
    /// <summary>The sizes that fix the latency: up to 256 bytes.</summary>
    public const long SmallBytes = 256;
    /// <summary>The sizes that fix the bandwidth: from 1 MiB.</summary>
    public const long LargeBytes = 1 << 20;

    /// <summary>t(bytes) = a + bytes / b.</summary>
    public double Seconds(long bytes) => LatencySeconds + bytes / BytesPerSecond;

    /// <summary>
    /// Fits a and b to (bytes, seconds) measurements with at least one size of each regime: with m and T the small sizes'
    /// mean bytes and mean time, and sums over the large sizes, <c>s = (sum(bytes t) - T sum(bytes)) / (sum(bytes^2) - m sum(bytes))</c>,
    /// <c>a = T - s m</c>, <c>b = 1 / s</c>.
    /// </summary>
    public static AllReduceFit Fit(IReadOnlyList<(long Bytes, double Seconds)> points)
    {
        var small = points.Where(p => p.Bytes <= SmallBytes).ToList();
        var large = points.Where(p => p.Bytes >= LargeBytes).ToList();
        if (small.Count == 0 || large.Count == 0)
            throw new ArgumentException($"fitting an all-reduce needs sizes of at most {SmallBytes} bytes and of at least {LargeBytes} bytes");
        var (m, t) = (small.Average(p => (double)p.Bytes), small.Average(p => p.Seconds));
        var (b1, b2, bt) = (large.Sum(p => (double)p.Bytes), large.Sum(p => (double)p.Bytes * p.Bytes), large.Sum(p => p.Bytes * p.Seconds));
        var slope = (bt - t * b1) / (b2 - m * b1); // b2 - m b1 > 0: every large size exceeds every small one
        if (!(slope > 0)) throw new ArgumentException($"the large all-reduces took no longer than the small ones ({t * 1e6:G3} us): no bandwidth can be fitted");
        return new AllReduceFit(t - slope * m, 1 / slope);
    }
}
