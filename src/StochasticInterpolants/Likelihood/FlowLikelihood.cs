using StochasticInterpolants.Manifolds;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Data;
using StochasticInterpolants.Distributed;
using StochasticInterpolants.Fields;
using StochasticInterpolants.Runtime;
using StochasticInterpolants.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Likelihood;

/// <summary>How div b is computed along a trajectory.</summary>
public enum DivergenceEstimator
{
    /// <summary>Exact: the trace of the Jacobian from d autograd passes (cost grows with d; for small d).</summary>
    Exact,
    /// <summary>Hutchinson with Rademacher probes: E[e^T (grad b) e], e in {-1, 1}^d, fixed along each trajectory.</summary>
    HutchinsonRademacher,
    /// <summary>Hutchinson with standard Gaussian probes, fixed along each trajectory.</summary>
    HutchinsonGaussian,
}

/// <summary>Options of the likelihood computation.</summary>
/// <param name="Estimator">Exact divergence or Hutchinson's estimator.</param>
/// <param name="Probes">Hutchinson probes per point (averaged).</param>
/// <param name="Seed">Seeds the probes.</param>
public sealed record LikelihoodOptions(DivergenceEstimator Estimator = DivergenceEstimator.Exact, int Probes = 1, long Seed = 0)
{
    /// <summary>A one-line description for reports.</summary>
    public string Describe() => Estimator switch
    {
        DivergenceEstimator.Exact => "exact divergence",
        DivergenceEstimator.HutchinsonRademacher => $"Hutchinson (Rademacher, {Probes} probe{(Probes == 1 ? "" : "s")})",
        _ => $"Hutchinson (Gaussian, {Probes} probe{(Probes == 1 ? "" : "s")})",
    };
}

/// <summary>Log-densities with their provenance.</summary>
/// <param name="LogDensity">log rho(t, x) per row, float64, nats.</param>
/// <param name="BasePoints">The points X_0 the rows flow back to.</param>
/// <param name="FunctionEvaluations">Evaluations of the augmented field.</param>
public sealed record LikelihoodResult(Tensor LogDensity, Tensor BasePoints, int FunctionEvaluations) : IDisposable
{
    /// <summary>Disposes the tensors.</summary>
    public void Dispose() { LogDensity.Dispose(); BasePoints.Dispose(); }
}

/// <summary>
/// Exact log-likelihoods of a flow (docs/theory.md §4). Along the ODE, d/dt log rho(t, X_t) = -div b(t, X_t); integrating
/// backward from X_t = x to the base time t0 (0 unless the velocity is only finite from t0 on, see docs/theory.md §6)
/// alongside L with dL/dt = div b and L(t) = 0 gives log rho(t, x) = log rho0(X_t0) + L(t0) = log rho0(X_t0) -
/// int_t0^t div b(s, X_s) ds. With t = 1 this is log rho1(x); any intermediate t gives the Eulerian density rho(t, x).
/// Points have any shape [n, ...]; the divergence runs over all D elements of a row. Works with every ODE solver of the
/// library, adaptive included. The velocity must be differentiable in x: it is evaluated with autograd on.
/// </summary>
public sealed class FlowLikelihood
{
    private readonly IVelocityField _velocity;

    /// <summary>
    /// Creates the computation for the velocity <paramref name="velocity"/> (differentiable in x) and base density
    /// <paramref name="baseDistribution"/>, taken to be the law of X at <paramref name="baseTime"/> (0 for an exact flow).
    /// </summary>
    public FlowLikelihood(IVelocityField velocity, IDistribution baseDistribution, IOdeSolver solver, LikelihoodOptions? options = null, double baseTime = 0)
    {
        if (!baseDistribution.HasLogDensity) throw new ArgumentException($"the likelihood needs a base with a density; '{baseDistribution.Name}' has none");
        if (!(baseTime >= 0 && baseTime < 1)) throw new ArgumentException($"the base time must be in [0, 1), got {baseTime}");
        _velocity = velocity;
        Base = baseDistribution;
        Solver = solver;
        BaseTime = baseTime;
        Options = options ?? new LikelihoodOptions();
        if (Options.Probes < 1) throw new InvalidSettingException("probes", $"Hutchinson probes must be >= 1, got {Options.Probes}");
    }

