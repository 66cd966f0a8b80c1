using System.Diagnostics;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Distributed;
using StochasticInterpolants.Files;
using StochasticInterpolants.Likelihood;
using StochasticInterpolants.Runs;
using StochasticInterpolants.Sampling;
using StochasticInterpolants.Tests.Cli;
using StochasticInterpolants.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Distributed;

/// <summary>A small checkpoint (moons, velocity and score, a 2 x 32 MLP, 150 steps), trained once for the data-parallel tests.</summary>
public sealed class SmallCheckpoint : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-dp-").FullName;

    public SmallCheckpoint()
    {
        Folder = Path.Combine(_dir, "run");
        TrainingRun.Execute(new TrainingRunConfig(Target: "moons", Gamma: "sqrt", GammaScale: 0.2, Learn: "velocity,score",
            Model: new ModelOptions(Width: 32, Depth: 2), Training: new TrainingOptions(Steps: 150, BatchSize: 64, Seed: 5, LogEvery: 50)), Folder);
    }

    /// <summary>The training output folder.</summary>
    public string Folder { get; }

    public void Dispose() => Directory.Delete(_dir, true);
}

/// <summary>
/// si sample and si eval shared across ranks (docs/theory.md §13.4): every rank draws the whole chunk's randomness, works on
/// its share of the rows, and the gathered results equal one process's for the same seed. The ranks here are threads
/// (<see cref="ThreadProcessGroup"/>), each with its own copy of the checkpoint as an MPI process has; the last test runs
/// a real two-process job under mpiexec.
/// </summary>
public sealed class DataParallelSamplingTests(SmallCheckpoint checkpoint) : IClassFixture<SmallCheckpoint>, IDisposable
{
    // A rank multiplies fewer rows by the same weights, and libtorch's matrix kernels may block (and so round) a batch of
    // another size differently: shared results agree with one process to float rounding, not necessarily bit for bit.
    private const double Rounding = 1e-5;

