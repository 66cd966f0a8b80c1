using StochasticInterpolants.Data;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using static TorchSharp.torch;

namespace StochasticInterpolants.Objectives;

/// <summary>
/// The regression loss whose minimiser is the denoiser eta(t, x) = E[n | x_t = x] (docs/theory.md §2); the score is
/// s = -eta / sigma(t). The path writes x_t = m + sigma n (<see cref="InterpolantPath.Decompose"/>): n = z for two-sided
/// and mirror paths, n = x0 for one-sided ones. Loss: E |eta_hat(t, x_t) - n|^2 / D (D the elements per row); antithetic:
/// (1/2)(|eta_hat(t, m + sigma n) - n|^2 + |eta_hat(t, m - sigma n) + n|^2) / D.
/// A path without noise has nothing to learn from and is refused.
/// </summary>
public sealed class DenoiserObjective : IObjective
{
    /// <summary>Creates the objective for <paramref name="interpolant"/>.</summary>
    public DenoiserObjective(IInterpolant interpolant, ObjectiveOptions? options = null)
    {
        Objective.RefuseDiscrete(interpolant, "score");
        Path = InterpolantPath.For(interpolant);
        if (!Path.HasNoise)
            throw new ArgumentException($"learning the score needs noise in x_t: the {interpolant.Name} interpolant has gamma = 0 (use a gamma schedule or a one-sided interpolant)");
        Options = options ?? new ObjectiveOptions();
        TimeClip = Objective.ResolveClip(interpolant, Options.TimeClip);
    }

    /// <inheritdoc />
    public FieldKind Kind => FieldKind.Denoiser;
    /// <inheritdoc />
    public InterpolantPath Path { get; }
    /// <summary>The options given.</summary>
    public ObjectiveOptions Options { get; }
    /// <inheritdoc />
    public double TimeClip { get; }

    /// <inheritdoc />
    public Tensor Loss(ITimeConditionedNetwork network, TrainingBatch batch)
    {
        batch.Validate();
        using var scope = NewDisposeScope();
        var c = Path.Coefficients(batch.T, batch.X0);
        var parts = Path.Decompose(batch, c);
        var loss = Objective.Average(sign =>
            Objective.RowMeanSquaredError(network.forward(parts.Point(sign), batch.T, batch.Condition), sign > 0 ? parts.Noise : -parts.Noise), Options.Antithetic);
        return loss.MoveToOuterDisposeScope();
    }
}
