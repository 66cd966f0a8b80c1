namespace StochasticInterpolants.Data;

/// <summary>
/// Float64 special functions used by the manifold densities: log Gamma, the log of the modified Bessel function of the
/// first kind I_nu, and the ratio A_nu(x) = I_{nu+1}(x) / I_nu(x) (the mean resultant length of von Mises-type laws).
/// </summary>
public static class SpecialFunctions
{
    private const double HalfLogTwoPi = 0.91893853320467274178; // log(2 pi) / 2

    /// <summary>
    /// log Gamma(x) for x &gt; 0, to ~1e-15 relative. For x &lt; 15 the recurrence log Gamma(x) = log Gamma(x + m) -
    /// log(x (x + 1) ... (x + m - 1)) shifts the argument to x + m &gt;= 15, where Stirling's series
    /// (x - 1/2) log x - x + log(2 pi) / 2 + sum_j B_{2j} / (2j (2j - 1) x^{2j - 1}) is used up to the x^-13 term (the first
    /// omitted term is below 1e-17 there).
    /// </summary>
    public static double LogGamma(double x)
    {
        if (double.IsNaN(x) || x <= 0) throw new ArgumentOutOfRangeException(nameof(x), x, "LogGamma needs x > 0");
        if (double.IsPositiveInfinity(x)) return double.PositiveInfinity;
        var shift = 0.0;
        var product = 1.0;
        while (x < 15)
        {
            product *= x;
            if (product > 1e280) { shift += Math.Log(product); product = 1.0; }
            x += 1;
        }
        shift += Math.Log(product);
        var inv = 1.0 / x;
        var inv2 = inv * inv;
        // Stirling coefficients B_{2j} / (2j (2j - 1)): 1/12, -1/360, 1/1260, -1/1680, 1/1188, -691/360360, 1/156.
        var series = inv * (1.0 / 12 + inv2 * (-1.0 / 360 + inv2 * (1.0 / 1260 + inv2 * (-1.0 / 1680
                     + inv2 * (1.0 / 1188 + inv2 * (-691.0 / 360360 + inv2 * (1.0 / 156)))))));
        return (x - 0.5) * Math.Log(x) - x + HalfLogTwoPi + series - shift;
    }

    /// <summary>
    /// log I_nu(x) for order nu &gt;= 0 and x &gt;= 0 (log I_nu(0) = 0 for nu = 0, -infinity otherwise), to ~1e-14
    /// relative in I. Equal to nu log(x / 2) - log Gamma(nu + 1) + <see cref="LogBesselIReduced"/>(nu, x).
    /// </summary>
    public static double LogBesselI(double nu, double x)
    {
        CheckBesselArguments(nu, x);
        if (x == 0) return nu == 0 ? 0.0 : double.NegativeInfinity;
        if (TryLogBesselIAsymptotic(nu, x, out var asymptotic)) return asymptotic;
        return nu * Math.Log(x / 2) - LogGamma(nu + 1) + LogBesselISeries(nu, x);
    }

    /// <summary>
    /// The reduced log Bessel function log( I_nu(x) Gamma(nu + 1) / (x / 2)^nu ) = log sum_{m &gt;= 0} (x^2 / 4)^m Gamma(nu + 1) /
    /// (m! Gamma(m + nu + 1)), which is 0 at x = 0 and ~ x^2 / (4 (nu + 1)) for small x: the part of log I_nu that stays
    /// accurate as x -&gt; 0 (the von Mises-Fisher normaliser's small-kappa limit uses it).
    /// </summary>
    public static double LogBesselIReduced(double nu, double x)
    {
        CheckBesselArguments(nu, x);
        if (x == 0) return 0.0;
        if (TryLogBesselIAsymptotic(nu, x, out var asymptotic)) return asymptotic - nu * Math.Log(x / 2) + LogGamma(nu + 1);
        return LogBesselISeries(nu, x);
    }

    /// <summary>
    /// A_nu(x) = I_{nu+1}(x) / I_nu(x) for nu &gt;= 0, x &gt;= 0 (0 at x = 0): the mean resultant length E[mu . x] of the von
    /// Mises-Fisher law on S^{d-1} with nu = d / 2 - 1 (von Mises on the circle: nu = 0, A = I1 / I0; on S^2: nu = 1/2,
    /// A = coth x - 1/x). Computed from the reduced series for x &lt;= 1 (no cancellation: A ~ x / (2 nu + 2)) and as
    /// exp(log I_{nu+1} - log I_nu) above.
    /// </summary>
    public static double BesselIRatio(double nu, double x)
    {
        CheckBesselArguments(nu, x);
        if (x == 0) return 0.0;
        if (x <= 1)
            return x / (2 * (nu + 1)) * Math.Exp(LogBesselISeries(nu + 1, x) - LogBesselISeries(nu, x));
        return Math.Exp(LogBesselI(nu + 1, x) - LogBesselI(nu, x));
    }

