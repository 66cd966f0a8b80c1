using StochasticInterpolants.Data;
using static TorchSharp.torch;

namespace StochasticInterpolants.Interpolants;

/// <summary>
/// Writes x_t as a mean plus scaled Gaussian noise: x_t = m + sigma n and d/dt x_t = m' + sigma' n, with n ~ N(0, I)
/// independent of m's randomness given the pair (docs/theory.md §2). The denoiser is E[n | x_t]; the antithetic estimator
/// flips n.
/// </summary>
/// <param name="Mean">m, [n, ...].</param>
/// <param name="MeanDot">m', [n, ...].</param>
/// <param name="Sigma">sigma(t), broadcastable against the data.</param>
/// <param name="SigmaDot">sigma'(t), broadcastable against the data.</param>
/// <param name="Noise">n, [n, ...].</param>
public sealed record NoiseDecomposition(Tensor Mean, Tensor MeanDot, Tensor Sigma, Tensor SigmaDot, Tensor Noise)
{
    /// <summary>x_t = m + sign sigma n (sign = -1 for the antithetic sample).</summary>
    public Tensor Point(double sign = 1) => sign > 0 ? Mean + Sigma * Noise : Mean - Sigma * Noise;
    /// <summary>d/dt x_t = m' + sign sigma' n.</summary>
    public Tensor Velocity(double sign = 1) => sign > 0 ? MeanDot + SigmaDot * Noise : MeanDot - SigmaDot * Noise;
}

/// <summary>
/// The maths of one interpolant's path in one place (docs/theory.md §1, §2, §6): drawing x_t and its time derivative from a
/// <see cref="TrainingBatch"/>, its decomposition into mean and noise (sigma = gamma for two-sided and mirror paths,
/// alpha for one-sided ones), whether it has noise at all, and every conversion between velocity, denoiser, score and
/// target prediction the path allows. Times are tensors: 0-dim (one time for the batch) or [n] (one per row); coefficients
/// broadcast over any trailing data shape by <see cref="PathCoefficients.PerRow"/>.
/// </summary>
public abstract class InterpolantPath
{
    /// <summary>Creates the path of <paramref name="interpolant"/>.</summary>
    protected InterpolantPath(IInterpolant interpolant) => Interpolant = interpolant;

    /// <summary>The path of <paramref name="interpolant"/>, chosen by its <see cref="IInterpolant.Kind"/>.</summary>
    public static InterpolantPath For(IInterpolant interpolant) => interpolant.Kind switch
    {
        InterpolantKind.OneSided => new OneSidedPath(interpolant),
        InterpolantKind.Mirror => new MirrorPath(interpolant),
        InterpolantKind.Geodesic => new GeodesicPath((GeodesicInterpolant)interpolant),
        InterpolantKind.Mixture => new MixturePath(interpolant),
        _ => new TwoSidedPath(interpolant),
    };

    /// <summary>The interpolant.</summary>
    public IInterpolant Interpolant { get; }

    /// <summary>True when x_t carries Gaussian noise (sigma(t) &gt; 0 somewhere in (0, 1)), so a score can be learned.</summary>
    public abstract bool HasNoise { get; }

    /// <summary>The noise scale sigma(t) at one time.</summary>
    public abstract double NoiseScale(double t);

    /// <summary>True when gamma(t) z appears in x_t (gamma not identically 0): false for one-sided paths, whose noise is x0.</summary>
    protected abstract bool HasLatentNoise { get; }

    // Held for the whole native call: a temporary Scalar can be finalised while native code still reads it.
    private static readonly TorchSharp.Scalar One = TorchSharp.ScalarExtensionMethods.ToScalar(1.0);

    /// <summary>The coefficients at times <paramref name="t"/> shaped for data <paramref name="like"/> [n, ...] (see <see cref="PathCoefficients.For(IInterpolant, Tensor, Tensor)"/>).</summary>
    public PathCoefficients Coefficients(Tensor t, Tensor like) => PathCoefficients.For(Interpolant, t, like);

