using StochasticInterpolants.Couplings;
using StochasticInterpolants.Data;
using StochasticInterpolants.Distributed;
using StochasticInterpolants.Models;
using StochasticInterpolants.Objectives;
using StochasticInterpolants.Runtime;
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
/// <param name="AfterBackward">Called for each network after its backward pass (and, in a data-parallel job, after the gradients
/// were summed across processes) and before clipping, with the network's index and its flat gradient buffer
/// (<see cref="AdamOptimizer.FlatGradients"/>), which it may modify in place.</param>
public sealed record TrainingHooks(Action<int, Tensor>? AfterBackward = null);

/// <summary>
/// One optimisation step of every network on one batch — the step function of <see cref="Trainer"/>: draw the batch from
/// the coupling (class labels dropped with probability <see cref="TrainingOptions.ConditionDropout"/>), then for each network zero its gradients, compute its objective's loss, back-propagate, call the
/// after-backward hook, clip the gradient norm, take the Adam step and update the moving average. Owns the optimisers and
/// moving averages; bookkeeping (logs, snapshots, divergence) stays with the caller.
/// <para>
/// Data-parallel (docs/theory.md §13): with N processes, every rank draws the whole batch of B rows from the same generator
/// and keeps its share of n_r rows (<see cref="RowShare"/>); its loss L_r is the mean over those rows, so the batch loss is
/// L = sum_r (n_r / B) L_r and its gradient sum_r (n_r / B) grad L_r. Each rank scales its gradients by n_r / B and one
/// all-reduce per step sums, in one buffer, every network's gradients, the weighted losses and a stop flag. Every rank then
/// clips and steps the same optimiser on the same sum, so the weights stay identical, and all see the same loss and the
/// same decision to stop.
/// </para>
/// </summary>
public sealed class TrainingStep : IDisposable
{
    private readonly ICoupling _coupling;
    private readonly TrainingHooks _hooks;
    private readonly double _timeClip;
    private readonly double[] _losses;
    private readonly IProcessGroup _processes;
    private readonly RowShare _share;
    private readonly Tensor? _exchange; // [grad_0 | grad_1 | ... | loss_0 | loss_1 | ... | stop] summed across ranks each step
    private readonly ITimeConditionedNetwork?[] _averagedTeachers = []; // per network: the EMA teacher's copy of it, or null

