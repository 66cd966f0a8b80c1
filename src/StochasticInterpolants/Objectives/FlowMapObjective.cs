using StochasticInterpolants.Data;
using StochasticInterpolants.Fields;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using StochasticInterpolants.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Objectives;

/// <summary>How the off-diagonal rows of a flow-map batch are trained (docs/theory.md §14.2).</summary>
public enum FlowMapMethod
{
    /// <summary>Lagrangian self-distillation: |d/dt X_{s,t}(x_s) - sg[b(t, X_{s,t}(x_s))]|^2, with b the model's own diagonal
    /// (or the teacher's velocity when one is given: Lagrangian map distillation).</summary>
    Lagrangian,
    /// <summary>Progressive self-distillation: X_{s,t}(x_s) matched to sg[X_{u,t}(X_{s,u}(x_s))] for u between s and t; no derivative.</summary>
    Progressive,
}

/// <summary>
/// Raised by an objective whose training has run away although its loss is still finite (e.g. self-distillation chasing a
/// right-hand side that grows with the map); the trainer adds the step and stops the run.
/// </summary>
public sealed class ObjectiveDivergedException(string message) : Exception(message);

/// <summary>Options of <see cref="FlowMapObjective"/>.</summary>
/// <param name="Method">The off-diagonal term.</param>
/// <param name="DiagonalFraction">The share of rows trained on the diagonal v(t, t, x_t) by the interpolant regression, in (0, 1).</param>
/// <param name="DerivativeStep">h of the central difference in t that stands for d/dt X_{s,t} (Lagrangian method).</param>
/// <param name="EmaTeacher">Self-distil from the moving average of the weights (the EMA teacher) rather than the current ones: the
/// right-hand side b and the progressive composition are evaluated with the averaged network (training's EMA must be on).</param>
/// <param name="TeacherGuidance">With a class-conditional teacher: the classifier-free guidance weight w of the teacher's velocity
/// the student distils (docs/theory.md §14.3), so the student's plain conditional map (w = 1) jumps along the guided flow; rows
/// without a class learn the teacher's unconditional velocity. 1: the teacher's plain conditional velocity.</param>
public sealed record FlowMapOptions(FlowMapMethod Method = FlowMapMethod.Lagrangian, double DiagonalFraction = FlowMapOptions.DefaultDiagonalFraction, double DerivativeStep = 1e-3,
    bool EmaTeacher = false, double TeacherGuidance = 1)
{
    /// <summary>
    /// The default share of diagonal rows: 3/4, as MeanFlow found best. Measured on the checkerboard (3,000 steps, docs/guides/flow-maps.md): with 1/4
    /// self-distillation diverged within 100 steps (the off-diagonal rows chase a diagonal that is not yet learned, through shared
    /// weights); 1/2 and 3/4 trained stably to the same 2-jump quality.
    /// </summary>
    public const double DefaultDiagonalFraction = 0.75;

    /// <summary>The method names the CLI and configuration files use: lsd, psd.</summary>
    public static FlowMapMethod ParseMethod(string name) => name.Trim().ToLowerInvariant() switch
    {
        "lsd" or "lagrangian" => FlowMapMethod.Lagrangian,
        "psd" or "progressive" => FlowMapMethod.Progressive,
        _ => throw new InvalidSettingException("map-objective", $"unknown flow-map objective '{name}' (expected lsd or psd)"),
    };

    /// <summary>The short name of <paramref name="method"/>: lsd or psd.</summary>
    public static string Name(FlowMapMethod method) => method == FlowMapMethod.Lagrangian ? "lsd" : "psd";

    /// <summary>Throws <see cref="InvalidSettingException"/> for a setting out of range.</summary>
    public void Validate()
    {
        if (!(DiagonalFraction > 0 && DiagonalFraction < 1))
            throw new InvalidSettingException("diagonal-fraction", $"the diagonal fraction must be in (0, 1): the diagonal rows teach the velocity and the others the jumps; got {DiagonalFraction}");
        if (!double.IsFinite(TeacherGuidance)) throw new InvalidSettingException("teacher-guidance", $"the teacher's guidance weight must be a finite number, got {TeacherGuidance}");
        if (!(DerivativeStep > 0 && DerivativeStep <= 0.05))
            throw new InvalidSettingException("derivative-step", $"the time-derivative step h must be in (0, 0.05], got {DerivativeStep}");
    }
}

