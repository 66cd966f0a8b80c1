using StochasticInterpolants.Runtime;

namespace StochasticInterpolants.Interpolants;

/// <summary>
/// The latent-noise schedule gamma(t) of a two-sided interpolant, with gamma(0) = gamma(1) = 0 and
/// gamma(t) &gt;= 0. Each schedule gives gamma, its exact derivative, and the product gamma * gamma'
/// (finite everywhere, even for sqrt(a t (1 - t)) whose derivative blows up at the ends).
/// </summary>
public abstract record GammaSchedule
{
    /// <summary>Name used on the command line and in checkpoints (none, sqrt, quadratic, sin2, or a registered one; see <see cref="Register"/>).</summary>
    public abstract string Name { get; }

    /// <summary>True when gamma'(t) is unbounded at t = 0 or 1.</summary>
    public virtual bool IsSingularAtEnds => false;

    /// <summary>gamma(t).</summary>
    public abstract double Value(double t);

    /// <summary>gamma'(t); may be infinite at t = 0 or 1 when <see cref="IsSingularAtEnds"/>.</summary>
    public abstract double Derivative(double t);

    /// <summary>gamma(t) * gamma'(t); finite on [0, 1].</summary>
    public virtual double ValueTimesDerivative(double t) => Value(t) * Derivative(t);

    /// <summary>gamma = 0: a deterministic interpolant.</summary>
    public static GammaSchedule None { get; } = new NoGamma();

    /// <summary>gamma(t) = sqrt(a t (1 - t)).</summary>
    public static GammaSchedule Sqrt(double a = 1.0) => new SqrtGamma(a);

    /// <summary>gamma(t) = a t (1 - t).</summary>
    public static GammaSchedule Quadratic(double a = 1.0) => new QuadraticGamma(a);

    /// <summary>gamma(t) = a sin^2(pi t).</summary>
    public static GammaSchedule SinSquared(double a = 1.0) => new SinSquaredGamma(a);

    private static readonly NameRegistry<Func<double, GammaSchedule>> Schedules = BuiltIns();

    private static NameRegistry<Func<double, GammaSchedule>> BuiltIns()
    {
        var r = new NameRegistry<Func<double, GammaSchedule>>("gamma schedule");
        r.Register("none", _ => None, "0", "zero");
        r.Register("sqrt", a => Sqrt(a));
        r.Register("quadratic", a => Quadratic(a), "t(1-t)", "bridge");
        r.Register("sin2", a => SinSquared(a), "sin^2", "sin-squared");
        return r;
    }

    /// <summary>The registered schedule names (aliases left out), built-in ones first, in registration order.</summary>
    public static IReadOnlyList<string> Names => Schedules.Names;

    /// <summary>
    /// Registers (or replaces) the schedule <paramref name="name"/>, also found under <paramref name="aliases"/>
    /// (case-insensitive). The builder receives the scale a, already checked to be a positive finite number; the schedule it
    /// builds must report <paramref name="name"/> as its <see cref="Name"/>, so an interpolant's spec (and so a checkpoint)
    /// rebuilds it. Register it again in the process that loads such a checkpoint.
    /// </summary>
    public static void Register(string name, Func<double, GammaSchedule> build, params string[] aliases) =>
        Schedules.Register(name, build, aliases);

    /// <summary>
    /// Builds a schedule from its registered name (built in: none | 0 | zero, sqrt, quadratic | t(1-t) | bridge,
    /// sin2 | sin^2 | sin-squared; case-insensitive) and scale a; throws <see cref="ArgumentException"/> with a one-line
    /// reason for an unknown name or a scale that is not a positive finite number.
    /// </summary>
    public static GammaSchedule Parse(string name, double a = 1.0)
    {
        CheckScale(a);
        var entry = Schedules.Find(name)
            ?? throw new InvalidSettingException("gamma", $"unknown gamma schedule '{name}' (expected {string.Join(", ", Names)})");
        var schedule = entry.Builder(a) ?? throw new InvalidOperationException($"the builder of gamma schedule '{entry.Name}' returned null");
        if (!ReferenceEquals(Schedules.Find(schedule.Name), entry))
            throw new InvalidOperationException($"gamma schedule '{entry.Name}' built a schedule named '{schedule.Name}'; its Name must be the registered name so a spec can rebuild it");
        return schedule;
    }

    /// <summary>Throws <see cref="ArgumentException"/> unless <paramref name="a"/> is a positive finite number.</summary>
    internal static void CheckScale(double a)
    {
        if (!(a > 0) || double.IsInfinity(a)) throw new InvalidSettingException("gamma-scale", $"gamma scale must be a positive finite number, got {a}");
    }

    /// <summary>True when <paramref name="name"/> is empty or names the schedule none (or one of its aliases), in any case.</summary>
    internal static bool IsNone(string? name) =>
        string.IsNullOrWhiteSpace(name) || Schedules.Find(name) is { } e && ReferenceEquals(Schedules.Find("none"), e);

    /// <summary>The scale a of the schedule (0 for <see cref="None"/>).</summary>
    public abstract double Scale { get; }

    private sealed record NoGamma : GammaSchedule
    {
        public override string Name => "none";
        public override double Scale => 0;
        public override double Value(double t) => 0;
        public override double Derivative(double t) => 0;
        public override double ValueTimesDerivative(double t) => 0;
    }

    private sealed record SqrtGamma(double A) : GammaSchedule
    {
        public override string Name => "sqrt";
        public override double Scale => A;
        public override bool IsSingularAtEnds => true;
        public override double Value(double t) => Math.Sqrt(Math.Max(A * t * (1 - t), 0));
        // d/dt sqrt(a t (1-t)) = a (1 - 2t) / (2 sqrt(a t (1-t))): +inf at 0, -inf at 1.
        public override double Derivative(double t)
        {
            var g = Value(t);
            if (g == 0) return t <= 0.5 ? double.PositiveInfinity : double.NegativeInfinity;
            return A * (1 - 2 * t) / (2 * g);
        }
        public override double ValueTimesDerivative(double t) => A * (1 - 2 * t) / 2;
    }

    private sealed record QuadraticGamma(double A) : GammaSchedule
    {
        public override string Name => "quadratic";
        public override double Scale => A;
        public override double Value(double t) => A * t * (1 - t);
        public override double Derivative(double t) => A * (1 - 2 * t);
    }

    private sealed record SinSquaredGamma(double A) : GammaSchedule
    {
        public override string Name => "sin2";
        public override double Scale => A;
        public override double Value(double t) { var s = Math.Sin(Math.PI * t); return A * s * s; }
        // d/dt sin^2(pi t) = pi sin(2 pi t)
        public override double Derivative(double t) => A * Math.PI * Math.Sin(2 * Math.PI * t);
    }
}
