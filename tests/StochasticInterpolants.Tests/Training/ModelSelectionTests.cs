using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Couplings;
using StochasticInterpolants.Data;
using StochasticInterpolants.Files;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using StochasticInterpolants.Objectives;
using StochasticInterpolants.Runs;
using StochasticInterpolants.Training;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Training;

/// <summary>Validation, model selection and early stopping in the trainer, and their snapshot-and-resume guarantee.</summary>
public sealed class ModelSelectionTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-select-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    /// <summary>Returns a planted curve, one value per call, and records the weights it was shown at each call.</summary>
    private sealed class PlantedValidator(double[] curve, MlpNetwork network) : IValidator
    {
        public List<float[]> Seen { get; } = [];
        public SelectionMetric Metric => SelectionMetric.Nll;
        public ValidationScores Validate()
        {
            Seen.Add(network.parameters().SelectMany(p => p.detach().flatten().data<float>().ToArray()).ToArray());
            return new ValidationScores(curve[Seen.Count - 1] + 10, curve[Seen.Count - 1]);
        }
    }

    private static float[] Flat(IEnumerable<Tensor> tensors) => tensors.SelectMany(t => t.detach().flatten().data<float>().ToArray()).ToArray();

    [Theory]
    [InlineData(0.999)]
    [InlineData(0.0)]
    public void Early_stopping_keeps_the_minimum_of_a_planted_validation_curve(double ema)
    {
        // Validations at steps 10, 20, ...: the minimum (2.0) is the 4th, at step 40; with patience 3 the run stops at step 70.
        double[] curve = [5, 4, 3, 2.0, 2.5, 2.1, 2.7, 1.0, 0.5, 0.1];
        using var net = new MlpNetwork(new MlpConfig(2, Width: 16, Depth: 2), seed: 1);
        var validator = new PlantedValidator(curve, net);
        var options = new TrainingOptions(Steps: 100, BatchSize: 32, WarmupSteps: 0, EmaDecay: ema, LogEvery: 25, Seed: 2);
        var trainer = new Trainer(new IndependentCoupling(new StandardGaussian(2), new Checkerboard()), new VelocityObjective(new LinearInterpolant()), net, options)
        {
            Selection = new ModelSelection(validator, Every: 10, Patience: 3),
        };
        var result = trainer.Run(out var average);
        using (average)
        {
            Assert.Equal(70, result.StepsCompleted);
            Assert.True(result.Completed);
            Assert.Equal(new SelectionOutcome(40, SelectionMetric.Nll, 2.0, true, 7, 3), result.Selection);
            Assert.Equal(7, validator.Seen.Count);
            // The weights handed back are the ones the validator scored at step 40 (the moving average when EMA is on).
            var kept = average is null ? Flat(net.parameters()) : Flat(average.State.Values);
            Assert.Equal(validator.Seen[3], kept);
            Assert.NotEqual(validator.Seen[6], kept);
            // The log has a row at every validation, with the planted values.
            Assert.Equal([10, 20, 25, 30, 40, 50, 60, 70], result.Log.Select(e => e.Step));
            Assert.Equal([5, 4, null, 3, 2.0, 2.5, 2.1, 2.7], result.Log.Select(e => e.ValidationNll));
            Assert.Contains("kept the weights of step 40", result.Selection!.Describe(100));
            Assert.Contains("stopped early", result.Selection!.Describe(100));
        }
    }

    [Fact]
    public void Without_patience_every_step_runs_and_the_best_is_still_kept()
    {
        double[] curve = [5, 4, 1, 2, 3];
        using var net = new MlpNetwork(new MlpConfig(2, Width: 16, Depth: 2), seed: 1);
        var trainer = new Trainer(new IndependentCoupling(new StandardGaussian(2), new Checkerboard()), new VelocityObjective(new LinearInterpolant()), net,
            new TrainingOptions(Steps: 50, BatchSize: 32, WarmupSteps: 0, EmaDecay: 0, Seed: 2)) { Selection = new ModelSelection(new PlantedValidator(curve, net), 10, 0) };
        var result = trainer.Run(out _);
        Assert.Equal(50, result.StepsCompleted);
        Assert.Equal(30, result.Selection!.KeptStep);
        Assert.False(result.Selection.StoppedEarly);
    }

    [Fact]
    public void A_non_finite_validation_score_stops_the_run_naming_the_step()
    {
        using var net = new MlpNetwork(new MlpConfig(2, Width: 16, Depth: 2), seed: 1);
        var trainer = new Trainer(new IndependentCoupling(new StandardGaussian(2), new Checkerboard()), new VelocityObjective(new LinearInterpolant()), net,
            new TrainingOptions(Steps: 50, BatchSize: 32, WarmupSteps: 0, Seed: 2)) { Selection = new ModelSelection(new PlantedValidator([3, double.NaN], net), 10, 0) };
        var e = Assert.Throws<TrainingDivergedException>(() => trainer.Run(out _));
        Assert.Contains("validation NLL became NaN at step 20", e.Message);
    }

    // A 3-column table with a label-free Gaussian shape, 300 rows.
    private string Table()
    {
        var rng = new Random(4);
        var path = Path.Combine(_dir, "table.csv");
        File.WriteAllLines(path, ["a,b,c", .. Enumerable.Range(0, 300).Select(_ =>
        {
            double u = rng.NextDouble() * 2 - 1, v = rng.NextDouble() * 2 - 1;
            return string.Join(",", new[] { 100 + 30 * u, 0.01 * (u + v), Math.Round(5 * v) }.Select(x => x.ToString("R", System.Globalization.CultureInfo.InvariantCulture)));
        })]);
        return path;
    }

    [Fact]
    public void Interrupted_table_run_with_selection_resumes_to_the_same_kept_weights()
    {
        var config = new TrainingRunConfig(Target: Table(), CheckpointEvery: 40, Patience: 0, ValidateEvery: 30,
            Model: new ModelOptions(Width: 24, Depth: 2), Training: new TrainingOptions(Steps: 200, BatchSize: 64, Seed: 5, LogEvery: 25, WarmupSteps: 10));
        var reference = Path.Combine(_dir, "reference");
        var whole = TrainingRun.Execute(config, reference);
        Assert.NotNull(whole.Result.Selection);

        var interrupted = Path.Combine(_dir, "interrupted");
        using var cts = new CancellationTokenSource();
        var first = TrainingRun.Execute(config, interrupted, new Runtime.SyncProgress<TrainingProgress>(p => { if (p.Step == 97) cts.Cancel(); }), cts.Token);
        Assert.False(first.Result.Completed);
        var resumed = TrainingRun.Resume(interrupted);
        Assert.Equal(whole.Result.Selection, resumed.Result.Selection);
        foreach (var f in new[] { "weights.velocity.safetensors", "weights.velocity.ema.safetensors" })
            Assert.True(File.ReadAllBytes(Path.Combine(reference, f)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(interrupted, f))), $"{f} differs");
        var manifest = Checkpoint.ReadManifest(interrupted);
        Assert.Equal(whole.Result.Selection!.KeptStep, manifest.Selection!.KeptStep);
        Assert.Equal(30, manifest.Table!.ValidationRows);
        Assert.Equal(CsvTable.Sha256(config.Target), manifest.Table.Sha256);
        Assert.Equal([2], manifest.Table.Encoding.DequantizedColumns);
    }
}
