using System.Diagnostics;
using StochasticInterpolants.Couplings;
using StochasticInterpolants.Distributed;
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
/// <param name="Parts">With several networks, the mean loss of each (same order as the networks); null with one.</param>
/// <param name="ValidationObjective">The objective on the validation rows at this step (fixed draws of x0, z and t, the
/// weights that would be kept), or null when no validation ran at this step.</param>
/// <param name="ValidationNll">The validation rows' NLL in nats per row, in the data's units, or null when not computed.</param>
public readonly record struct LossLogEntry(int Step, double Loss, double LearningRate, double ElapsedSeconds, IReadOnlyList<double>? Parts = null,
    double? ValidationObjective = null, double? ValidationNll = null);

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
/// <param name="Selection">What model selection kept, or null when it was off (or no validation ran).</param>
public sealed record TrainingResult(int StepsCompleted, bool Completed, double FinalLoss, TimeSpan Elapsed, IReadOnlyList<LossLogEntry> Log,
    SelectionOutcome? Selection = null)
{
    /// <summary>Mean optimiser steps per second.</summary>
    public double StepsPerSecond => StepsCompleted / Math.Max(Elapsed.TotalSeconds, 1e-9);
}

/// <summary>Raised when the loss becomes NaN or infinite.</summary>
public sealed class TrainingDivergedException(string message) : Exception(message);

/// <summary>
/// Trains networks to represent the fields of their objectives (the velocity b, the denoiser eta, ...) by regression,
/// with Adam/AdamW, learning-rate warm-up and decay, gradient clipping and an exponential moving average of the weights.
/// All networks see the same batch: (x0, x1) from the coupling, z ~ N(0, I) and t ~ U[clip, 1 - clip] drawn from one
/// generator seeded with <see cref="TrainingOptions.Seed"/>, so a run is reproducible on the same machine and thread count.
/// Each network has its own optimiser and gradient clipping: two separate networks (rather than one with two heads)
/// keep the velocity and score losses, which differ in scale by orders of magnitude near the end points, from
/// competing for shared weights. Every step runs inside a dispose scope, so native memory stays flat.
/// </summary>
public sealed class Trainer
{
    private readonly ICoupling _coupling;

    /// <summary>Prepares training of one <paramref name="network"/> (already on <paramref name="device"/>) on <paramref name="objective"/>.</summary>
    public Trainer(ICoupling coupling, IObjective objective, ITimeConditionedNetwork network, TrainingOptions options, Device? device = null)
        : this(coupling, [new LearnedNetwork(objective, network)], options, device) { }

    /// <summary>Prepares joint training of several networks on one stream of batches.</summary>
    public Trainer(ICoupling coupling, IReadOnlyList<LearnedNetwork> networks, TrainingOptions options, Device? device = null)
    {
        options.Validate();
        if (networks.Count == 0) throw new ArgumentException("nothing to train: no networks given");
        if (networks.Select(n => n.Objective.Kind).Distinct().Count() != networks.Count) throw new ArgumentException("each field can be learned by one network only");
        _coupling = coupling;
        Networks = networks;
        Options = options;
        Device = device ?? CPU;
    }

    /// <summary>Callbacks into each step (e.g. after backward, where a gradient all-reduce goes).</summary>
    public TrainingHooks? Hooks { get; init; }

    /// <summary>
    /// The data-parallel job this process trains in (docs/theory.md §13; default: one process). Every process runs this
    /// trainer on the same options and seed; see <see cref="TrainingStep"/> for how a step is shared. Only the caller decides
    /// which process writes: pass <c>checkpointing</c> and <c>progress</c> on one of them.
    /// </summary>
    public IProcessGroup Processes { get; init; } = SingleProcess.Instance;

    /// <summary>
    /// In a data-parallel job, steps between checks that every process holds the same weights (a 64-bit checksum of each
    /// network's weights and moving average, gathered from all); also checked before the first step and after the last.
    /// </summary>
    public int ChecksumEvery { get; init; } = 100;

