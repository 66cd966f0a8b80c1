using StochasticInterpolants.Fields;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using static TorchSharp.torch;

namespace StochasticInterpolants.Objectives;

/// <summary>
/// The quadratic regression loss whose minimiser is the velocity b(t, x) = E[d/dt x_t | x_t = x] (MATH.md section 2):
/// L(b_hat) = E_t E |b_hat(t, x_t) - (alpha' x0 + beta' x1 + gamma' z)|^2, t ~ U[clip, 1 - clip].
/// The batch estimate is the mean over rows of the squared Euclidean norm. With <see cref="ObjectiveOptions.Antithetic"/>
/// it is (1/2)(|b_hat(t, x_t^+) - (I' + gamma' z)|^2 + |b_hat(t, x_t^-) - (I' - gamma' z)|^2), x_t^± = I ± gamma z.
/// </summary>
public sealed class VelocityObjective : IObjective
{
    /// <summary>Creates the objective for <paramref name="interpolant"/>.</summary>
    public VelocityObjective(IInterpolant interpolant, ObjectiveOptions? options = null)
    {
        Interpolant = interpolant;
        Options = options ?? new ObjectiveOptions();
        TimeClip = Objective.ResolveClip(interpolant, Options.TimeClip);
    }

    /// <summary>The interpolant defining x_t.</summary>
    public IInterpolant Interpolant { get; }
    /// <inheritdoc />
    public FieldKind Kind => FieldKind.Velocity;
    /// <summary>The options given.</summary>
    public ObjectiveOptions Options { get; }
    /// <summary>The clip in effect: t ~ U[TimeClip, 1 - TimeClip].</summary>
    public double TimeClip { get; }

    /// <summary>Draws <paramref name="count"/> training times uniformly from [TimeClip, 1 - TimeClip].</summary>
    public double[] SampleTimes(int count, Generator generator) => Objective.SampleTimes(count, generator, TimeClip);

    /// <summary>The batch loss (a scalar tensor with a graph to the network's parameters).</summary>
    public Tensor Loss(ITimeConditionedNetwork network, Tensor x0, Tensor x1, Tensor z, double[] times)
    {
        InterpolantSampler.CheckShapes(x0, x1, z, times.Length);
        using var scope = NewDisposeScope();
        using var c = CoefficientTensors.At(Interpolant, times, x0.dtype, x0.device);
        var tt = tensor(times, dtype: float64).to(x0.dtype, x0.device);
        var mean = c.Alpha * x0 + c.Beta * x1;
        var meanDot = c.AlphaDot * x0 + c.BetaDot * x1;
        var noise = c.Gamma * z;
        var noiseDot = c.GammaDot * z;
        Tensor loss;
        if (Options.Antithetic && Interpolant.At(0.5).Gamma != 0)
        {
            var plus = (network.forward(mean + noise, tt) - (meanDot + noiseDot)).square().sum(1);
            var minus = (network.forward(mean - noise, tt) - (meanDot - noiseDot)).square().sum(1);
            loss = (0.5 * (plus + minus)).mean();
        }
        else
        {
            loss = (network.forward(mean + noise, tt) - (meanDot + noiseDot)).square().sum(1).mean();
        }
        return loss.MoveToOuterDisposeScope();
    }
}
