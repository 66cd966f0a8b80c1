using StochasticInterpolants.Couplings;
using StochasticInterpolants.Models;
using StochasticInterpolants.Objectives;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Training;

/// <summary>Raised when saved training state (weights, optimiser moments, moving average) does not fit the model being trained.</summary>
public sealed class TrainingStateException(string message) : Exception(message);

/// <summary>A network and the objective it is trained on (so it represents <c>Objective.Kind</c>).</summary>
/// <param name="Objective">The regression objective.</param>
/// <param name="Network">The network.</param>
public sealed record LearnedNetwork(IObjective Objective, ITimeConditionedNetwork Network);

/// <summary>Callbacks into the training step.</summary>
/// <param name="AfterBackward">Called for each network after its backward pass and before clipping, with the network's index
/// and its flat gradient buffer (<see cref="AdamOptimizer.FlatGradients"/>), which it may modify in place: where a gradient
/// all-reduce across processes goes.</param>
public sealed record TrainingHooks(Action<int, Tensor>? AfterBackward = null);

/// <summary>
/// One optimisation step of every network on one batch — the step function of <see cref="Trainer"/>: draw the batch from
/// the coupling (class labels dropped with probability <see cref="TrainingOptions.ConditionDropout"/>), then for each network zero its gradients, compute its objective's loss, back-propagate, call the
/// after-backward hook, clip the gradient norm, take the Adam step and update the moving average. Owns the optimisers and
/// moving averages; bookkeeping (logs, snapshots, divergence) stays with the caller.
/// </summary>
public sealed class TrainingStep : IDisposable
{
    private readonly ICoupling _coupling;
    private readonly TrainingHooks _hooks;
    private readonly double _timeClip;
    private readonly double[] _losses;

    /// <summary>Creates the optimisers (and moving averages when <see cref="TrainingOptions.EmaDecay"/> &gt; 0) for <paramref name="networks"/>.</summary>
    public TrainingStep(ICoupling coupling, IReadOnlyList<LearnedNetwork> networks, TrainingOptions options, Device device, TrainingHooks? hooks = null)
    {
        _coupling = coupling; Networks = networks; Options = options; Device = device; _hooks = hooks ?? new TrainingHooks();
        _timeClip = networks.Max(n => n.Objective.TimeClip);
        _losses = new double[networks.Count];
        Optimizers = new AdamOptimizer[networks.Count];
        Averages = new ExponentialMovingAverage?[networks.Count];
        try
        {
            for (var i = 0; i < networks.Count; i++)
            {
                var module = networks[i].Network.Module;
                module.train();
                Optimizers[i] = new AdamOptimizer(module.named_parameters().Select(p => (p.name, p.parameter)), options.Optimizer == "adamw", options.WeightDecay);
                Averages[i] = options.EmaDecay > 0 ? new ExponentialMovingAverage(module, options.EmaDecay, Optimizers[i]) : null;
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The networks with their objectives.</summary>
    public IReadOnlyList<LearnedNetwork> Networks { get; }
    /// <summary>The options.</summary>
    public TrainingOptions Options { get; }
    /// <summary>Where batches are moved before the loss.</summary>
    public Device Device { get; }
    /// <summary>One optimiser per network.</summary>
    public AdamOptimizer[] Optimizers { get; }
    /// <summary>One moving average per network (null when off).</summary>
    public ExponentialMovingAverage?[] Averages { get; }

    /// <summary>
    /// Takes step <paramref name="step"/> (0-based) with batches from <paramref name="generator"/>; returns each network's
    /// batch loss (the array is reused by the next call). A non-finite loss is returned, not thrown: the caller decides.
    /// </summary>
    public IReadOnlyList<double> Run(int step, Generator generator)
    {
        var lr = Options.LearningRateAt(step);
        using (var scope = NewDisposeScope())
        {
            var batch = _coupling.DrawBatch(Options.BatchSize, generator, _timeClip).WithConditionDropped(Options.ConditionDropout, generator);
            if (Device.type != DeviceType.CPU) batch = batch.To(Device);
            for (var i = 0; i < Networks.Count; i++)
            {
                Optimizers[i].ZeroGrad();
                var loss = Networks[i].Objective.Loss(Networks[i].Network, batch);
                loss.backward();
                _hooks.AfterBackward?.Invoke(i, Optimizers[i].FlatGradients);
                if (Options.GradientClip > 0) Optimizers[i].ClipGradientNorm(Options.GradientClip);
                Optimizers[i].Step(lr);
                _losses[i] = loss.item<float>();
            }
        }
        if (_losses.All(double.IsFinite))
            foreach (var e in Averages) e?.Update(step);
        return _losses;
    }

    /// <summary>Disposes the optimisers (the moving averages are handed to the caller by <see cref="Trainer"/>).</summary>
    public void Dispose()
    {
        foreach (var opt in Optimizers) opt?.Dispose();
    }
}
