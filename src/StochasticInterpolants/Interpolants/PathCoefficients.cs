using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Interpolants;

/// <summary>
/// The coefficients of an affine interpolant evaluated on a tensor of times (docs/theory.md §1): alpha, beta, gamma,
/// their derivatives and gamma * gamma', each with the shape of the time tensor — 0-dim for one time shared by the whole
/// batch, [n] for a time per row. <see cref="PerRow"/> broadcasts one of them over data of any shape [n, ...].
/// </summary>
public sealed class PathCoefficients : IDisposable
{
    // All seven coefficients as one tensor [7, ...t.shape]: built from one array and reshaped with one call, so evaluating
    // the path costs a handful of tensor operations whatever the batch (it runs on every training step).
    private readonly Tensor _stacked;

    private PathCoefficients(Tensor stacked)
    {
        _stacked = stacked;
        var c = stacked.unbind(0);
        Alpha = c[0]; Beta = c[1]; Gamma = c[2]; AlphaDot = c[3]; BetaDot = c[4]; GammaDot = c[5]; GammaGammaDot = c[6];
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
        return Evaluate(interpolant, t, t.shape, dtype, t.device);
    }

    /// <summary>
    /// The coefficients at times <paramref name="t"/> already shaped by <see cref="PerRow"/> for data <paramref name="like"/>
    /// ([n, ...]; x's dtype and device): what a path needs on every training step, built with one tensor and one view.
    /// </summary>
    public static PathCoefficients For(IInterpolant interpolant, Tensor t, Tensor like)
    {
        if (t.dim() > 1) throw new ArgumentException($"times must be one value or one per row ([n]), got shape [{string.Join(",", t.shape)}]");
        if (t.dim() == 0) return Evaluate(interpolant, t, [], like.dtype, like.device);
        return Evaluate(interpolant, t, RowShape(t, like), like.dtype, like.device);
    }

    // Every time through IInterpolant.At (one definition of the coefficients for built-in and user interpolants), the seven
    // values written straight into one native tensor of shape [7, ...shape]. No managed array is allocated per call: at
    // batch 4096 the old double[7n] and float[7n] buffers were large-object-heap allocations, and the full (gen 2) garbage
    // collections they set off every few steps cost ~2 % of a training step.
    private static PathCoefficients Evaluate(IInterpolant interpolant, Tensor t, long[] shape, ScalarType dtype, Device device)
    {
        var stacked = new long[shape.Length + 1];
        stacked[0] = 7;
        shape.CopyTo(stacked, 1);
        var direct = t.dtype == float64 && t.device.type == DeviceType.CPU && t.is_contiguous();
        using var cpuTimes = direct ? null : t.detach().to(float64).cpu().contiguous();
        ReadOnlySpan<double> times = MemoryMarshal.Cast<byte, double>((cpuTimes ?? t).bytes);
        if (dtype == float32 && device.type == DeviceType.CPU) // the common case: round in C#, no conversion call
        {
            var result = empty(stacked, dtype: float32);
            Fill(MemoryMarshal.Cast<byte, float>(result.bytes), times, interpolant, static x => (float)x);
            return new PathCoefficients(result);
        }
        using var d = empty(stacked, dtype: float64);
        Fill(MemoryMarshal.Cast<byte, double>(d.bytes), times, interpolant, static x => x);
        return new PathCoefficients(d.to(dtype, device));
    }

    private static void Fill<T>(Span<T> v, ReadOnlySpan<double> times, IInterpolant interpolant, Func<double, T> round)
    {
        var n = times.Length;
        for (var i = 0; i < n; i++)
        {
            var c = interpolant.At(times[i]);
            v[i] = round(c.Alpha); v[n + i] = round(c.Beta); v[2 * n + i] = round(c.Gamma); v[3 * n + i] = round(c.AlphaDot);
            v[4 * n + i] = round(c.BetaDot); v[5 * n + i] = round(c.GammaDot); v[6 * n + i] = round(c.GammaGammaDot);
        }
    }

    /// <summary>
    /// Shapes a coefficient for multiplication with data <paramref name="like"/> of shape [n, ...]: a 0-dim coefficient is
    /// returned as is (it broadcasts), an [n] coefficient is viewed as [n, 1, ..., 1]. The one broadcasting rule of the library.
    /// </summary>
    public static Tensor PerRow(Tensor coefficient, Tensor like)
    {
        return coefficient.dim() == 0 ? coefficient.alias() : coefficient.view(RowShape(coefficient, like));
    }

    // [n, 1, ..., 1] with like's rank, for a per-row [n] tensor; the rule's one error message.
    private static long[] RowShape(Tensor perRow, Tensor like)
    {
        if (perRow.dim() != 1 || like.dim() < 1 || perRow.shape[0] != like.shape[0])
            throw new ArgumentException($"a per-row coefficient of shape [{string.Join(",", perRow.shape)}] does not fit data of shape [{string.Join(",", like.shape)}]");
        var shape = new long[like.dim()];
        shape[0] = perRow.shape[0];
        for (var i = 1; i < shape.Length; i++) shape[i] = 1;
        return shape;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Alpha.Dispose(); Beta.Dispose(); Gamma.Dispose(); AlphaDot.Dispose(); BetaDot.Dispose(); GammaDot.Dispose(); GammaGammaDot.Dispose();
        _stacked.Dispose();
    }
}
