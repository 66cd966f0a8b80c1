using System.CommandLine;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Data;
using StochasticInterpolants.Runtime;
using StochasticInterpolants.Sampling;

namespace StochasticInterpolants.Cli;

/// <summary><c>si sample</c>: push base samples through the learned flow and write them as CSV.</summary>
internal static class SampleCommand
{
    internal sealed class SolverOptions
    {
        public readonly Option<string> Solver = new("--solver") { Description = "euler, heun, midpoint, rk4 or dopri5 (adaptive)", DefaultValueFactory = _ => "rk4" };
        public readonly Option<int> Steps = new("--steps") { Description = "steps of a fixed-step solver", DefaultValueFactory = _ => 50 };
        public readonly Option<double> Rtol = new("--rtol") { Description = "relative tolerance of dopri5", DefaultValueFactory = _ => 1e-4 };
        public readonly Option<double> Atol = new("--atol") { Description = "absolute tolerance of dopri5", DefaultValueFactory = _ => 1e-4 };
        public IEnumerable<Option> All => [Solver, Steps, Rtol, Atol];
        public IOdeSolver Build(ParseResult r) => OdeSolvers.Create(r.GetValue(Solver)!, r.GetValue(Steps), r.GetValue(Rtol), r.GetValue(Atol));
    }

    public static Command Create(TextWriter output, TextWriter error)
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "a training output folder (holding checkpoint.json)", Required = true };
        var count = new Option<int>("--count") { Description = "number of samples", DefaultValueFactory = _ => 10_000 };
        var outFile = new Option<string>("--out") { Description = "CSV file to write: one sample per row, comma-separated, no header", Required = true };
        var noEma = new Option<bool>("--no-ema") { Description = "use the last-iterate weights instead of the moving average" };
        var solver = new SolverOptions();
        var seed = CommonOptions.Seed();
        var device = CommonOptions.Device();
        var threads = CommonOptions.Threads();
        var progress = CommonOptions.Progress();
        var command = new Command("sample", "Generate samples of rho1: draw X_0 ~ rho0 and integrate dX/dt = b(t, X) from t = 0 to 1.");
        foreach (var o in solver.All) command.Options.Add(o);
        foreach (var o in new Option[] { checkpoint, count, outFile, noEma, seed, device, threads, progress }) command.Options.Add(o);
        command.SetAction(r =>
        {
            var n = r.GetValue(count);
            if (n < 1) throw new UsageException($"--count must be >= 1, got {n}");
            var ode = solver.Build(r);
            var outPath = r.GetValue(outFile)!;
            var outFolder = Path.GetDirectoryName(Path.GetFullPath(outPath))!;
            if (!Directory.Exists(outFolder)) throw new DirectoryNotFoundException($"output folder '{outFolder}' does not exist");
            CommonOptions.ApplyRuntime(r.GetValue(threads));
            var dev = ComputeDevice.Resolve(r.GetValue(device)!);
            using var ckpt = Checkpoint.Load(r.GetValue(checkpoint)!, preferEma: !r.GetValue(noEma), device: dev);
            var display = new ProgressDisplay(r.GetValue(progress), error);
            var watch = System.Diagnostics.Stopwatch.StartNew();
            var (samples, nfe) = display.Fraction("sample", p => CheckpointSampler.Sample(ckpt, n, ode, r.GetValue(seed), dev, progress: p));
            using (samples)
            {
                CsvMatrix.Write(outPath, samples);
                output.WriteLine($"wrote {n} samples to {outPath} ({ode.Name}, {nfe:0.#} evaluations of b per sample, {watch.Elapsed.TotalSeconds:F1} s)");
            }
            return ExitCodes.Ok;
        });
        return command;
    }
}
