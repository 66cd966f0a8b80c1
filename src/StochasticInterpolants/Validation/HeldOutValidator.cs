using StochasticInterpolants.Couplings;
using StochasticInterpolants.Data;
using StochasticInterpolants.Fields;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Likelihood;
using StochasticInterpolants.Sampling;
using StochasticInterpolants.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Validation;

/// <summary>Settings of <see cref="HeldOutValidator"/>.</summary>
/// <param name="ObjectiveDraws">Draws of (x0, z, t) for the validation objective: the validation rows are repeated until
/// at least this many are drawn, once, at construction.</param>
/// <param name="NllRows">At most this many validation rows enter the NLL: all of them when there are no more, else a
/// uniform random subset fixed by <paramref name="Seed"/>.</param>
/// <param name="NllSteps">RK4 steps of the likelihood's ODE.</param>
/// <param name="ExactUpTo">The divergence is exact (d autograd passes) up to this dimension, Hutchinson (Rademacher,
/// fixed probes) above it.</param>
/// <param name="Seed">Seeds every fixed draw.</param>
/// <param name="BatchSize">The training batch size: a coupling that pairs x0 with x1 (ot, sinkhorn) pairs the validation
/// draws in batches of this many rows, as training does.</param>
public sealed record ValidationSettings(int ObjectiveDraws = 2048, int NllRows = 512, int NllSteps = 16, int ExactUpTo = 16, long Seed = 0, int BatchSize = 1024);

/// <summary>
/// Scores networks on validation rows they are not trained on (docs/theory.md §8): the training objective on fixed
/// draws of (x0, z, t) paired with the validation rows — paired by the run's coupling, in batches of the training batch
/// size, so a minibatch-OT run is scored on the regression problem it trains on (§12) — and, where the velocity can be derived, the rows' NLL under the
/// flow in the data's units: <c>-(log p_y(Encode(x)) + log |det W|)</c> averaged over rows, with log p_y from the
/// probability-flow ODE (RK4, exact divergence in low dimension, Hutchinson with fixed probes above it). Because every
/// draw is fixed, scores at different steps differ only through the weights.
/// </summary>
public sealed class HeldOutValidator : IValidator, IDisposable
{
    private readonly IReadOnlyList<LearnedNetwork> _networks;
    private readonly TrainingBatch _batch;
    private readonly Tensor _nllRows;
    private readonly Tensor? _nllCondition;
    private readonly FieldSet? _fields;
    private readonly FlowLikelihood? _likelihood;
    private readonly double _logAbsDeterminant; // with the mean of the rows' further log-Jacobian terms, when given

    /// <summary>
    /// Prepares validation of <paramref name="networks"/> (trained on <paramref name="interpolant"/>) on
    /// <paramref name="rows"/> ([n, d] in the flow's space, already dequantised and encoded) with optional per-row class
    /// <paramref name="condition"/>; <paramref name="logAbsDeterminant"/> is log |det W| of the encoding (0 for raw data), and
    /// <paramref name="rowLogJacobian"/> ([n], optional) each row's further log-Jacobian term (for a table's log columns,
    /// -sum_j log x_j), averaged over the rows the NLL is computed on.
    /// The NLL needs a base with a density and a velocity the learned fields determine; without them the validator
    /// selects by the objective.
    /// </summary>
    public HeldOutValidator(IReadOnlyList<LearnedNetwork> networks, IInterpolant interpolant, ICoupling coupling, IDistribution baseDistribution,
        Tensor rows, Tensor? condition, double logAbsDeterminant, ValidationSettings? settings = null, Device? device = null, Tensor? rowLogJacobian = null)
    {
        device ??= CPU;
        var s = settings ?? new ValidationSettings();
        if (rows.dim() != 2 || rows.shape[0] < 1) throw new ArgumentException($"validation rows must be [n, d] with n >= 1, got [{string.Join(",", rows.shape)}]");
        if (condition is not null && condition.shape[0] != rows.shape[0]) throw new ArgumentException($"{condition.shape[0]} validation labels for {rows.shape[0]} rows");
        _networks = networks; _logAbsDeterminant = logAbsDeterminant; Settings = s;
        var n = (int)rows.shape[0];
        var repeats = Math.Max(1, (s.ObjectiveDraws + n - 1) / n);
        using var generator = new Generator((ulong)s.Seed ^ 0x56414C49UL);
        using (var scope = NewDisposeScope())
        {
            // x1 = the validation rows (repeated), x0 from the coupling's base side, z and t fresh: one fixed batch for all steps.
            var x1 = rows.to(float32).repeat(repeats, 1);
            var c = condition?.repeat(repeats);
            Tensor x0;
            if (interpolant.Kind == InterpolantKind.Mirror) x0 = x1.clone();
            else if (coupling is IndependentCoupling) x0 = baseDistribution.Sample((int)x1.shape[0], generator);
            else (x0, x1, c) = PairAsTraining(coupling, x1, c, s.BatchSize, generator);
            var z = randn(x1.shape, generator: generator);
            var clip = networks.Max(l => l.Objective.TimeClip);
            var t = ICoupling.UniformTimes((int)x1.shape[0], generator, clip);
            // Drawn on the CPU (the same draws on any device), then moved where the networks live.
            var batch = new TrainingBatch(x0, x1, z, t, c);
            foreach (var learned in networks) batch = learned.Objective.DrawExtras(batch, generator); // a flow map's second times, fixed too
            _batch = new TrainingBatch(x0.to(device).DetachFromDisposeScope(), x1.to(device).DetachFromDisposeScope(), z.to(device).DetachFromDisposeScope(),
                t.to(device).DetachFromDisposeScope(), c?.to(device).DetachFromDisposeScope(), batch.MapTimes?.to(device).DetachFromDisposeScope());
        }
        // The NLL rows: all of them, or a seeded uniform subset (a prefix of a sorted file would score a biased slice).
        var k = Math.Min(n, s.NllRows);
        using (var scope = NewDisposeScope())
        {
            Tensor? index = null;
            if (k < n)
            {
                using var rowGenerator = new Generator((ulong)s.Seed ^ 0x4E4C4C52UL);
                index = randperm(n, generator: rowGenerator).narrow(0, 0, k).sort().Values;
            }
            var picked = index is null ? rows : rows.index_select(0, index);
            _nllRows = picked.to(float32).to(device).clone().DetachFromDisposeScope();
            _nllCondition = condition is null ? null : (index is null ? condition : condition.index_select(0, index)).to(device).clone().DetachFromDisposeScope();
            if (rowLogJacobian is not null)
            {
                if (rowLogJacobian.shape is not [var m] || m != n) throw new ArgumentException($"{string.Join("x", rowLogJacobian.shape)} log-Jacobian terms for {n} validation rows");
                // The mean over exactly the rows scored, so the NLL is that of those rows in the data's units.
                _logAbsDeterminant += (index is null ? rowLogJacobian : rowLogJacobian.cpu().index_select(0, index)).to(float64).mean().ToDouble();
            }
        }
        var fields = new FieldSet(interpolant, networks.Select(l => (ITimeField)new NetworkField(l.Network, l.Objective.Kind)));
        if (baseDistribution.HasLogDensity && interpolant.Kind != InterpolantKind.Mirror && fields.CanProvide(FieldKind.Velocity))
        {
            _fields = fields.WithCondition(_nllCondition);
            var (start, _) = _fields.VelocityInterval(networks.Max(l => l.Objective.TimeClip));
            var estimator = rows.shape[1] <= s.ExactUpTo ? DivergenceEstimator.Exact : DivergenceEstimator.HutchinsonRademacher;
            _likelihood = FlowLikelihood.For(_fields.Interpolant, _fields.Velocity(), baseDistribution, new Rk4Solver(s.NllSteps), new LikelihoodOptions(estimator, 1, s.Seed), start);
            Metric = SelectionMetric.Nll;
        }
        else Metric = SelectionMetric.Objective;
    }

