using StochasticInterpolants.Runtime;

namespace StochasticInterpolants.Training;

/// <summary>
/// Optimisation settings for <see cref="Trainer"/>. Immutable; every field has a default that trains the 2-D demos well.
/// </summary>
/// <param name="Steps">Number of optimiser steps.</param>
/// <param name="BatchSize">Samples (x0, x1, z, t) per step.</param>
/// <param name="LearningRate">Peak learning rate.</param>
/// <param name="Optimizer">adam or adamw.</param>
/// <param name="WeightDecay">Weight decay (decoupled for adamw, L2 for adam).</param>
/// <param name="WarmupSteps">Linear warm-up from 0 to <paramref name="LearningRate"/> over this many steps.</param>
/// <param name="Schedule">After warm-up: cosine (to <paramref name="FinalLearningRateFraction"/> x peak), linear, or constant.</param>
/// <param name="FinalLearningRateFraction">Learning rate at the last step as a fraction of the peak (cosine and linear).</param>
/// <param name="GradientClip">Clip the global gradient norm to this value; 0 disables clipping.</param>
/// <param name="EmaDecay">Decay of the exponential moving average of the weights used for sampling; 0 disables it.</param>
/// <param name="Seed">Seeds the network initialisation and every random stream of training.</param>
/// <param name="LogEvery">Steps between loss-log rows and plain progress lines.</param>
/// <param name="ConditionDropout">Probability that a row's class label is replaced by "no class" (-1) in training, so the
/// network also learns the unconditional field that classifier-free guidance needs; 0 for unlabelled data.</param>
public sealed record TrainingOptions(
    int Steps = 3000,
    int BatchSize = 1024,
    double LearningRate = 2e-3,
    string Optimizer = "adam",
    double WeightDecay = 0.0,
    int WarmupSteps = 100,
    string Schedule = "cosine",
    double FinalLearningRateFraction = 0.01,
    double GradientClip = 1.0,
    double EmaDecay = 0.999,
    long Seed = 0,
    int LogEvery = 100,
    double ConditionDropout = 0.0)
{
    /// <summary>Throws <see cref="ArgumentException"/> with a one-line reason for an invalid setting.</summary>
    public void Validate()
    {
        if (Steps < 1) throw new InvalidSettingException("steps", $"training steps must be >= 1, got {Steps}");
        if (BatchSize < 1 || BatchSize > 10_000_000) throw new InvalidSettingException("batch", $"batch size must be in 1..10000000, got {BatchSize}");
        if (!(LearningRate > 0) || !double.IsFinite(LearningRate)) throw new InvalidSettingException("lr", $"learning rate must be a positive number, got {LearningRate}");
        if (Optimizer is not ("adam" or "adamw")) throw new InvalidSettingException("optimizer", $"unknown optimizer '{Optimizer}' (expected adam, adamw)");
        if (!(WeightDecay >= 0) || !double.IsFinite(WeightDecay)) throw new InvalidSettingException("weight-decay", $"weight decay must be >= 0, got {WeightDecay}");
        if (WarmupSteps < 0) throw new InvalidSettingException("warmup", $"warm-up steps must be >= 0, got {WarmupSteps}");
        if (Schedule is not ("cosine" or "linear" or "constant")) throw new InvalidSettingException("schedule", $"unknown learning-rate schedule '{Schedule}' (expected cosine, linear, constant)");
        if (!(FinalLearningRateFraction >= 0 && FinalLearningRateFraction <= 1)) throw new InvalidSettingException("final-lr", $"final learning-rate fraction must be in [0, 1], got {FinalLearningRateFraction}");
        if (!(GradientClip >= 0) || !double.IsFinite(GradientClip)) throw new InvalidSettingException("grad-clip", $"gradient clip must be >= 0, got {GradientClip}");
        if (!(EmaDecay >= 0 && EmaDecay < 1)) throw new InvalidSettingException("ema", $"moving-average decay must be in [0, 1), got {EmaDecay}");
        if (!(ConditionDropout >= 0 && ConditionDropout < 1)) throw new InvalidSettingException("cond-drop", $"the condition-drop probability must be in [0, 1), got {ConditionDropout}");
        if (LogEvery < 1) throw new InvalidSettingException("log-every", $"log interval must be >= 1, got {LogEvery}");
    }

    /// <summary>The learning rate at (0-based) step <paramref name="step"/>: linear warm-up, then the schedule.</summary>
    public double LearningRateAt(int step)
    {
        if (step < WarmupSteps) return LearningRate * (step + 1) / WarmupSteps;
        var decaySteps = Math.Max(1, Steps - WarmupSteps - 1);
        var progress = Math.Clamp((double)(step - WarmupSteps) / decaySteps, 0, 1);
        var floor = FinalLearningRateFraction;
        return Schedule switch
        {
            "cosine" => LearningRate * (floor + (1 - floor) * 0.5 * (1 + Math.Cos(Math.PI * progress))),
            "linear" => LearningRate * (1 - (1 - floor) * progress),
            _ => LearningRate,
        };
    }
}
