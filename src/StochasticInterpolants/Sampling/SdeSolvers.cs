using StochasticInterpolants.Distributed;
using StochasticInterpolants.Fields;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Sampling;

/// <summary>Options of an SDE integration.</summary>
/// <param name="SaveTimes">Times at which to record the state (hit exactly).</param>
/// <param name="Progress">Receives the fraction of the time interval covered.</param>
/// <param name="DenoiseLastStep">Replace the last step by the Tweedie denoiser E[x1 | x_t] = (x + alpha^2 s) / beta
/// (one-sided interpolants, forward integration ending at t = 1): removes the noise left by the last step.</param>
/// <param name="Share">Data-parallel (docs/theory.md §13.4): the state holds the rows [Start, Start + Count) of a batch of
/// Total rows. Each step's Brownian increments are drawn for the whole batch ([Total, ...]) and cut to the share, so every
/// rank consumes the generator exactly as one process integrating the whole batch does, and its rows get the same
/// increments; a share of no rows draws them and evaluates nothing. Null: the state is the whole batch.</param>
public sealed record SdeOptions(IReadOnlyList<double>? SaveTimes = null, IProgress<double>? Progress = null, bool DenoiseLastStep = false,
    RowShare? Share = null);

/// <summary>
/// Fixed-step samplers of the SDEs with the interpolant's marginals (docs/theory.md §3):
/// forward (tStart &lt; tEnd)  dX = [b + eps s](t, X) dt + sqrt(2 eps(t)) dW,
/// backward (tStart &gt; tEnd) dY = [b - eps s](t, Y) dt + sqrt(2 eps(t)) dW.
/// With eps = 0 they take exactly the steps of the matching ODE solver (Euler, Heun) and draw no noise.
/// Randomness comes only from the generator passed in, so a seed reproduces the samples.
/// </summary>
public abstract class SdeSolver
{
    /// <summary>Creates a sampler taking <paramref name="steps"/> uniform steps.</summary>
    protected SdeSolver(int steps)
    {
        if (steps < 1 || steps > 1_000_000) throw new InvalidSettingException("solver-steps", $"sampler steps must be in 1..1000000, got {steps}");
        StepCount = steps;
    }

    /// <summary>Name (em, heun-sde).</summary>
    public abstract string Name { get; }
    /// <summary>Uniform steps.</summary>
    public int StepCount { get; }

    /// <summary>The drift b ± eps s at (t, x); direction +1 forward, -1 backward. Counts evaluations in <paramref name="nfe"/>.</summary>
    protected static Tensor Drift(FieldSet fields, ITimeField velocity, DiffusionCoefficient eps, double t, Tensor x, double direction, ref int nfe)
    {
        var b = velocity.Evaluate(t, x);
        nfe++;
        var e = eps.At(t);
        if (e == 0) return b;
        Tensor epsScore;
        if (fields.ScoreFollowsFromVelocity)
        {
            // One network evaluation gives both: s = -eta / sigma with eta from b (one-sided interpolants).
            var eta = fields.DenoiserFromVelocity(t, x, b);
            epsScore = eps.NoiseProportionality is { } c1 ? -c1 * eta : (-e / fields.NoiseScale(t)) * eta;
            return direction > 0 ? b + epsScore : b - epsScore;
        }
        if (NoiseTermField(fields, eps) == FieldKind.Denoiser)
            epsScore = -eps.NoiseProportionality!.Value * fields.Get(FieldKind.Denoiser).Evaluate(t, x); // eps s = c sigma (-eta / sigma)
        else
            epsScore = e * fields.Get(FieldKind.Score).Evaluate(t, x);
        nfe++;
        return direction > 0 ? b + epsScore : b - epsScore;
    }

    /// <summary>
    /// The field the eps s term of the drift is computed from: the denoiser when eps = c sigma and a denoiser can be had
    /// (eps s = -c eta, finite where sigma = 0), else the score. The one rule for the drift, its checks and the samplers' interval.
    /// </summary>
    public static FieldKind NoiseTermField(FieldSet fields, DiffusionCoefficient eps) =>
        eps.NoiseProportionality is not null && fields.CanProvide(FieldKind.Denoiser) ? FieldKind.Denoiser : FieldKind.Score;

    private static string DescribeFields(FieldSet fields) => string.Join(" and ", fields.Given.Select(Interpolants.InterpolantPath.Describe)) + " given";

