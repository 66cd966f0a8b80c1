using StochasticInterpolants.Couplings;
using StochasticInterpolants.Data;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using StochasticInterpolants.Objectives;
using StochasticInterpolants.Training;
using StochasticInterpolants.Validation;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Validation;

/// <summary>
/// The validator scores the regression problem training solves: its fixed batch is paired by the run's coupling
/// (docs/theory.md §12), and its NLL rows are a seeded random subset, not a file-order prefix.
/// </summary>
public sealed class HeldOutValidatorTests
{
    private static (MlpNetwork Net, LearnedNetwork[] Learned) Network(int d, int classes = 0)
    {
        var net = new MlpNetwork(new MlpConfig(d, Width: 8, Depth: 2, Classes: classes), seed: 3);
        return (net, [new LearnedNetwork(new VelocityObjective(new LinearInterpolant()), net)]);
    }

    private static double MeanSquaredDistance(Tensor x0, Tensor x1)
    {
        using var d = x0.sub(x1);
        return d.square().sum(1).mean().ToDouble();
    }

    // sum_j |x0_p(j) - x1_j|^2 of the optimal pairing of the two sets, by the exact solver.
    private static double OptimalCost(Tensor x0, Tensor x1)
    {
        using var solver = new MinibatchTransport { WarmStart = false };
        solver.Pair(x0, x1);
        return solver.Last!.Cost;
    }

    [Fact]
    public void With_ot_the_validation_batch_is_the_optimal_pairing_of_its_draws()
    {
        // 256 validation rows, one block of 256 (the training batch): the batch's pairs must cost exactly what a freshly
        // solved assignment of the same two sets costs. Independent draws cost E|x0|^2 + E|x1|^2 (about 12.5 here).
        const int n = 256;
        var target = new Checkerboard();
        using var g = new Generator(7);
        using var rows = target.Sample(n, g);
        var (net, learned) = Network(2);
        using (net)
        using (var coupling = new OptimalTransportCoupling(new StandardGaussian(2), target))
        using (var validator = new HeldOutValidator(learned, new LinearInterpolant(), coupling, new StandardGaussian(2), rows, null, 0,
                   new ValidationSettings(ObjectiveDraws: n, BatchSize: n, Seed: 1)))
        {
            var b = validator.Batch;
            var paired = MeanSquaredDistance(b.X0, b.X1);
            var optimal = OptimalCost(b.X0, b.X1) / n;
            Assert.True(Math.Abs(paired - optimal) <= 1e-5 * optimal, $"validation pairs cost {paired:G6} per row, the optimal pairing {optimal:G6}");
            // The validation rows are all there, once each (only their order and their partners change).
            using var sortedRows = rows.sum(1).sort().Values;
            using var sortedBatch = b.X1.sum(1).sort().Values;
            Assert.True(sortedRows.allclose(sortedBatch));
        }
    }

    [Theory]
    [InlineData("ot")]
    [InlineData("sinkhorn")]
    public void A_pairing_coupling_gives_validation_pairs_far_closer_than_independent_ones(string name)
    {
        const int n = 300;
        var target = new Checkerboard();
        using var g = new Generator(11);
        using var rows = target.Sample(n, g);
        var (net, learned) = Network(2);
        var interpolant = new LinearInterpolant();
        using (net)
        {
            var coupling = CouplingRegistryOf(name, interpolant, target);
            var independent = new IndependentCoupling(new StandardGaussian(2), target);
            using var paired = new HeldOutValidator(learned, interpolant, coupling, new StandardGaussian(2), rows, null, 0,
                new ValidationSettings(ObjectiveDraws: 1000, BatchSize: 256, Seed: 1));
            using var unpaired = new HeldOutValidator(learned, interpolant, independent, new StandardGaussian(2), rows, null, 0,
                new ValidationSettings(ObjectiveDraws: 1000, BatchSize: 256, Seed: 1));
            var close = MeanSquaredDistance(paired.Batch.X0, paired.Batch.X1);
            var far = MeanSquaredDistance(unpaired.Batch.X0, unpaired.Batch.X1);
            Assert.Equal(paired.Batch.X1.shape, unpaired.Batch.X1.shape);
            // Measured: 3.9 (ot) and 4.1 (sinkhorn, eps = 0.1) against 12.5 for independent pairs (docs/theory.md §12.5:
            // E|X1 - X0|^2 of the OT flow on the checkerboard is 3.8-3.9).
            Assert.True(close < 0.4 * far, $"{name}: validation pairs at mean |x0 - x1|^2 = {close:G4}, independent {far:G4}");
            (coupling as IDisposable)?.Dispose();
        }
    }

    private static ICoupling CouplingRegistryOf(string name, IInterpolant interpolant, IDistribution target) =>
        StochasticInterpolants.Couplings.Couplings.Create(name, interpolant, new StandardGaussian(2), target);