/// <summary>
/// The flow-map objective (docs/theory.md §14.2) for a two-time network v(s, t, x) with X_{s,t}(x) = x + (t - s) v(s, t, x).
/// Each row's role is drawn from its <see cref="TrainingBatch.MapTimes"/>: with probability <see cref="FlowMapOptions.DiagonalFraction"/>
/// a diagonal row, |v(t, t, x_t) - target|^2 / D with the interpolant's velocity alpha' x0 + beta' x1 + gamma' z as target
/// (or the teacher's b(t, x_t)); otherwise an off-diagonal row with s &lt; t the ordered pair of its batch time and a second
/// uniform on [clip, 1 - clip], x_s drawn from the interpolant at s, and
/// <list type="bullet">
/// <item>Lagrangian: |[X_{s,t+}(x_s) - X_{s,t-}(x_s)] / (t+ - t-) - sg[b(t, X_mid)]|^2 / D, t± = t ± h (rounded to the network's
/// float32 first, so the divisor is the difference the network saw), X_mid = (X_{s,t+} + X_{s,t-}) / 2, and b the model's own
/// diagonal under stop-gradient or the teacher's velocity;</item>
/// <item>Progressive: |v(s, t, x_s) - sg[(X_{u,t}(X_{s,u}(x_s)) - x_s) / (t - s)]|^2 / D with u = s + r (t - s), r uniform.</item>
/// </list>
/// The loss is the mean over all rows. The network must be a two-time network (<see cref="FlowMaps.Require"/>).
/// </summary>
public sealed class FlowMapObjective : IObjective
{
    /// <summary>Columns of <see cref="TrainingBatch.MapTimes"/> used: the second time, the intermediate fraction, the diagonal choice.</summary>
    public const int MapTimeColumns = 3;

    /// <summary>
    /// How far the off-diagonal rows' right-hand side may exceed the interpolant's velocity at x_s, in root mean square, before the
    /// run is stopped as diverged. The true velocity is a conditional mean of that target, b = E[I' | x_t], so E|b|^2 &lt;= E|I'|^2
    /// (Jensen): a learned right-hand side 1,000 times larger is self-distillation running away (docs/theory.md §14.2), which
    /// otherwise trains on with a finite loss of 1e15 and more and writes a checkpoint of garbage.
    /// </summary>
    public const double RunawayFactor = 1e3;

    private readonly ITimeField? _teacher;

    /// <summary>
    /// Creates the objective on <paramref name="interpolant"/>'s path. <paramref name="teacher"/>, when given, is a trained
    /// velocity field (on the same interpolant and data) that replaces the model's own diagonal as the right-hand side and as
    /// the diagonal rows' target; it must accept one time per row (its networks take the batch's condition).
    /// </summary>
    public FlowMapObjective(IInterpolant interpolant, FlowMapOptions? options = null, ObjectiveOptions? objectiveOptions = null, FieldSet? teacher = null)
    {
        Objective.RefuseDiscrete(interpolant, "flow map");
        if (interpolant.Kind == InterpolantKind.Geodesic)
            throw new InvalidSettingException("learn", "a flow map on a manifold is not supported: its jumps would have to be exponential steps (docs/theory.md §15.8)");
        Path = InterpolantPath.For(interpolant);
        Options = options ?? new FlowMapOptions();
        Options.Validate();
        var general = objectiveOptions ?? new ObjectiveOptions();
        if (general.Antithetic) throw new InvalidSettingException("antithetic", "the antithetic loss is not defined for a flow map (its off-diagonal rows are not affine in the noise)");
        TimeClip = Objective.ResolveClip(interpolant, general.TimeClip);
        Teacher = teacher;
        if (teacher is not null) _teacher = teacher.Get(FieldKind.Velocity); // throws when the teacher has no velocity
        else if (Options.TeacherGuidance != 1)
            throw new InvalidSettingException("teacher-guidance", "a guidance weight for the teacher needs a teacher (--teacher DIR, class-conditional)");
    }

    /// <inheritdoc />
    public FieldKind Kind => FieldKind.FlowMap;
    /// <inheritdoc />
    public InterpolantPath Path { get; }
    /// <inheritdoc />
    public double TimeClip { get; }
    /// <summary>The options given.</summary>
    public FlowMapOptions Options { get; }
    /// <summary>The teacher's fields, or null for self-distillation.</summary>
    public FieldSet? Teacher { get; }

    private ITwoTimeNetwork? _averaged;

    /// <summary>
    /// With <see cref="FlowMapOptions.EmaTeacher"/>: the copy of the trained network that holds the moving average of its weights,
    /// which the training step refreshes before every loss (<see cref="Training.TrainingStep"/>); self-distillation targets are
    /// then evaluated with it. Null: the current weights.
    /// </summary>
    public void UseAveragedTeacher(ITwoTimeNetwork? averaged) => _averaged = averaged;

    /// <inheritdoc />
    public TrainingBatch DrawExtras(TrainingBatch batch, Generator generator) => batch.WithMapTimes(MapTimeColumns, generator);