    /// <summary>
    /// The likelihood of the flow of <paramref name="velocity"/> on <paramref name="interpolant"/>'s space. In R^d, the
    /// constructor's. On a manifold M (a <see cref="GeodesicInterpolant"/>), the field is extended off M by
    /// <see cref="TangentExtension"/>, whose ordinary divergence is the Riemannian one, and the solver becomes its geodesic
    /// version on M x R, where the log-density rides along (docs/theory.md §15.7); the base must be a density on M.
    /// </summary>
    public static FlowLikelihood For(IInterpolant interpolant, IVelocityField velocity, IDistribution baseDistribution, IOdeSolver solver,
        LikelihoodOptions? options = null, double baseTime = 0) => interpolant is GeodesicInterpolant g
        ? new FlowLikelihood(new TangentExtension(g.Manifold, velocity), baseDistribution,
            ManifoldSolvers.Matching(solver, new ProductManifold(g.Manifold, new Euclidean(1))), options, baseTime)
        : new FlowLikelihood(velocity, baseDistribution, solver, options, baseTime);

    /// <summary>The base density rho0.</summary>
    public IDistribution Base { get; }
    /// <summary>The ODE solver.</summary>
    public IOdeSolver Solver { get; }
    /// <summary>The options.</summary>
    public LikelihoodOptions Options { get; }
    /// <summary>The time t0 at which X is taken to follow the base density.</summary>
    public double BaseTime { get; }

    /// <summary>
    /// log rho(t, x) for each row of <paramref name="x"/> ([n, ...]); t = 1 gives log rho1, t = t0 the base density. With <paramref name="differentiable"/>
    /// (fixed-step solvers) the result keeps its autograd graph to the velocity's parameters, for maximum-likelihood
    /// training or sensitivity analysis; otherwise it is computed without building a graph through time.
    /// <para>
    /// Data-parallel (docs/theory.md §13.4): with <paramref name="share"/>, <paramref name="x"/> holds the rows
    /// [Start, Start + Count) of a batch of Total rows; Hutchinson probes are drawn for the whole batch
    /// ([probes, Total, ...]) and cut to the share, so each row gets the probe it gets when one process scores the whole
    /// batch. A share of no rows gives an empty result with no evaluation.
    /// </para>
    /// </summary>
    public LikelihoodResult LogDensity(Tensor x, double t = 1.0, IProgress<double>? progress = null, bool differentiable = false, RowShare? share = null)
    {
        if (x.dim() < 2 || x.shape.Skip(1).Aggregate(1L, (a, b) => a * b) != Base.Dimension)
            throw new ArgumentException($"points must have {Base.Dimension} elements per row, got shape [{string.Join(",", x.shape)}]");
        if (!(t >= BaseTime && t <= 1)) throw new ArgumentException($"the density time must be in [{BaseTime}, 1], got {t}");
        if (share is { } s && s.Count != x.shape[0]) throw new ArgumentException($"the points have {x.shape[0]} rows, their share of the batch {s.Count}");
        if (t == BaseTime) // rho(t0) is the base itself: nothing to integrate
            return new LikelihoodResult(BaseLogDensity(x).to(float64).to(x.device), x.detach().clone(), 0);
        // An adaptive solver's error norm over no rows is NaN: a rank without rows has nothing to integrate.
        if (x.shape[0] == 0) return new LikelihoodResult(empty(0, dtype: float64, device: x.device), x.detach().clone(), 0);
        var shape = x.shape;
        var d = (int)Base.Dimension;
        using var probes = MakeProbes(x, share);
        using var flat = x.detach().reshape(x.shape[0], d);
        using var start = cat([flat, zeros(x.shape[0], 1, dtype: x.dtype, device: x.device)], 1);
        using var solution = Solver.Integrate(new Augmented(this, shape, probes, sign: +1, differentiable), start, t, BaseTime,
            new OdeOptions(Progress: progress, Differentiable: differentiable));
        using var scope = NewDisposeScope();
        var x0 = solution.Final[.., ..d].reshape(shape);
        var integral = solution.Final[.., d].to(float64);
        var logRho = BaseLogDensity(x0).to(float64).to(x.device) + integral;
        return new LikelihoodResult(logRho.MoveToOuterDisposeScope(), x0.clone().MoveToOuterDisposeScope(), solution.FunctionEvaluations);
    }

    /// <summary>
    /// Samples and scores in one pass: integrates X forward from <paramref name="x0"/> at t0 to 1 with
    /// dL/dt = -div b, L(t0) = log rho0(x0), so that L(1) = log rho1(X_1). Returns (X_1, log rho1(X_1)).
    /// </summary>
    public (Tensor Samples, Tensor LogDensity) SampleWithLogDensity(Tensor x0)
    {
        var shape = x0.shape;
        var d = (int)Base.Dimension;
        using var probes = MakeProbes(x0);
        using var logRho0 = BaseLogDensity(x0).to(x0.dtype).to(x0.device);
        using var flat = x0.detach().reshape(x0.shape[0], d);
        using var start = cat([flat, logRho0.unsqueeze(1)], 1);
        using var solution = Solver.Integrate(new Augmented(this, shape, probes, sign: -1, differentiable: false), start, BaseTime, 1.0);
        return (solution.Final[.., ..d].reshape(shape).clone(), solution.Final[.., d].to(float64));
    }

