namespace StochasticInterpolants.Data;

/// <summary>A data file is malformed: the message names the file, the line and the problem, on one line.</summary>
public sealed class DataFormatException(string message) : Exception(message)
{
    /// <summary>
    /// The name of a feature column (as column options name it: the header's name, or <c>colK</c>) found holding text
    /// rather than a missing value, or null: a front end can suggest leaving the column out or reading it as class labels.
    /// </summary>
    public string? TextColumn { get; init; }

    /// <summary>
    /// A physical line (1-based) that may be a metadata line rather than data, or null: a front end can suggest skipping the
    /// leading lines up to it.
    /// </summary>
    public int? MetadataLine { get; init; }
}
