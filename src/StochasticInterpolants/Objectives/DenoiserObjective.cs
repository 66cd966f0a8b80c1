using StochasticInterpolants.Fields;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using static TorchSharp.torch;

namespace StochasticInterpolants.Objectives;

/// <summary>
/// The quadratic loss whose minimiser is the denoiser eta(t, x) = E[noise | x_t = x] (MATH.md section 2), from which the
/// score is s = -eta / sigma(t). Write x_t = m + sigma(t) n with n ~ N(0, I): for two-sided and mirror interpolants
/// m = alpha x0 + beta x1, sigma = gamma and n = z; for one-sided ones m = beta x1, sigma = alpha and n = x0 (the base is
/// the noise). Loss: E |eta_hat(t, x_t) - n|^2 (mean over rows of the squared norm); antithetic:
/// (1/2)(|eta_hat(t, m + sigma n) - n|^2 + |eta_hat(t, m - sigma n) + n|^2).
/// A two-sided interpolant with gamma = 0 has no noise to learn from and is refused.
/// </summary>
public sealed class DenoiserObjective : IObjective
{
    /// <summary>Creates the objective for <paramref name="interpolant"/>.</summary>
    public DenoiserObjective(IInterpolant interpolant, ObjectiveOptions? options = null)
    {
        if (interpolant.Kind != InterpolantKind.OneSided && interpolant.At(0.5).Gamma == 0)
            throw new ArgumentException($"learning the score needs noise in x_t: the {interpolant.Name} interpolant has gamma = 0 (use --gamma sqrt, another schedule, or a one-sided interpolant)");
        Interpolant = interpolant;
        Options = options ?? new ObjectiveOptions();
        TimeClip = Objective.ResolveClip(interpolant, Options.TimeClip);
    }

    /// <inheritdoc />
    public FieldKind Kind => FieldKind.Denoiser;
    /// <inheritdoc />
    public IInterpolant Interpolant { get; }
    /// <summary>The options given.</summary>
    public ObjectiveOptions Options { get; }
    /// <inheritdoc />
    public double TimeClip { get; }

    /// <inheritdoc />
    public Tensor Loss(ITimeConditionedNetwork network, Tensor x0, Tensor x1, Tensor z, double[] times)
    {
        InterpolantSampler.CheckShapes(x0, x1, z, times.Length);
        using var scope = NewDisposeScope();
        using var c = CoefficientTensors.At(Interpolant, times, x0.dtype, x0.device);
        var tt = tensor(times, dtype: float64).to(x0.dtype, x0.device);
        Tensor mean, sigma, noise;
        if (Interpolant.Kind == InterpolantKind.OneSided) { mean = c.Beta * x1; sigma = c.Alpha; noise = x0; }
        else { mean = c.Alpha * x0 + c.Beta * x1; sigma = c.Gamma; noise = z; }
        var plus = (network.forward(mean + sigma * noise, tt) - noise).square().sum(1);
        Tensor loss = Options.Antithetic
            ? (0.5 * (plus + (network.forward(mean - sigma * noise, tt) + noise).square().sum(1))).mean()
            : plus.mean();
        return loss.MoveToOuterDisposeScope();
    }
}
