using StochasticInterpolants.Data;
using static TorchSharp.torch;

namespace StochasticInterpolants.Interpolants;

/// <summary>
/// The path of a <see cref="MixtureInterpolant"/> (docs/theory.md §16.1, §16.6): per element, x_t^i = x1^i when
/// u^i &lt; kappa(t) and x0^i otherwise, with u^i = Phi(z^i) the standard normal CDF of the batch's Gaussian z — uniform on
/// (0, 1) because z ~ N(0, 1), so P(x_t^i = x1^i) = kappa(t) exactly, the positions are independent, and the one batch layout
/// of the library (x0, x1, z, t from the coupling) draws x_t without new randomness: the same seed gives the same batch.
/// <para>
/// <see cref="Interpolate"/> returns (x_t, x1): on this path the second item is the prediction target x1 (the cross-entropy
/// objective's labels), not a velocity. The path has no Gaussian noise and converts no field into another: the one field
/// it knows is the posterior p_{1|t}.
/// </para>
/// </summary>
public sealed class MixturePath(IInterpolant interpolant) : InterpolantPath(interpolant)
{
    /// <inheritdoc />
    public override bool HasNoise => false;
    /// <inheritdoc />
    protected override bool HasLatentNoise => false;
    /// <summary>0: the path's randomness is which endpoint each position holds, not a Gaussian scale.</summary>
    public override double NoiseScale(double t) => 0;

    /// <summary>
    /// (x_t, x1) for every row: x_t = where(Phi(z) &lt; kappa(t), x1, x0) element-wise (exact at kappa = 1: x_t = x1), x1 the
    /// cross-entropy target. x_t keeps the batch's dtype, so ids stay exact integers.
    /// </summary>
    public override (Tensor Xt, Tensor Velocity) Interpolate(TrainingBatch batch)
    {
        batch.Validate();
        using var scope = NewDisposeScope();
        // In float64: Phi(z) rounds to 1 only for z > 8.2, so u < kappa has probability kappa to double precision.
        var z = batch.Z.to(float64);
        var c = Coefficients(batch.T, z);
        var u = StandardNormalCdf(z);
        var takeTarget = u.lt(c.Beta).logical_or_(c.Beta.ge(1).expand_as(u));
        var xt = where(takeTarget, batch.X1, batch.X0);
        return (xt.MoveToOuterDisposeScope(), batch.X1.alias().MoveToOuterDisposeScope());
    }

    /// <summary>Phi(z) = erfc(-z / sqrt 2) / 2, the standard normal CDF, element-wise.</summary>
    public static Tensor StandardNormalCdf(Tensor z)
    {
        using var scaled = z * (-1 / Math.Sqrt(2));
        using var tail = scaled.erfc();
        return tail * 0.5;
    }

    /// <summary>Refused: the mixture path has no Gaussian noise to split x_t into mean and noise.</summary>
    public override NoiseDecomposition Decompose(TrainingBatch batch, PathCoefficients c) =>
        throw new NotSupportedException("the discrete mixture path has no Gaussian noise: x_t picks x0 or x1 per position, so it has no mean-plus-noise form");

    /// <summary>Null only for the posterior wanted and given; everything else is refused with the reason.</summary>
    public override string? WhyNotConvertible(FieldKind wanted, IReadOnlyCollection<FieldKind> given)
    {
        if (wanted == FieldKind.Posterior && given.Contains(FieldKind.Posterior)) return null;
        return wanted == FieldKind.Posterior
            ? "the discrete mixture path learns its posterior p_{1|t} directly: train a posterior network (cross-entropy objective)"
            : $"the discrete mixture path has no {Describe(wanted)}: its states are tokens, and its one field is the posterior p_{{1|t}}";
    }

    /// <inheritdoc />
    protected override Tensor Convert(FieldKind wanted, PathCoefficients c, Tensor x, Func<FieldKind, Tensor?> given) =>
        wanted == FieldKind.Posterior && given(FieldKind.Posterior) is { } posterior ? posterior
            : throw new InvalidOperationException(WhyNotConvertible(wanted, [FieldKind.Posterior]));
}
