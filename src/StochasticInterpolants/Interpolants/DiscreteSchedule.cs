using StochasticInterpolants.Runtime;

namespace StochasticInterpolants.Interpolants;

/// <summary>
/// The schedule kappa(t) of the discrete mixture path (docs/theory.md §16): each position of x_t holds the data token x1^i
/// with probability kappa(t) and the source token x0^i otherwise, with kappa(0) = 0, kappa(1) = 1 and kappa increasing.
/// Each schedule gives kappa, its exact derivative kappa' and the jump rate kappa' / (1 - kappa) of the sampler's chain
/// (infinite at t = 1, where every position must have reached its data token).
/// </summary>
public abstract record DiscreteSchedule
{
    /// <summary>The registered name (linear, cubic, polynomial, or a registered one; see <see cref="Register"/>).</summary>
    public abstract string Name { get; }

    /// <summary>The schedule's parameter (the exponent p of <c>polynomial</c>; 1 for schedules without one).</summary>
    public virtual double Parameter => 1;

    /// <summary>kappa(t), the probability that a position of x_t holds its data token.</summary>
    public abstract double Kappa(double t);

    /// <summary>kappa'(t), exact.</summary>
    public abstract double Derivative(double t);

    /// <summary>The jump rate kappa'(t) / (1 - kappa(t)) of the chain's generator (docs/theory.md §16.3); +infinity at t = 1.</summary>
    public double Rate(double t)
    {
        var remaining = 1 - Kappa(t);
        return remaining > 0 ? Derivative(t) / remaining : double.PositiveInfinity;
    }

    /// <summary>
    /// The time t with kappa(t) = <paramref name="kappa"/> in [0, 1] (the inverse of the increasing schedule): by bisection to
    /// 1e-15 unless a schedule has a closed form (linear: t = kappa; polynomial: t = kappa^(1/p)).
    /// </summary>
    public virtual double Time(double kappa)
    {
        if (!(kappa >= 0 && kappa <= 1)) throw new ArgumentOutOfRangeException(nameof(kappa), kappa, "kappa must lie in [0, 1]");
        double lo = 0, hi = 1;
        for (var i = 0; i < 200 && hi - lo > 1e-15; i++)
        {
            var mid = 0.5 * (lo + hi);
            if (Kappa(mid) < kappa) lo = mid; else hi = mid;
        }
        return 0.5 * (lo + hi);
    }

    /// <summary>kappa(t) = t: the linear schedule (Gat et al.'s default; the Euler sampler is exact at grid times for one position).</summary>
    public static DiscreteSchedule Linear { get; } = new LinearKappa();

    /// <summary>kappa(t) = 3 t^2 - 2 t^3 (the cubic "smoothstep", kappa'(0) = kappa'(1) = 0): few jumps near both ends.</summary>
    public static DiscreteSchedule Cubic { get; } = new CubicKappa();

    /// <summary>kappa(t) = t^p, p &gt; 0 (p = 1 is linear; p &gt; 1 keeps more of the source for longer).</summary>
    public static DiscreteSchedule Polynomial(double p) => new PolynomialKappa(CheckExponent(p));

    private static readonly NameRegistry<Func<double, DiscreteSchedule>> Schedules = BuiltIns();

    private static NameRegistry<Func<double, DiscreteSchedule>> BuiltIns()
    {
        var r = new NameRegistry<Func<double, DiscreteSchedule>>("discrete schedule");
        r.Register("linear", _ => Linear);
        r.Register("cubic", _ => Cubic, "smoothstep");
        r.Register("polynomial", p => Polynomial(p), "poly");
        return r;
    }

    /// <summary>The registered schedule names (aliases left out), built-in ones first.</summary>
    public static IReadOnlyList<string> Names => Schedules.Names;

    /// <summary>
    /// Registers (or replaces) the schedule <paramref name="name"/>; the builder receives the parameter and must build a schedule
    /// whose <see cref="Name"/> is <paramref name="name"/>, so a spec rebuilds it.
    /// </summary>
    public static void Register(string name, Func<double, DiscreteSchedule> build, params string[] aliases) => Schedules.Register(name, build, aliases);

    /// <summary>
    /// The schedule registered as <paramref name="name"/> (linear, cubic | smoothstep, polynomial | poly; case-insensitive) with
    /// <paramref name="parameter"/> (the exponent p of polynomial, ignored by the others); throws with a one-line reason otherwise.
    /// </summary>
    public static DiscreteSchedule Parse(string name, double parameter = 1.0)
    {
        var entry = Schedules.Find(name)
            ?? throw new InvalidSettingException("schedule", $"unknown discrete schedule '{name}' (expected {string.Join(", ", Names)})");
        var schedule = entry.Builder(parameter) ?? throw new InvalidOperationException($"the builder of discrete schedule '{entry.Name}' returned null");
        if (!ReferenceEquals(Schedules.Find(schedule.Name), entry))
            throw new InvalidOperationException($"discrete schedule '{entry.Name}' built a schedule named '{schedule.Name}'; its Name must be the registered name so a spec can rebuild it");
        return schedule;
    }

    private static double CheckExponent(double p) =>
        p > 0 && double.IsFinite(p) ? p : throw new InvalidSettingException("schedule", $"the exponent p of kappa = t^p must be a positive finite number, got {p}");

    /// <summary>Throws unless t lies in [0, 1].</summary>
    protected static void CheckTime(double t)
    {
        if (!(t >= 0 && t <= 1)) throw new ArgumentOutOfRangeException(nameof(t), t, "time must lie in [0, 1]");
    }

    private sealed record LinearKappa : DiscreteSchedule
    {
        public override string Name => "linear";
        public override double Kappa(double t) { CheckTime(t); return t; }
        public override double Derivative(double t) { CheckTime(t); return 1; }
        public override double Time(double kappa) => Math.Clamp(kappa, 0, 1);
    }

    private sealed record CubicKappa : DiscreteSchedule
    {
        public override string Name => "cubic";
        public override double Kappa(double t) { CheckTime(t); return t * t * (3 - 2 * t); }
        // d/dt (3 t^2 - 2 t^3) = 6 t (1 - t).
        public override double Derivative(double t) { CheckTime(t); return 6 * t * (1 - t); }
    }

    private sealed record PolynomialKappa(double P) : DiscreteSchedule
    {
        public override string Name => "polynomial";
        public override double Parameter => P;
        public override double Kappa(double t) { CheckTime(t); return Math.Pow(t, P); }
        public override double Time(double kappa) => Math.Pow(Math.Clamp(kappa, 0, 1), 1 / P);
        // d/dt t^p = p t^(p - 1): infinite at t = 0 when p < 1.
        public override double Derivative(double t)
        {
            CheckTime(t);
            if (t == 0) return P == 1 ? 1 : P > 1 ? 0 : double.PositiveInfinity;
            return P * Math.Pow(t, P - 1);
        }
    }
}