    /// <summary>Creates the optimisers (and moving averages when <see cref="TrainingOptions.EmaDecay"/> &gt; 0) for <paramref name="networks"/>.</summary>
    /// <param name="coupling">Where (x0, x1) pairs come from.</param>
    /// <param name="networks">The networks and their objectives.</param>
    /// <param name="options">Optimisation settings.</param>
    /// <param name="device">Where batches are moved before the loss.</param>
    /// <param name="hooks">Callbacks into each step.</param>
    /// <param name="processes">The data-parallel job this process belongs to (null: one process).</param>
    public TrainingStep(ICoupling coupling, IReadOnlyList<LearnedNetwork> networks, TrainingOptions options, Device device, TrainingHooks? hooks = null,
        IProcessGroup? processes = null)
    {
        _coupling = coupling; Networks = networks; Options = options; Device = device; _hooks = hooks ?? new TrainingHooks();
        _processes = processes ?? SingleProcess.Instance;
        if (_processes.Size > options.BatchSize)
            throw new InvalidSettingException("batch", $"a batch of {options.BatchSize} rows cannot be shared by {_processes.Size} processes: each needs at least one row");
        _share = RowShare.For(options.BatchSize, _processes);
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
            _averagedTeachers = new ITimeConditionedNetwork?[networks.Count];
            for (var i = 0; i < networks.Count; i++)
            {
                if (networks[i].Objective is not FlowMapObjective { Options.EmaTeacher: true } flowMap) continue;
                if (Averages[i] is null)
                    throw new InvalidSettingException("ema-teacher", "the EMA teacher is the moving average of the weights: it needs the moving average on (--ema > 0)");
                var spec = networks[i].Network.Spec ?? throw new ArgumentException("the EMA teacher rebuilds the network from its description: a custom network needs a registered architecture");
                var copy = spec.Build();
                if (device.type != DeviceType.CPU) copy.Module.to(device);
                copy.Module.eval();
                foreach (var p in copy.Module.parameters()) p.requires_grad = false;
                _averagedTeachers[i] = copy;
                flowMap.UseAveragedTeacher(FlowMaps.Require(copy, "the EMA teacher"));
            }
            if (_processes.Size > 1)
                _exchange = zeros(Optimizers.Sum(o => o.FlatGradients.numel()) + networks.Count + 1, dtype: float32).DetachFromDisposeScope();
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
    /// <summary>The rows of each batch this process computes the loss on (the whole batch in one process).</summary>
    public RowShare Share => _share;
    /// <summary>
    /// After <see cref="Run"/>: true when any process asked to stop at that step (so every process stops after it). In one
    /// process, the request passed to <see cref="Run"/>.
    /// </summary>
    public bool StopAgreed { get; private set; }

    /// <summary>
    /// Takes step <paramref name="step"/> (0-based) with batches from <paramref name="generator"/>; returns each network's
    /// batch loss (the array is reused by the next call). A non-finite loss is returned, not thrown: the caller decides.
    /// <paramref name="stopRequested"/> is this process's wish to stop after this step; <see cref="StopAgreed"/> says whether
    /// any process had it.
    /// </summary>
    public IReadOnlyList<double> Run(int step, Generator generator, bool stopRequested = false)
    {
        var lr = Options.LearningRateAt(step);
        using (var scope = NewDisposeScope())
        {
            var batch = _coupling.DrawBatch(Options.BatchSize, generator, _timeClip).WithConditionDropped(Options.ConditionDropout, generator);
            foreach (var learned in Networks) batch = learned.Objective.DrawExtras(batch, generator); // the whole batch's, then this rank's rows
            batch = batch.Rows(_share);
            if (Device.type != DeviceType.CPU) batch = batch.To(Device);
            // An EMA teacher sees the average as it stands before this step (the same on every rank: the averages are).
            for (var i = 0; i < _averagedTeachers.Length; i++)
                if (_averagedTeachers[i] is { } copy) Averages[i]!.CopyTo(copy.Module);
            if (_exchange is not null) RunShare(batch, lr, stopRequested);
            else RunWhole(batch, lr, stopRequested);
        }
        if (_losses.All(double.IsFinite))
            foreach (var e in Averages) e?.Update(step);
        return _losses;
    }

    // One process: each network in turn takes its whole step.
    private void RunWhole(TrainingBatch batch, double lr, bool stopRequested)
    {
        StopAgreed = stopRequested;
        for (var i = 0; i < Networks.Count; i++)
        {
            Optimizers[i].ZeroGrad();
            var loss = Networks[i].Objective.Loss(Networks[i].Network, batch);
            loss.backward();
            Update(i, lr);
            _losses[i] = loss.item<float>();
        }
    }

    // One process's part of a data-parallel step: the loss on its share, then one all-reduce of the scaled gradients, losses
    // and stop flags, then the same clip and Adam step on every process.
    private void RunShare(TrainingBatch share, double lr, bool stopRequested)
    {
        var k = Networks.Count;
        var weight = _share.Fraction;
        var offsets = new long[k + 1];
        for (var i = 0; i < k; i++)
        {
            Optimizers[i].ZeroGrad();
            var loss = Networks[i].Objective.Loss(Networks[i].Network, share);
            loss.backward();
            var count = Optimizers[i].FlatGradients.numel();
            offsets[i + 1] = offsets[i] + count;
            _exchange!.narrow(0, offsets[i], count).copy_(Optimizers[i].FlatGradients).mul_(weight);
            _exchange[offsets[k] + i] = loss.detach().cpu().mul(weight);
        }
        _exchange![offsets[k] + k] = stopRequested ? 1f : 0f;
        _processes.SumInPlace(_exchange, "the gradient all-reduce");
        var totals = _exchange.narrow(0, offsets[k], k + 1).data<float>().ToArray();
        for (var i = 0; i < k; i++)
        {
            Optimizers[i].FlatGradients.copy_(_exchange.narrow(0, offsets[i], offsets[i + 1] - offsets[i]));
            Update(i, lr);
            _losses[i] = totals[i];
        }
        StopAgreed = totals[k] > 0;
    }

    // Network i's update from its (batch) gradient: the after-backward hook, clipping, then the Adam step.
    private void Update(int i, double lr)
    {
        _hooks.AfterBackward?.Invoke(i, Optimizers[i].FlatGradients);
        if (Options.GradientClip > 0) Optimizers[i].ClipGradientNorm(Options.GradientClip);
        Optimizers[i].Step(lr);
    }

    /// <summary>Disposes the optimisers and the exchange buffer (the moving averages are handed to the caller by <see cref="Trainer"/>).</summary>
    public void Dispose()
    {
        foreach (var opt in Optimizers) opt?.Dispose();
        _exchange?.Dispose();
        for (var i = 0; i < _averagedTeachers.Length; i++)
        {
            if (_averagedTeachers[i] is not { } copy) continue;
            (Networks[i].Objective as FlowMapObjective)?.UseAveragedTeacher(null);
            copy.Module.Dispose();
        }
    }
}
