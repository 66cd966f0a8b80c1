using System.Diagnostics;
using StochasticInterpolants.Couplings;
using StochasticInterpolants.Models;
using StochasticInterpolants.Objectives;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Training;

/// <summary>One row of the loss log: the mean loss over the steps since the previous row.</summary>
/// <param name="Step">Steps completed (1-based).</param>
/// <param name="Loss">Mean batch loss over the window.</param>
/// <param name="LearningRate">Learning rate of the last step in the window.</param>
/// <param name="ElapsedSeconds">Wall time since training started.</param>
public readonly record struct LossLogEntry(int Step, double Loss, double LearningRate, double ElapsedSeconds);

/// <summary>Progress after one optimiser step.</summary>
/// <param name="Step">Steps completed (1-based).</param>
/// <param name="TotalSteps">Steps planned.</param>
/// <param name="Loss">Loss of this step's batch.</param>
/// <param name="SmoothedLoss">Exponential average of recent losses (for display).</param>
/// <param name="LearningRate">Learning rate used by this step.</param>
/// <param name="StepsPerSecond">Mean throughput so far.</param>
/// <param name="Elapsed">Wall time since training started.</param>
/// <param name="LogEntry">Set on the steps that close a loss-log window.</param>
public readonly record struct TrainingProgress(int Step, int TotalSteps, double Loss, double SmoothedLoss, double LearningRate,
    double StepsPerSecond, TimeSpan Elapsed, LossLogEntry? LogEntry);

/// <summary>What a finished (or cancelled) training run produced.</summary>
/// <param name="StepsCompleted">Optimiser steps taken.</param>
/// <param name="Completed">False when the run was cancelled before the last step.</param>
/// <param name="FinalLoss">Mean loss over the last log window.</param>
/// <param name="Elapsed">Wall time of the loop.</param>
/// <param name="Log">The loss log.</param>
public sealed record TrainingResult(int StepsCompleted, bool Completed, double FinalLoss, TimeSpan Elapsed, IReadOnlyList<LossLogEntry> Log)
{
    /// <summary>Mean optimiser steps per second.</summary>
    public double StepsPerSecond => StepsCompleted / Math.Max(Elapsed.TotalSeconds, 1e-9);
}

/// <summary>Raised when the loss becomes NaN or infinite.</summary>
public sealed class TrainingDivergedException(string message) : Exception(message);

/// <summary>
/// Trains a network to represent the velocity b(t, x) by minimising <see cref="VelocityObjective"/> with Adam/AdamW,
/// learning-rate warm-up and decay, gradient clipping and an exponential moving average of the weights.
/// Each step draws a fresh batch (x0, x1) from the coupling, z ~ N(0, I) and t ~ U[clip, 1 - clip] from one
/// generator seeded with <see cref="TrainingOptions.Seed"/>, so a run is reproducible on the same machine and thread count.
/// Every step runs inside a dispose scope, so native memory stays flat however long training runs.
/// </summary>
public sealed class Trainer
{
    private readonly ICoupling _coupling;
    private readonly VelocityObjective _objective;

    /// <summary>Prepares training of <paramref name="network"/> (already on <paramref name="device"/>).</summary>
    public Trainer(ICoupling coupling, VelocityObjective objective, ITimeConditionedNetwork network, TrainingOptions options, Device? device = null)
    {
        options.Validate();
        _coupling = coupling;
        _objective = objective;
        Network = network;
        Options = options;
        Device = device ?? CPU;
    }

    /// <summary>The network being trained.</summary>
    public ITimeConditionedNetwork Network { get; }
    /// <summary>The options in force.</summary>
    public TrainingOptions Options { get; }
    /// <summary>The device the network and batches live on.</summary>
    public Device Device { get; }

    /// <summary>
    /// Runs the optimisation loop. Returns the result and leaves in <paramref name="ema"/> the moving average of the
    /// weights (null when <see cref="TrainingOptions.EmaDecay"/> is 0); the caller disposes it.
    /// </summary>
    public TrainingResult Run(out ExponentialMovingAverage? ema, IProgress<TrainingProgress>? progress = null, CancellationToken cancellation = default)
    {
        var o = Options;
        var module = Network.Module;
        module.train();
        var parameters = module.parameters().ToList();
        using optim.Optimizer optimizer = o.Optimizer == "adamw"
            ? optim.AdamW(parameters, o.LearningRate, weight_decay: o.WeightDecay)
            : optim.Adam(parameters, o.LearningRate, weight_decay: o.WeightDecay);
        ema = o.EmaDecay > 0 ? new ExponentialMovingAverage(module, o.EmaDecay) : null;
        using var generator = new Generator((ulong)o.Seed ^ 0x5151_4E54UL);
        var log = new List<LossLogEntry>();
        var watch = Stopwatch.StartNew();
        double windowSum = 0, smoothed = double.NaN, lastWindowMean = double.NaN;
        int windowCount = 0, step = 0;
        var d = _coupling.Dimension;
        for (; step < o.Steps; step++)
        {
            if (cancellation.IsCancellationRequested) break;
            var lr = o.LearningRateAt(step);
            foreach (var group in optimizer.ParamGroups) group.LearningRate = lr;
            double lossValue;
            using (var scope = NewDisposeScope())
            {
                var (x0, x1) = _coupling.Sample(o.BatchSize, generator);
                var z = randn(o.BatchSize, d, generator: generator);
                var times = _objective.SampleTimes(o.BatchSize, generator);
                if (Device.type != DeviceType.CPU) { x0 = x0.to(Device); x1 = x1.to(Device); z = z.to(Device); }
                optimizer.zero_grad();
                var loss = _objective.Loss(Network, x0, x1, z, times);
                loss.backward();
                if (o.GradientClip > 0) nn.utils.clip_grad_norm_(parameters, o.GradientClip);
                optimizer.step();
                lossValue = loss.item<float>();
            }
            if (!double.IsFinite(lossValue))
            {
                ema?.Dispose(); ema = null;
                throw new TrainingDivergedException($"training diverged: the loss became {lossValue} at step {step + 1} (try a lower --lr or --grad-clip)");
            }
            ema?.Update(step);
            windowSum += lossValue; windowCount++;
            smoothed = double.IsNaN(smoothed) ? lossValue : 0.98 * smoothed + 0.02 * lossValue;
            LossLogEntry? entry = null;
            if ((step + 1) % o.LogEvery == 0 || step + 1 == o.Steps)
            {
                lastWindowMean = windowSum / windowCount;
                entry = new LossLogEntry(step + 1, lastWindowMean, lr, watch.Elapsed.TotalSeconds);
                log.Add(entry.Value);
                windowSum = 0; windowCount = 0;
            }
            progress?.Report(new TrainingProgress(step + 1, o.Steps, lossValue, smoothed, lr,
                (step + 1) / Math.Max(watch.Elapsed.TotalSeconds, 1e-9), watch.Elapsed, entry));
        }
        if (windowCount > 0 && step < o.Steps) // cancelled mid-window: close the window
        {
            lastWindowMean = windowSum / windowCount;
            log.Add(new LossLogEntry(step, lastWindowMean, o.LearningRateAt(Math.Max(step - 1, 0)), watch.Elapsed.TotalSeconds));
        }
        module.eval();
        return new TrainingResult(step, step == o.Steps, lastWindowMean, watch.Elapsed, log);
    }
}
