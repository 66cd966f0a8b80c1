using static TorchSharp.torch;

namespace StochasticInterpolants.Interpolants;

/// <summary>
/// The coefficients of an affine interpolant evaluated on a tensor of times (docs/theory.md §1): alpha, beta, gamma,
/// their derivatives and gamma * gamma', each with the shape of the time tensor — 0-dim for one time shared by the whole
/// batch, [n] for a time per row. <see cref="PerRow"/> broadcasts one of them over data of any shape [n, ...].
/// </summary>
public sealed class PathCoefficients : IDisposable
{
    private PathCoefficients(Tensor alpha, Tensor beta, Tensor gamma, Tensor alphaDot, Tensor betaDot, Tensor gammaDot, Tensor gammaGammaDot)
    {
        Alpha = alpha; Beta = beta; Gamma = gamma; AlphaDot = alphaDot; BetaDot = betaDot; GammaDot = gammaDot; GammaGammaDot = gammaGammaDot;
    }

    /// <summary>alpha(t), the weight of x0.</summary>
    public Tensor Alpha { get; }
    /// <summary>beta(t), the weight of x1.</summary>
    public Tensor Beta { get; }
    /// <summary>gamma(t), the weight of the latent noise z.</summary>
    public Tensor Gamma { get; }
    /// <summary>alpha'(t).</summary>
    public Tensor AlphaDot { get; }
    /// <summary>beta'(t).</summary>
    public Tensor BetaDot { get; }
    /// <summary>gamma'(t) (infinite at the ends for gamma = sqrt(a t (1 - t))).</summary>
    public Tensor GammaDot { get; }
    /// <summary>gamma(t) gamma'(t), finite at the ends.</summary>
    public Tensor GammaGammaDot { get; }

    /// <summary>
    /// Evaluates <paramref name="interpolant"/> at every element of <paramref name="t"/> (0-dim or [n], any floating dtype) in
    /// float64 and returns the coefficients in <paramref name="dtype"/> on t's device, shaped like t. Each time goes through
    /// <see cref="IInterpolant.At"/>, so built-in and user-defined interpolants share one definition of their coefficients.
    /// </summary>
    public static PathCoefficients At(IInterpolant interpolant, Tensor t, ScalarType dtype)
    {
        if (t.dim() > 1) throw new ArgumentException($"times must be one value or one per row ([n]), got shape [{string.Join(",", t.shape)}]");
        double[] times;
        using (var cpu = t.detach().to(float64).cpu()) times = cpu.data<double>().ToArray();
        var n = times.Length;
        var v = new double[7][];
        for (var k = 0; k < 7; k++) v[k] = new double[n];
        for (var i = 0; i < n; i++)
        {
            var c = interpolant.At(times[i]);
            v[0][i] = c.Alpha; v[1][i] = c.Beta; v[2][i] = c.Gamma; v[3][i] = c.AlphaDot; v[4][i] = c.BetaDot; v[5][i] = c.GammaDot; v[6][i] = c.GammaGammaDot;
        }
        var shape = t.shape;
        var device = t.device;
        Tensor T(double[] values)
        {
            using var d = tensor(values, dtype: float64).reshape(shape);
            return d.to(dtype, device);
        }
        return new PathCoefficients(T(v[0]), T(v[1]), T(v[2]), T(v[3]), T(v[4]), T(v[5]), T(v[6]));
    }

    /// <summary>
    /// Shapes a coefficient for multiplication with data <paramref name="like"/> of shape [n, ...]: a 0-dim coefficient is
    /// returned as is (it broadcasts), an [n] coefficient is viewed as [n, 1, ..., 1]. The one broadcasting rule of the library.
    /// </summary>
    public static Tensor PerRow(Tensor coefficient, Tensor like)
    {
        if (coefficient.dim() == 0) return coefficient.alias();
        if (coefficient.dim() != 1 || like.dim() < 1 || coefficient.shape[0] != like.shape[0])
            throw new ArgumentException($"a per-row coefficient of shape [{string.Join(",", coefficient.shape)}] does not fit data of shape [{string.Join(",", like.shape)}]");
        var shape = new long[like.dim()];
        shape[0] = coefficient.shape[0];
        for (var i = 1; i < shape.Length; i++) shape[i] = 1;
        return coefficient.view(shape);
    }

    /// <summary>The coefficients with each tensor shaped by <see cref="PerRow"/> for data <paramref name="like"/> (new views of the same storage).</summary>
    public PathCoefficients For(Tensor like) => new(PerRow(Alpha, like), PerRow(Beta, like), PerRow(Gamma, like),
        PerRow(AlphaDot, like), PerRow(BetaDot, like), PerRow(GammaDot, like), PerRow(GammaGammaDot, like));

    /// <inheritdoc />
    public void Dispose()
    {
        Alpha.Dispose(); Beta.Dispose(); Gamma.Dispose(); AlphaDot.Dispose(); BetaDot.Dispose(); GammaDot.Dispose(); GammaGammaDot.Dispose();
    }
}
