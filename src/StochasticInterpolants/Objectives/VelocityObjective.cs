using StochasticInterpolants.Data;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using static TorchSharp.torch;

namespace StochasticInterpolants.Objectives;

/// <summary>
/// The quadratic regression loss whose minimiser is the velocity b(t, x) = E[d/dt x_t | x_t = x] (docs/theory.md §2):
/// L(b_hat) = E_t E |b_hat(t, x_t) - (alpha' x0 + beta' x1 + gamma' z)|^2 / D, t ~ U[clip, 1 - clip], D the elements per row.
/// With <see cref="ObjectiveOptions.Antithetic"/> on a path with noise, writing x_t = m + sigma n, it is
/// (1/2)(|b_hat(t, m + sigma n) - (m' + sigma' n)|^2 + |b_hat(t, m - sigma n) - (m' - sigma' n)|^2) / D.
/// </summary>
public sealed class VelocityObjective : IObjective
{
    /// <summary>Creates the objective for <paramref name="interpolant"/>.</summary>
    public VelocityObjective(IInterpolant interpolant, ObjectiveOptions? options = null)
    {
        Objective.RefuseDiscrete(interpolant, "velocity");
        Path = InterpolantPath.For(interpolant);
        Options = options ?? new ObjectiveOptions();
        TimeClip = Objective.ResolveClip(interpolant, Options.TimeClip);
    }

    /// <inheritdoc />
    public InterpolantPath Path { get; }
    /// <inheritdoc />
    public FieldKind Kind => FieldKind.Velocity;
    /// <summary>The options given.</summary>
    public ObjectiveOptions Options { get; }
    /// <summary>The clip in effect: t ~ U[TimeClip, 1 - TimeClip].</summary>
    public double TimeClip { get; }

    /// <inheritdoc />
    public Tensor Loss(ITimeConditionedNetwork network, TrainingBatch batch)
    {
        using var scope = NewDisposeScope();
        Tensor loss;
        if (Options.Antithetic && Path.HasNoise)
        {
            batch.Validate(); // (the plain branch's Interpolate validates)
            var c = Path.Coefficients(batch.T, batch.X0);
            var parts = Path.Decompose(batch, c);
            loss = Objective.Average(sign => Objective.RowMeanSquaredError(network.forward(parts.Point(sign), batch.T, batch.Condition), parts.Velocity(sign)), antithetic: true);
        }
        else
        {
            var (xt, velocity) = Path.Interpolate(batch);
            loss = Objective.MeanSquaredError(network.forward(xt, batch.T, batch.Condition), velocity);
        }
        return loss.MoveToOuterDisposeScope();
    }
}
