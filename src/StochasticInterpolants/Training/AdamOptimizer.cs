using TorchSharp.Modules;
using TorchSharp;
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
/// Gradient clipping is here too (<see cref="ClipGradientNorm"/>): it works on the same flat gradient buffer.
/// </remarks>
public sealed class AdamOptimizer : IDisposable
{
    private readonly List<(string Name, Parameter Parameter, long Offset, long Count)> _entries = [];
    private readonly double _beta1, _beta2, _eps, _weightDecay;
    private readonly bool _decoupled;
    // One contiguous buffer each for the parameters, their gradients and the two moments: every parameter (and its
    // .grad) is a view into them, so an update is a handful of calls on one tensor instead of a handful per parameter —
    // at small batches the per-parameter calls of Adam, clipping, EMA and zeroing cost as much as the network's backward.
    private readonly Tensor _flatParameters, _flatGradients, _expAvg, _expAvgSq;
    // 1 - b1 as a 0-dim tensor: TorchSharp's lerp_ takes its weight as a tensor.
    private readonly Tensor _oneMinusBeta1;
    private bool _gradientsChecked, _gradientsAliased;

    /// <summary>Creates the optimiser with zero moments. The parameters are moved into one flat buffer (their values are kept).</summary>
    /// <param name="parameters">The named parameters to optimise (names key the saved state); one dtype and device.</param>
    /// <param name="decoupledWeightDecay">True for AdamW, false for Adam.</param>
    /// <param name="weightDecay">Weight decay w (0 for none).</param>
    /// <param name="beta1">First-moment decay b1.</param>
    /// <param name="beta2">Second-moment decay b2.</param>
    /// <param name="eps">Denominator floor eps.</param>
    public AdamOptimizer(IEnumerable<(string Name, Parameter Parameter)> parameters, bool decoupledWeightDecay = false, double weightDecay = 0,
        double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8)
    {
        _decoupled = decoupledWeightDecay; _weightDecay = weightDecay; _beta1 = beta1; _beta2 = beta2; _eps = eps;
        var list = parameters.ToList();
        if (list.Count == 0) throw new ArgumentException("nothing to optimise: no parameters");
        var (dtype, device) = (list[0].Parameter.dtype, list[0].Parameter.device);
        if (list.Any(p => p.Parameter.dtype != dtype || p.Parameter.device.type != device.type || p.Parameter.device.index != device.index))
            throw new ArgumentException("all parameters must share one dtype and device");
        long total = 0;
        foreach (var (name, p) in list) { _entries.Add((name, p, total, p.numel())); total += p.numel(); }
        using var noGrad = no_grad();
        _flatParameters = empty(total, dtype: dtype, device: device).DetachFromDisposeScope();
        _flatGradients = zeros(total, dtype: dtype, device: device).DetachFromDisposeScope();
        _expAvg = zeros(total, dtype: dtype, device: device).DetachFromDisposeScope();
        _expAvgSq = zeros(total, dtype: dtype, device: device).DetachFromDisposeScope();
        _oneMinusBeta1 = tensor(1 - beta1, dtype: dtype, device: device).DetachFromDisposeScope();
        using var scope = NewDisposeScope();
        foreach (var (_, p, offset, count) in _entries)
        {
            var view = _flatParameters.narrow(0, offset, count).view(p.shape);
            view.copy_(p);
            p.set_(view);
            p.grad = _flatGradients.narrow(0, offset, count).view(p.shape);
        }
    }

    /// <summary>The gradients of all parameters as one flat buffer (each parameter's .grad is a view of it): where a hook after
    /// backward, such as a gradient all-reduce across processes, reads and writes them.</summary>
    public Tensor FlatGradients => _flatGradients;

    /// <summary>Steps taken so far (k of the bias corrections).</summary>
    public long StepCount { get; private set; }

    /// <summary>All parameters as one flat tensor (a view of their storage; used by the weight average).</summary>
    public Tensor FlatParameters => _flatParameters;

    /// <summary>The names and shapes of the parameters, in the order of the flat buffers.</summary>
    public IEnumerable<(string Name, long[] Shape, long Offset, long Count)> Layout => _entries.Select(e => (e.Name, e.Parameter.shape, e.Offset, e.Count));

    /// <summary>Clears the gradients of every parameter.</summary>
    public void ZeroGrad() => _flatGradients.zero_();

    /// <summary>
    /// Scales the gradients by min(1, maxNorm / (||g|| + 1e-6)), ||g|| the Euclidean norm of all gradients together; the
    /// factor stays a tensor, so the step does not wait for a host read.
    /// </summary>
    public void ClipGradientNorm(double maxNorm)
    {
        EnsureGradientsInBuffer();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var max = maxNorm.ToScalar();
        using var tiny = 1e-6.ToScalar();
        using var one = 1.0.ToScalar();
        // |g| as sqrt(g . g): one BLAS dot over the flat buffer, faster than the generic norm reduction at this size.
        var factor = _flatGradients.dot(_flatGradients).sqrt_().add_(tiny).reciprocal_().mul_(max).clamp_max_(one);
        _flatGradients.mul_(factor);
    }