    /// <summary>True when a step from t to t + h evaluates the drift at t + h (so the drift must be finite at the end time too).</summary>
    protected virtual bool EvaluatesDriftAtStepEnd => false;

    /// <summary>
    /// Refuses, before any work, an interval whose start (or end, for samplers that evaluate the drift there) is a time at
    /// which a field the drift needs is infinite: e.g. the one-sided score from b at t = 1, where sigma = alpha = 0, with a
    /// constant eps. The reason names the time and the field, and what to do instead.
    /// </summary>
    private void RefuseSingularEnds(FieldSet fields, DiffusionCoefficient eps, double tStart, double tEnd, bool denoise)
    {
        var times = new List<double> { tStart };
        if (EvaluatesDriftAtStepEnd && !denoise) times.Add(tEnd);
        foreach (var t in times.Where(t => t is 0 or 1))
        {
            var kinds = new List<FieldKind> { FieldKind.Velocity };
            if (eps.At(t) > 0) kinds.Add(NoiseTermField(fields, eps));
            foreach (var kind in kinds)
            {
                var (atStart, atEnd) = fields.Domain(kind);
                if (t == 0 ? atStart : atEnd) continue;
                throw new ArgumentException($"the {InterpolantPath.Describe(kind)} the {Name} sampler needs is infinite at t = {t} on this path: " +
                    "integrate over an interval inside (0, 1) there, use eps proportional to the noise scale" + (t == 1 ? ", or denoise the last step" : ""));
            }
        }
    }

    /// <summary>One step of size h from (t, x) with Brownian increment dW (already scaled by sqrt|h|).</summary>
    protected abstract Tensor Step(FieldSet fields, ITimeField velocity, DiffusionCoefficient eps, double t, double h, Tensor x, Tensor? dW, double direction, ref int nfe);

    /// <summary>Integrates from X(tStart) = <paramref name="x"/> to tEnd. Needs the velocity, and the score (or a field
    /// convertible to it) whenever eps is not zero.</summary>
    public OdeSolution Integrate(FieldSet fields, DiffusionCoefficient eps, Tensor x, double tStart, double tEnd, Generator generator, SdeOptions? options = null)
    {
        OdeSolvers.Validate(x, tStart, tEnd, options?.SaveTimes);
        var velocity = fields.Get(FieldKind.Velocity);
        if (!eps.IsZero) _ = fields.Get(NoiseTermField(fields, eps)); // throws the explanation when neither can be had
        var denoise = options?.DenoiseLastStep == true;
        RefuseSingularEnds(fields, eps, tStart, tEnd, denoise);
        if (denoise && (fields.Path is not Interpolants.OneSidedPath || tEnd != 1 || tStart >= tEnd))
            throw new ArgumentException("last-step denoising needs a one-sided interpolant integrated forward to t = 1");
        var direction = tEnd >= tStart ? 1.0 : -1.0;
        var saveTimes = options?.SaveTimes ?? [];
        var share = options?.Share ?? RowShare.All(x.shape[0]);
        if (share.Count != x.shape[0]) throw new ArgumentException($"the state has {x.shape[0]} rows, its share of the batch {share.Count}");
        long[] batchShape = [share.Total, .. x.shape[1..]];
        var empty = share.Count == 0;
        var nfe = 0;
        var (final, saved) = StepGrid.Run(x, tStart, tEnd, StepCount, saveTimes, options?.Progress, (k, last, t, h, state) =>
        {
            if (denoise && k == last)
            {
                if (empty) return state.clone();
                nfe++;
                return fields.Get(FieldKind.TargetPrediction).Evaluate(t, state); // E[x1 | x_t]
            }
            var noisy = !eps.IsZero && (eps.At(t) > 0 || eps.At(t + h) > 0);
            Tensor? dW = noisy ? share.Of(randn(batchShape, dtype: state.dtype, generator: generator)).to(state.device) * Math.Sqrt(Math.Abs(h)) : null;
            // A rank without rows has drawn the increments above only to keep its generator in step with the others.
            if (empty) return state.clone();
            return Step(fields, velocity, eps, t, h, state, dW, direction, ref nfe);
        }, $"{Name} sampler's drift (b {(direction > 0 ? "+" : "-")} eps s, {eps.Describe()}) with the {DescribeFields(fields)}");
        return new OdeSolution(final, saveTimes.ToList(), saved, nfe, StepCount, 0);
    }
}