    /// <summary>
    /// The inverse of <see cref="BesselIRatio"/> in x: the kappa &gt;= 0 with A_nu(kappa) = <paramref name="r"/>, r in [0, 1). A_nu
    /// rises from 0 to 1, so kappa is bracketed by doubling and found by bisection to the last bit. This is the maximum-
    /// likelihood concentration of a von Mises(-Fisher) law whose data have mean resultant length r.
    /// </summary>
    public static double InverseBesselIRatio(double nu, double r)
    {
        if (!(nu >= 0) || double.IsInfinity(nu)) throw new ArgumentOutOfRangeException(nameof(nu), nu, "the order must be a finite number >= 0");
        if (!(r >= 0 && r < 1))
            throw new ArgumentOutOfRangeException(nameof(r), r, "the mean resultant length must be in [0, 1) (1: every point is the same, no finite concentration)");
        if (r == 0) return 0.0;
        double lo = 0, hi = 1;
        while (BesselIRatio(nu, hi) < r)
        {
            lo = hi;
            hi *= 2;
            if (hi > 1e12) throw new ArgumentOutOfRangeException(nameof(r), r, "the mean resultant length is too close to 1 for a finite concentration");
        }
        for (var i = 0; i < 200 && hi - lo > 1e-15 * hi; i++)
        {
            var mid = 0.5 * (lo + hi);
            if (BesselIRatio(nu, mid) < r) lo = mid; else hi = mid;
        }
        return 0.5 * (lo + hi);
    }

    /// <summary>exp(x) - 1 without cancellation near 0 (Kahan's form (u - 1) x / log u with u = exp(x)).</summary>
    public static double Expm1(double x)
    {
        if (double.IsNaN(x)) return x;
        var u = Math.Exp(x);
        if (u == 1.0) return x;
        var um1 = u - 1.0;
        if (um1 == -1.0) return -1.0;
        if (double.IsPositiveInfinity(u)) return u;
        return um1 * x / Math.Log(u);
    }

    private static void CheckBesselArguments(double nu, double x)
    {
        if (double.IsNaN(nu) || nu < 0 || double.IsInfinity(nu)) throw new ArgumentOutOfRangeException(nameof(nu), nu, "the Bessel order must be a finite number >= 0");
        if (double.IsNaN(x) || x < 0 || double.IsInfinity(x)) throw new ArgumentOutOfRangeException(nameof(x), x, "the Bessel argument must be a finite number >= 0");
    }

    /// <summary>
    /// log of sum_{m &gt;= 0} t_m with t_0 = 1, t_{m+1} = t_m (x^2 / 4) / ((m + 1) (m + nu + 1)): all terms positive, so no
    /// cancellation; the running sum is rescaled by 1e-200 whenever it passes 1e200 (so any x works, at O(x) terms).
    /// Stops once a term past the peak is below 1e-17 of the sum.
    /// </summary>
    private static double LogBesselISeries(double nu, double x)
    {
        var q = x * x / 4;
        double term = 1, sum = 1, offset = 0;
        for (var m = 0; m < 1_000_000; m++)
        {
            term *= q / ((m + 1) * (m + nu + 1));
            sum += term;
            if (sum > 1e200) { sum *= 1e-200; term *= 1e-200; offset += 200 * Math.Log(10); }
            if (term < 1e-17 * sum && q < (m + 1) * (m + nu + 1)) break;
        }
        return offset + Math.Log(sum);
    }

    /// <summary>
    /// The large-x expansion I_nu(x) ~ e^x / sqrt(2 pi x) sum_k (-1)^k a_k / x^k, a_k = prod_{j=1..k} (4 nu^2 - (2j - 1)^2) /
    /// (k! 8^k), used when x &gt;= 30 and the terms fall below 1e-17 of the sum before they start to grow (an asymptotic
    /// series: its error is below its smallest term); false otherwise, and the caller uses the series.
    /// </summary>
    private static bool TryLogBesselIAsymptotic(double nu, double x, out double value)
    {
        value = 0;
        if (x < 30) return false;
        var mu = 4 * nu * nu;
        double term = 1, sum = 1;
        for (var k = 1; k < 200; k++)
        {
            var next = -term * (mu - (2.0 * k - 1) * (2.0 * k - 1)) / (8.0 * k * x);
            if (Math.Abs(next) > Math.Abs(term) && k > 1) return false;
            term = next;
            sum += term;
            if (Math.Abs(term) < 1e-17 * Math.Abs(sum)) { value = x - 0.5 * Math.Log(2 * Math.PI * x) + Math.Log(sum); return sum > 0; }
        }
        return false;
    }
}
