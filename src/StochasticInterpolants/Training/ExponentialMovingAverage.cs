using TorchSharp.Modules;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Training;

/// <summary>
/// Exponential moving average of a module's parameters, theta_ema &lt;- d theta_ema + (1 - d) theta, with the
/// warm-up d_k = min(d, (1 + k) / (10 + k)) so early averages are not dominated by the random initialisation.
/// Sampling from the average is smoother than from the last iterate. The average lives in one flat buffer; when the
/// live parameters are themselves one flat buffer (<see cref="AdamOptimizer.FlatParameters"/>) an update is two calls.
/// </summary>
public sealed class ExponentialMovingAverage : IDisposable
{
    private readonly List<(string Name, Parameter Live, long Offset, long Count)> _entries = [];
    private readonly Tensor _average;
    private readonly Tensor? _liveFlat;

    /// <summary>Starts the average at the current parameters of <paramref name="module"/>.</summary>
    public ExponentialMovingAverage(nn.Module module, double decay) : this(module, decay, null) { }

    /// <summary>
    /// Starts the average at the parameters of <paramref name="module"/>, whose parameters are views of
    /// <paramref name="optimizer"/>'s flat buffer (in its layout order).
    /// </summary>
    public ExponentialMovingAverage(nn.Module module, double decay, AdamOptimizer? optimizer)
    {
        Decay = decay;
        var parameters = module.named_parameters().ToList();
        long total = 0;
        foreach (var (name, p) in parameters) { _entries.Add((name, p, total, p.numel())); total += p.numel(); }
        if (optimizer is not null && optimizer.Layout.Select(l => (l.Name, l.Offset, l.Count)).SequenceEqual(_entries.Select(e => (e.Name, e.Offset, e.Count))))
            _liveFlat = optimizer.FlatParameters;
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        _average = (_liveFlat is not null ? _liveFlat.clone() : cat(parameters.Select(p => p.parameter.detach().flatten()).ToArray())).DetachFromDisposeScope();
    }

    /// <summary>The target decay d.</summary>
    public double Decay { get; }

    /// <summary>The moving average of all parameters as one flat tensor (in the order of the module's parameters).</summary>
    public Tensor FlatAverage => _average;

    /// <summary>Updates the average after optimiser step <paramref name="step"/> (0-based).</summary>
    public void Update(int step)
    {
        var d = Math.Min(Decay, (1.0 + step) / (10.0 + step));
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        // Scalars held for the whole call: an implicit temporary can be finalised while native code still reads it.
        using var decay = d.ToScalar();
        using var weight = (1 - d).ToScalar();
        // d avg + (1 - d) live as avg + (1 - d)(live - avg): one pass over the flat buffer (lerp_ takes a tensor weight).
        if (_liveFlat is not null)
        {
            using var w = tensor(1 - d, dtype: _average.dtype, device: _average.device);
            _average.lerp_(_liveFlat, w);
            return;
        }
        foreach (var (_, live, offset, count) in _entries)
            _average.narrow(0, offset, count).mul_(decay).add_(live.flatten(), weight);
    }

    /// <summary>The averaged parameters by name (views owned by this object: copy before disposing it).</summary>
    public IReadOnlyDictionary<string, Tensor> State => _entries.ToDictionary(e => e.Name, e => _average.narrow(0, e.Offset, e.Count).view(e.Live.shape));

    /// <summary>Restores averaged values saved from <see cref="State"/> (names and shapes must match).</summary>
    public void LoadState(IReadOnlyDictionary<string, Tensor> state)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        foreach (var (name, live, offset, count) in _entries)
        {
            if (!state.TryGetValue(name, out var saved)) throw new TrainingStateException($"saved moving average lacks '{name}'");
            if (!saved.shape.SequenceEqual(live.shape))
                throw new TrainingStateException($"saved moving average: '{name}' has shape [{string.Join(",", saved.shape)}], expected [{string.Join(",", live.shape)}]");
            _average.narrow(0, offset, count).copy_(saved.flatten());
        }
    }

    /// <summary>Copies the averaged values into <paramref name="module"/>'s parameters (same architecture).</summary>
    public void CopyTo(nn.Module module)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var target = module.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, live, offset, count) in _entries) target[name].copy_(_average.narrow(0, offset, count).view(live.shape));
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _average.Dispose();
        _entries.Clear();
    }
}