    private readonly string _dir = Directory.CreateTempSubdirectory("si-dp-test-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    // Each rank loads its own copy of the checkpoint, as each process of a job does.
    private T[] OnRanks<T>(int ranks, Func<Checkpoint, IProcessGroup, T> body) =>
        ThreadProcessGroup.Run(ranks, g =>
        {
            using var c = Checkpoint.Load(checkpoint.Folder);
            return body(c, g);
        });

    private static void AssertClose(Tensor expected, Tensor actual, double tolerance)
    {
        Assert.Equal(expected.shape, actual.shape);
        Assert.True(actual.isfinite().all().item<bool>(), "non-finite values");
        var worst = (expected - actual).abs().max().ToDouble();
        Assert.True(worst <= tolerance, $"largest difference {worst:G3} exceeds {tolerance:G3}");
    }

    private static void AssertSame(Tensor expected, Tensor actual) =>
        Assert.True(expected.shape.SequenceEqual(actual.shape) && expected.eq(actual).all().item<bool>(), "the ranks returned different results");

    private static void AssertClose(double expected, double actual, double tolerance, string what) =>
        Assert.True(Math.Abs(expected - actual) <= tolerance * Math.Max(1, Math.Abs(expected)), $"{what}: {actual:R} on the ranks, {expected:R} in one process");

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void Ode_and_sde_samples_shared_across_ranks_equal_the_one_process_samples(int ranks)
    {
        // 101 samples in chunks of 40: three chunks, the last of 21 rows, each shared unevenly.
        var sde = new EulerMaruyamaSampler(12);
        var eps = DiffusionCoefficient.Constant(0.5);
        Tensor odeOne, sdeOne;
        using (var one = Checkpoint.Load(checkpoint.Folder))
        {
            (odeOne, var nfe) = CheckpointSampler.Sample(one, 101, new Rk4Solver(8), 7, chunkSize: 40);
            Assert.Equal(32, nfe);
            (sdeOne, _) = CheckpointSampler.Sample(one, 101, sde, eps, 7, chunkSize: 40);
        }
        var shared = OnRanks(ranks, (c, g) => (
            Ode: CheckpointSampler.Sample(c, 101, new Rk4Solver(8), 7, chunkSize: 40, processes: g),
            Sde: CheckpointSampler.Sample(c, 101, sde, eps, 7, chunkSize: 40, processes: g)));
        foreach (var r in shared)
        {
            AssertClose(odeOne, r.Ode.Samples, Rounding);
            AssertClose(sdeOne, r.Sde.Samples, Rounding);
            Assert.Equal(32, r.Ode.FunctionEvaluations);
            Assert.Equal(24, r.Sde.FunctionEvaluations); // b and s at each of 12 steps
            AssertSame(shared[0].Ode.Samples, r.Ode.Samples);
            AssertSame(shared[0].Sde.Samples, r.Sde.Samples);
        }
        // The noise matters: the SDE's samples are not the ODE's, so agreement above is agreement of the increments.
        Assert.True((sdeOne - odeOne).abs().max().ToDouble() > 0.01);
    }

    [Fact]
    public void An_sde_share_gets_the_whole_batch_increments_and_leaves_the_generator_where_the_whole_batch_does()
    {
        using var c = Checkpoint.Load(checkpoint.Folder);
        var fields = c.Fields();
        var eps = DiffusionCoefficient.Constant(0.5);
        var (start, end) = CheckpointSampler.SdeInterval(fields, eps, c.Manifest.TimeClip, false);
        var solver = new EulerMaruyamaSampler(6);
        using var x0 = randn(6, 2, generator: new Generator(3));

        (Tensor Final, int Nfe, Tensor Next) Integrate(Tensor x, RowShare? share)
        {
            using var g = new Generator(11);
            using var solution = solver.Integrate(fields, eps, x, start, end, g, new SdeOptions(Share: share));
            return (solution.Final.clone(), solution.FunctionEvaluations, randn(4, generator: g));
        }

        var whole = Integrate(x0, null);
        var middle = Integrate(x0[2..5], new RowShare(2, 3, 6));
        var none = Integrate(x0[..0], new RowShare(0, 0, 6));
        AssertClose(whole.Final[2..5], middle.Final, Rounding);
        Assert.Equal(whole.Nfe, middle.Nfe);
        Assert.Equal(new long[] { 0, 2 }, none.Final.shape);
        Assert.Equal(0, none.Nfe); // a share of no rows evaluates nothing...
        AssertSame(whole.Next, middle.Next);
        AssertSame(whole.Next, none.Next); // ...but draws what the whole batch draws
        Assert.Throws<ArgumentException>(() => Integrate(x0[..2], new RowShare(0, 3, 6)));
    }

    [Fact]
    public void A_likelihood_share_gets_the_whole_batch_hutchinson_probes()
    {
        using var c = Checkpoint.Load(checkpoint.Folder);
        var fields = c.Fields();
        var (baseTime, _) = fields.VelocityInterval(c.Manifest.TimeClip);
        var likelihood = new FlowLikelihood(fields.Velocity(), CheckpointSampler.BaseOf(c.Manifest), new Rk4Solver(6),
            new LikelihoodOptions(DivergenceEstimator.HutchinsonGaussian, 1, 9), baseTime);
        using var x = randn(9, 2, generator: new Generator(4));
        using var whole = likelihood.LogDensity(x);
        using var share = likelihood.LogDensity(x[4..9], share: new RowShare(4, 5, 9));
        using var alone = likelihood.LogDensity(x[4..9]); // the same rows scored as a batch of their own: other probes
        AssertClose(whole.LogDensity[4..9], share.LogDensity, Rounding);
        Assert.True((whole.LogDensity[4..9] - alone.LogDensity).abs().max().ToDouble() > 1e-3, "the probes should depend on the rows' place in the batch");
        using var none = likelihood.LogDensity(x[..0], share: new RowShare(0, 0, 9));
        Assert.Equal(new long[] { 0 }, none.LogDensity.shape);
        Assert.Equal(0, none.FunctionEvaluations);
    }

    [Theory]
    [InlineData(DivergenceEstimator.Exact)]
    [InlineData(DivergenceEstimator.HutchinsonRademacher)]
    public void Evaluation_shared_across_two_ranks_gives_the_one_process_figures(DivergenceEstimator estimator)
    {
        var target = DataSources.Parse("moons");
        var options = new EvaluationOptions(150, new Rk4Solver(8), new LikelihoodOptions(estimator, 2, 3), 4, MetricPoints: 100);
        EvaluationReport expected;
        using (var one = Checkpoint.Load(checkpoint.Folder)) expected = Evaluator.Evaluate(one, target, options);
        var reports = OnRanks(2, (c, g) => Evaluator.Evaluate(c, target, options, processes: g));
        foreach (var r in reports)
        {
            AssertClose(expected.NllMean, r.NllMean, Rounding, "NLL");
            AssertClose(expected.NllStdErr, r.NllStdErr, Rounding, "NLL standard error");
            AssertClose(expected.EnergyDistance, r.EnergyDistance, Rounding, "energy distance");
            AssertClose(expected.Mmd, r.Mmd, Rounding, "MMD");
            AssertClose(expected.SlicedW2, r.SlicedW2, Rounding, "sliced W2");
            Assert.Equal(expected.EnergyDistanceFloor, r.EnergyDistanceFloor); // from the held-out draws alone: exact
            Assert.Equal(expected.Nfe, r.Nfe);
            Assert.Equal(reports[0] with { Seconds = 0 }, r with { Seconds = 0 }); // every rank reports the same figures
        }
    }

    [Fact]
    public void A_table_evaluation_with_classes_and_whole_number_columns_shared_across_ranks_gives_the_one_process_figures()
    {
        // Rows (x, a whole number 0..9 (dequantised), class a/b): the dequantisation noise and the class conditions must be
        // cut into the same shares as the rows.
        var rng = new Random(4);
        var table = Path.Combine(_dir, "table.csv");
        File.WriteAllLines(table, Enumerable.Range(0, 160).Select(_ =>
        {
            var cls = rng.Next(2);
            return FormattableString.Invariant($"{rng.NextDouble() + 2 * cls:R},{rng.Next(10)},{(cls == 0 ? "a" : "b")}");
        }));
        var run = Path.Combine(_dir, "table-run");
        var (code, _, error) = SiRunner.Run("train", "--target", table, "--label-column", "last", "--steps", "60", "--batch", "64", "--width", "16",
            "--depth", "2", "--log-every", "30", "--threads", "1", "--progress", "none", "--out", run);
        Assert.True(code == 0, error);
        var options = new EvaluationOptions(200, new Rk4Solver(6), new LikelihoodOptions(DivergenceEstimator.HutchinsonRademacher, 1, 2), 3);
        EvaluationReport expected;
        using (var one = Checkpoint.Load(run)) expected = Evaluator.EvaluateTable(one, table, options);
        var reports = ThreadProcessGroup.Run(3, g =>
        {
            using var c = Checkpoint.Load(run);
            return Evaluator.EvaluateTable(c, table, options, processes: g);
        });
        foreach (var r in reports)
        {
            AssertClose(expected.NllMean, r.NllMean, Rounding, "NLL");
            AssertClose(expected.TrainingRowsNll!.Value, r.TrainingRowsNll!.Value, Rounding, "NLL of the training rows");
            AssertClose(expected.NllMinusBaseline!.Value, r.NllMinusBaseline!.Value, Rounding, "NLL minus the baseline's");
            AssertClose(expected.EnergyDistance, r.EnergyDistance, Rounding, "energy distance");
            AssertClose(expected.SlicedW2, r.SlicedW2, Rounding, "sliced W2");
            Assert.Equal(expected.HeldOut, r.HeldOut);
            Assert.Equal(reports[0].OutsideRange, r.OutsideRange); // (a list: compared element by element, not by reference)
            Assert.Equal(reports[0] with { Seconds = 0, OutsideRange = null }, r with { Seconds = 0, OutsideRange = null });
        }
    }

    [Fact]
    public void Fewer_rows_than_ranks_leave_a_rank_without_rows_and_still_match_one_process()
    {
        // 2 rows on 3 ranks: rank 0's share of every chunk is empty.
        var sde = new EulerMaruyamaSampler(10);
        var eps = DiffusionCoefficient.Constant(0.5);
        var dopri = new DormandPrince5Solver(1e-7, 1e-7);
        var target = DataSources.Parse("moons");
        var options = new EvaluationOptions(2, new Rk4Solver(8), new LikelihoodOptions(DivergenceEstimator.HutchinsonRademacher, 1, 3), 4);
        Tensor ode, noisy, adaptive;
        EvaluationReport expected;
        using (var one = Checkpoint.Load(checkpoint.Folder))
        {
            (ode, _) = CheckpointSampler.Sample(one, 2, new Rk4Solver(8), 5);
            (noisy, _) = CheckpointSampler.Sample(one, 2, sde, eps, 5);
            (adaptive, _) = CheckpointSampler.Sample(one, 2, dopri, 5);
            expected = Evaluator.Evaluate(one, target, options);
        }
        var shared = OnRanks(3, (c, g) => (
            Ode: CheckpointSampler.Sample(c, 2, new Rk4Solver(8), 5, processes: g).Samples,
            Sde: CheckpointSampler.Sample(c, 2, sde, eps, 5, processes: g).Samples,
            // dopri5 chooses its steps from each rank's rows (one row here against two): equal only to its tolerance.
            Adaptive: CheckpointSampler.Sample(c, 2, dopri, 5, processes: g).Samples,
            Report: Evaluator.Evaluate(c, target, options, processes: g)));
        foreach (var r in shared)
        {
            AssertClose(ode, r.Ode, Rounding);
            AssertClose(noisy, r.Sde, Rounding);
            AssertClose(adaptive, r.Adaptive, 1e-4);
            AssertClose(expected.NllMean, r.Report.NllMean, Rounding, "NLL");
            AssertClose(expected.EnergyDistance, r.Report.EnergyDistance, Rounding, "energy distance");
            Assert.Equal(expected.Nfe, r.Report.Nfe);
        }
    }

    [Fact]
    public void A_rank_that_skips_a_collective_fails_the_job_rather_than_hanging()
    {
        // The double itself: a rank that leaves while another still exchanges is reported, and a rank's own failure wins.
        var skipped = Assert.Throws<InvalidOperationException>(() => ThreadProcessGroup.Run(2, g => g.Rank == 0 ? 0 : g.AllGather(1, "the extra exchange")[0]));
        Assert.Contains("the extra exchange", skipped.Message);
        var failed = Assert.Throws<DivideByZeroException>(() => ThreadProcessGroup.Run(3, g =>
            g.Rank == 1 ? throw new DivideByZeroException() : g.AllGather(g.Rank, "a gather")[0]));
        Assert.NotNull(failed);
        var sums = ThreadProcessGroup.Run(3, g =>
        {
            using var buffer = full(2, g.Rank + 1, dtype: float32);
            g.SumInPlace(buffer, "a sum");
            using var rows = full(g.Rank, 2, g.Rank, dtype: float64);
            using var all = g.AllGatherRows(rows, "the rows");
            return (Sum: buffer.data<float>().ToArray(), Rows: all.reshape(-1).data<double>().ToArray());
        });
        foreach (var (sum, rows) in sums)
        {
            Assert.Equal(new[] { 6f, 6f }, sum);
            Assert.Equal(new[] { 1.0, 1, 2, 2, 2, 2 }, rows); // rank 0's no rows, rank 1's one, rank 2's two, in rank order
        }
    }

    [Fact]
    public void Mpiexec_with_two_ranks_writes_the_one_process_samples_once()
    {
        const string mpiexec = "/usr/bin/mpiexec";
        Assert.True(File.Exists(mpiexec), $"{mpiexec} is missing: scripts/setup.sh installs Debian's mpich");
        var si = Path.Combine(AppContext.BaseDirectory, "si.dll");
        Assert.True(File.Exists(si), $"{si} is missing (the test project references Si.Cli)");
        string[] sample = ["sample", "--checkpoint", checkpoint.Folder, "--count", "61", "--sampler", "em", "--eps", "0.5", "--steps", "10",
            "--seed", "2", "--threads", "1", "--progress", "none"];
        var folder = Directory.CreateDirectory(Path.Combine(_dir, "mpi")).FullName;
        var written = Path.Combine(folder, "samples.csv");
        // MPMD launch: rank 1 gets another --out, already present. Were it to check that file (it exists, without --force)
        // or write it, the job would fail or the file would change: rank 0 alone may touch output paths.
        var decoy = Path.Combine(folder, "rank1.csv");
        File.WriteAllText(decoy, "untouched\n");
        var (code, output, error) = Launch(mpiexec, ["-n", "1", "dotnet", si, .. sample, "--out", written, ":", "-n", "1", "dotnet", si, .. sample, "--out", decoy]);
        Assert.True(code == 0, $"exit code {code}: {error}");
        Assert.Single(output.Split('\n'), l => l.StartsWith("wrote ", StringComparison.Ordinal));
        Assert.Contains("2 processes", output);
        Assert.Equal(new[] { decoy, written }, Directory.GetFiles(folder).Order());
        Assert.Equal("untouched\n", File.ReadAllText(decoy));

        var one = Path.Combine(_dir, "one.csv");
        var (oneCode, _, oneError) = SiRunner.Run([.. sample, "--out", one]);
        Assert.True(oneCode == 0, oneError);
        using (var expected = CsvMatrix.Read(one))
        using (var actual = CsvMatrix.Read(written))
            AssertClose(expected, actual, Rounding);

        // Rank 0's refusal of an existing --out ends the job (rank 1 is not left waiting in an exchange).
        (code, _, error) = Launch(mpiexec, ["-n", "2", "dotnet", si, .. sample, "--out", written]);
        Assert.NotEqual(0, code);
        Assert.Contains("already exists", error);
    }

    // Runs a child process with libtorch's allocator preloaded as in the test run; (exit code, stdout, stderr); fails after 2 minutes.
    private static (int Code, string Out, string Err) Launch(string program, string[] args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        const string tcmalloc = "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4";
        if (File.Exists(tcmalloc)) start.Environment["LD_PRELOAD"] = tcmalloc;
        using var child = Process.Start(start)!;
        var output = child.StandardOutput.ReadToEndAsync();
        var error = child.StandardError.ReadToEndAsync();
        if (!child.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            child.Kill(entireProcessTree: true);
            Assert.Fail($"{program} {string.Join(' ', args)} did not finish in 2 minutes");
        }
        child.WaitForExit();
        return (child.ExitCode, output.Result, error.Result);
    }
}
