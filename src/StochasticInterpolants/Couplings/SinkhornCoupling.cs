using StochasticInterpolants.Data;
using StochasticInterpolants.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Couplings;

/// <summary>
/// Entropic-OT (Schrödinger-bridge) minibatch coupling (docs/theory.md §12.2): n draws x0 ~ rho0 and n draws
/// (x1, condition) ~ rho1 are coupled by the entropic plan pi ∝ exp(-|x0 - x1|^2 / (2 eps)) with uniform marginals
/// (<see cref="EntropicTransport"/>), and for every x1 row j an x0 row i is drawn from column j of the plan,
/// pi_ij / sum_i pi_ij. Only x0 is reordered (with repetition: an x0 row may serve two x1 rows, another none), so x1 keeps
/// its row and its condition. With gamma(t) = sqrt(eps t (1 - t)) the interpolant between such pairs is the Brownian
/// bridge of the Schrödinger bridge between the batch's samples; any other gamma is still a valid interpolant.
/// </summary>
/// <remarks>
/// When the condition is class labels (int64 [n]) the plan is solved within each class: the x1 rows of class k are
/// coupled with a block of x0 rows of the same size, and never with x0 rows given to another class (the x0 rows are iid,
/// so consecutive blocks of class-count size are as good as any split).
/// </remarks>
public sealed class SinkhornCoupling : TwoDensityCoupling, IConvergingCoupling
{
    /// <summary>
    /// Couples <paramref name="baseDistribution"/> and <paramref name="target"/> (same dimension) with regularisation
    /// <paramref name="epsilon"/>, at most <paramref name="maxIterations"/> Sinkhorn iterations per plan, stopping at L1
    /// marginal error <paramref name="tolerance"/>.
    /// </summary>
    public SinkhornCoupling(IDistribution baseDistribution, IDistribution target, double epsilon, int maxIterations, double tolerance)
        : base(baseDistribution, target)
    {
        EntropicTransport.Validate(epsilon, maxIterations, tolerance);
        Epsilon = epsilon; MaxIterations = maxIterations; Tolerance = tolerance;
    }

    /// <summary>The regularisation eps (squared data units).</summary>
    public double Epsilon { get; }
    /// <summary>Sinkhorn iterations per plan at most.</summary>
    public int MaxIterations { get; }
    /// <summary>L1 marginal error at which Sinkhorn stops.</summary>
    public double Tolerance { get; }
    /// <summary>
    /// A plan whose marginals are still this far (L1) from uniform when the iterations run out is refused (docs/theory.md
    /// §12.2): the x0 drawn from it may then be up to 5 % (total variation) off the base density the flow starts from, and
    /// it is 100 times the default tolerance. Between the tolerance and this the plan is used, counted in
    /// <see cref="Convergence"/> and reported.
    /// </summary>
    public const double UnconvergedError = 0.1;

    private long _batches, _unconverged;
    private double _worst;

    /// <inheritdoc />
    public CouplingConvergence Convergence => new(_batches, _unconverged, _worst, MaxIterations, Tolerance);

    /// <inheritdoc />
    public void ContinueFrom(CouplingConvergence saved)
    {
        _batches = saved.Batches; _unconverged = saved.UnconvergedBatches; _worst = saved.WorstMarginalError;
    }

    /// <summary>The Sinkhorn iterations of the last <see cref="Sample"/> (summed over its class blocks).</summary>
    public int LastIterations { get; private set; }
    /// <summary>The largest L1 marginal error among the plans of the last <see cref="Sample"/>.</summary>
    public double LastMarginalError { get; private set; }

    /// <inheritdoc />
    public override CoupledSample Sample(int count, Generator generator)
    {
        var (x0, x1, condition) = DrawIndependent(count, generator);
        using (x0)
        using (var index = tensor(PairRows(x0, x1, condition, generator, count: true)))
            return new CoupledSample(x0.index_select(0, index), x1, condition);
    }

    /// <inheritdoc />
    protected override CoupledSample PairDrawn(Tensor x0, Tensor x1, Tensor? condition, Generator generator)
    {
        using (x0)
        using (var index = tensor(PairRows(x0, x1, condition, generator, count: false)))
            return new CoupledSample(x0.index_select(0, index), x1, condition);
    }

    /// <summary>
    /// For each x1 row j the x0 row paired with it, drawn from column j of the plan (solved within each class when
    /// <paramref name="condition"/> is class labels).
    /// </summary>
    /// <remarks>With <paramref name="count"/> the batch enters <see cref="Convergence"/>.</remarks>
    private long[] PairRows(Tensor x0, Tensor x1, Tensor? condition, Generator generator, bool count)
    {
        var n = (int)x1.shape[0];
        var pairing = new long[n];
        var iterations = 0; var worst = 0.0;
        foreach (var (columns, offset) in Blocks(condition, n))
        {
            using var scope = NewDisposeScope();
            var rows = (long)columns.Length;
            var x0Block = x0.narrow(0, offset, rows);
            var x1Block = rows == n ? x1 : x1.index_select(0, tensor(columns));
            using var plan = EntropicTransport.Solve(x0Block, x1Block, Epsilon, MaxIterations, Tolerance);
            iterations += plan.Iterations; worst = Math.Max(worst, plan.MarginalError);
            if (plan.MarginalError > UnconvergedError)
                throw new InvalidSettingException("sinkhorn-iterations",
                    $"Sinkhorn did not converge: after {plan.Iterations} iterations the plan's marginals are {plan.MarginalError:G3} (L1) from uniform, more than the {UnconvergedError} at which a plan is refused (tolerance {Tolerance:G3}, eps = {Epsilon:G4}, {rows} rows); raise the iteration limit or eps");
            using var drawn = plan.SampleRows(generator);
            var picked = drawn.data<long>().ToArray();
            for (var k = 0; k < columns.Length; k++) pairing[columns[k]] = offset + picked[k];
        }
        LastIterations = iterations; LastMarginalError = worst;
        if (count)
        {
            _batches++;
            if (worst > Tolerance) _unconverged++;
            _worst = Math.Max(_worst, worst);
        }
        return pairing;
    }

    /// <summary>
    /// The blocks the plan is solved on: each class's x1 rows (in row order, classes in increasing label order) with the
    /// first x0 row of its block; a single block of all rows when the condition is not class labels.
    /// </summary>
    private static IEnumerable<(long[] Columns, long Offset)> Blocks(Tensor? condition, int n)
    {
        if (condition is null || condition.dtype != ScalarType.Int64 || condition.dim() != 1 || condition.shape[0] != n)
        {
            yield return (Enumerable.Range(0, n).Select(i => (long)i).ToArray(), 0);
            yield break;
        }
        using var cpu = condition.cpu();
        var labels = cpu.data<long>().ToArray();
        var offset = 0L;
        foreach (var group in Enumerable.Range(0, n).GroupBy(i => labels[i]).OrderBy(g => g.Key))
        {
            var columns = group.Select(i => (long)i).ToArray();
            yield return (columns, offset);
            offset += columns.Length;
        }
    }
}
