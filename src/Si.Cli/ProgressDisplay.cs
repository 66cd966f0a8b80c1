using System.Diagnostics;
using Spectre.Console;
using StochasticInterpolants.Runtime;
using StochasticInterpolants.Training;

namespace StochasticInterpolants.Cli;

/// <summary>
/// Shows training and sampling progress: a Spectre.Console bar (loss, steps/s, ETA) on an interactive terminal,
/// plain periodic lines otherwise (CI logs, pipes), or nothing. Progress goes to standard error so standard output
/// stays clean for results. A <paramref name="note"/> (e.g. fewer threads on a busy machine) is printed once, before the
/// first progress of any work, so a command that fails before its work keeps its one-line error.
/// </summary>
internal sealed class ProgressDisplay(ProgressMode mode, TextWriter error, string? note = null)
{
    private string? _note = note;

    /// <summary>Sets the note shown before the first progress (see the class remarks).</summary>
    public string? Note { set => _note = value; }

    // The note, once, as the first progress line (never with --progress none).
    private void NoteOnce()
    {
        if (_note is null || mode == ProgressMode.None) return;
        error.WriteLine($"si: note: {_note}");
        _note = null;
    }

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
                NoteOnce();
                if (p.Step % every == 0 || p.Step == p.TotalSteps)
                    error.WriteLine($"{label}: step {p.Step}/{p.TotalSteps}  loss {p.SmoothedLoss:F4}  lr {p.LearningRate:0.###e0}  {Rate(p.StepsPerSecond)} steps/s  {p.Elapsed:mm\\:ss}");
            }));
        }
        NoteOnce();
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
                        task.Description = $"{label} loss {p.SmoothedLoss:F4} {Rate(p.StepsPerSecond)} it/s";
                        clock.Restart();
                    }
                }));
            });
        return result;
    }

    /// <summary>The longest a plain display stays silent while work progresses.</summary>
    internal static readonly TimeSpan PlainInterval = TimeSpan.FromSeconds(10);

    /// <summary>Runs <paramref name="work"/>, handing it an <see cref="IProgress{T}"/> of the completed fraction in [0, 1].</summary>
    public T Fraction<T>(string label, Func<IProgress<double>, T> work)
    {
        if (mode == ProgressMode.None) return work(new SyncProgress<double>(_ => { }));
        if (!_live)
        {
            // A line at the first progress (so a long run shows at once that it has started), then at every further 10 %
            // or after PlainInterval without a line, whichever comes first; each with the time since the start.
            var next = 0.0;
            var clock = Stopwatch.StartNew();
            var lastLine = TimeSpan.Zero;
            var lastShown = -1.0;
            return work(new SyncProgress<double>(f =>
            {
                NoteOnce();
                var now = clock.Elapsed;
                if (f + 1e-12 < next && (now - lastLine < PlainInterval || f <= lastShown)) return;
                error.WriteLine($"{label}: {100 * f:F0}%  {now:mm\\:ss}");
                (lastLine, lastShown) = (now, f);
                next = Math.Floor(f * 10 + 1e-9) / 10 + 0.1;
            }));
        }
        NoteOnce();
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

    // Steps per second to three significant figures: 1234, 56.7, 0.412 (a U-Net step can take seconds).
    private static string Rate(double perSecond) => perSecond >= 100 ? perSecond.ToString("F0", System.Globalization.CultureInfo.InvariantCulture)
        : perSecond.ToString("G3", System.Globalization.CultureInfo.InvariantCulture);

    private IAnsiConsole Terminal() => AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(error) });
}
