using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace StochasticInterpolants.Training;

/// <summary>
/// Exponential moving average of a module's parameters, theta_ema &lt;- d theta_ema + (1 - d) theta, with the
/// warm-up d_k = min(d, (1 + k) / (10 + k)) so early averages are not dominated by the random initialisation.
/// Sampling from the average is smoother than from the last iterate.
/// </summary>
public sealed class ExponentialMovingAverage : IDisposable
{
    private readonly List<(string Name, Parameter Live, Tensor Average)> _entries = [];

    /// <summary>Starts the average at the current parameters of <paramref name="module"/>.</summary>
    public ExponentialMovingAverage(nn.Module module, double decay)
    {
        Decay = decay;
        using var noGrad = no_grad();
        foreach (var (name, p) in module.named_parameters())
            _entries.Add((name, p, p.detach().clone()));
    }

    /// <summary>The target decay d.</summary>
    public double Decay { get; }

    /// <summary>Updates the average after optimiser step <paramref name="step"/> (0-based).</summary>
    public void Update(int step)
    {
        var d = Math.Min(Decay, (1.0 + step) / (10.0 + step));
        using var noGrad = no_grad();
        // Scalars held for the whole loop: an implicit temporary can be finalised while native code still reads it.
        using var decay = d.ToScalar();
        using var weight = (1 - d).ToScalar();
        foreach (var (_, live, average) in _entries)
            average.mul_(decay).add_(live, weight);
    }

    /// <summary>The averaged parameters by name (views owned by this object: copy before disposing it).</summary>
    public IReadOnlyDictionary<string, Tensor> State => _entries.ToDictionary(e => e.Name, e => e.Average);

    /// <summary>Restores averaged values saved from <see cref="State"/> (names and shapes must match).</summary>
    public void LoadState(IReadOnlyDictionary<string, Tensor> state)
    {
        using var noGrad = no_grad();
        foreach (var (name, _, average) in _entries)
        {
            if (!state.TryGetValue(name, out var saved)) throw new Checkpoints.CheckpointException($"saved moving average lacks '{name}'");
            if (!saved.shape.SequenceEqual(average.shape))
                throw new Checkpoints.CheckpointException($"saved moving average: '{name}' has shape [{string.Join(",", saved.shape)}], expected [{string.Join(",", average.shape)}]");
            average.copy_(saved);
        }
    }

    /// <summary>Copies the averaged values into <paramref name="module"/>'s parameters (same architecture).</summary>
    public void CopyTo(nn.Module module)
    {
        using var noGrad = no_grad();
        var target = module.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, _, average) in _entries) target[name].copy_(average);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var e in _entries) e.Average.Dispose();
        _entries.Clear();
    }
}
