using System.Diagnostics;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Files;
using StochasticInterpolants.Runs;
using StochasticInterpolants.Tests.Cli;
using StochasticInterpolants.Training;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Training;

/// <summary>Crash-safe training: snapshots, SIGKILL, Ctrl-C, divergence and resume.</summary>
public sealed class ResumeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-resume-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private static readonly string[] SmallRun =
        ["--target", "moons", "--width", "32", "--depth", "2", "--batch", "64", "--log-every", "50", "--seed", "3", "--threads", "1",
         "--progress", "none", "--checkpoint-every", "50"];

    private static void AssertSameWeights(string expected, string actual, params string[] files)
    {
        foreach (var f in files)
            Assert.True(File.ReadAllBytes(Path.Combine(expected, f)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(actual, f))), $"{f} differs");
        // The loss log agrees too (step, loss, learning rate; wall times differ).
        static IEnumerable<string> Columns(string dir) => File.ReadAllLines(Path.Combine(dir, "loss.csv")).Select(l => string.Join(",", l.Split(',').Take(3)));
        Assert.Equal(Columns(expected), Columns(actual));
    }

    [Fact]
    public void Sigkill_at_a_random_moment_then_resume_gives_the_uninterrupted_weights_bit_for_bit()
    {
        const int steps = 20_000; // ~6 s at 1 thread here (3,000 steps/s): far longer than the latest kill (1.5 s after the first snapshot)
        var reference = Path.Combine(_dir, "reference");
        var (code, _, error) = SiRunner.Run(["train", .. SmallRun, "--steps", $"{steps}", "--out", reference]);
        Assert.True(code == 0, error);

        // The same run in a child process, killed with SIGKILL at a random moment after its first snapshot.
        var killed = Path.Combine(_dir, "killed");
        var si = Path.Combine(AppContext.BaseDirectory, "si.dll");
        Assert.True(File.Exists(si), $"{si} is missing (the test project references Si.Cli)");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { si, "train" }.Concat(SmallRun).Concat(["--steps", $"{steps}", "--out", killed])) start.ArgumentList.Add(a);
        var delay = Random.Shared.Next(0, 1500);
        using (var child = Process.Start(start)!)
        {
            child.BeginOutputReadLine(); child.BeginErrorReadLine();
            var firstSnapshot = Path.Combine(killed, TrainingStateFolder.FolderName, "state.json");
            var watch = Stopwatch.StartNew();
            while (!File.Exists(firstSnapshot) && !child.HasExited && watch.Elapsed < TimeSpan.FromSeconds(60)) Thread.Sleep(5);
            Assert.False(child.HasExited, $"the child exited (code {(child.HasExited ? child.ExitCode : 0)}) before its first snapshot");
            Thread.Sleep(delay);
            Assert.False(child.HasExited, $"the child finished before the kill at +{delay} ms; the test needs a longer run");
            child.Kill(entireProcessTree: true); // SIGKILL on Linux: no handler, no flush, no clean-up
            child.WaitForExit();
        }
        Assert.False(File.Exists(Path.Combine(killed, Checkpoint.ManifestFileName)), "a killed run must not look finished");
        Assert.True(TrainingStateFolder.Exists(killed), $"no snapshot survived the kill at +{delay} ms");

        (code, var output, error) = SiRunner.Run("train", "--resume", killed, "--threads", "1", "--progress", "none");
        Assert.True(code == 0, $"resume after a kill at +{delay} ms: {error}");
        Assert.Contains($"trained {steps} steps", output);
        AssertSameWeights(reference, killed, "weights.velocity.safetensors", "weights.velocity.ema.safetensors");
        Assert.False(Directory.Exists(Path.Combine(killed, TrainingStateFolder.FolderName)), "the snapshot is dropped once the run completes");
    }

    [Fact]
    public void Cancelled_run_keeps_a_snapshot_and_resumes_to_the_same_weights_with_two_networks()
    {
        var config = new TrainingRunConfig(Target: "8gaussians", Learn: "velocity,score", Gamma: "sqrt", CheckpointEvery: 40,
            Model: new ModelOptions(Width: 24, Depth: 2), Training: new TrainingOptions(Steps: 300, BatchSize: 64, Seed: 11, LogEvery: 25, WarmupSteps: 20));
        var reference = Path.Combine(_dir, "reference");
        TrainingRun.Execute(config, reference);

        var interrupted = Path.Combine(_dir, "interrupted");
        using var cts = new CancellationTokenSource();
        var first = TrainingRun.Execute(config, interrupted, new Runtime.SyncProgress<TrainingProgress>(p => { if (p.Step == 137) cts.Cancel(); }), cts.Token);
        Assert.False(first.Result.Completed);
        Assert.Equal(137, first.Result.StepsCompleted);
        var (state, _) = TrainingStateFolder.Load(interrupted);
        Assert.Equal(137, state.Loop.Step); // written on cancellation, not only every 40 steps
        Assert.Equal(137, state.Networks[0].OptimizerSteps);
        state.DisposeTensors();

        // Starting afresh into the interrupted run's folder is refused, pointing at --resume.
        var refused = Assert.Throws<OutputExistsException>(() => TrainingRun.Execute(config, interrupted));
        Assert.Contains("holds an interrupted training run (continue it with 'si train --resume", refused.Message);

        var resumed = TrainingRun.Resume(interrupted);
        Assert.True(resumed.Result.Completed);
        Assert.Equal(300, resumed.Result.StepsCompleted);
        AssertSameWeights(reference, interrupted, "weights.velocity.safetensors", "weights.velocity.ema.safetensors",
            "weights.denoiser.safetensors", "weights.denoiser.ema.safetensors");
    }

    [Fact]
    public void An_ot_run_resumes_to_the_same_weights_and_records_its_coupling()
    {
        // The resumed run starts its solver cold while the uninterrupted one is warm: the pairing must not depend on that.
        var config = new TrainingRunConfig(Target: "checkerboard", Coupling: "ot", CheckpointEvery: 30,
            Model: new ModelOptions(Width: 24, Depth: 2), Training: new TrainingOptions(Steps: 120, BatchSize: 128, Seed: 5, LogEvery: 20, WarmupSteps: 10));
        var reference = Path.Combine(_dir, "reference");
        var done = TrainingRun.Execute(config, reference);
        Assert.Equal("ot", done.Manifest.Coupling!.Name);
        Assert.Equal("ot", Checkpoint.ReadManifest(reference).CouplingOrDefault().Name);
        Assert.Contains("\"coupling\": \"ot\"", File.ReadAllText(Path.Combine(reference, "config.json")));

        var interrupted = Path.Combine(_dir, "interrupted");
        using var cts = new CancellationTokenSource();
        var first = TrainingRun.Execute(config, interrupted, new Runtime.SyncProgress<TrainingProgress>(p => { if (p.Step == 71) cts.Cancel(); }), cts.Token);
        Assert.False(first.Result.Completed);
        var resumed = TrainingRun.Resume(interrupted);
        Assert.True(resumed.Result.Completed);
        AssertSameWeights(reference, interrupted, "weights.velocity.safetensors", "weights.velocity.ema.safetensors");
    }

    [Fact]
    public void A_crash_between_the_snapshot_renames_or_mid_write_leaves_a_loadable_snapshot()
    {
        var store = new TrainingStateFolder(_dir, "{\"target\":\"moons\"}");
        TrainingState State(int step)
        {
            var w = new Dictionary<string, Tensor> { ["a"] = full(3, 2, (float)step) };
            var m = new Dictionary<string, Tensor> { ["exp_avg.a"] = zeros(3, 2), ["exp_avg_sq.a"] = ones(3, 2) };
            return new TrainingState(new TrainingLoopState(step, step * 0.1, 1.5, 2, [1.5], 0.7, double.NaN, [new LossLogEntry(step, 0.5, 1e-3, 1)]),
                [1, 2, 3, 255], [new NetworkTrainingState(w, null, m, step)]);
        }
        var s10 = State(10); store.Save(s10); s10.DisposeTensors();

        // Killed after moving the old snapshot aside and while a new one was half written.
        var live = Path.Combine(_dir, TrainingStateFolder.FolderName);
        Directory.Move(live, live + ".old");
        Directory.CreateDirectory(live + ".tmp");
        File.WriteAllBytes(Path.Combine(live + ".tmp", "network0.weights.safetensors"), [1, 2, 3]);
        var (loaded, config) = TrainingStateFolder.Load(_dir);
        Assert.Equal(10, loaded.Loop.Step);
        Assert.Equal(new byte[] { 1, 2, 3, 255 }, loaded.GeneratorState);
        Assert.Equal(10f, loaded.Networks[0].Weights["a"][2, 1].item<float>());
        Assert.True(double.IsNaN(loaded.Loop.LastWindowMean));
        Assert.Contains("moons", config);
        loaded.DisposeTensors();

        // The next save replaces the leftovers cleanly.
        var s20 = State(20); store.Save(s20); s20.DisposeTensors();
        (loaded, _) = TrainingStateFolder.Load(_dir);
        Assert.Equal(20, loaded.Loop.Step);
        loaded.DisposeTensors();
        Assert.False(Directory.Exists(live + ".old"));
        Assert.False(Directory.Exists(live + ".tmp"));

        // A damaged snapshot is reported, not loaded.
        var adam = Path.Combine(live, "network0.adam.safetensors");
        File.WriteAllBytes(adam, File.ReadAllBytes(adam)[..^4]);
        var e = Assert.Throws<CheckpointException>(() => TrainingStateFolder.Load(_dir));
        Assert.Contains("network0.adam.safetensors", e.Message);
        File.WriteAllText(Path.Combine(live, "state.json"), "{ not json");
        e = Assert.Throws<CheckpointException>(() => TrainingStateFolder.Load(_dir));
        Assert.Contains("corrupt", e.Message);
    }

    [Fact]
    public void Divergence_names_the_step_and_keeps_the_last_good_snapshot()
    {
        var run = Path.Combine(_dir, "nan");
        var (code, _, error) = SiRunner.Run("train", "--target", "moons", "--out", run, "--steps", "200", "--width", "16", "--depth", "1", "--batch", "32",
            "--lr", "1e10", "--grad-clip", "0", "--warmup", "0", "--checkpoint-every", "1", "--threads", "1", "--progress", "none");
        Assert.Equal(1, code);
        Assert.Single(error.TrimEnd().Split('\n'));
        var match = System.Text.RegularExpressions.Regex.Match(error, @"diverged: the loss became (NaN|-?Infinity) at step (\d+); the last good state \(step (\d+)\) is kept in");
        Assert.True(match.Success, error);
        var bad = int.Parse(match.Groups[2].Value);
        Assert.Equal(bad - 1, int.Parse(match.Groups[3].Value));
        Assert.False(File.Exists(Path.Combine(run, Checkpoint.ManifestFileName)), "no checkpoint of diverged weights");
        var (state, _) = TrainingStateFolder.Load(run);
        Assert.Equal(bad - 1, state.Loop.Step);
        Assert.All(state.Networks[0].Weights.Values, w => Assert.True(w.isfinite().all().item<bool>()));
        state.DisposeTensors();
    }

    [Fact]
    public void A_folder_another_process_trains_in_is_refused()
    {
        var run = Path.Combine(_dir, "busy");
        using (OutputFolder.LockForTraining(run)) // what a running `si train` holds
        {
            var (code, _, error) = SiRunner.Run(["train", .. SmallRun, "--steps", "5", "--out", run, "--force"]);
            Assert.Equal(1, code);
            Assert.Contains("is in use by another training process", error);
            (code, _, error) = SiRunner.Run("train", "--resume", run);
            Assert.Equal(1, code);
            Assert.Contains("is in use by another training process", error);
        }
        Assert.Equal(0, SiRunner.Run(["train", .. SmallRun, "--steps", "5", "--out", run]).Code);
        Assert.False(File.Exists(Path.Combine(run, OutputFolder.LockFileName)), "the lock file goes with the process");
    }

    [Fact]
    public void Resume_refuses_other_options_a_finished_run_and_a_folder_without_a_snapshot()
    {
        var (code, _, error) = SiRunner.Run("train", "--resume", Path.Combine(_dir, "none"));
        Assert.Equal(1, code);
        Assert.Contains("does not exist", error);
        Directory.CreateDirectory(Path.Combine(_dir, "empty"));
        (code, _, error) = SiRunner.Run("train", "--resume", Path.Combine(_dir, "empty"));
        Assert.Equal(1, code);
        Assert.Contains("holds no training state to resume", error);
        var run = Path.Combine(_dir, "done");
        Assert.Equal(0, SiRunner.Run(["train", .. SmallRun, "--steps", "20", "--out", run]).Code);
        (code, _, error) = SiRunner.Run("train", "--resume", run);
        Assert.Equal(1, code);
        Assert.Contains("already finished (20 of 20 steps)", error);
        (code, _, error) = SiRunner.Run("train", "--resume", run, "--lr", "0.1");
        Assert.Equal(2, code);
        Assert.Contains("--lr cannot be combined with it", error);
    }
}
