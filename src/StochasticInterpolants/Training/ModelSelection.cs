using StochasticInterpolants.Runtime;

namespace StochasticInterpolants.Training;

/// <summary>Which validation score picks the weights to keep.</summary>
public enum SelectionMetric
{
    /// <summary>The validation rows' negative log-likelihood (needs a velocity that can be integrated).</summary>
    Nll,
    /// <summary>The training objective on the validation rows, at fixed draws of x0, z and t.</summary>
    Objective,
}

/// <summary>Scores on held-out rows, lower is better.</summary>
/// <param name="Objective">The objective (summed over networks, as the training loss is) on fixed draws.</param>
/// <param name="Nll">Negative log-likelihood in nats per row, in the data's units; null when not computed.</param>
public readonly record struct ValidationScores(double Objective, double? Nll);

/// <summary>
/// Scores the networks as they stand on data they are not trained on. The trainer calls it with the weights it would
/// keep (the moving average when EMA is on) loaded into the networks, and restores the live weights afterwards. It must
/// not draw from the training generator: its draws are fixed, so scores at different steps are comparable.
/// </summary>
public interface IValidator
{
    /// <summary>The metric this validator can select on (<see cref="SelectionMetric.Nll"/> only when it computes one).</summary>
    SelectionMetric Metric { get; }

    /// <summary>Scores the networks' current weights.</summary>
    ValidationScores Validate();
}

/// <summary>
/// Model selection and early stopping (docs/theory.md §8): every <paramref name="Every"/> steps (and at the last step) the
/// trainer validates the weights it would keep; the best-scoring ones by <see cref="IValidator.Metric"/> are remembered,
/// and training stops once <paramref name="Patience"/> validations in a row have not improved on the best. At the end
/// the best weights are the ones handed back.
/// </summary>
/// <param name="Validator">Scores the networks.</param>
/// <param name="Every">Steps between validations.</param>
/// <param name="Patience">Validations without improvement before stopping; 0 never stops early (the best is still kept).</param>
public sealed record ModelSelection(IValidator Validator, int Every, int Patience)
{
    /// <summary>Checks the intervals.</summary>
    public void Validate()
    {
        if (Every < 1) throw new InvalidSettingException("validate-every", $"the validation interval must be >= 1 step, got {Every}");
        if (Patience < 0) throw new InvalidSettingException("patience", $"patience must be >= 0 validations, got {Patience}");
    }
}

/// <summary>Where model selection stands between two steps (part of a resumable snapshot).</summary>
/// <param name="BestStep">The step whose weights are kept so far (0 before the first validation).</param>
/// <param name="BestValue">Their score (+infinity before the first validation).</param>
/// <param name="SinceBest">Validations since the best one.</param>
public sealed record SelectionState(int BestStep, double BestValue, int SinceBest);

/// <summary>What model selection decided.</summary>
/// <param name="KeptStep">The step whose weights were kept.</param>
/// <param name="Metric">The score it was chosen by.</param>
/// <param name="Value">That score (nats per row for NLL).</param>
/// <param name="StoppedEarly">True when training stopped for lack of improvement before the planned steps.</param>
/// <param name="Validations">Validations run.</param>
/// <param name="Patience">The patience in force.</param>
public sealed record SelectionOutcome(int KeptStep, SelectionMetric Metric, double Value, bool StoppedEarly, int Validations, int Patience)
{
    /// <summary>One line saying which step was kept and why.</summary>
    public string Describe(int plannedSteps) =>
        $"kept the weights of step {KeptStep}: lowest validation {(Metric == SelectionMetric.Nll ? "NLL" : "objective")} " +
        $"{Value.ToString("F4", System.Globalization.CultureInfo.InvariantCulture)} over {Validations} validations" +
        (StoppedEarly ? $"; stopped early after {Patience} validations without improvement (of {plannedSteps} planned steps)" : "");
}
