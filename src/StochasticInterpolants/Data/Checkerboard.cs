using static TorchSharp.torch;

namespace StochasticInterpolants.Data;

/// <summary>
/// The 2-D checkerboard of FFJORD at scale 2: the uniform density on 8 squares of side 2 in [-4, 4)^2, those
/// whose cell indices (floor(x / 2), floor(y / 2)) have an even sum. Support area 32, so log rho = -ln 32 inside,
/// -infinity outside, and the entropy is ln 32 = 3.4657 nats: no model's expected NLL can go below it.
/// </summary>
public sealed class Checkerboard : SampledDistribution
{
    /// <summary>Area of the support.</summary>
    public const double SupportArea = 32.0;

    /// <inheritdoc />
    public override string Name => "checkerboard";
    /// <inheritdoc />
    public override bool HasLogDensity => true;

    /// <summary>True when (x, y) lies in one of the 8 squares.</summary>
    public static bool Contains(double x, double y)
    {
        if (!(x >= -4 && x < 4 && y >= -4 && y < 4)) return false; // also false for NaN
        var i = (long)Math.Floor(x / 2); var j = (long)Math.Floor(y / 2);
        return ((i + j) & 1) == 0;
    }

    /// <summary>The fraction of rows of <paramref name="samples"/> ([n, 2]) inside the squares; non-finite rows count as outside.</summary>
    public static double FractionInside(Tensor samples)
    {
        if (samples.dim() != 2 || samples.shape[1] != 2) throw new ArgumentException($"expected [n, 2] samples, got [{string.Join(",", samples.shape)}]");
        if (samples.shape[0] == 0) return double.NaN;
        using var cpu = samples.detach().to(float64).cpu().contiguous();
        var v = cpu.data<double>();
        var inside = 0L;
        for (long r = 0; r < cpu.shape[0]; r++) if (Contains(v[2 * r], v[2 * r + 1])) inside++;
        return (double)inside / cpu.shape[0];
    }

    /// <inheritdoc />
    public override Tensor Sample(int count, Generator generator)
    {
        CheckCount(count);
        using var scope = NewDisposeScope();
        // FFJORD: x1 ~ U[-2, 2); x2 ~ U[0, 1) - 2 Bernoulli(1/2) + (floor(x1) mod 2); then scale by 2.
        var x1 = rand(count, generator: generator) * 4 - 2;
        var x2 = rand(count, generator: generator) - randint(0, 2, [count], generator: generator).to(float32) * 2;
        x2 = x2 + x1.floor().remainder(2); // torch remainder has Python semantics (non-negative for positive divisor)
        return (stack([x1, x2], 1) * 2).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public override Tensor LogDensity(Tensor x)
    {
        CheckPoints(x);
        using var cpu = x.detach().to(float64).cpu().contiguous();
        var v = cpu.data<double>();
        var result = new double[cpu.shape[0]];
        for (var r = 0; r < result.Length; r++)
            result[r] = Contains(v[2 * r], v[2 * r + 1]) ? -Math.Log(SupportArea) : double.NegativeInfinity;
        return tensor(result).to(x.device);
    }
}
