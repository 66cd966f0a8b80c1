using System.Globalization;
using System.Text.Json;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Files;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using StochasticInterpolants.Runs;
using StochasticInterpolants.Training;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Cli;

/// <summary>Flow maps through the CLI (docs/theory.md §14): training, sampling by jumps or by the diagonal's ODE, eval, refusals, distillation, resume.</summary>
public sealed class FlowMapCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-flowmap-cli-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private static (int Code, string Out, string Err) Run(params string[] args) => SiRunner.Run(args);

    private static readonly string[] Tiny = ["--width", "32", "--depth", "2", "--batch", "128", "--threads", "1", "--progress", "none"];

    // A tiny run on the checkerboard (or another target); extra options after the defaults.
    private string Train(string name, params string[] extra) => Train(name, 60, extra);

    private string Train(string name, int steps, params string[] extra)
    {
        var run = Path.Combine(_dir, name);
        var (code, output, error) = Run(["train", "--target", "checkerboard", "--steps", $"{steps}", "--seed", "1", .. Tiny, "--out", run, .. extra]);
        Assert.True(code == 0, error);
        Assert.Contains($"trained {steps} steps", output);
        return run;
    }

    private (string Out, Tensor Rows) Sample(string run, string name, params string[] extra)
    {
        var path = Path.Combine(_dir, name);
        var (code, output, error) = Run(["sample", "--checkpoint", run, "--count", "200", "--seed", "2", "--threads", "1", "--progress", "none", "--out", path, .. extra]);
        Assert.True(code == 0, error);
        var rows = CsvMatrix.Read(path);
        Assert.True(rows.isfinite().all().item<bool>(), $"{name}: samples not finite");
        return (output, rows);
    }

    [Fact]
    public void A_flow_map_samples_by_jumps_or_by_its_diagonal_and_eval_records_the_jumps()
    {
        var run = Train("map", "--learn", "flow-map");
        Assert.Equal(FieldKind.FlowMap, Assert.Single(Checkpoint.ReadManifest(run).Networks).Represents);

        var (one, x1) = Sample(run, "one.csv", "--steps", "1");
        using (x1) Assert.Equal(new long[] { 200, 2 }, x1.shape);
        Assert.Contains("(flow map, 1 jump, 1 network evaluation per sample", one);
        var (four, x4) = Sample(run, "four.csv", "--steps", "4");
        using (x4) Assert.Equal(new long[] { 200, 2 }, x4.shape);
        Assert.Contains("(flow map, 4 jumps, 4 network evaluations per sample", four);
        var (two, x2) = Sample(run, "default.csv");
        x2.Dispose();
        Assert.Contains("(flow map, 2 jumps, 2 network evaluations per sample", two); // the default without --steps
        // --solver integrates the diagonal velocity instead: 10 RK4 steps, 40 evaluations.
        var (ode, xo) = Sample(run, "ode.csv", "--solver", "rk4", "--steps", "10");
        using (xo) Assert.Equal(new long[] { 200, 2 }, xo.shape);
        Assert.Contains("(rk4, 40 network evaluations per sample", ode);
        Assert.DoesNotContain("flow map", ode);

        // si eval --steps 2: samples by two jumps, the likelihood by the diagonal's ODE at the default 100 RK4 steps.
        var json = Path.Combine(_dir, "eval.json");
        var (code, output, error) = Run("eval", "--checkpoint", run, "--target", "checkerboard", "--steps", "2", "--count", "300", "--threads", "1",
            "--progress", "none", "--json", json);
        Assert.True(code == 0, error);
        Assert.Contains("flow map, 2 jumps", output);
        using (var doc = JsonDocument.Parse(File.ReadAllText(json)))
        {
            var root = doc.RootElement;
            Assert.Equal("flow map, 2 jumps", root.GetProperty("sampling").GetString());
            Assert.Equal(2, root.GetProperty("sampling_nfe").GetDouble());
            Assert.Equal("rk4 100 steps", root.GetProperty("solver").GetString());
            Assert.Equal(400, root.GetProperty("nfe").GetDouble()); // the likelihood's: 4 evaluations per RK4 step
            Assert.True(double.IsFinite(root.GetProperty("nll_mean").GetDouble()));
            Assert.InRange(root.GetProperty("support_fraction").GetDouble(), 0, 1);
        }
        // With --solver, eval integrates the diagonal for the samples too, and --steps counts its steps.
        json = Path.Combine(_dir, "eval-ode.json");
        (code, _, error) = Run("eval", "--checkpoint", run, "--target", "checkerboard", "--solver", "heun", "--steps", "10", "--count", "300", "--threads", "1",
            "--progress", "none", "--json", json);
        Assert.True(code == 0, error);
        using (var doc = JsonDocument.Parse(File.ReadAllText(json)))
        {
            Assert.Equal("heun 10 steps", doc.RootElement.GetProperty("sampling").GetString());
            Assert.Equal(20, doc.RootElement.GetProperty("sampling_nfe").GetDouble());
            Assert.Equal(20, doc.RootElement.GetProperty("nfe").GetDouble());
        }
        // Jumps beyond FlowMapSampler.MaxJumps are refused before any work, as si sample refuses them.
        (code, _, error) = Run("eval", "--checkpoint", run, "--target", "checkerboard", "--steps", "10001", "--count", "300", "--threads", "1", "--progress", "none");
        Assert.Equal(2, code);
        Assert.Contains($"--steps must be in 1..{StochasticInterpolants.Sampling.FlowMapSampler.MaxJumps} jumps, got 10001", error);
    }

    [Fact]
    public void Eval_of_a_velocity_checkpoint_keeps_steps_as_ode_steps()
    {
        var run = Train("velocity");
        var json = Path.Combine(_dir, "eval.json");
        var (code, output, error) = Run("eval", "--checkpoint", run, "--target", "checkerboard", "--steps", "2", "--count", "300", "--threads", "1",
            "--progress", "none", "--json", json);
        Assert.True(code == 0, error);
        Assert.DoesNotContain("flow map", output);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal("rk4 2 steps", doc.RootElement.GetProperty("solver").GetString());
        Assert.Equal("rk4 2 steps", doc.RootElement.GetProperty("sampling").GetString());
        Assert.Equal(8, doc.RootElement.GetProperty("nfe").GetDouble());
        Assert.Equal(8, doc.RootElement.GetProperty("sampling_nfe").GetDouble());
    }

    [Fact]
    public void A_table_flow_map_samples_and_evals()
    {
        var rng = new Random(7);
        var csv = Path.Combine(_dir, "table.csv");
        File.WriteAllLines(csv, new[] { "a,b,c" }.Concat(Enumerable.Range(0, 300).Select(_ =>
        {
            var z = rng.NextDouble() * 2 - 1;
            return string.Join(",", new[] { z, 2 * z + 0.1 * (rng.NextDouble() - 0.5), 5 + rng.NextDouble() }.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));
        })));
        var run = Path.Combine(_dir, "table");
        var (code, _, error) = Run(["train", "--target", csv, "--learn", "flow-map", "--steps", "60", "--seed", "1", .. Tiny, "--out", run]);
        Assert.True(code == 0, error);
        var (output, rows) = Sample(run, "rows.csv", "--steps", "3");
        using (rows) Assert.Equal(new long[] { 200, 3 }, rows.shape);
        Assert.Contains("flow map, 3 jumps", output);
        var json = Path.Combine(_dir, "eval.json");
        (code, output, error) = Run("eval", "--checkpoint", run, "--steps", "2", "--count", "100", "--threads", "1", "--progress", "none", "--json", json);
        Assert.True(code == 0, error);
        Assert.Contains("flow map, 2 jumps", output);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal("flow map, 2 jumps", doc.RootElement.GetProperty("sampling").GetString());
        Assert.Equal(2, doc.RootElement.GetProperty("sampling_nfe").GetDouble());
        Assert.True(double.IsFinite(doc.RootElement.GetProperty("nll_mean").GetDouble()));
        Assert.True(double.IsFinite(doc.RootElement.GetProperty("baseline_nll_mean").GetDouble()));
    }

    [Fact]
    public void Bad_flow_map_settings_and_teachers_are_refused_with_one_line()
    {
        var velocity = Train("teacher", 20);
        var trig = Train("trig", 20, "--interpolant", "trigonometric");
        var map = Train("map", 20, "--learn", "flow-map");
        var csv = Path.Combine(_dir, "three.csv");
        File.WriteAllLines(csv, Enumerable.Range(0, 100).Select(i => $"{i % 7},{i % 5},{i % 3}"));
        var wide = Path.Combine(_dir, "wide");
        Assert.Equal(0, Run(["train", "--target", csv, "--steps", "20", .. Tiny, "--out", wide]).Code);

        var cases = new (int Code, string Fragment, string[] Args)[]
        {
            (2, "a flow map is learned alone", ["--learn", "flow-map,score"]),
            (2, "unknown flow-map objective 'foo' (expected lsd or psd)", ["--learn", "flow-map", "--map-objective", "foo"]),
            (2, "the diagonal fraction must be in (0, 1)", ["--learn", "flow-map", "--diagonal-fraction", "1.5"]),
            (2, "the antithetic loss is not defined for a flow map", ["--learn", "flow-map", "--antithetic"]),
            (2, "does not exist", ["--learn", "flow-map", "--teacher", Path.Combine(_dir, "missing")]),
            (2, "was trained on the trigonometric interpolant", ["--learn", "flow-map", "--teacher", trig]),
            (2, "generates samples of shape [3], this run's data has [2]", ["--learn", "flow-map", "--teacher", wide]),
            (2, "is itself a flow map", ["--learn", "flow-map", "--teacher", map]),
            (2, "apply only with --learn flow-map", ["--map-objective", "psd"]),
            (2, "apply only with --learn flow-map", ["--teacher", velocity]),
            (2, "--teacher-guidance: a guidance weight for the teacher needs a teacher", ["--learn", "flow-map", "--teacher-guidance", "2"]),
            (2, "--teacher-guidance: guidance blends a teacher's conditional and no-class velocities", ["--learn", "flow-map", "--teacher", velocity, "--teacher-guidance", "2"]),
        };
        foreach (var (expected, fragment, args) in cases)
        {
            var output = Path.Combine(_dir, $"refused{Guid.NewGuid():N}");
            var (code, _, error) = Run(["train", "--target", "checkerboard", "--steps", "5", .. Tiny, "--out", output, .. args]);
            var what = string.Join(" ", args);
            Assert.True(code == expected, $"{what}: exit {code}, {error}");
            Assert.StartsWith("si: error: ", error);
            Assert.Contains(fragment, error);
            Assert.Single(error.TrimEnd().Split('\n'));
            Assert.False(File.Exists(Path.Combine(output, Checkpoint.ManifestFileName)), what);
        }
    }

    [Fact]
    public void Distillation_from_a_velocity_teacher_trains_a_map_that_samples()
    {
        var teacher = Train("teacher", 40);
        var student = Train("student", "--learn", "flow-map", "--teacher", teacher);
        var manifest = Checkpoint.ReadManifest(student);
        Assert.Equal(FieldKind.FlowMap, Assert.Single(manifest.Networks).Represents);
        var (output, x) = Sample(student, "student.csv", "--steps", "2");
        using (x) Assert.Equal(new long[] { 200, 2 }, x.shape);
        Assert.Contains("flow map, 2 jumps", output);
    }

    [Fact]
    public void An_interrupted_flow_map_run_resumes_to_the_uninterrupted_weights_bit_for_bit()
    {
        // In-process runs use the test host's one thread, as the resume below does (--threads 1): the last bits depend on the thread count.
        var config = new TrainingRunConfig(Target: "checkerboard", Learn: "flow-map", CheckpointEvery: 30,
            Model: new ModelOptions(Width: 24, Depth: 2), Training: new TrainingOptions(Steps: 90, BatchSize: 64, Seed: 5, LogEvery: 15, WarmupSteps: 10));
        Assert.True(config.LearnsFlowMap);
        var reference = Path.Combine(_dir, "reference");
        TrainingRun.Execute(config, reference);

        // The same run, cancelled at step 47 (between snapshots: the cancellation writes its own), then resumed by si train --resume.
        var interrupted = Path.Combine(_dir, "interrupted");
        using (var cts = new CancellationTokenSource())
        {
            var first = TrainingRun.Execute(config, interrupted, new Runtime.SyncProgress<TrainingProgress>(p => { if (p.Step == 47) cts.Cancel(); }), cts.Token);
            Assert.False(first.Result.Completed);
            Assert.Equal(47, first.Result.StepsCompleted);
        }
        var (code, output, error) = Run("train", "--resume", interrupted, "--threads", "1", "--progress", "none");
        Assert.True(code == 0, error);
        Assert.Contains("trained 90 steps", output);
        foreach (var f in new[] { "weights.flowMap.safetensors", "weights.flowMap.ema.safetensors" })
            Assert.True(File.ReadAllBytes(Path.Combine(reference, f)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(interrupted, f))), $"{f} differs after the resume");
        static IEnumerable<string> Columns(string dir) => File.ReadAllLines(Path.Combine(dir, "loss.csv")).Select(l => string.Join(",", l.Split(',').Take(3)));
        Assert.Equal(Columns(reference), Columns(interrupted));
    }

    [Fact]
    public void A_saved_flow_map_jumps_as_the_network_it_was_saved_from()
    {
        // The trained run's manifest (a two-time MLP that represents a flow map) with this network's weights in place of its own.
        var run = Train("map", 20, "--learn", "flow-map");
        var trained = Checkpoint.ReadManifest(run);
        using var net = new MlpNetwork(new MlpConfig(2, Width: 32, Depth: 2, TwoTimes: true), seed: 9);
        var folder = Path.Combine(_dir, "saved");
        var manifest = trained with { Networks = [trained.Networks[0] with { Model = net.Spec, EmaWeightsFile = null }] };
        Checkpoint.Save(folder, manifest, [(net, null)]);

        using var loaded = Checkpoint.Load(folder);
        var map = loaded.FlowMap;
        Assert.NotNull(map);
        using var g = new Generator(3);
        using var x = randn([64, 2], generator: g);
        using var s = rand([64], generator: g);
        using var t = rand([64], generator: g);
        using var noGrad = no_grad();
        using (var expected = ((ITwoTimeNetwork)net).Jump(x, s, t))
        using (var actual = map!.Jump(x, s, t))
            Assert.True(expected.allclose(actual, 0, 0), "the loaded map's jump differs from the saved network's");
        // X_{s,t}(x) = x + (t - s) v(s, t, x), and X_{t,t} = identity.
        using (var v = ((ITwoTimeNetwork)net).forward(x, s, t, null))
        using (var jump = map!.Jump(x, s, t))
        using (var formula = x + (t - s).unsqueeze(1) * v)
            Assert.True(jump.allclose(formula, 1e-6, 1e-6));
        using (var stay = map!.Jump(x, t, t)) Assert.True(stay.allclose(x, 0, 0));
        // The trained run loads as a flow map whose diagonal is its velocity.
        using var real = Checkpoint.Load(run);
        Assert.NotNull(real.FlowMap);
    }

    [Fact]
    public void A_class_conditional_image_flow_map_is_scored_with_guided_jumps()
    {
        var run = Path.Combine(_dir, "digits");
        var (code, output, error) = Run("train", "--target", "digits8", "--unet", "tiny", "--learn", "flow-map", "--steps", "20", "--batch", "16",
            "--seed", "3", "--threads", "1", "--progress", "none", "--out", run);
        Assert.True(code == 0, error);
        Assert.NotNull(Checkpoint.ReadManifest(run).ConditionClasses());
        var json = Path.Combine(_dir, "eval.json");
        (code, output, error) = Run("eval", "--checkpoint", run, "--count", "4", "--generated", "2", "--guidance", "2", "--steps", "2",
            "--threads", "1", "--progress", "none", "--json", json);
        Assert.True(code == 0, error);
        Assert.Contains("images by flow map, 2 jumps (2 network evaluations each)", error); // the plan
        Assert.Contains("flow map, 2 jumps", output);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var root = doc.RootElement;
        Assert.Equal("flow map, 2 jumps", root.GetProperty("sampling").GetString());
        Assert.Equal(2, root.GetProperty("sampling_nfe").GetDouble());
        Assert.Equal(80, root.GetProperty("nfe").GetDouble()); // the likelihood: 20 RK4 steps of the diagonal, 4 evaluations each
        Assert.Equal(20, root.GetProperty("generated").GetInt32());
        foreach (var key in new[] { "bits_per_dim", "conditional_accuracy", "conditional_accuracy_unguided", "nearest_train_distance" })
            Assert.True(root.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number && double.IsFinite(v.GetDouble()), key);
    }

    [Fact]
    public void A_completion_flow_map_is_scored_along_its_diagonal_and_says_so()
    {
        var run = Path.Combine(_dir, "inpaint");
        var (code, _, error) = Run("train", "--target", "digits8", "--unet", "tiny", "--learn", "flow-map", "--coupling", "inpaint", "--cond-drop", "0",
            "--steps", "10", "--batch", "16", "--seed", "3", "--threads", "1", "--progress", "none", "--out", run);
        Assert.True(code == 0, error);
        var json = Path.Combine(_dir, "eval.json");
        (code, _, error) = Run("eval", "--checkpoint", run, "--count", "4", "--steps", "2", "--threads", "1", "--progress", "none", "--json", json);
        Assert.True(code == 0, error);
        Assert.Contains("this flow map completes observations by integrating its diagonal velocity (rk4, 2 steps)", error);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal(8, doc.RootElement.GetProperty("nfe").GetDouble()); // two RK4 steps of the diagonal: the NFE is the ODE's, not jumps
    }
}
