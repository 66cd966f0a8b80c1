using System.Diagnostics;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Runs;
using StochasticInterpolants.Sampling;
using StochasticInterpolants.Training;

namespace StochasticInterpolants.Benchmarks;

/// <summary>
/// --manifolds: issue 26's figures for data on a manifold (docs/theory.md §15.8). Each target is trained with one budget
/// (MLP 128 x 3 on the embedding, batch 512), then scored by si eval's evaluator: the named targets vmf-mixture (S^2) and
/// von-mises-mixture (T^2) against their entropy (held-out NLL - H is a KL divergence, >= 0), the Ramachandran set on its
/// held-out residues against a von Mises product fitted to the training residues and the uniform law; every generated sample
/// checked to lie on the manifold; training, sampling and likelihood times.
/// </summary>
internal static class ManifoldBenchmark
{
    private sealed record Part(string Target, int Steps);

    public static int Run(bool quick)
    {
        if (quick) Console.WriteLine("QUICK RUN: budgets cut to seconds (a smoke test of the benchmark); the figures below measure nothing");
        var parts = new[] { new Part("vmf-mixture", quick ? 150 : 5000), new Part("von-mises-mixture", quick ? 150 : 5000), new Part("ramachandran", quick ? 150 : 5000) };
        var work = Directory.CreateTempSubdirectory("si-bench-manifolds-").FullName;
        Console.WriteLine($"checkpoints in {work} (deleted at the end); model: MLP 128 x 3 on the manifold's embedding, batch 512, seed 0; likelihood and samples by geodesic RK4, 50 steps, exact divergence");
        Console.WriteLine($"{"target",-18} {"manifold",-9} {"steps",6} {"train s",8} {"NLL (nats)",16} {"reference",-28} {"NLL - ref",16} {"uniform",8} {"off M",8} {"10k samples s",14} {"NLL s/1k",9}");
        try
        {
            foreach (var part in parts)
            {
                var folder = Path.Combine(work, part.Target);
                var config = new TrainingRunConfig(Target: part.Target, Model: new ModelOptions(Width: 128, Depth: 3),
                    Training: new TrainingOptions(Steps: part.Steps, BatchSize: 512, Seed: 0), Patience: 20);
                var watch = Stopwatch.StartNew();
                var result = TrainingRun.Execute(config, folder);
                var trainSeconds = watch.Elapsed.TotalSeconds;
                using var checkpoint = Checkpoint.Load(folder);
                var solver = new Rk4Solver(50);
                var count = quick ? 300 : 5000;
                watch.Restart();
                var report = ManifoldEvaluator.Evaluate(checkpoint, null, new EvaluationOptions(count, solver, Seed: 1));
                var evalSeconds = watch.Elapsed.TotalSeconds;
                watch.Restart();
                var (samples, _) = CheckpointSampler.Sample(checkpoint, quick ? 1000 : 10000, solver, seed: 2);
                var sampleSeconds = watch.Elapsed.TotalSeconds * (quick ? 10 : 1);
                samples.Dispose();
                var off = report.Notes?.FirstOrDefault(n => n.Contains("largest deviation", StringComparison.Ordinal))?.Split(' ').Last() ?? "?";
                var (reference, gap) = report.TrueEntropy is { } h
                    ? ($"entropy {h:F4}", $"{report.NllMean - h:F4} ± {report.NllStdErr:F4}")
                    : ($"{report.Baseline} {report.BaselineNll:F4}", $"{report.NllMinusBaseline:F4} ± {report.NllMinusBaselineStdErr:F4}");
                var steps = result.Result.StepsCompleted + (result.Result.Selection is { } s ? $"/{s.KeptStep}" : "");
                // The evaluation's time covers the likelihood and as many generated samples again: the likelihood's share is estimated by removing the sampling rate.
                var nllPerThousand = Math.Max(0, evalSeconds - sampleSeconds * report.HeldOut / 10000.0) / report.HeldOut * 1000;
                Console.WriteLine($"{part.Target,-18} {checkpoint.Manifest.Manifold!.Manifold,-9} {steps,6} {trainSeconds,8:F1} {$"{report.NllMean:F4} ± {report.NllStdErr:F4}",16} {reference,-28} {gap,16} {report.UniformNll,8:F4} {off,8} {sampleSeconds,14:F2} {nllPerThousand,9:F2}");
            }
            Console.WriteLine("steps: completed (/kept, when held-out points chose the step). NLL - ref: against the entropy a KL divergence (>= 0; the standard error is the held-out NLL's); against the fitted baseline, negative means the flow is better. off M: the largest distance of a generated sample from the manifold.");
            return 0;
        }
        finally { Directory.Delete(work, true); }
    }
}
