using StochasticInterpolants.Interpolants;
using static TorchSharp.torch;

namespace StochasticInterpolants.Fields;

/// <summary>Raised when a requested field cannot be obtained from the fields at hand for this interpolant.</summary>
public sealed class FieldConversionException(string message) : Exception(message);

/// <summary>
/// The fields known for one interpolant, learned or exact, and the closed-form conversions between them
/// (MATH.md section 2). A sampler asks for the kinds it needs and gets them, converted where the interpolant allows,
/// or a <see cref="FieldConversionException"/> saying what to learn instead.
/// <para>Let sigma(t) be the scale of the Gaussian noise in x_t: gamma(t) for two-sided and mirror interpolants
/// (noise z), alpha(t) for one-sided ones (noise x0 = z). For every interpolant with sigma &gt; 0:
/// s = -eta / sigma and eta = -sigma s.</para>
/// <para>For one-sided interpolants x_t = alpha z + beta x1 every field determines the others:
/// E[x1 | x] = (x - alpha eta) / beta, eta = (x - beta E[x1 | x]) / alpha, b = alpha' eta + beta' E[x1 | x]
/// = (beta'/beta) x + (beta' alpha^2 / beta - alpha' alpha) s, and eta = (beta b - beta' x) / (alpha' beta - beta' alpha).</para>
/// <para>For two-sided interpolants the velocity alone does not determine the score (and with gamma = 0 there is
/// no score to learn from the interpolant): both must be given. Given both, the target prediction follows from the
/// two linear equations x = alpha E[x0 | x] + beta E[x1 | x] + gamma eta and b = alpha' E[x0 | x] + beta' E[x1 | x]
/// + gamma' eta: E[x1 | x] = (alpha (b - gamma' eta) - alpha' (x - gamma eta)) / (alpha beta' - alpha' beta), for every
/// interpolant whose determinant alpha beta' - alpha' beta never vanishes on (0, 1) (linear: 1, trigonometric: pi/2;
/// not encoder-decoder, whose x_t carries no information about x1 for t &lt; 1/2).</para>
/// <para>For the mirror interpolant (alpha = 0, beta = 1) the noise determines the rest: b = gamma' eta = -gamma gamma' s
/// and E[x1 | x] = x - gamma eta = x + gamma^2 s.</para>
/// <para>Wherever gamma' eta or gamma eta appear they are computed from the score when it is given (as -gamma gamma' s and
/// -gamma^2 s), which stays finite at t = 0 and 1 where gamma' = +-infinity for gamma = sqrt(a t (1 - t)).</para>
/// </summary>
public sealed class FieldSet
{
    private readonly Dictionary<FieldKind, ITimeField> _fields;
    private readonly bool _determinantNeverVanishes;

    /// <summary>Collects <paramref name="fields"/> (at most one per kind) for <paramref name="interpolant"/>.</summary>
    public FieldSet(IInterpolant interpolant, IEnumerable<ITimeField> fields)
    {
        Interpolant = interpolant;
        _fields = new Dictionary<FieldKind, ITimeField>();
        foreach (var f in fields)
            if (!_fields.TryAdd(f.Kind, f)) throw new ArgumentException($"two fields of kind {f.Kind} given");
        if (_fields.Count == 0) throw new ArgumentException("a field set needs at least one field");
        // alpha beta' - alpha' beta on a fine grid of (0, 1): where it never vanishes, b and the noise give E[x1 | x].
        _determinantNeverVanishes = Enumerable.Range(1, 99).All(i =>
        {
            var c = interpolant.At(i / 100.0);
            return Math.Abs(c.Alpha * c.BetaDot - c.AlphaDot * c.Beta) > 1e-9;
        });
    }

    /// <summary>The interpolant the fields belong to.</summary>
    public IInterpolant Interpolant { get; }

    /// <summary>The kinds given directly (not converted).</summary>
    public IReadOnlyCollection<FieldKind> Given => _fields.Keys;

