namespace StochasticInterpolants.Objectives;

/// <summary>
/// Options of the regression objectives.
/// </summary>
/// <param name="Antithetic">Average the loss over x_t^+ = I + gamma z and x_t^- = I - gamma z (variance reduction; docs/theory.md §2).</param>
/// <param name="TimeClip">t is drawn uniformly from [TimeClip, 1 - TimeClip]. Null chooses 1e-3 when a coefficient's
/// derivative is unbounded at an end point (gamma = sqrt(a t (1 - t)), one-sided VP) and 0 otherwise.</param>
public sealed record ObjectiveOptions(bool Antithetic = false, double? TimeClip = null);