    /// <summary>x_t = alpha(t) x0 + beta(t) x1 + gamma(t) z and d/dt x_t = alpha' x0 + beta' x1 + gamma' z for every row of the batch
    /// (the discrete <see cref="MixturePath"/> overrides it: x_t and the target x1).</summary>
    public virtual (Tensor Xt, Tensor Velocity) Interpolate(TrainingBatch batch)
    {
        batch.Validate();
        using var scope = NewDisposeScope();
        var c = Coefficients(batch.T, batch.X0);
        // Fused multiply-adds into fresh tensors; the z terms only where the path has latent noise (gamma not identically 0).
        var xt = (c.Alpha * batch.X0).addcmul_(c.Beta, batch.X1, One);
        var velocity = (c.AlphaDot * batch.X0).addcmul_(c.BetaDot, batch.X1, One);
        if (HasLatentNoise)
        {
            xt.addcmul_(c.Gamma, batch.Z, One);
            velocity.addcmul_(c.GammaDot, batch.Z, One);
        }
        return (xt.MoveToOuterDisposeScope(), velocity.MoveToOuterDisposeScope());
    }

    /// <summary>x_t at one time <paramref name="t"/> for every row (x0, x1, z of one shape): the Eulerian picture rho(t) as a point cloud.</summary>
    public Tensor SampleAt(Tensor x0, Tensor x1, Tensor z, double t)
    {
        using var scope = NewDisposeScope();
        var times = full(x0.shape[0], t, dtype: float64);
        var (xt, _) = Interpolate(new TrainingBatch(x0, x1, z, times));
        return xt.MoveToOuterDisposeScope();
    }

    /// <summary>x_t = m + sigma n for the batch, with coefficients <paramref name="c"/> already shaped for the data (see <see cref="NoiseDecomposition"/>).</summary>
    public abstract NoiseDecomposition Decompose(TrainingBatch batch, PathCoefficients c);

    /// <summary>Null when <paramref name="wanted"/> can be computed from the <paramref name="given"/> kinds on this path, else the reason (one line, with what to learn instead).</summary>
    public abstract string? WhyNotConvertible(FieldKind wanted, IReadOnlyCollection<FieldKind> given);

    /// <summary>
    /// The field <paramref name="wanted"/> at (t, x) from the given fields' values at the same (t, x): <paramref name="given"/>
    /// returns the value of a given kind, or null when that kind is not given. Call only when
    /// <see cref="WhyNotConvertible"/> returned null. The formulas are those of docs/theory.md §6.
    /// </summary>
    public Tensor Convert(FieldKind wanted, Tensor t, Tensor x, Func<FieldKind, Tensor?> given)
    {
        using var scope = NewDisposeScope();
        var c = Coefficients(t, x);
        return Convert(wanted, c, x, given).MoveToOuterDisposeScope();
    }

    /// <summary>The conversion with coefficients already shaped for x.</summary>
    protected abstract Tensor Convert(FieldKind wanted, PathCoefficients c, Tensor x, Func<FieldKind, Tensor?> given);

    /// <summary>The decomposition of a path whose noise is the latent z: m = alpha x0 + beta x1, sigma = gamma, n = z.</summary>
    protected static NoiseDecomposition LatentNoise(TrainingBatch batch, PathCoefficients c) =>
        new(c.Alpha * batch.X0 + c.Beta * batch.X1, c.AlphaDot * batch.X0 + c.BetaDot * batch.X1, c.Gamma, c.GammaDot, batch.Z);

    /// <summary>A field kind in words.</summary>
    public static string Describe(FieldKind k) => k switch
    {
        FieldKind.Velocity => "velocity", FieldKind.Score => "score", FieldKind.Denoiser => "denoiser", FieldKind.FlowMap => "flow map",
        FieldKind.Posterior => "posterior",
        _ => "target prediction",
    };

    /// <summary>eta from s (eta = -sigma s) or s from eta (s = -eta / sigma), whichever is given.</summary>
    protected static Tensor? NoiseField(FieldKind wanted, Tensor sigma, Func<FieldKind, Tensor?> given) => wanted switch
    {
        FieldKind.Denoiser => given(FieldKind.Score) is { } s ? -sigma * s : null,
        FieldKind.Score => given(FieldKind.Denoiser) is { } eta ? -eta / sigma : null,
        _ => null,
    };
}

/// <summary>
/// One-sided path x_t = alpha z + beta x1 (x0 = z is the noise, sigma = alpha): every field determines every other.
/// From b the 2x2 system x = alpha eta + beta E1, b = alpha' eta + beta' E1 gives eta = (beta b - beta' x) / (alpha' beta - beta' alpha)
/// and E1 = (alpha b - alpha' x) / (alpha beta' - alpha' beta), finite at both ends; from eta, E1 = (x - alpha eta) / beta
/// (singular at t = 0) and b = alpha' eta + beta' E1; from E1, eta = (x - beta E1) / alpha (singular at t = 1).
/// </summary>
public sealed class OneSidedPath(IInterpolant interpolant) : InterpolantPath(interpolant)
{
    /// <inheritdoc />
    public override bool HasNoise => true;
    /// <inheritdoc />
    protected override bool HasLatentNoise => false;
    /// <inheritdoc />
    public override double NoiseScale(double t) => Interpolant.At(t).Alpha;