    /// <summary>True when <paramref name="kind"/> is given or can be converted from what is given.</summary>
    public bool CanProvide(FieldKind kind) => Explain(kind) is null;

    /// <summary>The field of kind <paramref name="kind"/>, given or converted; throws <see cref="FieldConversionException"/> when impossible.</summary>
    public ITimeField Get(FieldKind kind)
    {
        if (_fields.TryGetValue(kind, out var direct)) return direct;
        if (Explain(kind) is { } why) throw new FieldConversionException(why);
        return new FunctionField(kind, (t, x) => Convert(kind, t, x));
    }

    /// <summary>The velocity as an <see cref="IVelocityField"/> for the ODE solvers.</summary>
    public IVelocityField Velocity()
    {
        var b = Get(FieldKind.Velocity);
        return new VelocityAdapter(b);
    }

    private sealed class VelocityAdapter(ITimeField field) : IVelocityField
    {
        public Tensor Velocity(double t, Tensor x) => field.Evaluate(t, x);
    }

    private bool OneSided => Interpolant.Kind == InterpolantKind.OneSided;

    /// <summary>The noise scale sigma(t): alpha for one-sided, gamma otherwise.</summary>
    public double NoiseScale(double t) { var c = Interpolant.At(t); return OneSided ? c.Alpha : c.Gamma; }

    private string? Explain(FieldKind kind)
    {
        if (_fields.ContainsKey(kind)) return null;
        if (OneSided) return null; // every kind determines every other
        var hasNoise = _fields.ContainsKey(FieldKind.Denoiser) || _fields.ContainsKey(FieldKind.Score);
        if ((kind is FieldKind.Score or FieldKind.Denoiser) && hasNoise) return null;
        if (Mirror && hasNoise) return null; // b = gamma' eta, E[x1 | x] = x - gamma eta
        var hasVelocity = _fields.ContainsKey(FieldKind.Velocity);
        if (kind == FieldKind.TargetPrediction && hasNoise && hasVelocity && _determinantNeverVanishes) return null;
        var noGamma = Interpolant.At(0.5).Gamma == 0;
        var given = string.Join(" and ", _fields.Keys.Select(Describe));
        return kind switch
        {
            FieldKind.Score or FieldKind.Denoiser when noGamma =>
                $"the {Interpolant.Name} interpolant has gamma = 0, so it has no latent noise to learn a {Describe(kind)} from; train with --gamma sqrt (or another schedule) or a one-sided interpolant",
            FieldKind.Score or FieldKind.Denoiser =>
                $"a two-sided interpolant's velocity does not determine its {Describe(kind)}: learn it too (si train --learn velocity,score)",
            FieldKind.TargetPrediction when !Mirror && !_determinantNeverVanishes =>
                $"the target prediction of the {Interpolant.Name} interpolant cannot be converted from other fields: alpha beta' - alpha' beta vanishes, so x_t does not determine E[x1 | x_t] through b and the score",
            FieldKind.TargetPrediction =>
                $"the target prediction of a two-sided interpolant needs both the velocity and the score, but only the {given} is given: learn both (si train --learn velocity,score)",
            _ => $"the {Describe(kind)} of a two-sided interpolant cannot be converted from the {given}: learn it (si train --learn velocity,score)",
        };
    }

    private bool Mirror => Interpolant.Kind == InterpolantKind.Mirror;

    private static string Describe(FieldKind k) => k switch
    {
        FieldKind.Velocity => "velocity", FieldKind.Score => "score", FieldKind.Denoiser => "denoiser", _ => "target prediction",
    };

