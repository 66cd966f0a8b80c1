using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Fields;

/// <summary>Raised when a requested field cannot be obtained from the fields at hand for this interpolant.</summary>
public sealed class FieldConversionException(string message) : Exception(message);

/// <summary>
/// The fields known for one interpolant, learned or exact, composed with the conversions of its <see cref="InterpolantPath"/>
/// (docs/theory.md §6). A sampler asks for the kinds it needs and gets them, converted where the path allows, or a
/// <see cref="FieldConversionException"/> saying what to learn instead. The formulas live in the path; this class only
/// decides which given fields to evaluate and where on [0, 1] a converted field is finite (<see cref="Domain"/>).
/// </summary>
public sealed class FieldSet
{
    private readonly Dictionary<FieldKind, ITimeField> _fields;

    /// <summary>Collects <paramref name="fields"/> (at most one per kind) for <paramref name="interpolant"/>.</summary>
    public FieldSet(IInterpolant interpolant, IEnumerable<ITimeField> fields) : this(InterpolantPath.For(interpolant), fields) { }

    /// <summary>Collects <paramref name="fields"/> (at most one per kind) on <paramref name="path"/>.</summary>
    public FieldSet(InterpolantPath path, IEnumerable<ITimeField> fields)
    {
        Path = path;
        _fields = new Dictionary<FieldKind, ITimeField>();
        foreach (var given in fields)
        {
            var f = given is NetworkField { Kind: FieldKind.FlowMap } map ? Diagonal(map) : given;
            if (f.Kind == FieldKind.FlowMap) throw new ArgumentException("a flow map enters a field set as a network field of a two-time network (its diagonal is the velocity)");
            if (!_fields.TryAdd(f.Kind, f)) throw new ArgumentException($"two fields of kind {f.Kind} given");
        }
        if (_fields.Count == 0) throw new ArgumentException("a field set needs at least one field");
    }

    /// <summary>
    /// A flow-map network's field as the velocity it determines: the diagonal v(t, t, x) = b(t, x) (docs/theory.md §14), which
    /// the one-time forward of a two-time network evaluates. Every field the path derives from a velocity follows.
    /// </summary>
    private static NetworkField Diagonal(NetworkField map)
    {
        _ = FlowMaps.Require(map.Network, "a flow-map field");
        return new NetworkField(map.Network, FieldKind.Velocity, map.Condition);
    }

    /// <summary>The path whose conversions are used.</summary>
    public InterpolantPath Path { get; }

    /// <summary>The interpolant the fields belong to.</summary>
    public IInterpolant Interpolant => Path.Interpolant;

    /// <summary>The kinds given directly (not converted).</summary>
    public IReadOnlyCollection<FieldKind> Given => _fields.Keys;

    /// <summary>True when <paramref name="kind"/> is given or can be converted from what is given.</summary>
    public bool CanProvide(FieldKind kind) => kind != FieldKind.FlowMap && Path.WhyNotConvertible(kind, _fields.Keys) is null;

    /// <summary>The same fields with the per-row condition <paramref name="condition"/> bound to every network field (null: unconditional).</summary>
    public FieldSet WithCondition(Tensor? condition) =>
        new(Path, _fields.Values.Select(f => f is NetworkField n ? n.WithCondition(condition) : f));

    /// <summary>
    /// The same fields with the class labels <paramref name="condition"/> bound and every network guided with weight
    /// <paramref name="guidance"/> (<see cref="GuidedNetwork"/>: w = 1 is the plain conditional model). The conversions are
    /// affine in the networks' outputs, so the velocity, score and denoiser are all guided by the same rule.
    /// </summary>
    public FieldSet WithGuidance(Tensor? condition, double guidance) => guidance == 1 ? WithCondition(condition)
        : new(Path, _fields.Values.Select(f => f is NetworkField n ? new NetworkField(new GuidedNetwork(n.Network, guidance), n.Kind, condition) : f));

    /// <summary>The field of kind <paramref name="kind"/>, given or converted; throws <see cref="FieldConversionException"/> when impossible.</summary>
    public ITimeField Get(FieldKind kind)
    {
        if (_fields.TryGetValue(kind, out var direct)) return direct;
        if (kind == FieldKind.FlowMap)
            throw new FieldConversionException("a flow map cannot be derived from a velocity, score or denoiser: it is learned (train with --learn flow-map, or distil a trained model with --teacher)");
        if (Path.WhyNotConvertible(kind, _fields.Keys) is { } why) throw new FieldConversionException(why);
        return new ConvertedField(this, kind);
    }

