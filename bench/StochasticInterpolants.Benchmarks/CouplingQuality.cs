using System.Diagnostics;
using System.Globalization;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Data;
using StochasticInterpolants.Metrics;
using StochasticInterpolants.Runs;
using StochasticInterpolants.Sampling;
using static TorchSharp.torch;

namespace StochasticInterpolants.Benchmarks;

/// <summary>The shared budget of --coupling-quality: every coupling is trained and scored with exactly these settings.</summary>
/// <param name="Steps">Training steps.</param>
/// <param name="Batch">Pairs per step.</param>
/// <param name="Seed">Training seed (network initialisation and every batch draw).</param>
/// <param name="HeldOut">Held-out checkerboard points scored by the NLL (and generated samples per solver setting).</param>
/// <param name="MetricPoints">Points in the energy distance (and its target-vs-target floor) and start points of the straightness.</param>
/// <param name="SolverSteps">Step counts tried with each solver.</param>
/// <param name="StraightnessSteps">RK4 steps of the straightness integral.</param>
public sealed record QualityBudget(int Steps, int Batch, long Seed, int HeldOut, int MetricPoints, IReadOnlyList<int> SolverSteps, int StraightnessSteps = 100)
{
    /// <summary>
    /// The full run: 3,000 steps at batch 1024 (the demo's MLP and optimiser), 2,000 held-out and metric points (NLL standard
    /// error ~0.011 nats). Measured for independent pairs on a loaded 2-core machine: training 206 s, scoring 555 s with 5,000
    /// held-out points, of which RK4 100 took 341 s and Euler 100 93 s — hence 2,000, about 2.5 times less scoring.
    /// </summary>
    public static QualityBudget Full { get; } = new(3000, 1024, 0, 2000, 2000, [1, 2, 4, 8, 100]);
    /// <summary>--quick: 300 steps at batch 256, 500 held-out and metric points.</summary>
    public static QualityBudget Quick { get; } = new(300, 256, 0, 500, 500, [1, 2, 4, 8, 100]);
}

/// <summary>One solver setting's figures for one trained coupling.</summary>
/// <param name="Solver">euler or rk4.</param>
/// <param name="Steps">Its step count (the same for sampling and for the likelihood ODE).</param>
/// <param name="SupportFraction">Fraction of generated samples inside the checkerboard's squares (1 for the target).</param>
/// <param name="EnergyDistance">Squared energy distance between generated samples and held-out target points.</param>
/// <param name="EnergyDistanceFloor">The same estimate between two independent target samples of that size.</param>
/// <param name="Nll">Held-out NLL in nats (the likelihood ODE with this solver and steps, exact divergence).</param>
/// <param name="NllStdErr">Its standard error.</param>
/// <param name="Seconds">Wall time of this evaluation.</param>
public sealed record QualityCell(string Solver, int Steps, double SupportFraction, double EnergyDistance, double EnergyDistanceFloor,
    double Nll, double NllStdErr, double Seconds);

/// <summary>One coupling's training and scores.</summary>
/// <param name="Coupling">The coupling's registered name.</param>
/// <param name="TrainSeconds">Wall time of the training run.</param>
/// <param name="StepsPerSecond">Its mean training steps per second.</param>
/// <param name="FinalLoss">Mean training loss over the last log window.</param>
/// <param name="Straightness">The learned flow's path straightness (RK4) from base points.</param>
/// <param name="Cells">Every solver setting's figures, Euler first then RK4, each by increasing steps.</param>
public sealed record CouplingQualityResult(string Coupling, double TrainSeconds, double StepsPerSecond, double FinalLoss,
    StraightnessResult Straightness, IReadOnlyList<QualityCell> Cells);