    /// <inheritdoc />
    public override NoiseDecomposition Decompose(TrainingBatch batch, PathCoefficients c) =>
        new(c.Beta * batch.X1, c.BetaDot * batch.X1, c.Alpha, c.AlphaDot, batch.X0);

    /// <inheritdoc />
    public override string? WhyNotConvertible(FieldKind wanted, IReadOnlyCollection<FieldKind> given) =>
        given.Count > 0 ? null : "no field is given";

    /// <inheritdoc />
    protected override Tensor Convert(FieldKind wanted, PathCoefficients c, Tensor x, Func<FieldKind, Tensor?> given)
    {
        if (given(wanted) is { } direct) return direct;
        if (wanted == FieldKind.Denoiser) return Eta();
        if (wanted == FieldKind.Score) return -Eta() / c.Alpha;
        if (wanted == FieldKind.TargetPrediction) return TargetPrediction();
        return c.AlphaDot * Eta() + c.BetaDot * TargetPrediction();

        Tensor Eta()
        {
            if (given(FieldKind.Denoiser) is { } eta) return eta;
            if (given(FieldKind.Score) is { } s) return -c.Alpha * s;
            if (given(FieldKind.Velocity) is { } b) return DenoiserFromVelocity(c, x, b);
            return (x - c.Beta * given(FieldKind.TargetPrediction)!) / c.Alpha;
        }

        Tensor TargetPrediction()
        {
            if (given(FieldKind.TargetPrediction) is { } e1) return e1;
            if (given(FieldKind.Velocity) is { } b) return (c.Alpha * b - c.AlphaDot * x) / (c.Alpha * c.BetaDot - c.AlphaDot * c.Beta);
            return (x - c.Alpha * Eta()) / c.Beta;
        }
    }

    /// <summary>eta from an already evaluated b: eta = (beta b - beta' x) / (alpha' beta - beta' alpha), finite at t = 0 (where eta = x).</summary>
    public Tensor DenoiserFromVelocity(Tensor t, Tensor x, Tensor velocity)
    {
        using var scope = NewDisposeScope();
        var c = Coefficients(t, x);
        return DenoiserFromVelocity(c, x, velocity).MoveToOuterDisposeScope();
    }

    private static Tensor DenoiserFromVelocity(PathCoefficients c, Tensor x, Tensor b) =>
        (c.Beta * b - c.BetaDot * x) / (c.AlphaDot * c.Beta - c.BetaDot * c.Alpha);
}

/// <summary>
/// Two-sided path x_t = alpha x0 + beta x1 + gamma z (sigma = gamma). The velocity alone does not determine the score;
/// score and denoiser convert into each other; b and the noise give E1 = (alpha (b - gamma' eta) - alpha' (x - gamma eta)) /
/// (alpha beta' - alpha' beta) where that determinant never vanishes on (0, 1), with gamma' eta = -gamma gamma' s and
/// gamma eta = -gamma^2 s when the score is given (finite where gamma' is infinite).
/// </summary>
public sealed class TwoSidedPath : InterpolantPath
{
    private readonly bool _hasNoise, _determinantNeverVanishes;

    /// <summary>Creates the path; scans (0, 1) once for noise and for a vanishing determinant alpha beta' - alpha' beta.</summary>
    public TwoSidedPath(IInterpolant interpolant) : base(interpolant)
    {
        var grid = Enumerable.Range(1, 99).Select(i => interpolant.At(i / 100.0)).ToList();
        _hasNoise = grid.Any(c => c.Gamma > 0);
        _determinantNeverVanishes = grid.All(c => Math.Abs(c.Alpha * c.BetaDot - c.AlphaDot * c.Beta) > 1e-9);
    }

    /// <inheritdoc />
    public override bool HasNoise => _hasNoise;
    /// <inheritdoc />
    protected override bool HasLatentNoise => _hasNoise;
    /// <inheritdoc />
    public override double NoiseScale(double t) => Interpolant.At(t).Gamma;

    /// <inheritdoc />
    public override NoiseDecomposition Decompose(TrainingBatch batch, PathCoefficients c) => LatentNoise(batch, c);

