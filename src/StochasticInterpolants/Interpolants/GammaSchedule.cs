namespace StochasticInterpolants.Interpolants;

/// <summary>
/// The latent-noise schedule gamma(t) of a two-sided interpolant, with gamma(0) = gamma(1) = 0 and
/// gamma(t) &gt;= 0. Each schedule gives gamma, its exact derivative, and the product gamma * gamma'
/// (finite everywhere, even for sqrt(a t (1 - t)) whose derivative blows up at the ends).
/// </summary>
public abstract record GammaSchedule
{
    /// <summary>Name used on the command line and in checkpoints (none, sqrt, quadratic, sin2).</summary>
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

    /// <summary>Builds a schedule from its name (none, sqrt, quadratic | t(1-t), sin2 | sin^2) and scale a.</summary>
    public static GammaSchedule Parse(string name, double a = 1.0)
    {
        if (!(a > 0) || double.IsInfinity(a)) throw new ArgumentException($"gamma scale must be a positive finite number, got {a}");
        return name.Trim().ToLowerInvariant() switch
        {
            "none" or "0" or "zero" => None,
            "sqrt" => Sqrt(a),
            "quadratic" or "t(1-t)" or "bridge" => Quadratic(a),
            "sin2" or "sin^2" or "sin-squared" => SinSquared(a),
            _ => throw new ArgumentException($"unknown gamma schedule '{name}' (expected none, sqrt, quadratic, sin2)"),
        };
    }

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