/// <summary>
/// --coupling-quality: does a coupling buy sample quality at few solver steps? Each coupling trains the checkerboard with
/// the linear two-sided interpolant (the demo's MLP and optimiser) on the same <see cref="QualityBudget"/> through a
/// whole <see cref="TrainingRun"/>; the checkpoint is then scored by <see cref="Evaluator.Evaluate"/> (as <c>si eval</c>:
/// support fraction, energy distance with its floor, held-out NLL with its standard error) for Euler and RK4 at each step
/// count, and its velocity's straightness is measured by <see cref="PathStraightness"/>. Held-out points, base draws and
/// energy-distance references are the same for every coupling, so the differences are paired.
/// </summary>
public static class CouplingQuality
{
    private static readonly string[] Solvers = ["euler", "rk4"];

    /// <summary>Runs the mode (full budget, or --quick) into a folder under the temporary directory and prints the tables.</summary>
    public static int Run(IReadOnlyList<string>? couplings, bool quick)
    {
        var budget = quick ? QualityBudget.Quick : QualityBudget.Full;
        var folder = Path.Combine(Path.GetTempPath(), "si-bench-coupling-quality");
        Console.WriteLine($"checkpoints in {folder}");
        var results = Measure(couplings ?? BenchOptions.DefaultCouplings, budget, folder, Console.WriteLine);
        Print(results, budget, Console.WriteLine);
        return results.Count == 0 ? 1 : 0;
    }

    /// <summary>
    /// Trains and scores each registered coupling of <paramref name="names"/> on <paramref name="budget"/>, with checkpoints in
    /// <paramref name="folder"/>/&lt;name&gt;; unregistered names are reported to <paramref name="log"/> and skipped.
    /// </summary>
    public static IReadOnlyList<CouplingQualityResult> Measure(IReadOnlyList<string> names, QualityBudget budget, string folder, Action<string> log)
    {
        var known = names.Where(n => StochasticInterpolants.Couplings.Couplings.Names.Contains(n)).ToList();
        foreach (var missing in names.Except(known))
            log($"coupling '{missing}' is not registered in this build (registered: {string.Join(", ", StochasticInterpolants.Couplings.Couplings.Names)}): skipped");
        log(string.Create(CultureInfo.InvariantCulture,
            $"budget per coupling: {budget.Steps} steps at batch {budget.Batch}, seed {budget.Seed}; linear interpolant, demo MLP and optimiser; held-out {budget.HeldOut}, metric points {budget.MetricPoints}"));
        var results = new List<CouplingQualityResult>();
        foreach (var name in known)
        {
            var demo = Presets.CheckerboardDemo(budget.Seed, interpolant: "linear");
            var config = demo with
            {
                Training = demo.TrainingOrDefault with { Steps = budget.Steps, BatchSize = budget.Batch, LogEvery = Math.Max(1, budget.Steps / 10) },
                Coupling = name,
                CheckpointEvery = budget.Steps, // no resumable snapshots mid-run: they would be timed as training
            };
            var runFolder = Path.Combine(folder, name);
            log($"[{name}] training {budget.Steps} steps at batch {budget.Batch} into {runFolder}");
            var watch = Stopwatch.StartNew();
            var run = TrainingRun.Execute(config, runFolder, overwrite: true);
            var trainSeconds = watch.Elapsed.TotalSeconds;
            using var checkpoint = Checkpoint.Load(runFolder);
            var fields = checkpoint.Fields();
            var (start, end) = fields.VelocityInterval(checkpoint.Manifest.TimeClip);
            StraightnessResult straightness;
            using (var g = new Generator(11))
            using (var x0 = CheckpointSampler.BaseOf(checkpoint.Manifest).Sample(budget.MetricPoints, g))
                straightness = PathStraightness.Measure(fields.Velocity(), x0, budget.StraightnessSteps, start, end);
            log(string.Create(CultureInfo.InvariantCulture,
                $"[{name}] trained in {trainSeconds:F1} s ({run.Result.StepsPerSecond:F1} steps/s), final loss {run.Result.FinalLoss:F4}; straightness {straightness.Straightness:F4}"));
            var cells = new List<QualityCell>();
            foreach (var solver in Solvers)
                foreach (var steps in budget.SolverSteps)
                {
                    var report = Evaluator.Evaluate(checkpoint, new Checkerboard(),
                        new EvaluationOptions(budget.HeldOut, OdeSolvers.Create(solver, steps), Seed: 0, MetricPoints: budget.MetricPoints));
                    var cell = new QualityCell(solver, steps, report.SupportFraction ?? double.NaN, report.EnergyDistance, report.EnergyDistanceFloor,
                        report.NllMean, report.NllStdErr, report.Seconds);
                    cells.Add(cell);
                    log(string.Create(CultureInfo.InvariantCulture,
                        $"[{name}] {solver} {steps,3}: inside {cell.SupportFraction:F3}, ED {cell.EnergyDistance:F4}, NLL {cell.Nll:F4} ± {cell.NllStdErr:F4} ({cell.Seconds:F1} s)"));
                }
            results.Add(new CouplingQualityResult(name, trainSeconds, run.Result.StepsPerSecond, run.Result.FinalLoss, straightness, cells));
        }
        return results;
    }

