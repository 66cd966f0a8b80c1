using static TorchSharp.torch;

namespace StochasticInterpolants.Data;

/// <summary>
/// A finite mixture of exact densities of one kind: rho(x) = sum_k w_k rho_k(x), log-sum-exp in float64 (with respect to
/// whatever measure the components' densities use). Sampling draws each row's component from the weights, then that
/// component's float64 sample, and rounds all rows once to the representation of the space (unit rows, wrapped angles).
/// The one home of the mixtures on the sphere and the torus.
/// </summary>
/// <typeparam name="TComponent">The component law.</typeparam>
public abstract class ComponentMixture<TComponent> : SampledDistribution where TComponent : IDistribution
{
    private readonly double[] _weights;
    private readonly TComponent[] _components;

    /// <summary>The mixture of <paramref name="components"/> (same dimension) with <paramref name="weights"/>, normalised to
    /// sum to 1; <paramref name="kind"/> names the components in errors ("vMF", "von Mises").</summary>
    private protected ComponentMixture(double[] weights, TComponent[] components, string name, string kind)
    {
        if (weights.Length == 0 || weights.Length != components.Length) throw new ArgumentException($"a {kind} mixture needs as many weights as components, at least one");
        if (components.Any(c => c.Dimension != components[0].Dimension)) throw new ArgumentException($"all {kind} components must have the same dimension");
        if (weights.Any(w => !(w >= 0) || double.IsInfinity(w)) || weights.Sum() <= 0) throw new ArgumentException("mixture weights must be non-negative with a positive sum");
        var total = weights.Sum();
        _weights = weights.Select(w => w / total).ToArray();
        _components = components.ToArray();
        Name = name;
        Dimension = components[0].Dimension;
    }

    /// <inheritdoc />
    public override string Name { get; }
    /// <inheritdoc />
    public override int Dimension { get; }
    /// <inheritdoc />
    public override bool HasLogDensity => true;
    /// <summary>Normalised weights.</summary>
    public IReadOnlyList<double> Weights => _weights;
    /// <summary>The components.</summary>
    public IReadOnlyList<TComponent> Components => _components;

    /// <summary><paramref name="count"/> float64 draws of <paramref name="component"/>.</summary>
    private protected abstract Tensor SampleComponent(TComponent component, int count, Generator generator);

    /// <summary>float64 rows rounded to the float32 representation of the space.</summary>
    private protected abstract Tensor ToSamples(Tensor points);

    /// <inheritdoc />
    public override Tensor Sample(int count, Generator generator)
    {
        CheckCount(count);
        using var scope = NewDisposeScope();
        var component = count == 0 ? zeros(0, dtype: int64) : multinomial(tensor(_weights, dtype: float64), count, replacement: true, generator: generator);
        var x = zeros(count, Dimension, dtype: float64);
        for (var c = 0; c < _components.Length; c++)
        {
            var rows = component.eq(c).nonzero().squeeze(1);
            var n = (int)rows.shape[0];
            if (n == 0) continue;
            x.index_copy_(0, rows, SampleComponent(_components[c], n, generator));
        }
        return ToSamples(x).MoveToOuterDisposeScope();
    }

    /// <summary>log rho(x) = logsumexp_k (log w_k + log rho_k(x)), float64.</summary>
    public override Tensor LogDensity(Tensor x)
    {
        CheckPoints(x);
        using var scope = NewDisposeScope();
        var terms = new List<Tensor>();
        for (var c = 0; c < _components.Length; c++)
            if (_weights[c] > 0) terms.Add(_components[c].LogDensity(x) + Math.Log(_weights[c]));
        return stack(terms, 1).logsumexp(1).MoveToOuterDisposeScope();
    }
}
