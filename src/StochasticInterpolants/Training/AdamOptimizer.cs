using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace StochasticInterpolants.Training;

/// <summary>
/// Adam (Kingma and Ba, 2015) and AdamW (Loshchilov and Hutter, 2019) over a fixed list of named parameters, with a state
/// that can be saved and restored exactly (<see cref="State"/>, <see cref="LoadState"/>), so a resumed run continues bit for
/// bit. With gradient g, step k and learning rate lr:
/// m &lt;- b1 m + (1 - b1) g;  v &lt;- b2 v + (1 - b2) g^2;
/// theta &lt;- theta - lr / (1 - b1^k) * m / (sqrt(v) / sqrt(1 - b2^k) + eps).
/// Weight decay w is L2 (g &lt;- g + w theta) for Adam and decoupled (theta &lt;- (1 - lr w) theta) for AdamW.
/// </summary>
/// <remarks>
/// Why not TorchSharp's optimisers: they pass temporary <see cref="Scalar"/>s to native code without keeping them alive,
/// and the finaliser thread can free one mid-call (seen as intermittent "toFloat" failures under load). Every Scalar here
/// is held in a <c>using</c> for the whole call. Their state format is also private to TorchSharp; this one is safetensors.
/// </remarks>
public sealed class AdamOptimizer : IDisposable
{
    private readonly List<(string Name, Parameter Parameter, Tensor ExpAvg, Tensor ExpAvgSq)> _entries = [];
    private readonly double _beta1, _beta2, _eps, _weightDecay;
    private readonly bool _decoupled;

    /// <summary>Creates the optimiser with zero moments.</summary>
    /// <param name="parameters">The named parameters to optimise (names key the saved state).</param>
    /// <param name="decoupledWeightDecay">True for AdamW, false for Adam.</param>
    /// <param name="weightDecay">Weight decay w (0 for none).</param>
    /// <param name="beta1">First-moment decay b1.</param>
    /// <param name="beta2">Second-moment decay b2.</param>
    /// <param name="eps">Denominator floor eps.</param>
    public AdamOptimizer(IEnumerable<(string Name, Parameter Parameter)> parameters, bool decoupledWeightDecay = false, double weightDecay = 0,
        double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8)
    {
        _decoupled = decoupledWeightDecay; _weightDecay = weightDecay; _beta1 = beta1; _beta2 = beta2; _eps = eps;
        using var noGrad = no_grad();
        foreach (var (name, p) in parameters)
            _entries.Add((name, p, zeros_like(p).DetachFromDisposeScope(), zeros_like(p).DetachFromDisposeScope()));
    }

    /// <summary>Steps taken so far (k of the bias corrections).</summary>
    public long StepCount { get; private set; }

    /// <summary>Clears the gradients of every parameter.</summary>
    public void ZeroGrad()
    {
        using var scope = NewDisposeScope(); // each read of .grad makes a new handle
        foreach (var (_, p, _, _) in _entries)
            if (p.grad is { } g) { g.detach_(); g.zero_(); }
    }

    /// <summary>Applies one update with learning rate <paramref name="learningRate"/>; parameters without a gradient are skipped.</summary>
    public void Step(double learningRate)
    {
        StepCount++;
        var bias1 = 1 - Math.Pow(_beta1, StepCount);
        var bias2 = 1 - Math.Pow(_beta2, StepCount);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var beta1 = _beta1.ToScalar();
        using var oneMinusBeta1 = (1 - _beta1).ToScalar();
        using var beta2 = _beta2.ToScalar();
        using var oneMinusBeta2 = (1 - _beta2).ToScalar();
        using var invSqrtBias2 = (1 / Math.Sqrt(bias2)).ToScalar();
        using var eps = _eps.ToScalar();
        using var negStepSize = (-learningRate / bias1).ToScalar();
        using var decay = _weightDecay.ToScalar();
        using var shrink = (1 - learningRate * _weightDecay).ToScalar();
        foreach (var (_, p, m, v) in _entries)
        {
            if (p.grad is not { } grad) continue;
            if (_weightDecay != 0)
            {
                if (_decoupled) p.mul_(shrink);
                else grad = grad.add(p, decay);
            }
            m.mul_(beta1).add_(grad, oneMinusBeta1);
            v.mul_(beta2).addcmul_(grad, grad, oneMinusBeta2);
            var denom = v.sqrt().mul_(invSqrtBias2).add_(eps);
            p.addcdiv_(m, denom, negStepSize);
        }
    }

    /// <summary>The moments by name (<c>exp_avg.NAME</c>, <c>exp_avg_sq.NAME</c>): views owned by this optimiser.</summary>
    public IReadOnlyDictionary<string, Tensor> State
    {
        get
        {
            var state = new Dictionary<string, Tensor>();
            foreach (var (name, _, m, v) in _entries) { state[$"exp_avg.{name}"] = m; state[$"exp_avg_sq.{name}"] = v; }
            return state;
        }
    }

    /// <summary>Restores moments saved from <see cref="State"/> and the step count; names and shapes must match.</summary>
    public void LoadState(IReadOnlyDictionary<string, Tensor> state, long stepCount, string source)
    {
        if (stepCount < 0) throw new ArgumentException($"optimiser state '{source}': negative step count {stepCount}");
        using var noGrad = no_grad();
        foreach (var (name, _, m, v) in _entries)
        {
            foreach (var (key, target) in new[] { ($"exp_avg.{name}", m), ($"exp_avg_sq.{name}", v) })
            {
                if (!state.TryGetValue(key, out var saved)) throw new Checkpoints.CheckpointException($"optimiser state '{source}' lacks '{key}'");
                if (!saved.shape.SequenceEqual(target.shape))
                    throw new Checkpoints.CheckpointException($"optimiser state '{source}': '{key}' has shape [{string.Join(",", saved.shape)}], expected [{string.Join(",", target.shape)}]");
                target.copy_(saved);
            }
        }
        StepCount = stepCount;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var (_, _, m, v) in _entries) { m.Dispose(); v.Dispose(); }
        _entries.Clear();
    }
}

/// <summary>Gradient-norm clipping that keeps its scalars alive across native calls (see <see cref="AdamOptimizer"/>).</summary>
public static class GradientClipping
{
    /// <summary>
    /// Scales every gradient by min(1, maxNorm / (||g|| + 1e-6)), where ||g|| is the Euclidean norm of all gradients
    /// together. No host read: the factor stays a tensor, so the step does not wait for it.
    /// </summary>
    public static void ClipNorm(IReadOnlyList<Parameter> parameters, double maxNorm)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var grads = parameters.Select(p => p.grad).OfType<Tensor>().ToList();
        if (grads.Count == 0) return;
        var total = stack(grads.Select(g => g.norm()).ToArray()).norm();
        using var max = maxNorm.ToScalar();
        using var tiny = 1e-6.ToScalar();
        using var one = 1.0.ToScalar();
        var factor = total.add_(tiny).reciprocal_().mul_(max).clamp_max_(one);
        foreach (var g in grads) g.mul_(factor);
    }
}
