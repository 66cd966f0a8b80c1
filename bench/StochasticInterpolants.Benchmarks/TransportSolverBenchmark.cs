using System.Diagnostics;
using StochasticInterpolants.Couplings;
using StochasticInterpolants.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Benchmarks;

/// <summary>
/// --ot-solver: the exact minibatch OT frontier — time per pairing against n, cold (column minima) and warm (the previous
/// batch's potentials carried over), for the checkerboard (d = 2) and 784-dimensional data; split into the cost matrix,
/// the carried prices and the solve, with what the solver did (initial matches, augmenting paths, full passes).
/// </summary>
public static class TransportSolverBenchmark
{
    /// <summary>Runs the mode; 0 on success.</summary>
    public static int Run(bool quick)
    {
        int[] sizes = Environment.GetEnvironmentVariable("SI_BENCH_OT_SIZES") is { Length: > 0 } given
            ? given.Split(',').Select(int.Parse).ToArray() // for exploring the frontier; not a documented option
            : quick ? [256, 1024] : [256, 1024, 2048, 4096];
        var batches = quick ? 4 : 8;
        Console.WriteLine("exact OT per batch (ms, median over batches 2..; cold = every batch from the column minima)");
        Console.WriteLine($"{"data",-13} {"n",5} {"start",5} {"total",8} {"matrix",7} {"prices",7} {"solve",8} {"matched0",9} {"paths",7} {"passes",7} {"added",8} {"scan/path",9} {"cost/n",9}  phases: graph/auction/reduce/paths/verify ms");
        foreach (var (name, data) in new (string, Func<int, Generator, Tensor>)[]
                 {
                     ("checkerboard", (n, g) => new Checkerboard().Sample(n, g)),
                     ("gauss-784", (n, g) => randn(n, 784, generator: g).mul(0.5).add(1)),
                 })
            foreach (var n in sizes)
                foreach (var warm in new[] { false, true })
                {
                    using var transport = new MinibatchTransport
                    {
                        WarmStart = warm,
                        Threads = int.TryParse(Environment.GetEnvironmentVariable("SI_BENCH_OT_THREADS"), out var th) ? th : 0,
                        Candidates = int.TryParse(Environment.GetEnvironmentVariable("SI_BENCH_OT_K"), out var k) ? k : 0,
                    };
                    using var g = new Generator(1);
                    var totals = new List<double>(); var solves = new List<double>(); var matrices = new List<double>(); var carries = new List<double>();
                    TransportStep? last = null;
                    for (var b = 0; b < batches; b++)
                    {
                        using var scope = NewDisposeScope();
                        var x0 = randn(n, name == "checkerboard" ? 2 : 784, generator: g);
                        var x1 = data(n, g);
                        var watch = Stopwatch.StartNew();
                        _ = transport.Pair(x0, x1);
                        watch.Stop();
                        last = transport.Last!;
                        if (b == 0) continue; // the first batch of a warm run is cold
                        totals.Add(watch.Elapsed.TotalMilliseconds);
                        solves.Add(last.SolveMilliseconds); matrices.Add(last.MatrixMilliseconds); carries.Add(last.PricesMilliseconds);
                    }
                    var s = last!.Solve;
                    Console.WriteLine($"{name,-13} {n,5} {(warm ? "warm" : "cold"),5} {Median(totals),8:F1} {Median(matrices),7:F1} {Median(carries),7:F1} {Median(solves),8:F1} {s.InitiallyMatched,9} {s.Augmentations,7} {s.VerificationRounds,7} {s.AddedEdges,8} {(double)s.ScannedColumns / Math.Max(1, s.Augmentations),9:F1} {last.Cost / n,9:F4}  {s.Phases.Graph:F0}/{s.Phases.Auction:F0}/{s.Phases.Reduction:F0}/{s.Phases.Paths:F0}/{s.Phases.Verification:F0}");
                }
        return 0;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.OrderBy(v => v).ToList();
        return sorted.Count == 0 ? double.NaN : sorted[sorted.Count / 2];
    }
}
