using System.Diagnostics;
using System.Globalization;
using StochasticInterpolants.Couplings;
using StochasticInterpolants.Data;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using StochasticInterpolants.Objectives;
using StochasticInterpolants.Runs;
using StochasticInterpolants.Training;
using static TorchSharp.torch;

namespace StochasticInterpolants.Benchmarks;

/// <summary>What the speed of one coupling at one batch size came to.</summary>
/// <param name="Coupling">The coupling's registered name.</param>
/// <param name="Batch">Pairs per step.</param>
/// <param name="StepsPerSecond">Whole training steps per second (pairing, loss, backward, clipping, Adam, moving average).</param>
/// <param name="TimedSteps">Steps the rate was measured over (warm-up excluded).</param>
/// <param name="SampleMilliseconds">Mean wall time of the coupling's Sample() alone for one batch (drawing x0 and x1 and pairing them).</param>
public sealed record CouplingSpeedCell(string Coupling, int Batch, double StepsPerSecond, int TimedSteps, double SampleMilliseconds)
{
    /// <summary>Milliseconds per whole step, 1000 / steps per second.</summary>
    public double StepMilliseconds => 1000 / StepsPerSecond;
}

/// <summary>
/// --coupling-speed: what pairing costs in training. For each batch size, every coupling trains the demo's MLP (default
/// model options, velocity objective, linear interpolant, default Adam settings) on the 2-D checkerboard through the
/// library's own <see cref="TrainingStep"/> with its batches drawn from <c>Couplings.Create(name, ...)</c>. The couplings
/// take turns in rounds (so drifting load on a shared machine hits them alike); each round runs a coupling for a fixed
/// wall time after one untimed warm-up step per coupling. The coupling's Sample() alone is timed beside it.
/// </summary>
public static class CouplingSpeed
{
    /// <summary>The batch sizes of the full run.</summary>
    public static IReadOnlyList<int> Batches { get; } = [256, 1024, 4096];

    /// <summary>Runs the mode with the full settings (or --quick: one short round) and prints the table.</summary>
    public static int Run(IReadOnlyList<string>? couplings, bool quick)
    {
        var names = couplings ?? BenchOptions.DefaultCouplings;
        var (rounds, seconds) = quick ? (1, 0.5) : (3, 1.5);
        var cells = Measure(names, Batches, rounds, seconds, Console.WriteLine);
        Print(cells, Console.WriteLine);
        return cells.Count == 0 ? 1 : 0;
    }

    /// <summary>
    /// The registered ones among <paramref name="names"/> (independent is always measured, as the baseline of the
    /// ratios), each timed at every batch size in <paramref name="batches"/> over <paramref name="rounds"/> rounds of about
    /// <paramref name="secondsPerRound"/> s; unregistered names are reported to <paramref name="log"/> and skipped.
    /// </summary>
    public static IReadOnlyList<CouplingSpeedCell> Measure(IReadOnlyList<string> names, IReadOnlyList<int> batches, int rounds, double secondsPerRound, Action<string> log)
    {
        var known = Registered(names, log);
        var model = new ModelOptions();
        var config = new MlpConfig(2, model.Width, model.Depth, model.Activation, model.TimeFrequencies);
        log($"model: MLP {model.Width}x{model.Depth} ({model.Activation}), velocity objective, linear interpolant, Gaussian -> checkerboard, default Adam settings");
        log(string.Create(CultureInfo.InvariantCulture, $"timing: {rounds} round(s) of ~{secondsPerRound:G3} s per coupling and batch, couplings in turn, 1 warm-up step each (not timed)"));
        var cells = new List<CouplingSpeedCell>();
        foreach (var batch in batches)
        {
            var runners = known.Select(name => new Runner(name, config, batch)).ToList();
            try
            {
                foreach (var r in runners) r.Step(); // warm-up: first-call allocations, thread pools, caches
                for (var round = 0; round < rounds; round++)
                    foreach (var r in runners) r.RunFor(secondsPerRound);
                foreach (var r in runners)
                    cells.Add(new CouplingSpeedCell(r.Name, batch, r.TimedSteps / r.TimedSeconds, r.TimedSteps, r.SampleMilliseconds(Math.Min(1.0, secondsPerRound))));
            }
            finally { foreach (var r in runners) r.Dispose(); }
        }
        return cells;
    }

