using StochasticInterpolants.Data;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using StochasticInterpolants.Runtime;
using static TorchSharp.torch;

namespace StochasticInterpolants.Objectives;

/// <summary>
/// A quadratic regression objective whose minimiser is one conditional expectation given x_t (docs/theory.md §2):
/// the network trained on it represents <see cref="Kind"/>.
/// </summary>
public interface IObjective
{
    /// <summary>The field the minimiser represents.</summary>
    FieldKind Kind { get; }
    /// <summary>The path defining x_t.</summary>
    InterpolantPath Path { get; }
    /// <summary>Training times are drawn from [TimeClip, 1 - TimeClip].</summary>
    double TimeClip { get; }
    /// <summary>The batch loss (a scalar with a graph to the network's parameters); the batch's condition is passed to the network.</summary>
    Tensor Loss(ITimeConditionedNetwork network, TrainingBatch batch);

    /// <summary>
    /// The batch with any further randomness this objective needs drawn from <paramref name="generator"/> (the training stream,
    /// so runs stay reproducible and resumable); called once per batch before <see cref="Loss"/>. The regression objectives
    /// need none (the default returns the batch); the flow-map objective draws its second times (docs/theory.md §14.2).
    /// </summary>
    TrainingBatch DrawExtras(TrainingBatch batch, Generator generator) => batch;
}

/// <summary>The objectives by the field they learn, and helpers shared by them.</summary>
public static class Objective
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<FieldKind, Func<IInterpolant, ObjectiveOptions, IObjective>> Factories = new()
    {
        [FieldKind.Velocity] = (interpolant, options) => new VelocityObjective(interpolant, options),
        [FieldKind.Denoiser] = (interpolant, options) => new DenoiserObjective(interpolant, options),
        [FieldKind.FlowMap] = (interpolant, options) => new FlowMapObjective(interpolant, null, options),
    };

    /// <summary>The objective whose minimiser is <paramref name="kind"/> on <paramref name="interpolant"/>'s path.</summary>
    public static IObjective For(FieldKind kind, IInterpolant interpolant, ObjectiveOptions? options = null) =>
        Factories.TryGetValue(kind, out var create) ? create(interpolant, options ?? new ObjectiveOptions())
            : throw new ArgumentException($"no objective learns the {InterpolantPath.Describe(kind)} (known: {string.Join(", ", Factories.Keys.Select(InterpolantPath.Describe))})");

    /// <summary>Registers (or replaces) the objective that learns <paramref name="kind"/>.</summary>
    public static void Register(FieldKind kind, Func<IInterpolant, ObjectiveOptions, IObjective> create) => Factories[kind] = create;

    /// <summary>
    /// Throws <see cref="InvalidSettingException"/> when <paramref name="interpolant"/> is a discrete mixture path: its x_t is a
    /// token sequence and its target the tokens of x1, so a regression on it would learn nothing the library can use (learn its
    /// posterior with <c>Discrete.DiscreteObjective</c>, docs/theory.md §16).
    /// </summary>
    public static void RefuseDiscrete(IInterpolant interpolant, string field)
    {
        if (interpolant.Kind == InterpolantKind.Mixture)
            throw new InvalidSettingException("learn", $"the {interpolant.Name} interpolant is discrete: it has no {field} to regress on; learn its posterior (DiscreteObjective)");
    }

    /// <summary>The clip in force: <paramref name="requested"/>, or 1e-3 when a coefficient's derivative is unbounded at an end, else 0.</summary>
    public static double ResolveClip(IInterpolant interpolant, double? requested)
    {
        var clip = requested ?? (SingularAtEnds(interpolant) ? 1e-3 : 0.0);
        if (!(clip >= 0 && clip < 0.5)) throw new InvalidSettingException("t-clip", $"time clip must be in [0, 0.5), got {clip}");
        return clip;
    }

    /// <summary>
    /// The loss normalisation of the library (docs/theory.md §2): per row, the squared error averaged over all non-batch
    /// elements (|prediction - target|^2 / elements per row), so an image and a 2-D point weigh alike. Returns [n].
    /// </summary>
    public static Tensor RowMeanSquaredError(Tensor prediction, Tensor target)
    {
        if (!prediction.shape.SequenceEqual(target.shape))
            throw new ArgumentException($"the network returned shape [{string.Join(",", prediction.shape)}] for targets of shape [{string.Join(",", target.shape)}]");
        var squared = (prediction - target).square();
        return squared.dim() == 1 ? squared : squared.flatten(1).mean([1]);
    }

    /// <summary>
    /// The batch loss without antithetic pairs: the mean over rows of <see cref="RowMeanSquaredError"/>, which for rows of
    /// equal size is the mean over all elements — one fused call.
    /// </summary>
    public static Tensor MeanSquaredError(Tensor prediction, Tensor target)
    {
        if (!prediction.shape.SequenceEqual(target.shape)) // mse_loss would broadcast silently
            throw new ArgumentException($"the network returned shape [{string.Join(",", prediction.shape)}] for targets of shape [{string.Join(",", target.shape)}]");
        return TorchSharp.torch.nn.functional.mse_loss(prediction, target);
    }

    /// <summary>Mean over rows of the plain loss, or of the antithetic pair (1/2)(loss(+n) + loss(-n)) when <paramref name="antithetic"/>.</summary>
    internal static Tensor Average(Func<double, Tensor> rowLoss, bool antithetic) =>
        antithetic ? (0.5 * (rowLoss(+1) + rowLoss(-1))).mean() : rowLoss(+1).mean();

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
