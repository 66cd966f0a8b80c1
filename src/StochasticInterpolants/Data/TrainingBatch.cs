using static TorchSharp.torch;

namespace StochasticInterpolants.Data;

/// <summary>
/// Draws of a coupling: x0 ~ rho0 and x1 ~ rho1 paired row by row, each [n, ...], with an optional condition per row
/// (class labels [n], a mask, a low-resolution image, ...) that travels with x1.
/// </summary>
/// <param name="X0">Base points, [n, ...].</param>
/// <param name="X1">Target points, [n, ...] (the same shape).</param>
/// <param name="Condition">The condition of each row, or null.</param>
public sealed record CoupledSample(Tensor X0, Tensor X1, Tensor? Condition = null);

/// <summary>
/// One training batch, the record that flows from a coupling through the path to the objective (docs/theory.md §2):
/// the coupled pair (x0, x1), the latent noise z ~ N(0, I) of the same shape, a time per row t ([n], float64) and the
/// optional condition. Nothing downstream draws data of its own.
/// </summary>
/// <param name="X0">Base points [n, ...].</param>
/// <param name="X1">Target points [n, ...].</param>
/// <param name="Z">Latent noise [n, ...].</param>
/// <param name="T">Times [n], float64.</param>
/// <param name="Condition">Per-row condition or null.</param>
/// <param name="MapTimes">For a flow-map objective (docs/theory.md §14): [n, 3] float64 uniforms on [0, 1) drawn with the
/// batch from the training generator, which the objective turns into each row's second time, intermediate time and
/// diagonal choice; null for the one-time objectives.</param>
public sealed record TrainingBatch(Tensor X0, Tensor X1, Tensor Z, Tensor T, Tensor? Condition = null, Tensor? MapTimes = null)
{
    /// <summary>Rows n.</summary>
    public long Count => X0.shape[0];

    /// <summary>Checks that every tensor has n rows and that x0, x1 and z share one shape; throws with the shapes otherwise.</summary>
    public void Validate()
    {
        if (X0.dim() < 1 || !X0.shape.SequenceEqual(X1.shape) || !X0.shape.SequenceEqual(Z.shape))
            throw new ArgumentException($"x0, x1 and z must share one [n, ...] shape; got [{Shape(X0)}], [{Shape(X1)}], [{Shape(Z)}]");
        if (T.dim() != 1 || T.shape[0] != X0.shape[0]) throw new ArgumentException($"the batch needs one time per row: [{X0.shape[0]}] times, got [{Shape(T)}]");
        if (Condition is { } c && (c.dim() < 1 || c.shape[0] != X0.shape[0]))
            throw new ArgumentException($"the condition must have one entry per row ({X0.shape[0]}), got shape [{Shape(c)}]");
        if (MapTimes is { } m && (m.dim() != 2 || m.shape[0] != X0.shape[0]))
            throw new ArgumentException($"the flow-map times must be one row per batch row ([{X0.shape[0]}, k]), got [{Shape(m)}]");
    }

    /// <summary>
    /// The batch with <paramref name="columns"/> uniforms per row drawn from <paramref name="generator"/> as <see cref="MapTimes"/>
    /// (float64, on the batch's device): the extra randomness of a flow-map objective, drawn from the one training stream so a
    /// run stays reproducible and resumable.
    /// </summary>
    public TrainingBatch WithMapTimes(int columns, Generator generator)
    {
        var u = rand([Count, columns], dtype: float64, generator: generator); // owned by the caller's dispose scope
        return this with { MapTimes = X0.device.type == TorchSharp.DeviceType.CPU ? u : u.to(X0.device) };
    }

    /// <summary>
    /// The batch with each row's class label replaced, with probability <paramref name="probability"/>, by -1 (the "no class"
    /// label): how a class-conditional network also learns the unconditional field that classifier-free guidance needs
    /// (docs/theory.md §10). One uniform per row is drawn from <paramref name="generator"/>; a batch without a condition, or a
    /// probability of 0, is returned as it is and draws nothing.
    /// </summary>
    public TrainingBatch WithConditionDropped(double probability, Generator generator)
    {
        if (Condition is null || probability == 0) return this;
        if (!(probability > 0 && probability < 1)) throw new ArgumentOutOfRangeException(nameof(probability), probability, "the condition-drop probability must be in [0, 1)");
        if (Condition.dim() != 1 || Condition.dtype != ScalarType.Int64)
            throw new ArgumentException($"only class labels (int64 [n]) can be dropped, got a {Condition.dtype} condition of shape [{Shape(Condition)}]");
        using var u = rand(Count, dtype: float64, generator: generator);
        using var drop = u.lt(probability);
        using var none = full_like(Condition, -1L);
        return this with { Condition = where(drop.to(Condition.device), none, Condition) };
    }

    /// <summary>The rows of <paramref name="share"/> (views; this record itself when the share is the whole batch): one rank's part of a batch every rank drew whole.</summary>
    public TrainingBatch Rows(Distributed.RowShare share) => share.IsAll ? this
        : new(share.Of(X0), share.Of(X1), share.Of(Z), share.Of(T), Condition is null ? null : share.Of(Condition), MapTimes is null ? null : share.Of(MapTimes));

    /// <summary>The rows of the batch at the indices <paramref name="rows"/> (int64 [k]; copies), every field selected alike.</summary>
    public TrainingBatch Select(Tensor rows) => new(X0.index_select(0, rows), X1.index_select(0, rows), Z.index_select(0, rows), T.index_select(0, rows),
        Condition?.index_select(0, rows), MapTimes?.index_select(0, rows));

    /// <summary>The batch on <paramref name="device"/> (the same record when it is already there).</summary>
    public TrainingBatch To(Device device) => X0.device == device ? this
        : new(X0.to(device), X1.to(device), Z.to(device), T.to(device), Condition?.to(device), MapTimes?.to(device));

    private static string Shape(Tensor t) => string.Join(",", t.shape);
}
