namespace StochasticInterpolants.Runtime;

/// <summary>
/// An <see cref="IProgress{T}"/> that calls its action on the reporting thread, at once. System.Progress posts to
/// the thread pool instead, which reorders reports and lets them arrive after the work has finished.
/// </summary>
public sealed class SyncProgress<T>(Action<T> action) : IProgress<T>
{
    /// <inheritdoc />
    public void Report(T value) => action(value);
}