/// <summary>Euler–Maruyama: X + f(t, X) h + sqrt(2 eps(t)) dW. Weak order 1; with eps = 0 it is forward Euler.</summary>
public sealed class EulerMaruyamaSampler(int steps) : SdeSolver(steps)
{
    /// <inheritdoc />
    public override string Name => "em";

    /// <inheritdoc />
    protected override Tensor Step(FieldSet fields, ITimeField velocity, DiffusionCoefficient eps, double t, double h, Tensor x, Tensor? dW, double direction, ref int nfe)
    {
        var drift = Drift(fields, velocity, eps, t, x, direction, ref nfe);
        // The same fused update as EulerSolver, so eps = 0 reproduces the ODE path bit for bit.
        var next = TensorOps.Axpy(x, h, drift);
        return dW is null ? next : TensorOps.AxpyInPlace(next, Math.Sqrt(2 * eps.At(t)), dW);
    }
}

/// <summary>
/// Stochastic Heun for additive noise: predictor X~ = X + f(t, X) h + g(t) dW, corrector
/// X + (h/2)(f(t, X) + f(t + h, X~)) + ((g(t) + g(t + h)) / 2) dW with g = sqrt(2 eps). With eps = 0 it is Heun's method.
/// </summary>
public sealed class StochasticHeunSampler(int steps) : SdeSolver(steps)
{
    /// <inheritdoc />
    public override string Name => "heun-sde";

    /// <inheritdoc />
    protected override bool EvaluatesDriftAtStepEnd => true;

    /// <inheritdoc />
    protected override Tensor Step(FieldSet fields, ITimeField velocity, DiffusionCoefficient eps, double t, double h, Tensor x, Tensor? dW, double direction, ref int nfe)
    {
        var g0 = Math.Sqrt(2 * eps.At(t)); var g1 = Math.Sqrt(2 * eps.At(t + h));
        var f0 = Drift(fields, velocity, eps, t, x, direction, ref nfe);
        var predictor = TensorOps.Axpy(x, h, f0);
        if (dW is not null) TensorOps.AxpyInPlace(predictor, g0, dW);
        var f1 = Drift(fields, velocity, eps, t + h, predictor, direction, ref nfe);
        // The same fused update as HeunSolver, so eps = 0 reproduces the ODE path bit for bit.
        var next = TensorOps.AxpyInPlace(TensorOps.Axpy(x, h / 2, f0), h / 2, f1);
        return dW is null ? next : TensorOps.AxpyInPlace(next, (g0 + g1) / 2, dW);
    }
}

/// <summary>
/// The SDE samplers by name: em (alias euler-maruyama) and heun-sde (alias stochastic-heun), matched case-insensitively.
/// Register a builder to add a sampler; adding one touches this registry only.
/// </summary>
public static class SdeSolvers
{
    private static readonly NameRegistry<Func<int, SdeSolver>> Builders = BuiltIns();

    private static NameRegistry<Func<int, SdeSolver>> BuiltIns()
    {
        var r = new NameRegistry<Func<int, SdeSolver>>("sampler");
        r.Register("em", steps => new EulerMaruyamaSampler(steps), "euler-maruyama");
        r.Register("heun-sde", steps => new StochasticHeunSampler(steps), "stochastic-heun");
        return r;
    }

    /// <summary>The registered sampler names (aliases left out), built-in ones first, in registration order.</summary>
    public static IReadOnlyList<string> Names => Builders.Names;

    /// <summary>Registers (or replaces) the sampler <paramref name="name"/>, built from its step count, also found under <paramref name="aliases"/>.</summary>
    public static void Register(string name, Func<int, SdeSolver> build, params string[] aliases) => Builders.Register(name, build, aliases);

    /// <summary>True when <paramref name="name"/> (or an alias) is a registered sampler.</summary>
    public static bool Contains(string name) => Builders.Find(name) is not null;

    /// <summary>
    /// The sampler <paramref name="name"/> (built in: em, Euler–Maruyama; heun-sde, stochastic Heun) with <paramref name="steps"/>
    /// steps; throws <see cref="ArgumentException"/> naming the known samplers (and ODE solvers) for an unknown name.
    /// </summary>
    public static SdeSolver Create(string name, int steps)
    {
        var entry = Builders.Find(name) ?? throw new InvalidSettingException("sampler",
            $"unknown sampler '{name}' (expected {string.Join(", ", Names)}, or an ODE solver: {string.Join(", ", OdeSolvers.Names)})");
        return entry.Builder(steps) ?? throw new InvalidOperationException($"the builder of sampler '{entry.Name}' returned null");
    }
}
