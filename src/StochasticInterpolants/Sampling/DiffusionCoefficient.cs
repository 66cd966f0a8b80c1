using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Runtime;

namespace StochasticInterpolants.Sampling;

/// <summary>
/// The diffusion coefficient eps(t) &gt;= 0 of the SDE samplers (docs/theory.md §3): the noise term is sqrt(2 eps(t)) dW,
/// not sqrt(eps(t)) dW. eps = 0 is the probability-flow ODE.
/// </summary>
public abstract record DiffusionCoefficient
{
    /// <summary>eps(t).</summary>
    public abstract double At(double t);

    /// <summary>True when eps(t) = 0 for every t (the sampler then follows the ODE path exactly and needs no score).</summary>
    public virtual bool IsZero => false;

    /// <summary>
    /// When eps(t) = c sigma(t) with sigma the interpolant's noise scale, returns c: then eps s = -c eta stays finite
    /// where sigma = 0, and samplers use that form instead of dividing by sigma.
    /// </summary>
    public virtual double? NoiseProportionality => null;

    /// <summary>A short description for reports.</summary>
    public abstract string Describe();

    /// <summary>eps(t) = <paramref name="eps"/> for all t.</summary>
    public static DiffusionCoefficient Constant(double eps) => new ConstantEps(Check(eps));

    /// <summary>eps(t) = <paramref name="scale"/> sigma(t): sigma = gamma for two-sided interpolants, alpha for one-sided ones.
    /// Vanishes where the interpolant has no noise, so eps s stays finite there.</summary>
    public static DiffusionCoefficient ProportionalToNoise(double scale, IInterpolant interpolant) => new NoiseEps(Check(scale), InterpolantPath.For(interpolant));

    /// <summary>A user function eps(t) (must return finite values &gt;= 0 on the integration interval).</summary>
    public static DiffusionCoefficient Function(Func<double, double> eps, string description = "user eps(t)") => new FunctionEps(eps, description);

    /// <summary>Builds eps from the command line: <paramref name="schedule"/> constant or noise (proportional to sigma).</summary>
    public static DiffusionCoefficient Parse(string schedule, double eps, IInterpolant interpolant) => schedule.Trim().ToLowerInvariant() switch
    {
        "constant" => Constant(eps),
        "noise" or "gamma" or "sigma" => ProportionalToNoise(eps, interpolant),
        _ => throw new InvalidSettingException("eps-schedule", $"unknown eps schedule '{schedule}' (expected constant, noise)"),
    };

    private static double Check(double eps)
    {
        if (!(eps >= 0) || !double.IsFinite(eps)) throw new InvalidSettingException("eps", $"the diffusion coefficient eps must be a finite number >= 0, got {eps}");
        return eps;
    }

    private sealed record ConstantEps(double Eps) : DiffusionCoefficient
    {
        public override double At(double t) => Eps;
        public override bool IsZero => Eps == 0;
        public override string Describe() => $"eps = {Eps:G4}";
    }

    private sealed record NoiseEps(double Scale, InterpolantPath Path) : DiffusionCoefficient
    {
        public override double At(double t) => Scale * Path.NoiseScale(t);
        public override bool IsZero => Scale == 0;
        public override double? NoiseProportionality => Scale;
        public override string Describe() => $"eps = {Scale:G4} sigma(t)";
    }

    private sealed record FunctionEps(Func<double, double> Eps, string Description) : DiffusionCoefficient
    {
        public override double At(double t)
        {
            var e = Eps(t);
            if (!(e >= 0) || !double.IsFinite(e)) throw new ArgumentException($"eps({t}) = {e}: the diffusion coefficient must be finite and >= 0");
            return e;
        }
        public override string Describe() => Description;
    }
}
