namespace StochasticInterpolants.Runtime;

/// <summary>
/// A setting outside its valid range, reported in the library's own terms ("solver steps must be in 1..1000000, got 0").
/// <see cref="Setting"/> names the setting so that a front end can point at its own spelling of it (the command line maps
/// it to a flag).
/// </summary>
public sealed class InvalidSettingException(string setting, string message) : ArgumentException(message)
{
    /// <summary>The setting's name in the library (e.g. <c>TrainingOptions.Steps</c>, <c>solver steps</c>).</summary>
    public string Setting { get; } = setting;
}
