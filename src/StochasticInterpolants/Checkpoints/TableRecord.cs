using StochasticInterpolants.Data;
using StochasticInterpolants.Files;

namespace StochasticInterpolants.Checkpoints;

/// <summary>
/// What a checkpoint trained on a table records about its data (docs/theory.md §8): which file (and its SHA-256), how it
/// was read, which rows were trained on and which held out for validation, the map into the flow's space and the
/// Gaussian baseline fitted to the training rows. With it, <c>si eval</c> can say whether rows are held out, and sampling
/// and likelihoods come back in the data's units.
/// </summary>
/// <param name="File">The table's absolute path when training ran.</param>
/// <param name="Sha256">SHA-256 of its bytes.</param>
/// <param name="FileRows">Data rows in the file.</param>
/// <param name="Columns">The feature columns' names, in the flow's order.</param>
/// <param name="Read">How the file was read (columns, skipped rows, label column).</param>
/// <param name="ClassNames">The label column's classes (index = class), or null.</param>
/// <param name="ClassCounts">Training rows per class, or null.</param>
/// <param name="ValidationFraction">The share of the file's rows held out (0 with a validation file or none).</param>
/// <param name="ValidationFile">A separate validation table (absolute path), or null.</param>
/// <param name="ValidationSha256">Its SHA-256, or null.</param>
/// <param name="SplitSeed">Seed of the row split (<see cref="RowSplit.Random"/>).</param>
/// <param name="TrainingRows">Rows trained on.</param>
/// <param name="ValidationRows">Rows validated on.</param>
/// <param name="Encoding">Dequantisation and scaling into the flow's space.</param>
/// <param name="Baseline">The full-covariance Gaussian fitted to the (dequantised) training rows, in data units.</param>
/// <param name="ValidationNll">How the validation NLL was computed, or null when selection used the objective.</param>
/// <param name="Support">Each column's training range (and observed set for a column of few whole numbers), against which
/// generated values are counted; null in checkpoints written before it was recorded.</param>
public sealed record TableRecord(
    string File,
    string Sha256,
    long FileRows,
    IReadOnlyList<string> Columns,
    TableReadOptions Read,
    IReadOnlyList<string>? ClassNames,
    IReadOnlyList<long>? ClassCounts,
    double ValidationFraction,
    string? ValidationFile,
    string? ValidationSha256,
    long SplitSeed,
    int TrainingRows,
    int ValidationRows,
    TableEncoding Encoding,
    FittedGaussian Baseline,
    string? ValidationNll,
    TableSupport? Support = null)
{
    /// <summary>Indices of the file's rows that were trained on and validated on (all rows are training rows without a split).</summary>
    public (int[] Training, int[] Validation) Split() => ValidationFile is null && ValidationFraction > 0
        ? RowSplit.Random((int)FileRows, ValidationFraction, SplitSeed)
        : (Enumerable.Range(0, (int)FileRows).ToArray(), []);
}
