using StochasticInterpolants.Interpolants;
using static TorchSharp.torch;

namespace StochasticInterpolants.Objectives;

/// <summary>
/// Per-row coefficients of an interpolant at times t, as [n, 1] tensors ready to broadcast against [n, d] data.
/// </summary>
public sealed class CoefficientTensors : IDisposable
{
    /// <summary>alpha(t), beta(t), gamma(t) and derivatives, each [n, 1].</summary>
    public required Tensor Alpha, Beta, Gamma, AlphaDot, BetaDot, GammaDot;

    /// <summary>Evaluates <paramref name="interpolant"/> at each time in <paramref name="times"/>.</summary>
    public static CoefficientTensors At(IInterpolant interpolant, ReadOnlySpan<double> times, ScalarType dtype, Device device)
    {
        var n = times.Length;
        var a = new double[n]; var b = new double[n]; var g = new double[n];
        var ad = new double[n]; var bd = new double[n]; var gd = new double[n];
        for (var i = 0; i < n; i++)
        {
            var c = interpolant.At(times[i]);
            a[i] = c.Alpha; b[i] = c.Beta; g[i] = c.Gamma; ad[i] = c.AlphaDot; bd[i] = c.BetaDot; gd[i] = c.GammaDot;
        }
        Tensor T(double[] v) => tensor(v, [n, 1], dtype: float64).to(dtype, device);
        return new CoefficientTensors { Alpha = T(a), Beta = T(b), Gamma = T(g), AlphaDot = T(ad), BetaDot = T(bd), GammaDot = T(gd) };
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Alpha.Dispose(); Beta.Dispose(); Gamma.Dispose(); AlphaDot.Dispose(); BetaDot.Dispose(); GammaDot.Dispose();
    }
}

/// <summary>
/// Draws samples of the interpolant and its time derivative (MATH.md section 1):
/// x_t = alpha(t) x0 + beta(t) x1 + gamma(t) z and d/dt x_t = alpha'(t) x0 + beta'(t) x1 + gamma'(t) z.
/// Because this needs only samples of x0, x1 and z, rho(t) can be sampled at every t without solving anything.
/// </summary>
public static class InterpolantSampler
{
    /// <summary>Returns (x_t, d/dt x_t) for rows of x0, x1, z ([n, d]) at per-row times <paramref name="times"/>.</summary>
    public static (Tensor Xt, Tensor Velocity) Interpolate(IInterpolant interpolant, Tensor x0, Tensor x1, Tensor z, ReadOnlySpan<double> times)
    {
        CheckShapes(x0, x1, z, times.Length);
        using var scope = NewDisposeScope();
        using var c = CoefficientTensors.At(interpolant, times, x0.dtype, x0.device);
        var xt = c.Alpha * x0 + c.Beta * x1 + c.Gamma * z;
        var velocity = c.AlphaDot * x0 + c.BetaDot * x1 + c.GammaDot * z;
        return (xt.MoveToOuterDisposeScope(), velocity.MoveToOuterDisposeScope());
    }

    /// <summary>Samples x_t at a single time t for every row: the Eulerian picture rho(t) as a point cloud.</summary>
    public static Tensor SampleAt(IInterpolant interpolant, Tensor x0, Tensor x1, Tensor z, double t)
    {
        var times = new double[x0.shape[0]];
        Array.Fill(times, t);
        var (xt, v) = Interpolate(interpolant, x0, x1, z, times);
        v.Dispose();
        return xt;
    }

    internal static void CheckShapes(Tensor x0, Tensor x1, Tensor z, int n)
    {
        if (x0.dim() != 2 || !x0.shape.SequenceEqual(x1.shape) || !x0.shape.SequenceEqual(z.shape))
            throw new ArgumentException($"x0, x1 and z must share one [n, d] shape; got [{string.Join(",", x0.shape)}], [{string.Join(",", x1.shape)}], [{string.Join(",", z.shape)}]");
        if (x0.shape[0] != n) throw new ArgumentException($"{n} times given for {x0.shape[0]} rows");
    }
}