    /// <inheritdoc />
    /// <remarks>
    /// Every evaluation with a gradient — the diagonal rows' v(t, t, x_t) and the off-diagonal rows' v at (s, t±) or (s, t) — runs
    /// as one network call on the rows stacked: a U-Net's time on small batches is mostly per call, and each row's output does not
    /// depend on the others (the networks are row-wise; GroupNorm normalises each image alone).
    /// </remarks>
    public Tensor Loss(ITimeConditionedNetwork network, TrainingBatch batch)
    {
        var map = FlowMaps.Require(network, "the flow-map objective");
        batch.Validate();
        if (batch.MapTimes is not { } u || u.shape[1] < MapTimeColumns)
            throw new ArgumentException($"a flow-map batch needs {MapTimeColumns} uniforms per row (TrainingBatch.MapTimes, drawn by DrawExtras)");
        using var scope = NewDisposeScope();
        var diagonal = u[.., 2].lt(Options.DiagonalFraction);
        var diagonalRows = diagonal.nonzero().flatten();
        var otherRows = diagonal.logical_not().nonzero().flatten();
        var stack = new Stack(batch.Condition is not null);

        // Diagonal rows: the interpolant regression of v(t, t, x_t) (or the teacher's velocity at x_t).
        Tensor? diagonalTarget = null;
        var diagonalPart = -1;
        if (diagonalRows.numel() > 0)
        {
            var part = batch.Select(diagonalRows);
            var (xt, velocity) = Path.Interpolate(part);
            diagonalTarget = _teacher is null ? velocity : TargetVelocity(map, part.T, xt, part.Condition);
            diagonalPart = stack.Add(xt, part.T, part.T, part.Condition);
        }
        var off = otherRows.numel() > 0 ? OffDiagonalRows(batch.Select(otherRows), stack) : null;

        var v = stack.Evaluate(map);
        var rows = new List<Tensor>();
        if (diagonalTarget is not null) rows.Add(Objective.RowMeanSquaredError(stack.Part(v, diagonalPart), diagonalTarget));
        if (off is not null)
            rows.Add(Options.Method == FlowMapMethod.Lagrangian
                ? LagrangianErrors(map, off, stack.Part(v, off.First), stack.Part(v, off.Second))
                : ProgressiveErrors(map, off, stack.Part(v, off.First)));
        return cat(rows, 0).mean().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The off-diagonal rows of a batch: s &lt; t, x_s drawn from the interpolant at s, the interpolant's velocity there (the
    /// scale of the runaway check), the intermediate fraction r of the progressive term, the central difference's times t± (the
    /// Lagrangian term), and where their evaluations sit in the stack (<see cref="Second"/> is -1 without a second one).
    /// </summary>
    private sealed record OffDiagonal(Tensor Xs, Tensor S, Tensor T, Tensor? Condition, Tensor Fraction, Tensor Scale,
        Tensor? Plus, Tensor? Minus, int First, int Second);

    // s < t the ordered pair of the row's time and a second uniform; the evaluations with a gradient are added to the stack.
    private OffDiagonal OffDiagonalRows(TrainingBatch part, Stack stack)
    {
        var other = part.MapTimes![.., 0] * (1 - 2 * TimeClip) + TimeClip;
        var s = minimum(part.T, other);
        var t = maximum(part.T, other);
        var (xs, scale) = Path.Interpolate(part with { T = s });
        var fraction = part.MapTimes![.., 1];
        if (Options.Method != FlowMapMethod.Lagrangian)
            return new OffDiagonal(xs, s, t, part.Condition, fraction, scale, null, null, stack.Add(xs, s, t, part.Condition), -1);
        var (plus, minus) = DerivativeTimes(s, t, Options.DerivativeStep);
        var first = stack.Add(xs, s, plus, part.Condition);
        return new OffDiagonal(xs, s, t, part.Condition, fraction, scale, plus, minus, first, stack.Add(xs, s, minus, part.Condition));
    }

    /// <summary>Rows to evaluate with one network call: inputs, start and end times and conditions, stacked in order.</summary>
    private sealed class Stack(bool conditioned)
    {
        private readonly List<(Tensor X, Tensor S, Tensor T, Tensor? C)> _parts = [];
        private readonly List<long> _offsets = [0];

        /// <summary>Adds a part; returns its index for <see cref="Part"/>.</summary>
        public int Add(Tensor x, Tensor s, Tensor t, Tensor? c)
        {
            _parts.Add((x, s, t, c));
            _offsets.Add(_offsets[^1] + x.shape[0]);
            return _parts.Count - 1;
        }

        /// <summary>v(s, t, x; c) on all parts at once.</summary>
        public Tensor Evaluate(ITwoTimeNetwork map) => map.forward(cat(_parts.Select(p => p.X).ToList(), 0), cat(_parts.Select(p => p.S).ToList(), 0),
            cat(_parts.Select(p => p.T).ToList(), 0), conditioned ? cat(_parts.Select(p => p.C!).ToList(), 0) : null);

        /// <summary>The rows of part <paramref name="index"/> of <paramref name="v"/>.</summary>
        public Tensor Part(Tensor v, int index) => v.narrow(0, _offsets[index], _offsets[index + 1] - _offsets[index]);
    }

    /// <summary>
    /// The velocity of the right-hand side at (t, x) per row, without a graph: the teacher's, or the model's own diagonal
    /// v(t, t, x) under stop-gradient.
    /// </summary>
    private Tensor TargetVelocity(ITwoTimeNetwork map, Tensor t, Tensor x, Tensor? condition)
    {
        using var noGrad = no_grad();
        if (_teacher is null) return (_averaged ?? map).forward(x, t, condition);
        // Guided rows blend the teacher's conditional and no-class velocities; a row whose label was dropped (-1) gets the
        // unconditional one whatever w, so the student keeps a no-class map for its own guidance.
        var field = Teacher!.WithGuidance(condition, Options.TeacherGuidance).Get(FieldKind.Velocity);
        return field.Evaluate(t, x);
    }

    // Lagrangian rows: the central difference of X_{s,t} in t (from v at t+ and t-) against the velocity at the midpoint.
    private Tensor LagrangianErrors(ITwoTimeNetwork map, OffDiagonal rows, Tensor vPlus, Tensor vMinus)
    {
        var (xs, s, plus, minus) = (rows.Xs, rows.S, rows.Plus!, rows.Minus!);
        var forward = FlowMaps.Land(xs, s, plus, vPlus);
        var backward = FlowMaps.Land(xs, s, minus, vMinus);
        var derivative = (forward - backward) / PathCoefficients.PerRow((plus - minus).to(xs.dtype), xs);
        Tensor target;
        using (no_grad()) // the right-hand side is a constant of the loss (stop-gradient); the residual below keeps its graph
        {
            var middle = (forward + backward).mul_(0.5);
            target = TargetVelocity(map, (plus + minus) * 0.5, middle, rows.Condition);
            CheckBounded(target, rows.Scale, "the diagonal velocity at the points the map reached");
        }
        return Objective.RowMeanSquaredError(derivative, target);
    }

    // Progressive rows: v(s, t, x_s) against the velocity of the two-jump composition through u = s + r (t - s).
    private Tensor ProgressiveErrors(ITwoTimeNetwork map, OffDiagonal rows, Tensor v)
    {
        var (xs, s, t, condition) = (rows.Xs, rows.S, rows.T, rows.Condition);
        Tensor target;
        using (no_grad())
        {
            var teacher = _averaged ?? map;
            var middle = s + rows.Fraction * (t - s);
            var halfway = teacher.Jump(xs, s, middle, condition);
            var end = teacher.Jump(halfway, middle, t, condition);
            target = (end - xs) / PathCoefficients.PerRow((t - s).to(xs.dtype), xs);
            CheckBounded(target, rows.Scale, "the velocity of the two-jump composition");
        }
        return Objective.RowMeanSquaredError(v, target);
    }

    // Stops a run whose self-distillation target has run away (see RunawayFactor); the interpolant's velocity at x_s is the scale.
    private void CheckBounded(Tensor target, Tensor scale, string what)
    {
        if (_teacher is not null) return; // a teacher's velocity does not grow with the student
        var targetRms = target.square().mean().sqrt().ToDouble();
        var scaleRms = scale.square().mean().sqrt().ToDouble();
        if (targetRms > RunawayFactor * Math.Max(scaleRms, 1e-6))
            throw new ObjectiveDivergedException(FormattableString.Invariant(
                $"the flow map's self-distillation ran away: {what} has RMS {targetRms:G3}, {targetRms / Math.Max(scaleRms, 1e-6):G3} times the interpolant's velocity ({scaleRms:G3}); give more rows to the diagonal (--diagonal-fraction, default {FlowMapOptions.DefaultDiagonalFraction}), a lower --lr, or --map-objective psd"));
    }

    /// <summary>
    /// The times t± = t ± h of the central difference, clamped to [s, 1], with their gaps t± - s rounded to float32 (the
    /// precision the network sees the gap in) so that t+ - t- is the difference the network was evaluated at.
    /// </summary>
    public static (Tensor Plus, Tensor Minus) DerivativeTimes(Tensor s, Tensor t, double h)
    {
        var plusGap = (t + h).clamp_max(1.0).sub(s).to(float32).to(float64);
        var minusGap = (t - h).sub(s).clamp_min(0.0).to(float32).to(float64);
        return (s + plusGap, s + minusGap);
    }

}
