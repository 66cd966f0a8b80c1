using StochasticInterpolants.Benchmarks;

namespace StochasticInterpolants.Tests.Bench;

/// <summary>The coupling benchmark modes' logic on tiny budgets: what they measure, what they skip, and that a run repeats exactly.</summary>
public sealed class CouplingBenchTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), $"si-coupling-bench-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_folder)) Directory.Delete(_folder, recursive: true);
    }

    private static readonly QualityBudget Tiny = new(Steps: 60, Batch: 128, Seed: 0, HeldOut: 120, MetricPoints: 100, SolverSteps: [1, 4], StraightnessSteps: 10);

    [Fact]
    public void Quality_scores_every_solver_setting_of_each_registered_coupling_and_repeats_exactly()
    {
        var log = new List<string>();
        var results = CouplingQuality.Measure(["independent", "no-such-coupling"], Tiny, _folder, log.Add);
        Assert.Contains(log, l => l.Contains("'no-such-coupling' is not registered", StringComparison.Ordinal) && l.Contains("skipped", StringComparison.Ordinal));
        var r = Assert.Single(results);
        Assert.Equal("independent", r.Coupling);
        Assert.Equal(["euler 1", "euler 4", "rk4 1", "rk4 4"], r.Cells.Select(c => $"{c.Solver} {c.Steps}"));
        foreach (var c in r.Cells)
        {
            Assert.InRange(c.SupportFraction, 0, 1);
            Assert.True(double.IsFinite(c.EnergyDistance) && double.IsFinite(c.Nll) && c.NllStdErr > 0, $"{c}");
        }
        // One reference sample for every setting: the floor is the same number throughout.
        Assert.Single(r.Cells.Select(c => c.EnergyDistanceFloor).Distinct());
        Assert.InRange(r.Straightness.Straightness, 1e-3, 1.0 + 1e-5);
        Assert.Equal((100, 10), (r.Straightness.Points, r.Straightness.Steps));
        Assert.True(File.Exists(Path.Combine(_folder, "independent", StochasticInterpolants.Checkpoints.Checkpoint.ManifestFileName)));

        var text = new List<string>();
        CouplingQuality.Print(results, Tiny, text.Add);
        var all = string.Join('\n', text);
        Assert.Contains("support fraction", all);
        Assert.Contains("energy distance", all);
        Assert.Contains("held-out NLL", all);
        Assert.Contains("straightness", all);
        Assert.Contains(text, l => l.StartsWith("rk4        4 |", StringComparison.Ordinal));

        // Same budget and seeds, same machine and threads: the same figures, bit for bit (what makes couplings comparable).
        var again = Assert.Single(CouplingQuality.Measure(["independent"], Tiny, _folder, _ => { }));
        Assert.Equal(r.Cells.Select(c => (c.SupportFraction, c.EnergyDistance, c.Nll)), again.Cells.Select(c => (c.SupportFraction, c.EnergyDistance, c.Nll)));
        Assert.Equal(r.Straightness.Straightness, again.Straightness.Straightness);
    }

    [Fact]
    public void Speed_always_measures_the_independent_baseline_and_skips_unregistered_couplings()
    {
        var log = new List<string>();
        var cells = CouplingSpeed.Measure(["no-such-coupling"], [64], rounds: 1, secondsPerRound: 0.05, log.Add);
        Assert.Contains(log, l => l.Contains("baseline", StringComparison.Ordinal));
        Assert.Contains(log, l => l.Contains("'no-such-coupling' is not registered", StringComparison.Ordinal));
        var cell = Assert.Single(cells);
        Assert.Equal(("independent", 64), (cell.Coupling, cell.Batch));
        Assert.True(cell.TimedSteps >= 1 && cell.StepsPerSecond > 0 && cell.SampleMilliseconds > 0, $"{cell}");
        var text = new List<string>();
        CouplingSpeed.Print(cells, text.Add);
        Assert.Contains(text, l => l.Contains("independent", StringComparison.Ordinal) && l.Contains(" 1.000 ", StringComparison.Ordinal));
    }
}
