using StochasticInterpolants.Fields;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using static TorchSharp.torch;

namespace StochasticInterpolants.Objectives;

/// <summary>
/// A quadratic regression objective whose minimiser is one conditional expectation given x_t (MATH.md section 2):
/// the network trained on it represents <see cref="Kind"/>.
/// </summary>
public interface IObjective
{
    /// <summary>The field the minimiser represents.</summary>
    FieldKind Kind { get; }
    /// <summary>The interpolant defining x_t.</summary>
    IInterpolant Interpolant { get; }
    /// <summary>Training times are drawn from [TimeClip, 1 - TimeClip].</summary>
    double TimeClip { get; }
    /// <summary>The batch loss for rows (x0, x1, z) at per-row times (a scalar with a graph to the network's parameters).</summary>
    Tensor Loss(ITimeConditionedNetwork network, Tensor x0, Tensor x1, Tensor z, double[] times);
}

/// <summary>Helpers shared by the objectives.</summary>
public static class Objective
{
    /// <summary>Draws <paramref name="count"/> times uniformly from [clip, 1 - clip] (float64 draws from <paramref name="generator"/>).</summary>
    public static double[] SampleTimes(int count, Generator generator, double clip)
    {
        using var u = rand(count, dtype: float64, generator: generator);
        var t = u.data<double>().ToArray();
        var width = 1 - 2 * clip;
        for (var i = 0; i < t.Length; i++) t[i] = clip + width * t[i];
        return t;
    }

    /// <summary>The clip in force: <paramref name="requested"/>, or 1e-3 when a coefficient's derivative is unbounded at an end, else 0.</summary>
    public static double ResolveClip(IInterpolant interpolant, double? requested)
    {
        var clip = requested ?? (SingularAtEnds(interpolant) ? 1e-3 : 0.0);
        if (!(clip >= 0 && clip < 0.5)) throw new ArgumentException($"time clip must be in [0, 0.5), got {clip}");
        return clip;
    }

    private static bool SingularAtEnds(IInterpolant interpolant)
    {
        foreach (var t in new[] { 0.0, 1.0 })
        {
            var c = interpolant.At(t);
            if (!double.IsFinite(c.AlphaDot) || !double.IsFinite(c.BetaDot) || !double.IsFinite(c.GammaDot)) return true;
        }
        return false;
    }
}