    /// <summary>Validation, model selection and early stopping (null: train all steps and keep the last weights).</summary>
    public ModelSelection? Selection { get; init; }

    /// <summary>The networks being trained, with their objectives.</summary>
    public IReadOnlyList<LearnedNetwork> Networks { get; }
    /// <summary>The first network (the only one in single-network training).</summary>
    public ITimeConditionedNetwork Network => Networks[0].Network;
    /// <summary>The options in force.</summary>
    public TrainingOptions Options { get; }
    /// <summary>The device the networks and batches live on.</summary>
    public Device Device { get; }

    /// <summary>
    /// Runs the optimisation loop for a single network; <paramref name="ema"/> receives the moving average of its weights
    /// (null when <see cref="TrainingOptions.EmaDecay"/> is 0), which the caller disposes.
    /// </summary>
    public TrainingResult Run(out ExponentialMovingAverage? ema, IProgress<TrainingProgress>? progress = null, CancellationToken cancellation = default)
    {
        var result = RunAll(out var averages, progress, cancellation);
        ema = averages[0];
        foreach (var other in averages.Skip(1)) other?.Dispose();
        return result;
    }

    /// <summary>
    /// Runs the loop for all networks; <paramref name="averages"/> holds each network's weight average (or null).
    /// With <paramref name="resumeFrom"/>, the networks, averages, optimisers, generator and log continue from that snapshot
    /// (the caller keeps ownership of its tensors). With <paramref name="checkpointing"/>, a snapshot is saved every
    /// <c>Every</c> steps and on cancellation; when the loss turns non-finite the last snapshot is left untouched.
    /// </summary>
    public TrainingResult RunAll(out IReadOnlyList<ExponentialMovingAverage?> averages, IProgress<TrainingProgress>? progress = null,
        CancellationToken cancellation = default, TrainingState? resumeFrom = null, TrainingCheckpointing? checkpointing = null)
    {
        var o = Options;
        var k = Networks.Count;
        checkpointing?.Validate();
        Selection?.Validate();
        if (resumeFrom is not null && resumeFrom.Networks.Count != k)
            throw new ArgumentException($"the saved training state has {resumeFrom.Networks.Count} networks, this run trains {k}");
        if (resumeFrom is not null && (resumeFrom.Loop.Step < 0 || resumeFrom.Loop.Step > o.Steps))
            throw new ArgumentException($"the saved training state is at step {resumeFrom.Loop.Step}, outside 0..{o.Steps}");
        var named = Networks.Select(n => n.Network.Module.named_parameters().ToList()).ToArray();
        using var generator = new Generator((ulong)o.Seed ^ 0x5151_4E54UL);
        var log = new List<LossLogEntry>();
        double windowSum = 0, smoothed = double.NaN, lastWindowMean = double.NaN, elapsedBefore = 0;
        var partSums = new double[k];
        int windowCount = 0, step = 0, savedStep = -1;
        var watch = new Stopwatch();
        if (ChecksumEvery < 1) throw new ArgumentOutOfRangeException(nameof(ChecksumEvery), ChecksumEvery, "the checksum interval must be >= 1");
        var trainingStep = new TrainingStep(_coupling, Networks, o, Device, Hooks, Processes);
        var parallel = Processes.Size > 1;
        var optimizers = trainingStep.Optimizers;
        var emas = trainingStep.Averages;
        // Model selection: the kept weights so far (per network, by name), their step and score, validations since.
        Dictionary<string, Tensor>[]? best = null;
        var selection = new SelectionState(0, double.PositiveInfinity, 0);
        int validations = 0;
        var stoppedEarly = false;
        try
        {
            if (resumeFrom is not null)
            {
                for (var i = 0; i < k; i++)
                {
                    var saved = resumeFrom.Networks[i];
                    ParameterCopy.CopyInto(Networks[i].Network.Module, saved.Weights, "training state");
                    optimizers[i].LoadState(saved.Optimizer, saved.OptimizerSteps, "training state");
                    if (emas[i] is { } ema)
                        ema.LoadState(saved.Ema ?? throw new TrainingStateException("the saved training state has no moving average, but EMA is on"));
                }
                using (var state = tensor(resumeFrom.GeneratorState)) generator.set_state(state);
                var loop = resumeFrom.Loop;
                if (Selection is not null && loop.Selection is { } savedSelection)
                {
                    selection = savedSelection;
                    validations = loop.Log.Count(e => e.ValidationObjective is not null);
                    if (resumeFrom.Networks.All(n => n.Best is not null))
                        best = resumeFrom.Networks.Select(n => Copy(n.Best!)).ToArray();
                    else if (savedSelection.BestStep > 0) throw new TrainingStateException("the saved training state has a validated step but no kept weights");
                }
                if (_coupling is IConvergingCoupling converging && loop.Coupling is { } solves) converging.ContinueFrom(solves);
                step = savedStep = loop.Step;
                elapsedBefore = loop.ElapsedSeconds;
                windowSum = loop.WindowSum; windowCount = loop.WindowCount; smoothed = loop.Smoothed; lastWindowMean = loop.LastWindowMean;
                if (loop.PartSums.Count != k) throw new ArgumentException($"the saved training state has {loop.PartSums.Count} loss parts, this run trains {k} networks");
                for (var i = 0; i < k; i++) partSums[i] = loop.PartSums[i];
                log.AddRange(loop.Log);
            }
            if (parallel) CheckSameWeights(step);
            watch.Start();
            for (; step < o.Steps; step++)
            {
                // In a job of several processes, all stop at the step after any was asked to (agreed in that step's all-reduce).
                if (parallel ? trainingStep.StopAgreed : cancellation.IsCancellationRequested) break;
                var lr = o.LearningRateAt(step);
                IReadOnlyList<double> values;
                try { values = trainingStep.Run(step, generator, cancellation.IsCancellationRequested); }
                catch (ObjectiveDivergedException e) { throw new TrainingDivergedException($"training diverged at step {step + 1}: {e.Message}{LastGoodState()}"); }
                var lossValue = values.Sum();
                if (!double.IsFinite(lossValue)) Diverged(values, lossValue);
                windowSum += lossValue; windowCount++;
                for (var i = 0; i < k; i++) partSums[i] += values[i];
                smoothed = double.IsNaN(smoothed) ? lossValue : 0.98 * smoothed + 0.02 * lossValue;
                LossLogEntry? entry = null;
                ValidationScores? scores = null;
                if (Selection is not null && ((step + 1) % Selection.Every == 0 || step + 1 == o.Steps))
                {
                    scores = ValidateKeptWeights(step + 1);
                    stoppedEarly = Selection.Patience > 0 && selection.SinceBest >= Selection.Patience && step + 1 < o.Steps;
                }
                if ((step + 1) % o.LogEvery == 0 || step + 1 == o.Steps || scores is not null)
                {
                    entry = CloseWindow(step + 1, lr) with { ValidationObjective = scores?.Objective, ValidationNll = scores?.Nll };
                    log.Add(entry.Value);
                }
                if (parallel && ((step + 1) % ChecksumEvery == 0 || step + 1 == o.Steps || stoppedEarly)) CheckSameWeights(step + 1);
                if (checkpointing is not null && (step + 1) % checkpointing.Every == 0 && step + 1 < o.Steps) SaveSnapshot(checkpointing, step + 1);
                var elapsed = Elapsed();
                progress?.Report(new TrainingProgress(step + 1, o.Steps, lossValue, smoothed, lr,
                    (step + 1 - (resumeFrom?.Loop.Step ?? 0)) / Math.Max(watch.Elapsed.TotalSeconds, 1e-9), elapsed, entry));
                if (stoppedEarly) { step++; break; }
            }
            // Cancelled: keep what was done, with the log window still open.
            if (step < o.Steps && !stoppedEarly && checkpointing is not null && step != savedStep) SaveSnapshot(checkpointing, step);
            if (windowCount > 0 && step < o.Steps && !stoppedEarly) log.Add(CloseWindow(step, o.LearningRateAt(Math.Max(step - 1, 0)))); // cancelled mid-window
            if (best is not null) RestoreKeptWeights();
        }
        catch
        {
            foreach (var e in emas) e?.Dispose();
            throw;
        }
        finally
        {
            trainingStep.Dispose();
            foreach (var n in Networks) n.Network.Module.eval();
            foreach (var b in best ?? []) foreach (var t in b.Values) t.Dispose();
        }
        averages = emas;
        var outcome = Selection is null || selection.BestStep == 0 ? null
            : new SelectionOutcome(selection.BestStep, Selection.Validator.Metric, selection.BestValue, stoppedEarly, validations, Selection.Patience);
        return new TrainingResult(step, step == o.Steps || stoppedEarly, lastWindowMean, Elapsed(), log, outcome);

        // Scores the weights that would be kept (the moving average when EMA is on: swapped in, then the live weights put
        // back bit for bit) and updates the selection; a non-finite score stops the run like a non-finite loss.
        ValidationScores ValidateKeptWeights(int at)
        {
            var live = new Tensor?[k];
            try
            {
                using (no_grad())
                    for (var i = 0; i < k; i++)
                        if (emas[i] is { } ema) { live[i] = optimizers[i].FlatParameters.clone(); ema.CopyTo(Networks[i].Network.Module); }
                foreach (var n in Networks) n.Network.Module.eval();
                var scores = Selection!.Validator.Validate();
                if (parallel) scores = RankZeros(scores);
                var value = Selection.Validator.Metric == SelectionMetric.Nll
                    ? scores.Nll ?? throw new InvalidOperationException("the validator selects by NLL but returned none")
                    : scores.Objective;
                if (!double.IsFinite(value) || !double.IsFinite(scores.Objective))
                    throw new TrainingDivergedException($"validation failed: the validation {(Selection.Validator.Metric == SelectionMetric.Nll ? "NLL" : "objective")} became {value} at step {at}{LastGoodState()}");
                validations++;
                if (value < selection.BestValue)
                {
                    selection = new SelectionState(at, value, 0);
                    foreach (var b in best ?? []) foreach (var t in b.Values) t.Dispose();
                    best = Enumerable.Range(0, k).Select(i => Copy(KeptWeights(i))).ToArray();
                }
                else selection = selection with { SinceBest = selection.SinceBest + 1 };
                return scores;
            }
            finally
            {
                using (no_grad())
                    for (var i = 0; i < k; i++)
                        if (live[i] is { } saved) { optimizers[i].FlatParameters.copy_(saved); saved.Dispose(); }
                foreach (var n in Networks) n.Network.Module.train();
            }
        }

        // In a data-parallel job every rank validates the same weights on the same draws, but its kernels may round
        // differently; the selection (and with it early stopping, which decides whether a rank enters the next step's
        // all-reduce) must be one decision, so every rank takes rank 0's scores.
        ValidationScores RankZeros(ValidationScores mine)
        {
            using var shared = zeros(3, dtype: float64);
            if (Processes.Rank == 0)
            {
                shared[0] = mine.Objective;
                shared[1] = mine.Nll ?? 0;
                shared[2] = mine.Nll is null ? 0 : 1;
            }
            Processes.SumInPlace(shared, "the validation score exchange");
            var v = shared.data<double>().ToArray();
            return new ValidationScores(v[0], v[2] > 0 ? v[1] : null);
        }

        // The weights model selection keeps for network i: its moving average when EMA is on, else its live weights.
        IReadOnlyDictionary<string, Tensor> KeptWeights(int i) =>
            emas[i] is { } ema ? ema.State : named[i].ToDictionary(p => p.name, p => (Tensor)p.parameter);

        void RestoreKeptWeights()
        {
            for (var i = 0; i < k; i++)
            {
                if (emas[i] is { } ema) ema.LoadState(best![i]);
                else ParameterCopy.CopyInto(Networks[i].Network.Module, best![i], "kept weights");
            }
        }

        TimeSpan Elapsed() => TimeSpan.FromSeconds(elapsedBefore) + watch.Elapsed;

        // Every process must hold the same weights: gather a checksum of each network's weights and moving average.
        void CheckSameWeights(int at)
        {
            for (var i = 0; i < k; i++)
            {
                var sum = emas[i] is { } ema ? TensorChecksum.Of(optimizers[i].FlatParameters, ema.FlatAverage) : TensorChecksum.Of(optimizers[i].FlatParameters);
                var all = Processes.AllGather(sum, "the weight checksum exchange");
                var differing = Enumerable.Range(1, all.Length - 1).Where(r => all[r] != all[0]).ToList();
                if (differing.Count == 0) continue;
                var which = k == 1 ? "" : $" of the {Networks[i].Objective.Kind.ToString().ToLowerInvariant()} network";
                throw new DataParallelException(at == (resumeFrom?.Loop.Step ?? 0) && resumeFrom is not null
                    ? $"the processes resumed from different states at step {at}: the weights{which} on rank{(differing.Count == 1 ? "" : "s")} {string.Join(", ", differing)} differ from rank 0's (every process must read the same snapshot: is the output folder on a file system all hosts share?)"
                    : $"the processes' weights{which} diverged by step {at}: rank{(differing.Count == 1 ? "" : "s")} {string.Join(", ", differing)} differ from rank 0 (checksums {string.Join(", ", all.Select(v => v.ToString("x16")))}); data-parallel training needs the same library, libtorch and thread count on every process");
            }
        }

        void Diverged(IReadOnlyList<double> values, double lossValue)
        {
            var which = k == 1 ? "" : $" ({Networks[values.Select((v, i) => (v, i)).First(p => !double.IsFinite(p.v)).i].Objective.Kind.ToString().ToLowerInvariant()} network)";
            throw new TrainingDivergedException($"training diverged: the loss became {lossValue} at step {step + 1}{which}{LastGoodState()} (try a lower learning rate or gradient clip)");
        }

        // Where the run can be taken up again after it stops on a non-finite value (empty without snapshots).
        string LastGoodState() => checkpointing is null ? ""
            : savedStep >= 0 ? $"; the last good state (step {savedStep}) is kept in '{checkpointing.Store.Location}'"
            : "; no training state had been saved yet";

        // A copy of named tensors that outlives the step's dispose scope (kept weights, taken up from a snapshot or a validation).
        static Dictionary<string, Tensor> Copy(IReadOnlyDictionary<string, Tensor> tensors) =>
            tensors.ToDictionary(p => p.Key, p => p.Value.detach().clone().DetachFromDisposeScope());

        void SaveSnapshot(TrainingCheckpointing to, int at)
        {
            using (NewDisposeScope()) to.Store.Save(Snapshot(at)); // the snapshot's views of the flat buffers
            savedStep = at;
        }

        TrainingState Snapshot(int at)
        {
            byte[] generatorState;
            using (var g = generator.get_state()) generatorState = g.data<byte>().ToArray();
            var loop = new TrainingLoopState(at, Elapsed().TotalSeconds, windowSum, windowCount, partSums.ToArray(), smoothed, lastWindowMean, log.ToList(),
                Selection is null ? null : selection, Processes.Size, (_coupling as IConvergingCoupling)?.Convergence);
            var nets = Enumerable.Range(0, k).Select(i => new NetworkTrainingState(
                named[i].ToDictionary(p => p.name, p => (Tensor)p.parameter), emas[i]?.State, optimizers[i].State, optimizers[i].StepCount,
                best?[i])).ToList();
            return new TrainingState(loop, generatorState, nets);
        }

        LossLogEntry CloseWindow(int at, double lr)
        {
            lastWindowMean = windowSum / windowCount;
            var parts = k == 1 ? null : partSums.Select(p => p / windowCount).ToArray();
            var entry = new LossLogEntry(at, lastWindowMean, lr, Elapsed().TotalSeconds, parts);
            windowSum = 0; windowCount = 0; Array.Clear(partSums);
            return entry;
        }
    }
}
