namespace StochasticInterpolants.Data;

/// <summary>A data file is malformed: the message names the file, the line and the problem, on one line.</summary>
public sealed class DataFormatException(string message) : Exception(message);
