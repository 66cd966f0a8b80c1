using StochasticInterpolants.Runtime;

namespace StochasticInterpolants.Interpolants;

/// <summary>
/// The discrete mixture interpolant (docs/theory.md §16.1): every position of x_t is, independently, the data token x1^i with
/// probability kappa(t) and the source token x0^i otherwise, so p_t(x^i | x0, x1) = (1 - kappa(t)) delta_{x0^i} + kappa(t) delta_{x1^i}.
/// Its coefficients are those of the mixture's weights: alpha = 1 - kappa, beta = kappa, gamma = 0, with exact derivatives
/// (-kappa', kappa', 0); they are the probabilities of the two endpoints, not the weights of a sum (<see cref="MixturePath"/>
/// draws x_t). The families are <c>mixture-linear</c> (alias <c>mixture</c>), <c>mixture-cubic</c> and <c>mixture-polynomial</c>
/// (kappa = t^p with p the spec's scale), registered in <see cref="InterpolantRegistry"/>.
/// </summary>
public sealed class MixtureInterpolant : IInterpolant
{
    /// <summary>The family prefix: a mixture interpolant's family is <c>mixture-</c> followed by its schedule's name.</summary>
    public const string FamilyPrefix = "mixture-";

    /// <summary>The mixture path with schedule <paramref name="schedule"/> (default linear, kappa = t).</summary>
    public MixtureInterpolant(DiscreteSchedule? schedule = null) => Schedule = schedule ?? DiscreteSchedule.Linear;

    /// <summary>kappa(t).</summary>
    public DiscreteSchedule Schedule { get; }

    /// <inheritdoc />
    public string Name => FamilyPrefix + Schedule.Name;

    /// <inheritdoc />
    public InterpolantKind Kind => InterpolantKind.Mixture;

    /// <summary>The family name, gamma none, and the schedule's parameter as the scale (the exponent p of mixture-polynomial; 1 otherwise).</summary>
    public InterpolantSpec? Spec => new(Name, "none", Schedule.Parameter);

    /// <inheritdoc />
    public bool HasSingularGammaDerivative => false;

    /// <summary>alpha = 1 - kappa(t), beta = kappa(t), gamma = 0 and their derivatives -kappa'(t), kappa'(t), 0.</summary>
    public InterpolantCoefficients At(double t)
    {
        if (!(t >= 0 && t <= 1)) throw new ArgumentOutOfRangeException(nameof(t), t, "interpolant time must lie in [0, 1]");
        var kappa = Schedule.Kappa(t);
        var rate = Schedule.Derivative(t);
        return new(1 - kappa, kappa, 0, -rate, rate, 0, 0);
    }

    /// <summary>
    /// The builder registered for family <c>mixture-</c><paramref name="schedule"/>: the spec's gamma must be none (the path has
    /// no Gaussian noise), its scale is the schedule's parameter.
    /// </summary>
    internal static Func<InterpolantSpec, IInterpolant> Builder(string schedule) => spec =>
    {
        if (!spec.HasNoGamma)
            throw new InvalidSettingException("gamma", $"interpolant '{spec.Family}' is a discrete mixture path: it has no Gaussian noise, so its gamma must be none (got '{spec.Gamma}')");
        return new MixtureInterpolant(DiscreteSchedule.Parse(schedule, spec.GammaScale));
    };

    /// <inheritdoc />
    public override string ToString() => Schedule.Name == "polynomial" ? $"{Name} (p = {Schedule.Parameter})" : Name;
}
