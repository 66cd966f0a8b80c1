using System.Diagnostics;
using Spectre.Console;
using StochasticInterpolants.Runtime;
using StochasticInterpolants.Training;

namespace StochasticInterpolants.Cli;

/// <summary>
/// Shows training and sampling progress: a Spectre.Console bar (loss, steps/s, ETA) on an interactive terminal,
/// plain periodic lines otherwise (CI logs, pipes), or nothing. Progress goes to standard error so standard output
/// stays clean for results.
/// </summary>
internal sealed class ProgressDisplay(ProgressMode mode, TextWriter error)
{
    private readonly bool _live = mode == ProgressMode.Auto && !Console.IsErrorRedirected
                                  && Environment.GetEnvironmentVariable("CI") is null or "" or "false"
                                  && Environment.GetEnvironmentVariable("TERM") is not (null or "dumb") && ReferenceEquals(error, Console.Error);

    /// <summary>Runs <paramref name="work"/>, handing it an <see cref="IProgress{T}"/> for training progress.</summary>
    public T Train<T>(string label, int totalSteps, Func<IProgress<TrainingProgress>, T> work)
    {
        if (mode == ProgressMode.None) return work(new SyncProgress<TrainingProgress>(_ => { }));
        if (!_live)
        {
            var every = Math.Max(1, totalSteps / 20);
            return work(new SyncProgress<TrainingProgress>(p =>
            {
                if (p.Step % every == 0 || p.Step == p.TotalSteps)
                    error.WriteLine($"{label}: step {p.Step}/{p.TotalSteps}  loss {p.SmoothedLoss:F4}  lr {p.LearningRate:0.###e0}  {p.StepsPerSecond:F0} steps/s  {p.Elapsed:mm\\:ss}");
            }));
        }
        T result = default!;
        Terminal().Progress().AutoClear(false).HideCompleted(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(label, maxValue: totalSteps);
                var clock = Stopwatch.StartNew();
                result = work(new SyncProgress<TrainingProgress>(p =>
                {
                    task.Value = p.Step;
                    if (clock.ElapsedMilliseconds >= 100 || p.Step == p.TotalSteps)
                    {
                        task.Description = $"{label} loss {p.SmoothedLoss:F4} {p.StepsPerSecond:F0} it/s";
                        clock.Restart();
                    }
                }));
            });
        return result;
    }

    /// <summary>Runs <paramref name="work"/>, handing it an <see cref="IProgress{T}"/> of the completed fraction in [0, 1].</summary>
    public T Fraction<T>(string label, Func<IProgress<double>, T> work)
    {
        if (mode == ProgressMode.None) return work(new SyncProgress<double>(_ => { }));
        if (!_live)
        {
            var next = 0.25;
            return work(new SyncProgress<double>(f =>
            {
                if (f + 1e-12 >= next) { error.WriteLine($"{label}: {100 * f:F0}%"); next += 0.25; }
            }));
        }
        T result = default!;
        Terminal().Progress().AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(label, maxValue: 1.0);
                result = work(new SyncProgress<double>(f => task.Value = Math.Min(f, 1.0)));
                task.Value = 1.0;
            });
        return result;
    }

    private IAnsiConsole Terminal() => AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(error) });
}