    /// <summary>The tables: one per figure (rows: solver and steps; columns: couplings), then training and straightness.</summary>
    public static void Print(IReadOnlyList<CouplingQualityResult> results, QualityBudget budget, Action<string> write)
    {
        if (results.Count == 0) { write("no registered coupling to measure"); return; }
        var header = $"{"solver",-6} {"steps",5} | " + string.Join(" | ", results.Select(r => $"{r.Coupling,15}"));
        Table($"support fraction (share of samples inside the squares; the target's is 1)", c => $"{c.SupportFraction,15:F3}");
        Table($"energy distance D^2 to {budget.MetricPoints} held-out target points (floor, target vs target: {results[0].Cells[0].EnergyDistanceFloor:F4})",
            c => $"{c.EnergyDistance,15:F4}");
        Table($"held-out NLL, nats ± standard error ({budget.HeldOut} points, exact divergence; entropy ln 32 = {Math.Log(32):F4})",
            c => $"{c.Nll,8:F4} ± {c.NllStdErr,5:F4}");
        // With few steps the likelihood ODE's log-determinant is a coarse quadrature of the divergence, not the log-Jacobian
        // of the solver's own map: those rows estimate the continuous flow's NLL badly and can even fall below the entropy.
        write("(at few steps the NLL is the solver's estimate of the continuous flow's likelihood, not a bound: it can fall below ln 32)");
        write("");
        write(string.Create(CultureInfo.InvariantCulture, $"training ({budget.Steps} steps at batch {budget.Batch}, seed {budget.Seed}) and path straightness (RK4 {budget.StraightnessSteps} steps from {budget.MetricPoints} base points; 1 = straight lines at constant speed)"));
        write($"{"coupling",-12} {"train s",8} {"steps/s",8} {"final loss",11} {"S",7} {"E|X1-X0|^2",11} {"E int|b|^2",11}");
        foreach (var r in results)
            write(string.Create(CultureInfo.InvariantCulture,
                $"{r.Coupling,-12} {r.TrainSeconds,8:F1} {r.StepsPerSecond,8:F1} {r.FinalLoss,11:F4} {r.Straightness.Straightness,7:F4} {r.Straightness.MeanSquaredDisplacement,11:F4} {r.Straightness.MeanKineticEnergy,11:F4}"));

        // Numbers in the invariant culture whatever the machine's locale.
        void Table(FormattableString title, Func<QualityCell, FormattableString> format)
        {
            write("");
            write(title.ToString(CultureInfo.InvariantCulture));
            write(header);
            foreach (var solver in Solvers)
                foreach (var steps in budget.SolverSteps)
                    write($"{solver,-6} {steps,5} | " + string.Join(" | ", results.Select(r => format(r.Cells.Single(c => c.Solver == solver && c.Steps == steps)).ToString(CultureInfo.InvariantCulture))));
        }
    }
}