    /// <summary>Applies one update with learning rate <paramref name="learningRate"/>.</summary>
    public void Step(double learningRate)
    {
        EnsureGradientsInBuffer();
        StepCount++;
        var bias1 = 1 - Math.Pow(_beta1, StepCount);
        var bias2 = 1 - Math.Pow(_beta2, StepCount);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var beta2 = _beta2.ToScalar();
        using var oneMinusBeta2 = (1 - _beta2).ToScalar();
        using var invSqrtBias2 = (1 / Math.Sqrt(bias2)).ToScalar();
        using var eps = _eps.ToScalar();
        using var negStepSize = (-learningRate / bias1).ToScalar();
        using var decay = _weightDecay.ToScalar();
        using var shrink = (1 - learningRate * _weightDecay).ToScalar();
        var p = _flatParameters;
        var grad = _flatGradients;
        if (_weightDecay != 0)
        {
            if (_decoupled) p.mul_(shrink);
            else grad = grad.add(p, decay);
        }
        _expAvg.lerp_(grad, _oneMinusBeta1); // m + (1 - b1)(g - m) = b1 m + (1 - b1) g, one pass instead of two
        _expAvgSq.mul_(beta2).addcmul_(grad, grad, oneMinusBeta2);
        var denom = _expAvgSq.sqrt().mul_(invSqrtBias2).add_(eps);
        p.addcdiv_(_expAvg, denom, negStepSize);
    }

    // Autograd accumulates into an existing .grad in place, so the views set in the constructor receive the gradients.
    // Checked once; should a backend ever replace them, the gradients are gathered into the buffer on every step instead.
    private void EnsureGradientsInBuffer()
    {
        using var scope = NewDisposeScope();
        if (!_gradientsChecked)
        {
            _gradientsChecked = true;
            _gradientsAliased = _entries.All(e => e.Parameter.grad is { } g && g.storage_offset() == e.Offset)
                && cat(_entries.Select(e => (e.Parameter.grad ?? zeros_like(e.Parameter)).flatten()).ToArray()).allclose(_flatGradients, rtol: 0, atol: 0);
        }
        if (_gradientsAliased) return;
        using var noGrad = no_grad();
        foreach (var (_, p, offset, count) in _entries)
        {
            var g = p.grad;
            if (g is null) _flatGradients.narrow(0, offset, count).zero_();
            else _flatGradients.narrow(0, offset, count).copy_(g.flatten());
            p.grad = _flatGradients.narrow(0, offset, count).view(p.shape);
        }
    }

    /// <summary>The moments by name (<c>exp_avg.NAME</c>, <c>exp_avg_sq.NAME</c>): views owned by this optimiser.</summary>
    public IReadOnlyDictionary<string, Tensor> State
    {
        get
        {
            var state = new Dictionary<string, Tensor>();
            foreach (var (name, p, offset, count) in _entries)
            {
                state[$"exp_avg.{name}"] = _expAvg.narrow(0, offset, count).view(p.shape);
                state[$"exp_avg_sq.{name}"] = _expAvgSq.narrow(0, offset, count).view(p.shape);
            }
            return state;
        }
    }

    /// <summary>Restores moments saved from <see cref="State"/> and the step count; names and shapes must match.</summary>
    public void LoadState(IReadOnlyDictionary<string, Tensor> state, long stepCount, string source)
    {
        if (stepCount < 0) throw new ArgumentException($"optimiser state '{source}': negative step count {stepCount}");
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var (name, p, offset, count) in _entries)
        {
            foreach (var (key, flat) in new[] { ($"exp_avg.{name}", _expAvg), ($"exp_avg_sq.{name}", _expAvgSq) })
            {
                if (!state.TryGetValue(key, out var saved)) throw new TrainingStateException($"optimiser state '{source}' lacks '{key}'");
                if (!saved.shape.SequenceEqual(p.shape))
                    throw new TrainingStateException($"optimiser state '{source}': '{key}' has shape [{string.Join(",", saved.shape)}], expected [{string.Join(",", p.shape)}]");
                flat.narrow(0, offset, count).copy_(saved.flatten());
            }
        }
        StepCount = stepCount;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        // The parameters keep their storage (the flat buffer) alive through their own references.
        _flatParameters.Dispose(); _flatGradients.Dispose(); _expAvg.Dispose(); _expAvgSq.Dispose(); _oneMinusBeta1.Dispose();
        _entries.Clear();
    }
}