    [Fact]
    public void With_classes_validation_pairs_never_cross_labels()
    {
        // Two classes far apart: class 0 near (-20, 0), class 1 near (+20, 0). Within-class OT pairs each x1 with a
        // Gaussian x0 of its own block; the cost then equals the sum of the two classes' optimal costs in each block.
        const int n = 200;
        using var g = new Generator(5);
        using var noise = randn(n, 2, generator: g);
        var labels = Enumerable.Range(0, n).Select(i => (long)(i % 2)).ToArray();
        using var label = tensor(labels);
        using var shift = label.to(float32).mul(40).sub(20).unsqueeze(1);
        using var rows = noise.mul(0.1).add(cat([shift, zeros(n, 1)], 1));
        var (net, learned) = Network(2, classes: 2);
        using (net)
        using (var coupling = new OptimalTransportCoupling(new StandardGaussian(2), new StandardGaussian(2)))
        using (var validator = new HeldOutValidator(learned, new LinearInterpolant(), coupling, new StandardGaussian(2), rows, label, 0,
                   new ValidationSettings(ObjectiveDraws: n, BatchSize: n, Seed: 2)))
        {
            var b = validator.Batch;
            var c = b.Condition!.data<long>().ToArray();
            double perClass = 0;
            for (long k = 0; k < 2; k++)
            {
                using var idx = tensor(Enumerable.Range(0, n).Where(i => c[i] == k).Select(i => (long)i).ToArray());
                using var x0 = b.X0.index_select(0, idx);
                using var x1 = b.X1.index_select(0, idx);
                // Every x1 of class k kept its label (its sign of the first coordinate).
                Assert.True(x1[.., 0].sign().eq(k == 0 ? -1 : 1).all().item<bool>());
                perClass += OptimalCost(x0, x1);
            }
            var total = MeanSquaredDistance(b.X0, b.X1) * n;
            Assert.True(Math.Abs(total - perClass) <= 1e-5 * perClass, $"pairs cost {total:G6}, the per-class optima {perClass:G6}");
        }
    }

    [Fact]
    public void The_nll_rows_of_a_sorted_table_are_a_seeded_random_subset_not_its_first_rows()
    {
        // A sorted file: row i holds (i, -i). 40 of 400 rows enter the NLL; a prefix would be rows 0..39 (mean 19.5).
        const int n = 400, k = 40;
        using var first = arange(n, dtype: float32).unsqueeze(1);
        using var rows = cat([first, first.neg()], 1);
        var (net, learned) = Network(2);
        using (net)
        {
            var coupling = new IndependentCoupling(new StandardGaussian(2), new StandardGaussian(2));
            float[] Picked(long seed)
            {
                using var v = new HeldOutValidator(learned, new LinearInterpolant(), coupling, new StandardGaussian(2), rows, null, 0,
                    new ValidationSettings(ObjectiveDraws: 16, NllRows: k, Seed: seed));
                Assert.Equal(SelectionMetric.Nll, v.Metric);
                Assert.Equal(new long[] { k, 2 }, v.NllRows.shape);
                return v.NllRows[.., 0].data<float>().ToArray();
            }
            var picked = Picked(3);
            Assert.Equal(k, picked.Distinct().Count());
            // A uniform subset of 40 of 0..399 has mean 199.5 with sd ~17.4: allow 5 sd.
            var mean = picked.Average();
            Assert.True(Math.Abs(mean - 199.5) < 87, $"NLL rows have mean index {mean} (a prefix has 19.5)");
            Assert.Equal(picked, Picked(3)); // fixed by the seed
            Assert.NotEqual(picked, Picked(4));
        }
    }

    [Fact]
    public void With_few_rows_every_row_enters_the_nll_in_file_order()
    {
        using var rows = randn(30, 2, generator: new Generator(1));
        var (net, learned) = Network(2);
        using (net)
        using (var v = new HeldOutValidator(learned, new LinearInterpolant(), new IndependentCoupling(new StandardGaussian(2), new StandardGaussian(2)),
                   new StandardGaussian(2), rows, null, 0, new ValidationSettings(ObjectiveDraws: 16, NllRows: 512)))
            Assert.True(v.NllRows.equal(rows).all().item<bool>());
    }

    /// <summary>A pairing coupling that does not say how it pairs given rows.</summary>
    private sealed class SilentCoupling(IDistribution b, IDistribution t) : TwoDensityCoupling(b, t)
    {
        public override CoupledSample Sample(int count, Generator generator) => DrawIndependent(count, generator);
    }

    [Fact]
    public void A_coupling_that_cannot_pair_given_rows_is_refused_rather_than_scored_on_independent_pairs()
    {
        using var rows = randn(20, 2, generator: new Generator(1));
        var (net, learned) = Network(2);
        using (net)
        {
            var e = Assert.Throws<NotSupportedException>(() => new HeldOutValidator(learned, new LinearInterpolant(),
                new SilentCoupling(new StandardGaussian(2), new StandardGaussian(2)), new StandardGaussian(2), rows, null, 0, new ValidationSettings(ObjectiveDraws: 16)));
            Assert.Contains("SilentCoupling", e.Message);
        }
    }
}