    private Tensor Convert(FieldKind kind, double t, Tensor x)
    {
        if (!OneSided && kind is FieldKind.Velocity or FieldKind.TargetPrediction) return ConvertTwoSided(kind, t, x);
        using var scope = NewDisposeScope();
        var eta = Denoiser(t, x);
        var c = Interpolant.At(t);
        var sigma = OneSided ? c.Alpha : c.Gamma;
        Tensor result = kind switch
        {
            FieldKind.Denoiser => eta,
            FieldKind.Score => -eta / sigma,
            FieldKind.TargetPrediction => (x - c.Alpha * eta) / c.Beta,
            _ => c.AlphaDot * eta + c.BetaDot * ((x - c.Alpha * eta) / c.Beta),
        };
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The velocity or target prediction of a two-sided or mirror interpolant (see the class summary for the formulas);
    /// the noise field is given. Score and denoiser convert into each other in <see cref="Convert"/> for every interpolant.
    /// </summary>
    private Tensor ConvertTwoSided(FieldKind kind, double t, Tensor x)
    {
        using var scope = NewDisposeScope();
        var c = Interpolant.At(t);
        // gamma eta and gamma' eta, from the score when given (finite at the ends), else from the denoiser.
        Tensor gammaEta, gammaDotEta;
        if (_fields.TryGetValue(FieldKind.Score, out var score))
        {
            var sv = score.Evaluate(t, x);
            gammaEta = -(c.Gamma * c.Gamma) * sv;
            gammaDotEta = -c.GammaGammaDot * sv;
        }
        else
        {
            var eta = _fields[FieldKind.Denoiser].Evaluate(t, x);
            gammaEta = c.Gamma * eta;
            gammaDotEta = c.GammaDot * eta;
        }
        Tensor result = kind switch
        {
            FieldKind.Velocity when Mirror => gammaDotEta,
            FieldKind.TargetPrediction when Mirror => x - gammaEta,
            FieldKind.TargetPrediction =>
                (c.Alpha * (_fields[FieldKind.Velocity].Evaluate(t, x) - gammaDotEta) - c.AlphaDot * (x - gammaEta)) / (c.Alpha * c.BetaDot - c.AlphaDot * c.Beta),
            _ => throw new FieldConversionException($"the {Describe(kind)} of the {Interpolant.Name} interpolant cannot be converted"),
        };
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// True when only the velocity is given and the interpolant is one-sided: then the score at (t, x) follows from b(t, x)
    /// by <see cref="DenoiserFromVelocity"/> without evaluating the network again.
    /// </summary>
    public bool ScoreFollowsFromVelocity => OneSided && _fields.Count == 1 && _fields.ContainsKey(FieldKind.Velocity);

    /// <summary>
    /// One-sided interpolants: eta from an already evaluated b. From b = (beta'/beta) x + (alpha' - beta' alpha / beta) eta,
    /// multiplied through by beta so that t = 0 (beta = 0, where x_0 = z and eta = x) needs no division by zero:
    /// eta = (beta b - beta' x) / (alpha' beta - beta' alpha).
    /// </summary>
    public Tensor DenoiserFromVelocity(double t, Tensor x, Tensor velocity)
    {
        if (!OneSided) throw new FieldConversionException($"the {Interpolant.Name} interpolant is two-sided: its velocity does not determine its denoiser");
        var c = Interpolant.At(t);
        return (c.Beta * velocity - c.BetaDot * x) / (c.AlphaDot * c.Beta - c.BetaDot * c.Alpha);
    }

    /// <summary>eta(t, x) from whichever field is given (any field for one-sided interpolants; a score for the others).</summary>
    private Tensor Denoiser(double t, Tensor x)
    {
        var c = Interpolant.At(t);
        var sigma = OneSided ? c.Alpha : c.Gamma;
        if (_fields.TryGetValue(FieldKind.Denoiser, out var d)) return d.Evaluate(t, x);
        if (_fields.TryGetValue(FieldKind.Score, out var s)) return -sigma * s.Evaluate(t, x);
        if (_fields.TryGetValue(FieldKind.TargetPrediction, out var p)) return (x - c.Beta * p.Evaluate(t, x)) / c.Alpha;
        using var b = _fields[FieldKind.Velocity].Evaluate(t, x);
        return DenoiserFromVelocity(t, x, b);
    }
}
