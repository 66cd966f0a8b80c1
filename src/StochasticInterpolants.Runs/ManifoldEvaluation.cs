using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Data;
using StochasticInterpolants.Distributed;
using StochasticInterpolants.Files;
using StochasticInterpolants.Manifolds;
using StochasticInterpolants.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Runs;

/// <summary>
/// Scores a checkpoint trained on a manifold (docs/theory.md §15.8): <see cref="Evaluator.Evaluate"/>'s figures — the NLL by
/// the Riemannian likelihood, distances between embedded points, every generated sample checked to lie on the manifold —
/// against the true entropy of a named target, or, for observed points, on the held-out points training never saw, beside
/// two baselines fitted to the training points: a von Mises product (torus) or a von Mises–Fisher law (sphere), and the
/// uniform law (NLL = log volume).
/// </summary>
public static class ManifoldEvaluator
{
    /// <summary>
    /// Evaluates <paramref name="checkpoint"/>; <paramref name="targetSpec"/> overrides what is scored (a named target on the
    /// same manifold, or a CSV of points on it); null: the training target, or the held-out split of observed points.
    /// </summary>
    public static EvaluationReport Evaluate(Checkpoint checkpoint, string? targetSpec, EvaluationOptions options, IProgress<double>? progress = null,
        IProcessGroup? processes = null, Action<string>? message = null)
    {
        var record = checkpoint.Manifest.Manifold ?? throw new ArgumentException("this checkpoint was not trained on a manifold");
        var manifold = Manifold.Parse(record.Manifold);
        ManifoldSamples? training = null;
        Tensor? heldOut = null;
        IDistribution target;
        string? rows = null;
        try
        {
            if (targetSpec is not null)
            {
                if (Distributions.TryParse(targetSpec) is { } named)
                    target = named is IManifoldDistribution m && m.Manifold.Name == manifold.Name ? named
                        : throw new InvalidSettingException("target", $"'{targetSpec}' is not a distribution on {manifold.Name}, this checkpoint's manifold");
                else
                {
                    if (!File.Exists(targetSpec)) throw new InvalidSettingException("target", $"'{targetSpec}' is neither a target on {manifold.Name} nor a CSV file");
                    using var table = DataSources.ReadCsv(targetSpec);
                    using var points = new ManifoldSamples(manifold, table.Rows, Path.GetFileName(targetSpec));
                    heldOut = points.Rows.clone();
                    target = new EmpiricalDistribution(heldOut, Path.GetFileName(targetSpec));
                }
                if (record.Source is not null) (training, _) = ManifoldPieces.Reload(record, message);
            }
            else if (record.Source is null) target = Distributions.TryParse(checkpoint.Manifest.Target) ?? throw new CheckpointException($"cannot rebuild the target '{checkpoint.Manifest.Target}'");
            else
            {
                (training, heldOut) = ManifoldPieces.Reload(record, message);
                if (heldOut.shape[0] < 2) throw new InvalidSettingException("validation", $"this checkpoint held out {heldOut.shape[0]} points: give --target with points to score");
                target = new EmpiricalDistribution(heldOut, $"held-out points of {Path.GetFileName(record.Source)}");
                rows = $"held-out points of {Path.GetFileName(record.Source)} (never trained on)";
            }
            var count = target is EmpiricalDistribution e ? (int)Math.Min(options.Count, e.Count) : options.Count;
            var report = Evaluator.Evaluate(checkpoint, target, options with { Count = count }, progress, processes);
            report = report with { Rows = rows, UniformNll = manifold.IsCompact ? manifold.LogVolume : null };
            if (training is null || target is not EmpiricalDistribution scored) return report;
            // The baselines on the very points the model was scored on (Evaluate scores a random Count of the file's rows: all of
            // them when Count covers them, as here by default).
            if (scored.Count > count || FittedBaseline(manifold, training.Rows) is not { } fitted) return report;
            var (name, logDensity) = fitted;
            using var baseline = -logDensity(scored.Rows.to(float64));
            var n = baseline.shape[0];
            var mean = baseline.mean().ToDouble();
            var se = baseline.std().ToDouble() / Math.Sqrt(n);
            return report with { Baseline = name, BaselineNll = mean, BaselineNllStdErr = se, NllMinusBaseline = report.NllMean - mean,
                // Not paired: Evaluate's point order is its own; the two errors are combined as if independent (conservative).
                NllMinusBaselineStdErr = Math.Sqrt(se * se + report.NllStdErr * report.NllStdErr) };
        }
        finally { training?.Dispose(); }
    }

    /// <summary>
    /// The maximum-likelihood baseline on <paramref name="manifold"/> fitted to <paramref name="training"/>, its name and
    /// log-density: a von Mises product on the torus, a von Mises–Fisher law on the sphere; null elsewhere (a product with R^k).
    /// </summary>
    public static (string Name, Func<Tensor, Tensor> LogDensity)? FittedBaseline(IManifold manifold, Tensor training) => manifold switch
    {
        FlatTorus => ("von Mises product", VonMisesProduct.Fit(training).LogDensity),
        Sphere => ("von Mises-Fisher", VonMisesFisher.Fit(training).LogDensity),
        _ => null,
    };
}