    /// <summary>The velocity as an <see cref="IVelocityField"/> for the ODE solvers and the likelihood.</summary>
    public IVelocityField Velocity() => Get(FieldKind.Velocity).AsVelocity();

    /// <summary>The noise scale sigma(t): alpha for one-sided paths, gamma otherwise.</summary>
    public double NoiseScale(double t) => Path.NoiseScale(t);

    /// <summary>
    /// The part of [0, 1] on which <paramref name="kind"/> is finite: an end is excluded when the conversion divides by a
    /// coefficient that vanishes there (e.g. the one-sided velocity from a score at t = 0, where beta = 0). Found by evaluating
    /// the conversion at each end on probe values, so it holds for user-defined interpolants too. Given fields are assumed
    /// finite on all of [0, 1].
    /// </summary>
    public (bool StartIncluded, bool EndIncluded) Domain(FieldKind kind)
    {
        if (_fields.ContainsKey(kind)) return (true, true);
        _ = Get(kind); // throws the explanation when impossible
        return (FiniteAt(0.0), FiniteAt(1.0));

        bool FiniteAt(double t)
        {
            using var scope = NewDisposeScope();
            var x = full([1, 1], 0.37, dtype: float64);
            var probe = full([1, 1], -0.29, dtype: float64);
            var value = Path.Convert(kind, tensor(t, dtype: float64), x, k => _fields.ContainsKey(k) ? probe : null);
            return value.isfinite().all().ToBoolean(); // disposed with the scope
        }
    }

    /// <summary>The least distance an integration keeps from an end where a field it needs is singular (docs/theory.md §6).</summary>
    public const double MinimumEndClip = 1e-3;

    /// <summary>
    /// The interval the probability-flow ODE (and its likelihood) runs over: [0, 1], except that an end where the velocity is
    /// singular (the one-sided velocity from a score at t = 0) moves in by max(<paramref name="trainingClip"/>,
    /// <see cref="MinimumEndClip"/>); the base sample then stands for X at the new start (docs/theory.md §6).
    /// </summary>
    public (double Start, double End) VelocityInterval(double trainingClip) =>
        FiniteInterval(Math.Max(trainingClip, MinimumEndClip), FieldKind.Velocity);

    /// <summary>
    /// The interval [start, end] of [0, 1] on which every kind in <paramref name="kinds"/> is finite: an excluded end is moved
    /// inside by <paramref name="clip"/> (docs/theory.md §6).
    /// </summary>
    public (double Start, double End) FiniteInterval(double clip, params FieldKind[] kinds)
    {
        double start = 0, end = 1;
        foreach (var k in kinds)
        {
            var (s, e) = Domain(k);
            if (!s) start = clip;
            if (!e) end = 1 - clip;
        }
        return (start, end);
    }

    /// <summary>
    /// True when only the velocity is given and the path is one-sided: then the denoiser at (t, x) follows from b(t, x)
    /// by <see cref="DenoiserFromVelocity"/> without evaluating the network again.
    /// </summary>
    public bool ScoreFollowsFromVelocity => Path is OneSidedPath && _fields.Count == 1 && _fields.ContainsKey(FieldKind.Velocity);

    /// <summary>One-sided paths: eta from an already evaluated b (see <see cref="OneSidedPath.DenoiserFromVelocity(Tensor, Tensor, Tensor)"/>).</summary>
    public Tensor DenoiserFromVelocity(double t, Tensor x, Tensor velocity)
    {
        if (Path is not OneSidedPath oneSided) throw new FieldConversionException($"the {Interpolant.Name} interpolant is two-sided: its velocity does not determine its denoiser");
        using var tt = tensor(t, dtype: float64);
        return oneSided.DenoiserFromVelocity(tt, x, velocity);
    }

    /// <summary>A field computed by the path from the given fields, each evaluated at most once per call.</summary>
    private sealed class ConvertedField(FieldSet owner, FieldKind kind) : ITimeField, IDescribedField
    {
        public FieldKind Kind => kind;

        public string Description => $"{InterpolantPath.Describe(kind)} converted from the {string.Join(" and ", owner._fields.Keys.Select(InterpolantPath.Describe))}";

        public Tensor Evaluate(Tensor t, Tensor x)
        {
            using var scope = NewDisposeScope();
            var values = new Dictionary<FieldKind, Tensor>();
            var result = owner.Path.Convert(kind, t, x, k =>
            {
                if (values.TryGetValue(k, out var v)) return v;
                if (!owner._fields.TryGetValue(k, out var f)) return null;
                return values[k] = f.Evaluate(t, x);
            });
            return result.MoveToOuterDisposeScope();
        }
    }
}
