using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Discrete;

/// <summary>Which source the discrete mixture path starts from (docs/theory.md §16.1).</summary>
public enum DiscreteSourceKind
{
    /// <summary>Every position is the extra id K (MASK), the absorbing state: a position holds either MASK or its data token.</summary>
    Masked,
    /// <summary>Every position is uniform on the K tokens, independently.</summary>
    Uniform,
}

/// <summary>
/// A source distribution p0 over sequences of <see cref="Length"/> positions with tokens 0..K-1 (and, for the masked source, the
/// id K = MASK), stored like all library data as float32 [n, L] of exact integer ids. A probability mass, not a density on R^L:
/// <see cref="IDistribution.HasLogDensity"/> is false (a continuous likelihood must not use it); <see cref="LogProbability"/>
/// gives the mass.
/// </summary>
public interface ITokenSource : IDistribution
{
    /// <summary>Positions L.</summary>
    int Length { get; }
    /// <summary>Vocabulary K of the data (the masked source adds the id K).</summary>
    int Vocabulary { get; }
    /// <summary>Masked or uniform.</summary>
    DiscreteSourceKind Kind { get; }
    /// <summary>log p0(x) in nats for each row of x [n, L] (float64 [n]; -infinity off the support).</summary>
    Tensor LogProbability(Tensor x);
}

/// <summary>Shared checks of the token sources.</summary>
public abstract class TokenSource : ITokenSource
{
    /// <summary>Checks L &gt;= 1 and K in 2..2^24 (ids must be exact in float32).</summary>
    protected TokenSource(int length, int vocabulary)
    {
        if (length < 1) throw new ArgumentOutOfRangeException(nameof(length), length, "a token sequence needs at least one position");
        if (vocabulary < 2 || vocabulary >= 1 << 24) throw new ArgumentOutOfRangeException(nameof(vocabulary), vocabulary, "the vocabulary must hold 2..16777215 tokens (ids are exact float32 integers)");
        Length = length; Vocabulary = vocabulary;
    }

    /// <inheritdoc />
    public int Length { get; }
    /// <inheritdoc />
    public int Vocabulary { get; }
    /// <inheritdoc />
    public abstract DiscreteSourceKind Kind { get; }
    /// <inheritdoc />
    public abstract string Name { get; }
    /// <inheritdoc />
    public int Dimension => Length;
    /// <summary>False: a distribution of tokens has a probability mass (<see cref="LogProbability"/>), not a density on R^L.</summary>
    public bool HasLogDensity => false;
    /// <summary>Throws <see cref="NotSupportedException"/>: see <see cref="LogProbability"/>.</summary>
    public Tensor LogDensity(Tensor x) =>
        throw new NotSupportedException($"the {Name} source is a probability mass over tokens, not a density on R^{Length}: use LogProbability");
    /// <inheritdoc />
    public abstract Tensor Sample(int count, Generator generator);
    /// <inheritdoc />
    public abstract Tensor LogProbability(Tensor x);

    /// <summary>Throws unless x is [n, L].</summary>
    protected void CheckRows(Tensor x)
    {
        if (x.dim() != 2 || x.shape[1] != Length) throw new ArgumentException($"token rows must be [n, {Length}], got [{string.Join(",", x.shape)}]");
    }
}

/// <summary>The masked (absorbing) source: every position is MASK = K, p0 = delta_{(K, ..., K)}.</summary>
public sealed class MaskedSource(int length, int vocabulary) : TokenSource(length, vocabulary)
{
    /// <summary>The id of MASK: K.</summary>
    public int Mask => Vocabulary;
    /// <inheritdoc />
    public override DiscreteSourceKind Kind => DiscreteSourceKind.Masked;
    /// <inheritdoc />
    public override string Name => "masked";
    /// <summary>[count, L] filled with K; draws nothing from <paramref name="generator"/>.</summary>
    public override Tensor Sample(int count, Generator generator) => full(count, Length, (float)Vocabulary, dtype: float32);
    /// <summary>0 for the all-MASK row, -infinity for any other.</summary>
    public override Tensor LogProbability(Tensor x)
    {
        CheckRows(x);
        using var all = x.eq(Vocabulary).all(1);
        using var zero = zeros(x.shape[0], dtype: float64, device: x.device);
        return zero.masked_fill(all.logical_not(), double.NegativeInfinity);
    }
}

/// <summary>The uniform source: every position independently uniform on 0..K-1, p0(x) = K^{-L}.</summary>
public sealed class UniformTokens(int length, int vocabulary) : TokenSource(length, vocabulary)
{
    /// <inheritdoc />
    public override DiscreteSourceKind Kind => DiscreteSourceKind.Uniform;
    /// <inheritdoc />
    public override string Name => "uniform-tokens";
    /// <summary>[count, L] ids drawn uniformly from 0..K-1 with <paramref name="generator"/>.</summary>
    public override Tensor Sample(int count, Generator generator) =>
        randint(0, Vocabulary, [count, Length], dtype: int64, generator: generator).to(float32);
    /// <summary>-L log K for rows of integer ids in 0..K-1, -infinity otherwise.</summary>
    public override Tensor LogProbability(Tensor x)
    {
        CheckRows(x);
        using var valid = x.ge(0).logical_and_(x.lt(Vocabulary)).logical_and_(x.eq(x.round())).all(1);
        using var value = full(x.shape[0], -Length * Math.Log(Vocabulary), dtype: float64, device: x.device);
        return value.masked_fill(valid.logical_not(), double.NegativeInfinity);
    }
}
