using StochasticInterpolants.Couplings;
using StochasticInterpolants.Data;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Runtime;
using StochasticInterpolants.Tests.Cli;
using TorchSharp;
using Registry = StochasticInterpolants.Couplings.Couplings;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Couplings;

public sealed class SinkhornTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-sinkhorn-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private static IInterpolant Linear => new InterpolantSpec("linear").Build();

    [Fact]
    public void Plan_marginals_are_uniform_to_the_tolerance()
    {
        var g = new Generator(11);
        using var x0 = new StandardGaussian(2).Sample(300, g);
        using var x1 = new Checkerboard().Sample(300, g);
        using var plan = EntropicTransport.Solve(x0, x1, 0.1, 5000, 1e-4);
        Assert.True(plan.MarginalError <= 1e-4, $"reported error {plan.MarginalError}");
        using var dense = plan.ToDense();
        var n = 300.0;
        var rows = (dense.sum([1]) - 1 / n).abs().sum().ToDouble();
        var columns = (dense.sum([0]) - 1 / n).abs().sum().ToDouble();
        // The dense plan is the float32 kernel promoted to float64: its sums agree with the solver's to float32 rounding.
        Assert.True(rows + columns <= 1e-4 + 1e-5, $"rows {rows}, columns {columns}");
        Assert.Equal(1.0, dense.sum().ToDouble(), 4);
        Assert.True(dense.min().ToDouble() >= 0);
    }

    [Fact]
    public void Two_point_plan_matches_the_closed_form_and_the_potentials()
    {
        // Two points each side with uniform weights: the plan is [[p, 1/2 - p], [1/2 - p, p]], and an entropic plan has
        // pi_00 pi_11 / (pi_01 pi_10) = exp(-(C_00 + C_11 - C_01 - C_10) / (2 eps)) =: r, so p / (1/2 - p) = sqrt(r),
        // p = sqrt(r) / (2 (1 + sqrt(r))). Here x0 = {0, 1}, x1 = {0.2, 1.5}, eps = 1: r = exp(2.6 / 2), p = 0.32852...
        using var x0 = tensor(new float[] { 0f, 1f }).reshape(2, 1);
        using var x1 = tensor(new float[] { 0.2f, 1.5f }).reshape(2, 1);
        const double eps = 1.0;
        using var plan = EntropicTransport.Solve(x0, x1, eps, 1000, 1e-7);
        double[] a = [0, 1], b = [0.2f, 1.5f];
        double C(int i, int j) => (a[i] - b[j]) * (a[i] - b[j]);
        var sqrtR = Math.Sqrt(Math.Exp(-(C(0, 0) + C(1, 1) - C(0, 1) - C(1, 0)) / (2 * eps)));
        var p = sqrtR / (2 * (1 + sqrtR));
        using var dense = plan.ToDense();
        var pi = dense.data<double>().ToArray();
        Assert.Equal(p, pi[0], 5); Assert.Equal(p, pi[3], 5);
        Assert.Equal(0.5 - p, pi[1], 5); Assert.Equal(0.5 - p, pi[2], 5);
        // The potentials give the plan: pi_ij = exp((f_i + g_j - C_ij) / (2 eps)) / n^2.
        var f = plan.RowPotential.data<double>().ToArray(); var gj = plan.ColumnPotential.data<double>().ToArray();
        for (var i = 0; i < 2; i++)
            for (var j = 0; j < 2; j++)
                Assert.Equal(pi[2 * i + j], Math.Exp((f[i] + gj[j] - C(i, j)) / (2 * eps)) / 4, 5);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(8)]
    public void Small_epsilon_rounds_to_the_exact_optimum(int seed)
    {
        // n = 6 points in the unit square: brute force over all 720 permutations. At eps = 1e-3 the entropic plan is
        // within exp(-gap / (2 eps)) of the optimal permutation, far below 1 / n for any gap of random points >~ 0.05.
        const int n = 6;
        var g = new Generator((ulong)seed);
        using var x0 = rand(n, 2, generator: g);
        using var x1 = rand(n, 2, generator: g);
        using var plan = EntropicTransport.Solve(x0, x1, 1e-3, 20000, 1e-4);
        using var rounded = plan.RoundToPermutation();
        var perm = rounded.data<long>().ToArray();
        Assert.Equal(Enumerable.Range(0, n).Select(i => (long)i), perm.OrderBy(i => i));
        var p = x0.to(float64).data<double>().ToArray(); var q = x1.to(float64).data<double>().ToArray();
        double Cost(IReadOnlyList<long> rowOf) => Enumerable.Range(0, n)
            .Sum(j => Math.Pow(p[2 * rowOf[j]] - q[2 * j], 2) + Math.Pow(p[2 * rowOf[j] + 1] - q[2 * j + 1], 2));
        var best = Permutations(n).Min(Cost);
        Assert.Equal(best, Cost(perm), 9);
    }

    [Theory]
    [InlineData(0.03)]
    [InlineData(0.1)]
    [InlineData(1.0)]
    public void Plan_matches_a_float64_log_domain_reference(double eps)
    {
        // The definition, iterated in float64 in the log domain: f = -lambda LSE_j((g_j - C_ij) / lambda) + lambda log n and
        // g likewise (lambda = 2 eps), pi_ij = exp((f_i + g_j - C_ij) / lambda) / n^2. The solver (float32 kernel, absorbed
        // potentials, clamped exponents, over-relaxation) must land on the same plan.
        const int n = 16;
        var gen = new Generator(21);
        using var x0 = randn(n, 2, generator: gen);
        using var x1 = rand(n, 2, generator: gen) * 4 - 2;
        // Tolerance 1e-5: float32 rounding of the kernel sums stalls the marginal error near 1e-5 at small eps.
        using var plan = EntropicTransport.Solve(x0, x1, eps, 20000, 1e-5);
        var lambda = 2 * eps;
        using var scope = NewDisposeScope();
        var c = cdist(x0.to(float64), x1.to(float64)).square();
        var f = zeros(n, dtype: float64); var g = zeros(n, dtype: float64);
        for (var it = 0; it < 5000; it++)
        {
            f = -lambda * ((g.unsqueeze(0) - c) / lambda).logsumexp(1) + lambda * Math.Log(n);
            g = -lambda * ((f.unsqueeze(1) - c) / lambda).logsumexp(0) + lambda * Math.Log(n);
        }
        var reference = ((f.unsqueeze(1) + g.unsqueeze(0) - c) / lambda).exp() / (n * n);
        using var dense = plan.ToDense();
        var l1 = (dense - reference).abs().sum().ToDouble();
        Assert.True(l1 <= 2e-4, $"L1 distance to the reference {l1} (solver: {plan.Iterations} iterations, error {plan.MarginalError})");
    }

    [Fact]
    public void Rows_drawn_from_a_column_follow_the_plan()
    {
        // n = 7 exercises both levels of the sampler (blocks of 3: two full blocks and a remainder of 1).
        const int n = 7, draws = 4000;
        var g = new Generator(5);
        using var x0 = randn(n, 2, generator: g);
        using var x1 = randn(n, 2, generator: g);
        using var plan = EntropicTransport.Solve(x0, x1, 0.5, 1000, 1e-6);
        using var dense = plan.ToDense();
        using var conditional = dense / dense.sum([0], keepdim: true);
        var expected = conditional.data<double>().ToArray();
        var counts = new int[n, n];
        for (var d = 0; d < draws; d++)
        {
            using var rows = plan.SampleRows(g);
            var r = rows.data<long>().ToArray();
            for (var j = 0; j < n; j++) counts[r[j], j]++;
        }
        for (var i = 0; i < n; i++)
            for (var j = 0; j < n; j++)
            {
                var e = expected[i * n + j];
                var sd = Math.Sqrt(draws * e * (1 - e));
                Assert.True(Math.Abs(counts[i, j] - draws * e) <= 5 * sd + 1, $"row {i} column {j}: {counts[i, j]} draws, expected {draws * e:F1}");
            }
    }

    [Fact]
    public void Warm_start_from_its_own_solution_converges_at_once()
    {
        // A solve warm-started from the same samples' potential starts at the fixed point (up to the hard c-transform of
        // alpha, which the first u-update replaces by the soft one): a wrong soft c-transform would need ~50 iterations.
        var g = new Generator(3);
        using var x0 = new StandardGaussian(2).Sample(400, g);
        using var x1 = new Checkerboard().Sample(400, g);
        using var cold = EntropicTransport.Solve(x0, x1, 0.1, 5000, 1e-4);
        var warmStart = cold.WarmStart();
        using var warm = EntropicTransport.Solve(x0, x1, 0.1, 5000, 1e-4, warmStart);
        Assert.True(cold.Iterations >= 20, $"cold {cold.Iterations}");
        Assert.True(warm.Iterations <= 3, $"warm {warm.Iterations} (cold {cold.Iterations})");
        warmStart.Points.Dispose(); warmStart.Potential.Dispose();
    }

    [Fact]
    public void Coupling_keeps_x1_and_labels_in_their_rows_and_never_pairs_across_classes()
    {
        const int n = 120;
        var coupling = new SinkhornCoupling(new CountingBase(), new LabelledClusters(), 0.05, 2000, 1e-4);
        var sample = coupling.Sample(n, new Generator(9));
        // The same seed gives the same x1 and labels as the target drawn after the base (the coupling's order of draws).
        var g = new Generator(9);
        new CountingBase().Sample(n, g).Dispose();
        var (x1, labels) = new LabelledClusters().SampleWithCondition(n, g);
        Assert.True(sample.X1.equal(x1).all().item<bool>());
        Assert.True(sample.Condition!.equal(labels!).all().item<bool>());
        // x0 row i of the base is (i, 0): the paired x0's first coordinate names its row, which must lie in its class's block.
        var label = labels!.data<long>().ToArray();
        var counts = Enumerable.Range(0, LabelledClusters.Classes).Select(k => label.Count(l => l == k)).ToArray();
        var offsets = new int[LabelledClusters.Classes];
        for (var k = 1; k < offsets.Length; k++) offsets[k] = offsets[k - 1] + counts[k - 1];
        var row = sample.X0.select(1, 0).to(int64).data<long>().ToArray();
        for (var j = 0; j < n; j++)
        {
            var k = (int)label[j];
            Assert.InRange(row[j], offsets[k], offsets[k] + counts[k] - 1);
        }
        Assert.True(coupling.LastMarginalError <= 1e-4);
    }

    [Fact]
    public void Registry_builds_a_batch_of_finite_correctly_shaped_tensors_and_a_seed_fixes_it()
    {
        var options = new CouplingOptions(Epsilon: 0.1);
        TrainingBatch Draw() => Registry.Create("sinkhorn", Linear, new StandardGaussian(2), new Checkerboard(), options)
            .DrawBatch(256, new Generator(4), 1e-3);
        var a = Draw(); var b = Draw();
        a.Validate();
        Assert.Equal([256L, 2L], a.X0.shape);
        foreach (var t in new[] { a.X0, a.X1, a.Z, a.T }) Assert.True(t.isfinite().all().item<bool>());
        Assert.True(a.X0.equal(b.X0).all().item<bool>() && a.X1.equal(b.X1).all().item<bool>() && a.T.equal(b.T).all().item<bool>());
        // Paired rows are closer than independent ones: the mean squared distance drops well below the independent value.
        var independent = Registry.Create("independent", Linear, new StandardGaussian(2), new Checkerboard()).DrawBatch(256, new Generator(4), 1e-3);
        var coupled = (a.X0 - a.X1).square().sum([1]).mean().ToDouble();
        var free = (independent.X0 - independent.X1).square().sum([1]).mean().ToDouble();
        Assert.True(coupled < 0.5 * free, $"coupled {coupled}, independent {free}");
    }

    [Theory]
    [InlineData("mirror")]
    [InlineData("one-sided-linear")]
    public void Refuses_interpolants_that_cannot_pair(string family)
    {
        var e = Assert.Throws<InvalidSettingException>(() =>
            Registry.Create("sinkhorn", new InterpolantSpec(family).Build(), new StandardGaussian(2), new Checkerboard()));
        Assert.Equal("coupling", e.Setting);
        Assert.Contains("sinkhorn", e.Message);
    }

    [Theory]
    [InlineData(0.0, 100, 1e-3, "epsilon")]
    [InlineData(double.NaN, 100, 1e-3, "epsilon")]
    [InlineData(0.1, 0, 1e-3, "sinkhorn-iterations")]
    [InlineData(0.1, 100, 0.0, "sinkhorn-tolerance")]
    public void Refuses_bad_settings(double eps, int iterations, double tolerance, string setting)
    {
        var options = new CouplingOptions(Epsilon: eps, SinkhornIterations: iterations, SinkhornTolerance: tolerance);
        var e = Assert.Throws<InvalidSettingException>(() =>
            Registry.Create("sinkhorn", Linear, new StandardGaussian(2), new Checkerboard(), options));
        Assert.Equal(setting, e.Setting);
    }

    [Fact]
    public void A_plan_far_from_converged_is_refused()
    {
        // eps = 1e-6 on unit-scale data needs thousands of iterations; after 5 the marginals are far from uniform.
        var coupling = new SinkhornCoupling(new StandardGaussian(2), new Checkerboard(), 1e-6, 5, 1e-3);
        var e = Assert.Throws<InvalidSettingException>(() => coupling.Sample(200, new Generator(1)));
        Assert.Equal("sinkhorn-iterations", e.Setting);
        Assert.Contains("did not converge", e.Message);
    }

    [Fact]
    public void Plans_that_stop_above_the_tolerance_are_counted_with_the_worst_error_reached()
    {
        // docs/theory.md §12.2: at eps = 0.01 (n = 512) a plan needs 220-270 iterations; with the default cap of 200 it
        // stops above the tolerance 1e-3 but well below the refusal bound 0.1, and is used.
        var coupling = new SinkhornCoupling(new StandardGaussian(2), new Checkerboard(), 0.01, 200, 1e-3);
        using var g = new Generator(3);
        for (var b = 0; b < 3; b++) coupling.Sample(512, g);
        var c = coupling.Convergence;
        Assert.Equal(3, c.Batches);
        Assert.True(c.UnconvergedBatches >= 1, $"{c.UnconvergedBatches} unconverged batches");
        Assert.InRange(c.WorstMarginalError, 1e-3, SinkhornCoupling.UnconvergedError);
        Assert.Equal(200, c.IterationLimit);
        // Validation pairs (PairWith) are not training batches: they do not enter the count.
        using var rows = new Checkerboard().Sample(64, g);
        ((ICoupling)coupling).PairWith(rows, null, g);
        Assert.Equal(3, coupling.Convergence.Batches);
        // At eps = 0.1 the same cap is ample: nothing to report.
        var easy = new SinkhornCoupling(new StandardGaussian(2), new Checkerboard(), 0.1, 200, 1e-3);
        easy.Sample(512, g);
        Assert.Equal(0, easy.Convergence.UnconvergedBatches);
        Assert.True(easy.Convergence.WorstMarginalError <= 1e-3);
        // The message names the settings in the caller's terms.
        var text = c.Describe(s => $"<{s}>");
        Assert.Contains("<sinkhorn-iterations>", text);
        Assert.Contains("<sinkhorn-tolerance>", text);
        Assert.Contains(c.WorstMarginalError.ToString("G3", System.Globalization.CultureInfo.InvariantCulture), text);
    }

    [Fact]
    public void A_checkpoint_without_a_convergence_record_still_reads()
    {
        const string old = """{ "name": "sinkhorn", "options": { "otBlock": 0, "epsilon": 0.1, "sinkhornIterations": 200, "sinkhornTolerance": 0.001, "mask": "center", "factor": 2, "noise": 0.1 } }""";
        var spec = System.Text.Json.JsonSerializer.Deserialize<CouplingSpec>(old, StochasticInterpolants.Checkpoints.Checkpoint.Json)!;
        Assert.Null(spec.Convergence);
        var record = spec with { Convergence = new CouplingConvergence(10, 2, 0.004, 200, 1e-3) };
        var json = System.Text.Json.JsonSerializer.Serialize(record, StochasticInterpolants.Checkpoints.Checkpoint.Json);
        Assert.Equal(record.Convergence, System.Text.Json.JsonSerializer.Deserialize<CouplingSpec>(json, StochasticInterpolants.Checkpoints.Checkpoint.Json)!.Convergence);
        Assert.DoesNotContain("convergence", System.Text.Json.JsonSerializer.Serialize(spec, StochasticInterpolants.Checkpoints.Checkpoint.Json));
    }

    [Fact]
    public void Cli_says_once_that_plans_did_not_converge_names_the_flags_and_records_it()
    {
        var run = Path.Combine(_dir, "eps001");
        var (code, _, error) = SiRunner.Run("train", "--target", "checkerboard", "--coupling", "sinkhorn", "--epsilon", "0.01",
            "--steps", "4", "--batch", "512", "--width", "16", "--depth", "1", "--threads", "1", "--progress", "none", "--out", run);
        Assert.True(code == 0, error);
        var notes = error.Split('\n').Where(l => l.Contains("Sinkhorn did not converge")).ToList();
        Assert.Single(notes);
        Assert.Contains("--sinkhorn-iterations", notes[0]);
        Assert.Contains("--sinkhorn-tolerance", notes[0]);
        var manifest = StochasticInterpolants.Checkpoints.Checkpoint.ReadManifest(run);
        var c = manifest.Coupling!.Convergence!;
        Assert.Equal(4, c.Batches);
        Assert.True(c.UnconvergedBatches >= 1);
        Assert.InRange(c.WorstMarginalError, 1e-3, SinkhornCoupling.UnconvergedError);
    }

    [Fact]
    public void Non_finite_data_is_refused_by_name()
    {
        using var x0 = tensor(new float[] { 0f, float.NaN }).reshape(2, 1);
        using var x1 = tensor(new float[] { 0f, 1f }).reshape(2, 1);
        var e = Assert.Throws<ArgumentException>(() => EntropicTransport.Solve(x0, x1, 0.1, 100, 1e-3));
        Assert.Contains("x0", e.Message);
    }

    [Fact]
    public void Cli_trains_with_the_sinkhorn_coupling()
    {
        var run = Path.Combine(_dir, "run");
        var (code, _, error) = SiRunner.Run("train", "--target", "checkerboard", "--coupling", "sinkhorn", "--epsilon", "0.2",
            "--gamma", "sqrt", "--gamma-scale", "0.2", "--steps", "20", "--batch", "64", "--width", "16", "--depth", "1",
            "--threads", "1", "--progress", "none", "--out", run);
        Assert.True(code == 0, error);
        Assert.Contains("sinkhorn", File.ReadAllText(Path.Combine(run, "config.json")));
        (code, _, error) = SiRunner.Run("train", "--target", "checkerboard", "--coupling", "sinkhorn", "--epsilon", "-1",
            "--steps", "5", "--threads", "1", "--progress", "none", "--out", Path.Combine(_dir, "bad"));
        Assert.NotEqual(0, code);
        Assert.Contains("eps", error);
    }

    private static IEnumerable<long[]> Permutations(int n)
    {
        var p = Enumerable.Range(0, n).Select(i => (long)i).ToArray();
        while (true)
        {
            yield return (long[])p.Clone();
            var k = n - 2;
            while (k >= 0 && p[k] > p[k + 1]) k--;
            if (k < 0) yield break;
            var l = n - 1;
            while (p[l] < p[k]) l--;
            (p[k], p[l]) = (p[l], p[k]);
            Array.Reverse(p, k + 1, n - k - 1);
        }
    }

    /// <summary>Row i of a draw is (i, 0): the pairing can be read off x0.</summary>
    private sealed class CountingBase : SampledDistribution
    {
        public override string Name => "counting";
        public override Tensor Sample(int count, Generator generator)
        {
            using var index = arange(count, dtype: float32).unsqueeze(1);
            return cat([index, zeros(count, 1)], 1);
        }
    }

    /// <summary>Three labelled clusters at (10 k, 0) with N(0, 1) spread; the label is class k (int64).</summary>
    private sealed class LabelledClusters : IDistribution
    {
        public const int Classes = 3;
        public string Name => "clusters";
        public int Dimension => 2;
        public bool HasLogDensity => false;
        public Tensor LogDensity(Tensor x) => throw new NotSupportedException();
        public Tensor Sample(int count, Generator generator) => SampleWithCondition(count, generator).Samples;
        public (Tensor Samples, Tensor? Condition) SampleWithCondition(int count, Generator generator)
        {
            var labels = randint(Classes, [count], dtype: int64, generator: generator);
            var noise = randn(count, 2, generator: generator);
            var centres = cat([labels.unsqueeze(1).to(float32) * 10, zeros(count, 1)], 1);
            return (noise + centres, labels);
        }
    }
}