    /// <summary>The settings in force.</summary>
    public ValidationSettings Settings { get; }

    /// <summary>The fixed batch the objective is scored on (for tests).</summary>
    internal TrainingBatch Batch => _batch;

    /// <summary>The rows the NLL is computed on (for tests).</summary>
    internal Tensor NllRows => _nllRows;

    /// <inheritdoc />
    public SelectionMetric Metric { get; }

    /// <summary>What the NLL is computed with, for logs and reports (null when only the objective is scored).</summary>
    public string? NllDescription => _likelihood is null ? null
        : $"{_nllRows.shape[0]} validation rows, RK4 {Settings.NllSteps} steps, {(_nllRows.shape[1] <= Settings.ExactUpTo ? "exact divergence" : "Hutchinson divergence (1 fixed probe)")}";

    /// <summary>
    /// Pairs the rows x1 (with their condition) as training pairs its batches: shuffled by <paramref name="generator"/>
    /// (a training batch draws its rows at random), then cut into batches of <paramref name="batchSize"/> rows, each
    /// paired by <paramref name="coupling"/> (within each class when the condition is class labels).
    /// </summary>
    private static (Tensor X0, Tensor X1, Tensor? Condition) PairAsTraining(ICoupling coupling, Tensor x1, Tensor? condition, int batchSize, Generator generator)
    {
        if (batchSize < 1) throw new ArgumentException($"the validation's batch size must be >= 1, got {batchSize}");
        var total = x1.shape[0];
        var order = randperm(total, generator: generator);
        x1 = x1.index_select(0, order);
        condition = condition?.index_select(0, order);
        var x0Parts = new List<Tensor>();
        var x1Parts = new List<Tensor>();
        var cParts = new List<Tensor>();
        for (long start = 0; start < total; start += batchSize)
        {
            var size = Math.Min(batchSize, total - start);
            var pair = coupling.PairWith(x1.narrow(0, start, size), condition?.narrow(0, start, size), generator);
            x0Parts.Add(pair.X0); x1Parts.Add(pair.X1);
            if (pair.Condition is { } pc) cParts.Add(pc);
        }
        return (cat(x0Parts, 0), cat(x1Parts, 0), condition is null ? null : cat(cParts, 0));
    }

    /// <inheritdoc />
    public ValidationScores Validate()
    {
        double objective;
        using (no_grad())
        using (var scope = NewDisposeScope())
            objective = _networks.Sum(l => l.Objective.Loss(l.Network, _batch).ToDouble());
        double? nll = null;
        if (_likelihood is not null)
        {
            using var scope = NewDisposeScope();
            using var result = _likelihood.LogDensity(_nllRows);
            nll = -(result.LogDensity.mean().ToDouble() + _logAbsDeterminant);
        }
        return new ValidationScores(objective, nll);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _batch.X0.Dispose(); _batch.X1.Dispose(); _batch.Z.Dispose(); _batch.T.Dispose(); _batch.Condition?.Dispose(); _batch.MapTimes?.Dispose();
        _nllRows.Dispose(); _nllCondition?.Dispose();
    }
}
