using static TorchSharp.torch;

namespace StochasticInterpolants.Data;

/// <summary>Two interleaved half circles (scikit-learn's make_moons, noise 0.1), scaled by 2 and shifted by (-1, -0.2) as in FFJORD.</summary>
public sealed class TwoMoons : SampledDistribution
{
    /// <inheritdoc />
    public override string Name => "moons";

    /// <inheritdoc />
    public override Tensor Sample(int count, Generator generator)
    {
        CheckCount(count);
        using var scope = NewDisposeScope();
        var angle = rand(count, generator: generator) * Math.PI;
        var upper = randint(0, 2, [count], generator: generator).to(float32); // 1: outer moon, 0: inner moon
        var x = upper * angle.cos() + (1 - upper) * (1 - angle.cos());
        var y = upper * angle.sin() + (1 - upper) * (0.5f - angle.sin());
        var points = stack([x, y], 1) + 0.1f * randn(count, 2, generator: generator);
        return (points * 2 + tensor(new float[] { -1f, -0.2f })).MoveToOuterDisposeScope();
    }
}

/// <summary>FFJORD's two spirals: radius and angle n = 3 pi sqrt(u), arms (-cos n n, sin n n) and its mirror, jitter, /3, plus N(0, 0.1^2).</summary>
public sealed class TwoSpirals : SampledDistribution
{
    /// <inheritdoc />
    public override string Name => "spirals";

    /// <inheritdoc />
    public override Tensor Sample(int count, Generator generator)
    {
        CheckCount(count);
        using var scope = NewDisposeScope();
        var n = rand(count, generator: generator).sqrt() * (540.0 * 2 * Math.PI / 360);
        var dx = -n.cos() * n + rand(count, generator: generator) * 0.5f;
        var dy = n.sin() * n + rand(count, generator: generator) * 0.5f;
        var sign = randint(0, 2, [count], generator: generator).to(float32) * 2 - 1;
        var points = stack([sign * dx, sign * dy], 1) / 3;
        return (points + 0.1f * randn(count, 2, generator: generator)).MoveToOuterDisposeScope();
    }
}

/// <summary>Four concentric circles of radii 0.75, 1.5, 2.25, 3 with uniform angle, equal expected counts, plus N(0, 0.08^2) noise.</summary>
public sealed class ConcentricRings : SampledDistribution
{
    /// <inheritdoc />
    public override string Name => "rings";

    /// <inheritdoc />
    public override Tensor Sample(int count, Generator generator)
    {
        CheckCount(count);
        using var scope = NewDisposeScope();
        var ring = randint(1, 5, [count], generator: generator).to(float32);
        var radius = ring * 0.75f;
        var angle = rand(count, generator: generator) * (2 * Math.PI);
        var points = stack([radius * angle.cos(), radius * angle.sin()], 1);
        return (points + 0.08f * randn(count, 2, generator: generator)).MoveToOuterDisposeScope();
    }
}

/// <summary>FFJORD's pinwheel: 5 arms, radial sd 0.3, tangential sd 0.1, twist rate 0.25, scaled by 2.</summary>
public sealed class Pinwheel : SampledDistribution
{
    /// <inheritdoc />
    public override string Name => "pinwheel";

    /// <inheritdoc />
    public override Tensor Sample(int count, Generator generator)
    {
        CheckCount(count);
        using var scope = NewDisposeScope();
        const int arms = 5; const float radialStd = 0.3f, tangentialStd = 0.1f, rate = 0.25f;
        var f = randn(count, 2, generator: generator) * tensor(new[] { radialStd, tangentialStd });
        var r = f[.., 0] + 1; var tang = f[.., 1];
        var label = randint(0, arms, [count], generator: generator).to(float32);
        var angle = label * (float)(2 * Math.PI / arms) + rate * r.exp();
        var c = angle.cos(); var s = angle.sin();
        // rotate (r, tang) by angle
        var x = r * c - tang * s; var y = r * s + tang * c;
        return (2 * stack([x, y], 1)).MoveToOuterDisposeScope();
    }
}

/// <summary>scikit-learn's swiss roll (noise 1.0) projected on (x, z) and divided by 5: t = 1.5 pi (1 + 2u), (t cos t, t sin t).</summary>
public sealed class SwissRoll : SampledDistribution
{
    /// <inheritdoc />
    public override string Name => "swissroll";

    /// <inheritdoc />
    public override Tensor Sample(int count, Generator generator)
    {
        CheckCount(count);
        using var scope = NewDisposeScope();
        var t = (1 + 2 * rand(count, generator: generator)) * (1.5 * Math.PI);
        var points = stack([t * t.cos(), t * t.sin()], 1) + randn(count, 2, generator: generator);
        return (points / 5).MoveToOuterDisposeScope();
    }
}