    /// <summary>div b(t, x) for each row (exact or estimated according to the options; probes drawn from the options' seed).</summary>
    public Tensor Divergence(double t, Tensor x)
    {
        using var probes = MakeProbes(x);
        using var scope = NewDisposeScope();
        var (_, div) = VelocityAndDivergence(t, x, probes, differentiable: false);
        return div.MoveToOuterDisposeScope();
    }

    private Tensor BaseLogDensity(Tensor x) => x.dim() == 2 ? Base.LogDensity(x) : Base.LogDensity(x.reshape(x.shape[0], -1));

    // The probes of the rows of x: drawn for the whole batch of the share (x itself without one), then cut to its rows.
    private Tensor? MakeProbes(Tensor x, RowShare? share = null)
    {
        if (Options.Estimator == DivergenceEstimator.Exact) return null;
        using var g = new Generator((ulong)Options.Seed);
        using var scope = NewDisposeScope();
        var rows = share?.Total ?? x.shape[0];
        var shape = new long[] { Options.Probes, rows }.Concat(x.shape.Skip(1)).ToArray();
        var e = Options.Estimator == DivergenceEstimator.HutchinsonGaussian
            ? randn(shape, dtype: x.dtype, generator: g)
            : randint(0, 2, shape, generator: g).to(x.dtype) * 2 - 1;
        if (share is { IsAll: false } s) e = e.narrow(1, s.Start, s.Count);
        return e.to(x.device).MoveToOuterDisposeScope();
    }

    internal (Tensor Velocity, Tensor Divergence) VelocityAndDivergence(double t, Tensor x, Tensor? probes, bool differentiable)
    {
        using var grad = enable_grad();
        // Differentiable: keep x's own graph (it depends on earlier steps) and build the divergence's graph (create_graph).
        var xg = differentiable ? (x.requires_grad ? x : x.detach().requires_grad_(true)) : x.detach().requires_grad_(true);
        var b = _velocity.Velocity(t, xg);
        // A native error inside autograd.grad aborts the process: check the shape before differentiating.
        if (!b.shape.SequenceEqual(xg.shape)) throw new ArgumentException($"the velocity returned shape [{string.Join(",", b.shape)}] for points [{string.Join(",", xg.shape)}]");
        var n = x.shape[0];
        Tensor div = zeros(n, dtype: x.dtype, device: x.device);
        if (probes is null)
        {
            var bFlat = b.reshape(n, -1);
            var d = bFlat.shape[1];
            for (var i = 0; i < d; i++)
            {
                var gi = autograd.grad([bFlat[.., i].sum()], [xg], retain_graph: true, create_graph: differentiable)[0];
                div = div + gi.reshape(n, -1)[.., i];
            }
        }
        else
        {
            for (var k = 0; k < probes.shape[0]; k++)
            {
                var e = probes[k];
                var vjp = autograd.grad([(b * e).sum()], [xg], retain_graph: true, create_graph: differentiable)[0]; // e^T (grad b)
                div = div + (vjp * e).reshape(n, -1).sum(1);
            }
            div = div / probes.shape[0];
        }
        return differentiable ? (b, div) : (b.detach(), div.detach());
    }

    /// <summary>The augmented field (b, sign * div b) on the flat state [x, L] (x reshaped to the points' shape for b).</summary>
    private sealed class Augmented(FlowLikelihood owner, long[] shape, Tensor? probes, double sign, bool differentiable) : IVelocityField
    {
        private readonly int _d = (int)owner.Base.Dimension;

        public Tensor Velocity(double t, Tensor state)
        {
            using var scope = NewDisposeScope();
            var x = state[.., .._d].reshape(shape);
            var (b, div) = owner.VelocityAndDivergence(t, x, probes, differentiable);
            return cat([b.reshape(shape[0], _d), (sign * div).unsqueeze(1)], 1).MoveToOuterDisposeScope();
        }

        public string Description => $"likelihood's augmented field (b, div b) of the {owner._velocity.Description}";
    }
}

/// <summary>Unit conversions for likelihoods.</summary>
public static class LikelihoodUnits
{
    /// <summary>Bits per dimension from a negative log-likelihood in nats per sample: nll / (d ln 2).</summary>
    public static double BitsPerDimension(double nllNats, int dimension) => nllNats / (dimension * Math.Log(2));
}
