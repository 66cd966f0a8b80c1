using FsCheck;
using FsCheck.Fluent;
using StochasticInterpolants.Couplings;
using StochasticInterpolants.Data;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Runtime;
using TorchSharp;
using static TorchSharp.torch;
using CouplingRegistry = StochasticInterpolants.Couplings.Couplings;
using Reference = StochasticInterpolants.Metrics.Assignment;

namespace StochasticInterpolants.Tests.Couplings;

/// <summary>
/// The exact assignment solver against a reference exact solver (the textbook O(n^3) shortest-augmenting-path method of
/// Metrics), brute force over permutations and the greedy plan; its dual certificate; and the OT coupling built on it.
/// </summary>
public class OptimalTransportTests
{
    // Relative agreement of two exact optima: both sum the same float32 entries in float64 (different orders).
    private const double CostTolerance = 1e-9;

    private static float[] RandomCosts(int n, int seed, Func<Random, float>? draw = null)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n * n).Select(_ => draw?.Invoke(rng) ?? (float)rng.NextDouble()).ToArray();
    }

    private static double ReferenceCost(float[] cost, int n)
    {
        var c = cost.Select(x => (double)x).ToArray();
        var p = Reference.Solve(c, n);
        return Enumerable.Range(0, n).Sum(i => c[i * n + p[i]]);
    }

    private static void AssertCertified(AssignmentResult r, float[] cost, int n)
    {
        Assert.Equal(Enumerable.Range(0, n), r.ColumnOfRow.OrderBy(j => j)); // a permutation
        for (var i = 0; i < n; i++) Assert.Equal(i, r.RowOfColumn[r.ColumnOfRow[i]]);
        var scale = cost.Max(Math.Abs) + 1;
        for (var i = 0; i < n; i++)
        for (var j = 0; j < n; j++)
        {
            var reduced = cost[i * n + j] - r.RowPotentials[i] - r.ColumnPotentials[j];
            Assert.True(reduced >= -1e-9 * scale, $"dual infeasible at ({i}, {j}): {reduced}");
            if (r.ColumnOfRow[i] == j) Assert.True(Math.Abs(reduced) <= 1e-9 * scale, $"assigned edge ({i}, {j}) not tight: {reduced}");
        }
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(5, 3)]
    [InlineData(17, 4)]
    [InlineData(64, 5)]
    [InlineData(257, 6)]
    public void UniformRandomCostsMatchTheReferenceAndAreCertified(int n, int seed)
    {
        var cost = RandomCosts(n, seed);
        var r = LinearAssignment.Solve(cost, n);
        Assert.Equal(ReferenceCost(cost, n), r.Cost, CostTolerance * Math.Max(1, r.Cost));
        Assert.Equal(LinearAssignment.CostOf(cost, n, r.ColumnOfRow), r.Cost, 1e-9);
        AssertCertified(r, cost, n);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void ASparseGraphOfOneColumnPerRowStillEndsOptimal(int seed)
    {
        // One candidate per row forces searches that run dry and violated edges found by the full pass.
        const int n = 120;
        var cost = RandomCosts(n, seed);
        var r = LinearAssignment.Solve(cost, n, candidates: 1);
        Assert.Equal(ReferenceCost(cost, n), r.Cost, CostTolerance * r.Cost);
        Assert.True(r.Statistics.AddedEdges > 0);
        AssertCertified(r, cost, n);
    }

    [Fact]
    public void IntegerCostsWithManyTiesMatchTheReference()
    {
        const int n = 90;
        var cost = RandomCosts(n, 7, rng => rng.Next(0, 4));
        var r = LinearAssignment.Solve(cost, n, candidates: 3);
        Assert.Equal(ReferenceCost(cost, n), r.Cost, 1e-9);
        AssertCertified(r, cost, n);
    }

    [Fact]
    public void BadStartingPricesOnlyCostTime()
    {
        // Far-off prices (random, large) must not change the optimum.
        const int n = 150;
        var cost = RandomCosts(n, 11);
        var rng = new Random(3);
        var prices = Enumerable.Range(0, n).Select(_ => rng.NextDouble() * 50 - 25).ToArray();
        var r = LinearAssignment.Solve(cost, n, prices, candidates: 4);
        Assert.Equal(ReferenceCost(cost, n), r.Cost, CostTolerance * r.Cost);
        AssertCertified(r, cost, n);
    }

    [Fact]
    public void SmallInstancesEqualBruteForce()
    {
        Prop.ForAll(Gen.Choose(1, 7).SelectMany(n => Gen.ArrayOf(Gen.Choose(-50, 50), n * n).Select(a => (n, a))).ToArbitrary(), inst =>
        {
            var (n, values) = inst;
            var cost = values.Select(v => v / 7f).ToArray();
            var best = Permutations(n).Min(p => Enumerable.Range(0, n).Sum(i => (double)cost[i * n + p[i]]));
            var r = LinearAssignment.Solve(cost, n, candidates: 2);
            return Math.Abs(r.Cost - best) <= 1e-9 * (1 + Math.Abs(best));
        }).QuickCheckThrowOnFailure();
    }

    private static IEnumerable<int[]> Permutations(int n)
    {
        if (n == 0) { yield return []; yield break; }
        foreach (var p in Permutations(n - 1))
            for (var at = 0; at <= p.Length; at++)
                yield return [.. p[..at], n - 1, .. p[at..]];
    }

    [Fact]
    public void EuclideanBatchesMatchTheReferenceAndBeatGreedy()
    {
        // Gaussian base vs checkerboard target, d = 2, warm-started from the previous batch as in training.
        using var transport = new MinibatchTransport { Candidates = 6 };
        using var g = new Generator(5);
        var checkerboard = new Checkerboard();
        for (var batch = 0; batch < 3; batch++)
        {
            using var x0 = randn(300, 2, generator: g);
            using var x1 = checkerboard.Sample(300, g);
            var pairing = transport.Pair(x0, x1);
            using var c = MinibatchTransport.SquaredDistances(x0, x1);
            var cost = c.data<float>().ToArray();
            var ours = Enumerable.Range(0, 300).Sum(j => (double)cost[pairing[j] * 300 + j]);
            Assert.Equal(transport.Last!.Cost, ours, 1e-6);
            Assert.Equal(ReferenceCost(cost, 300), ours, CostTolerance * ours);
            Assert.True(ours <= GreedyCost(cost, 300) + 1e-9);
            Assert.Equal(batch > 0, transport.Last.WarmStarted);
            Assert.Equal(Enumerable.Range(0, 300), pairing.OrderBy(i => i));
        }
    }

    [Theory]
    [InlineData(0.05)]
    [InlineData(0.5)]
    public void TheExactPlanIsNeverWorseThanTheSinkhornRoundedOne(double epsilon)
    {
        using var g = new Generator(31);
        using var x0 = randn(400, 2, generator: g);
        using var x1 = new Checkerboard().Sample(400, g);
        using var transport = new MinibatchTransport();
        var exact = transport.Pair(x0, x1);
        using var plan = EntropicTransport.Solve(x0, x1, epsilon, 500, 1e-4);
        var rounded = plan.RoundToPermutation().data<long>().ToArray();
        Assert.Equal(Enumerable.Range(0, 400), rounded.Select(i => (int)i).OrderBy(i => i));
        using var c = MinibatchTransport.SquaredDistances(x0, x1);
        var cost = c.data<float>().ToArray();
        double Cost(Func<int, long> partner) => Enumerable.Range(0, 400).Sum(j => (double)cost[partner(j) * 400 + j]);
        var ours = Cost(j => exact[j]);
        var sinkhorn = Cost(j => rounded[j]);
        Assert.True(ours <= sinkhorn + 1e-9 * ours, $"exact {ours} above Sinkhorn-rounded {sinkhorn}");
    }

    // The greedy plan: repeatedly the cheapest entry among free rows and columns.
    private static double GreedyCost(float[] cost, int n)
    {
        var rowUsed = new bool[n]; var colUsed = new bool[n];
        var total = 0.0;
        foreach (var e in Enumerable.Range(0, n * n).OrderBy(e => cost[e]))
        {
            int i = e / n, j = e % n;
            if (rowUsed[i] || colUsed[j]) continue;
            rowUsed[i] = colUsed[j] = true;
            total += cost[e];
        }
        return total;
    }

    [Fact]
    public void TheCouplingReordersX0OnlyAndShortensPairs()
    {
        var coupling = CouplingRegistry.Create("ot", new LinearInterpolant(), new StandardGaussian(2), new Checkerboard());
        using var g1 = new Generator(9);
        using var g2 = new Generator(9);
        var ot = coupling.Sample(512, g1);
        var independent = new IndependentCoupling(new StandardGaussian(2), new Checkerboard()).Sample(512, g2);
        // Same draws: x1 unchanged row by row, x0 a permutation of the independent draw.
        Assert.True(ot.X1.eq(independent.X1).all().item<bool>());
        using var sortedOt = ot.X0.select(1, 0).sort().Values;
        using var sortedInd = independent.X0.select(1, 0).sort().Values;
        Assert.True(sortedOt.eq(sortedInd).all().item<bool>());
        var otCost = ot.X0.sub(ot.X1).square().sum().ToDouble();
        var indCost = independent.X0.sub(independent.X1).square().sum().ToDouble();
        Assert.True(otCost < 0.5 * indCost, $"OT pairs should be much shorter: {otCost} vs {indCost}");
    }

    [Fact]
    public void WithClassesNoPairCrossesALabelAndLabelsStayWithX1()
    {
        var target = new LabelledBlobs();
        using var coupling = new OptimalTransportCoupling(new StandardGaussian(2), target);
        using var g = new Generator(4);
        var sample = coupling.Sample(600, g);
        var labels = sample.Condition!.data<long>().ToArray();
        var x1 = sample.X1.data<float>().ToArray();
        // Each x1 still sits at its own label's centre (the label travelled with it).
        for (var j = 0; j < 600; j++) Assert.True(Math.Abs(x1[2 * j] - LabelledBlobs.Centre(labels[j])) < 2.5);
        // Within-class OT: every x0 block was drawn iid, so per class the pairing is optimal among that class only —
        // compare with the reference on each class's rows.
        using var g2 = new Generator(4);
        var x0 = new StandardGaussian(2).Sample(600, g2);
        _ = target.SampleWithCondition(600, g2);
        var start = 0;
        foreach (var k in labels.Distinct().OrderBy(k => k))
        {
            var rows = Enumerable.Range(0, 600).Where(j => labels[j] == k).ToArray();
            using var block = x0.narrow(0, start, rows.Length);
            using var idx = tensor(rows.Select(j => (long)j).ToArray());
            using var targets = sample.X1.index_select(0, idx);
            using var paired = sample.X0.index_select(0, idx);
            using var c = MinibatchTransport.SquaredDistances(block, targets);
            var cost = c.data<float>().ToArray();
            var ours = paired.sub(targets).square().sum().ToDouble();
            Assert.Equal(ReferenceCost(cost, rows.Length), ours, 1e-4 * ours);
            // Paired x0 rows of class k are exactly the block drawn for it.
            using var sortedBlock = block.select(1, 0).sort().Values;
            using var sortedPaired = paired.select(1, 0).sort().Values;
            Assert.True(sortedBlock.eq(sortedPaired).all().item<bool>());
            start += rows.Length;
        }
    }

    [Fact]
    public void SameSeedSameBatch()
    {
        Tensor Draw()
        {
            var coupling = CouplingRegistry.Create("ot", new LinearInterpolant(), new StandardGaussian(2), new Checkerboard());
            using var g = new Generator(21);
            _ = coupling.Sample(256, g);
            return coupling.Sample(256, g).X0; // the second batch is warm-started
        }
        Assert.True(Draw().eq(Draw()).all().item<bool>());
    }

    [Fact]
    public void OtIsRefusedWithTheMirrorAndOneSidedInterpolants()
    {
        var mirror = new InterpolantSpec("mirror", "sqrt", 1).Build();
        var oneSided = new InterpolantSpec("one-sided-linear", "none", 1).Build();
        var e1 = Assert.Throws<InvalidSettingException>(() => CouplingRegistry.Create("ot", mirror, new StandardGaussian(2), new Checkerboard()));
        Assert.Contains("mirror", e1.Message);
        var e2 = Assert.Throws<InvalidSettingException>(() => CouplingRegistry.Create("ot", oneSided, new StandardGaussian(2), new Checkerboard()));
        Assert.Contains("one-sided", e2.Message);
    }

    [Fact]
    public void DuplicateTargetsGetTheSamePartnersWarmOrCold()
    {
        // A target with 5 distinct points drawn with replacement: many identical x1 rows, so many optimal pairings. The
        // second batch of a warm-started coupling must equal the same batch paired cold (as after a resume).
        var target = new FewPoints();
        using var warm = new OptimalTransportCoupling(new StandardGaussian(2), target);
        using var g1 = new Generator(8);
        _ = warm.Sample(400, g1);
        var second = warm.Sample(400, g1);
        using var cold = new OptimalTransportCoupling(new StandardGaussian(2), target);
        using var g2 = new Generator(8);
        _ = new IndependentCoupling(new StandardGaussian(2), target).Sample(400, g2); // the same draws as the first batch
        var again = cold.Sample(400, g2);
        Assert.True(second.X1.eq(again.X1).all().item<bool>());
        Assert.True(second.X0.eq(again.X0).all().item<bool>());
    }

    [Fact]
    public void BlocksArePairedExactlyAndSeparately()
    {
        using var coupling = new OptimalTransportCoupling(new StandardGaussian(2), new Checkerboard()) { BlockSize = 100 };
        using var g = new Generator(12);
        var sample = coupling.Sample(250, g); // blocks of 100, 100 and 50 rows
        using var g2 = new Generator(12);
        var x0 = new StandardGaussian(2).Sample(250, g2);
        foreach (var (start, length) in new[] { (0, 100), (100, 100), (200, 50) })
        {
            using var block = x0.narrow(0, start, length);
            using var targets = sample.X1.narrow(0, start, length);
            using var paired = sample.X0.narrow(0, start, length);
            using var sortedBlock = block.select(1, 0).sort().Values;
            using var sortedPaired = paired.select(1, 0).sort().Values;
            Assert.True(sortedBlock.eq(sortedPaired).all().item<bool>()); // x0 rows stay within their block
            using var c = MinibatchTransport.SquaredDistances(block, targets);
            var ours = paired.sub(targets).square().sum().ToDouble();
            Assert.Equal(ReferenceCost(c.data<float>().ToArray(), length), ours, 1e-4 * ours);
        }
    }

    /// <summary>Five fixed points drawn with replacement.</summary>
    private sealed class FewPoints : IDistribution
    {
        public string Name => "few";
        public int Dimension => 2;
        public bool HasLogDensity => false;
        public Tensor LogDensity(Tensor x) => throw new NotSupportedException();
        public Tensor Sample(int count, Generator generator)
        {
            using var points = tensor(new float[] { -3, -3, 3, -3, 0, 0, -3, 3, 3, 3 }).reshape(5, 2);
            using var pick = randint(0, 5, [count], generator: generator);
            return points.index_select(0, pick);
        }
    }

    /// <summary>Three labelled blobs at x = -6, 0, 6 (class k at 6 (k - 1)), y ~ N(0, 1), for within-class tests.</summary>
    private sealed class LabelledBlobs : IDistribution
    {
        public static double Centre(long k) => 6.0 * (k - 1);
        public string Name => "blobs";
        public int Dimension => 2;
        public bool HasLogDensity => false;
        public Tensor LogDensity(Tensor x) => throw new NotSupportedException();
        public Tensor Sample(int count, Generator generator) => SampleWithCondition(count, generator).Samples;
        public (Tensor Samples, Tensor? Condition) SampleWithCondition(int count, Generator generator)
        {
            var labels = randint(0, 3, [count], generator: generator);
            var noise = randn(count, 2, generator: generator).mul(0.3);
            var centres = labels.to(float32).sub(1).mul(6);
            var x = stack([noise.select(1, 0).add(centres), noise.select(1, 1)], 1);
            return (x, labels);
        }
    }

    [Fact]
    public void The_solver_uses_the_runs_thread_count_not_every_core()
    {
        // The test host runs libtorch on one thread (TestRuntime); a run's --threads sets the same count.
        Assert.Equal(1, get_num_threads());
        using var g = new Generator(1);
        using var x0 = randn(300, 2, generator: g);
        using var x1 = randn(300, 2, generator: g);
        using var transport = new MinibatchTransport();
        transport.Pair(x0, x1);
        Assert.Equal(1, transport.Last!.Solve.Threads);
        using var coupling = new OptimalTransportCoupling(new StandardGaussian(2), new StandardGaussian(2));
        coupling.Sample(300, g);
        Assert.All(coupling.LastSteps.Values, s => Assert.Equal(1, s!.Solve.Threads));
        using var two = new MinibatchTransport { Threads = 2 };
        two.Pair(x0, x1);
        Assert.Equal(2, two.Last!.Solve.Threads);
    }
}
