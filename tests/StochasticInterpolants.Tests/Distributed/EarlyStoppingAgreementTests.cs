using StochasticInterpolants.Couplings;
using StochasticInterpolants.Data;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using StochasticInterpolants.Objectives;
using StochasticInterpolants.Training;

namespace StochasticInterpolants.Tests.Distributed;

/// <summary>
/// Early stopping in a data-parallel job is one decision for all ranks (docs/theory.md §13.1): rank 0's validation
/// scores are shared, so ranks whose own scores differ by rounding still leave the loop at the same step and keep the
/// same step's weights.
/// </summary>
public sealed class EarlyStoppingAgreementTests
{
    /// <summary>A planted curve per rank (lower is better).</summary>
    private sealed class RankValidator(double[] curve) : IValidator
    {
        private int _calls;
        public SelectionMetric Metric => SelectionMetric.Objective;
        public ValidationScores Validate() => new(curve[_calls++], null);
    }

    [Fact]
    public void Ranks_that_see_different_scores_at_a_tie_stop_together_on_rank_0s_decision()
    {
        // Validations at steps 5, 10, 15, ... with patience 1. Rank 0 sees a tie at step 10 (no improvement: it would stop
        // there); rank 1 sees the same value less one rounding step (an improvement: it would go on to step 15).
        double[] rank0 = [2.0, 1.0, 1.0, 0.5, 0.4, 0.3];
        double[] rank1 = [2.0, 1.0, Math.BitDecrement(1.0), 0.5, 0.4, 0.3];
        var results = ThreadProcessGroup.Run(2, g =>
        {
            using var net = new MlpNetwork(new MlpConfig(2, Width: 8, Depth: 2), seed: 1);
            var options = new TrainingOptions(Steps: 30, BatchSize: 16, WarmupSteps: 0, EmaDecay: 0, LogEvery: 5, Seed: 4);
            var trainer = new Trainer(new IndependentCoupling(new StandardGaussian(2), new Checkerboard()), new VelocityObjective(new LinearInterpolant()), net, options)
            {
                Selection = new ModelSelection(new RankValidator(g.Rank == 0 ? rank0 : rank1), Every: 5, Patience: 1),
                Processes = g,
            };
            return trainer.Run(out _);
        });
        foreach (var r in results)
        {
            Assert.Equal(15, r.StepsCompleted);
            Assert.Equal(new SelectionOutcome(10, SelectionMetric.Objective, 1.0, true, 3, 1), r.Selection);
            // Every rank logs the validation it acted on: rank 0's.
            Assert.Equal([2.0, 1.0, 1.0], r.Log.Where(e => e.ValidationObjective is not null).Select(e => e.ValidationObjective!.Value));
        }
    }
}