    /// <summary>The table: per batch and coupling, steps/s, the ratio to independent, ms per step, Sample() ms and its share of the step.</summary>
    public static void Print(IReadOnlyList<CouplingSpeedCell> cells, Action<string> write)
    {
        write("");
        write($"{"batch",6} {"coupling",-12} {"steps/s",9} {"x indep.",9} {"ms/step",9} {"Sample() ms",12} {"share",7} {"timed steps",12}");
        foreach (var cell in cells)
        {
            var baseline = cells.First(c => c.Batch == cell.Batch && c.Coupling == "independent");
            write(string.Create(CultureInfo.InvariantCulture,
                $"{cell.Batch,6} {cell.Coupling,-12} {cell.StepsPerSecond,9:F1} {cell.StepsPerSecond / baseline.StepsPerSecond,9:F3} {cell.StepMilliseconds,9:F2} {cell.SampleMilliseconds,12:F2} {cell.SampleMilliseconds / cell.StepMilliseconds,7:P0} {cell.TimedSteps,12}"));
        }
        write("x indep. = steps/s relative to independent pairs at the same batch; share = Sample() time / whole step time");
    }

    // The registered names in the order given, independent first; the rest are announced and skipped.
    internal static List<string> Registered(IReadOnlyList<string> names, Action<string> log)
    {
        var known = new List<string>();
        if (!names.Contains("independent"))
        {
            log("independent pairs are measured too: they are the baseline of the comparison");
            known.Add("independent");
        }
        foreach (var name in names)
        {
            if (StochasticInterpolants.Couplings.Couplings.Names.Contains(name)) { if (!known.Contains(name)) known.Add(name); }
            else log($"coupling '{name}' is not registered in this build (registered: {string.Join(", ", StochasticInterpolants.Couplings.Couplings.Names)}): skipped");
        }
        return known;
    }

    // One coupling's training at one batch size: its own network (same seed for all), step and batch stream.
    private sealed class Runner : IDisposable
    {
        private readonly MlpNetwork _net;
        private readonly TrainingStep _step;
        private readonly ICoupling _coupling;
        private readonly Generator _generator = new(0);
        private readonly int _batch;
        private int _index;

        public Runner(string name, MlpConfig config, int batch)
        {
            Name = name; _batch = batch;
            var interpolant = new LinearInterpolant();
            _coupling = StochasticInterpolants.Couplings.Couplings.Create(name, interpolant, new StandardGaussian(2), new Checkerboard());
            _net = new MlpNetwork(config, seed: 0);
            // Steps far beyond what is taken: the learning rate then follows warm-up and the top of the cosine, as early in a run.
            var options = new TrainingOptions(Steps: 1_000_000, BatchSize: batch, Seed: 0);
            _step = new TrainingStep(_coupling, [new LearnedNetwork(new VelocityObjective(interpolant), _net)], options, CPU);
        }

        public string Name { get; }
        public int TimedSteps { get; private set; }
        public double TimedSeconds { get; private set; }

        public void Step()
        {
            var losses = _step.Run(_index++, _generator);
            if (!double.IsFinite(losses[0])) throw new InvalidOperationException($"the '{Name}' coupling's training loss at batch {_batch} became {losses[0]} at step {_index}");
        }

        // At least one step, then until the wall time is used up (a slow coupling at batch 4096 may take seconds per step).
        public void RunFor(double seconds)
        {
            var watch = Stopwatch.StartNew();
            var steps = 0;
            while (steps < 1 || watch.Elapsed.TotalSeconds < seconds) { Step(); steps++; }
            TimedSteps += steps; TimedSeconds += watch.Elapsed.TotalSeconds;
        }

        // Sample() alone, after the training steps have warmed it: at least two calls, then until the wall time is used up.
        public double SampleMilliseconds(double seconds)
        {
            using var g = new Generator(1);
            var watch = Stopwatch.StartNew();
            var calls = 0;
            while (calls < 2 || watch.Elapsed.TotalSeconds < seconds) { Draw(); calls++; }
            return watch.Elapsed.TotalMilliseconds / calls;

            void Draw()
            {
                using var scope = NewDisposeScope();
                _coupling.Sample(_batch, g);
            }
        }

        public void Dispose()
        {
            foreach (var average in _step.Averages) average?.Dispose(); // the step hands its moving averages to its owner
            _step.Dispose();
            _net.Dispose();
            _generator.Dispose();
        }
    }
}