    /// <inheritdoc />
    public override string? WhyNotConvertible(FieldKind wanted, IReadOnlyCollection<FieldKind> given)
    {
        if (given.Contains(wanted)) return null;
        var hasNoiseField = given.Contains(FieldKind.Denoiser) || given.Contains(FieldKind.Score);
        if (wanted is FieldKind.Score or FieldKind.Denoiser && hasNoiseField) return null;
        if (wanted == FieldKind.TargetPrediction && hasNoiseField && given.Contains(FieldKind.Velocity) && _determinantNeverVanishes) return null;
        var names = string.Join(" and ", given.Select(Describe));
        return wanted switch
        {
            FieldKind.Score or FieldKind.Denoiser when !HasNoise =>
                $"the {Interpolant.Name} interpolant has gamma = 0, so it has no latent noise to learn a {Describe(wanted)} from; use a gamma schedule or a one-sided interpolant",
            FieldKind.Score or FieldKind.Denoiser =>
                $"a two-sided interpolant's velocity does not determine its {Describe(wanted)}: learn the score too",
            FieldKind.TargetPrediction when !_determinantNeverVanishes =>
                $"the target prediction of the {Interpolant.Name} interpolant cannot be converted from other fields: alpha beta' - alpha' beta vanishes, so x_t does not determine E[x1 | x_t] through b and the score",
            FieldKind.TargetPrediction =>
                $"the target prediction of a two-sided interpolant needs both the velocity and the score, but only the {names} is given: learn both",
            _ => $"the {Describe(wanted)} of a two-sided interpolant cannot be converted from the {names}: learn it",
        };
    }

    /// <inheritdoc />
    protected override Tensor Convert(FieldKind wanted, PathCoefficients c, Tensor x, Func<FieldKind, Tensor?> given)
    {
        if (given(wanted) is { } direct) return direct;
        if (NoiseField(wanted, c.Gamma, given) is { } noise) return noise;
        if (wanted != FieldKind.TargetPrediction) throw new InvalidOperationException($"the {Describe(wanted)} cannot be converted on this path");
        var (gammaEta, gammaDotEta) = GammaTerms(c, given);
        var b = given(FieldKind.Velocity)!;
        return (c.Alpha * (b - gammaDotEta) - c.AlphaDot * (x - gammaEta)) / (c.Alpha * c.BetaDot - c.AlphaDot * c.Beta);
    }

    /// <summary>(gamma eta, gamma' eta): from the score as (-gamma^2 s, -gamma gamma' s) when given (finite at the ends), else from the denoiser.</summary>
    internal static (Tensor GammaEta, Tensor GammaDotEta) GammaTerms(PathCoefficients c, Func<FieldKind, Tensor?> given)
    {
        if (given(FieldKind.Score) is { } s) return (-(c.Gamma * c.Gamma) * s, -c.GammaGammaDot * s);
        var eta = given(FieldKind.Denoiser)!;
        return (c.Gamma * eta, c.GammaDot * eta);
    }
}

/// <summary>
/// Mirror path x_t = x1 + gamma z (x0 = x1, sigma = gamma): the noise determines the rest, b = gamma' eta = -gamma gamma' s
/// and E1 = x - gamma eta = x + gamma^2 s (the score forms stay finite where gamma' is infinite).
/// </summary>
public sealed class MirrorPath(IInterpolant interpolant) : InterpolantPath(interpolant)
{
    /// <inheritdoc />
    public override bool HasNoise => true;
    /// <inheritdoc />
    protected override bool HasLatentNoise => true;
    /// <inheritdoc />
    public override double NoiseScale(double t) => Interpolant.At(t).Gamma;

    /// <inheritdoc />
    public override NoiseDecomposition Decompose(TrainingBatch batch, PathCoefficients c) => LatentNoise(batch, c);

    /// <inheritdoc />
    public override string? WhyNotConvertible(FieldKind wanted, IReadOnlyCollection<FieldKind> given)
    {
        if (given.Contains(wanted) || given.Contains(FieldKind.Denoiser) || given.Contains(FieldKind.Score)) return null;
        return $"the mirror interpolant's fields follow from its noise: learn the score (the {string.Join(" and ", given.Select(Describe))} alone does not give the {Describe(wanted)})";
    }

    /// <inheritdoc />
    protected override Tensor Convert(FieldKind wanted, PathCoefficients c, Tensor x, Func<FieldKind, Tensor?> given)
    {
        if (given(wanted) is { } direct) return direct;
        if (NoiseField(wanted, c.Gamma, given) is { } noise) return noise;
        var (gammaEta, gammaDotEta) = TwoSidedPath.GammaTerms(c, given);
        return wanted == FieldKind.Velocity ? gammaDotEta : x - gammaEta;
    }
}
