using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Fields;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using StochasticInterpolants.Sampling;
using StochasticInterpolants.Training;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Core;

// The registries are process-wide: every name registered here is unique to one test (prefix "registry-test-"), so no
// other test sees a newcomer (e.g. "cubic" stays an unknown gamma schedule for the CLI tests).
public class RegistryTests
{
    private static readonly double[] Times = [0.0, 0.1, 0.25, 0.5, 0.7, 0.95, 1.0];

    // ---- interpolants ----

    [Theory]
    [InlineData("linear", "linear")]
    [InlineData("LINEAR", "linear")]
    [InlineData("Trig", "trigonometric")]
    [InlineData(" trigonometric ", "trigonometric")]
    [InlineData("EncDec", "encoder-decoder")]
    [InlineData("One-Sided", "one-sided-linear")]
    [InlineData("VP", "one-sided-vp")]
    [InlineData("Mirror", "mirror")]
    public void Interpolant_registry_finds_built_ins_case_insensitively(string family, string name)
    {
        Assert.Equal(name, new InterpolantSpec(family).Build().Name);
        Assert.True(InterpolantRegistry.Contains(family));
    }

    [Fact]
    public void Interpolant_registry_lists_the_built_in_families_first_and_no_aliases()
    {
        Assert.Equal(["linear", "trigonometric", "encoder-decoder", "one-sided-linear", "one-sided-vp", "mirror"],
            InterpolantSpec.Families.Take(6));
        Assert.Equal(InterpolantRegistry.Names, InterpolantSpec.Families);
        Assert.DoesNotContain("trig", InterpolantSpec.Families);
    }

    [Fact]
    public void Unknown_interpolant_is_rejected_with_the_known_names()
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => new InterpolantSpec("registry-test-nowhere").Build());
        Assert.StartsWith("unknown interpolant 'registry-test-nowhere' (expected linear, trigonometric, encoder-decoder,", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void A_registered_family_receives_the_spec_and_builds_by_name()
    {
        InterpolantSpec? seen = null;
        InterpolantRegistry.Register("registry-test-trig-family", s => { seen = s; return new TrigonometricInterpolant(s.BuildGamma()); }, "registry-test-tf");
        var it = new InterpolantSpec("REGISTRY-TEST-TF", "Quadratic", 0.25).Build();
        Assert.Equal(new InterpolantSpec("REGISTRY-TEST-TF", "Quadratic", 0.25), seen);
        var exact = new TrigonometricInterpolant(GammaSchedule.Quadratic(0.25));
        foreach (var t in Times) Assert.Equal(exact.At(t), it.At(t));
        Assert.Contains("registry-test-trig-family", InterpolantSpec.Families);
        Assert.DoesNotContain("registry-test-tf", InterpolantSpec.Families);
        // The scale is checked before the builder runs, whatever the family.
        Assert.Contains("got -3", Assert.ThrowsAny<ArgumentException>(() => new InterpolantSpec("registry-test-tf", "none", -3).Build()).Message);
    }

    [Fact]
    public void An_alias_cannot_hide_a_registered_name()
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => InterpolantRegistry.Register("registry-test-hijack", _ => new LinearInterpolant(), "mirror"));
        Assert.Contains("'mirror' is already a registered interpolant", e.Message);
        Assert.False(InterpolantRegistry.Contains("registry-test-hijack"));
        Assert.Equal("mirror", new InterpolantSpec("mirror").Build().Name);
        Assert.Throws<ArgumentException>(() => InterpolantRegistry.Register("  ", _ => new LinearInterpolant()));
    }

    // ---- custom interpolants in checkpoints ----

    private static CustomInterpolant Wiggly(string name) => new(name,
        t => (1 - t) * (1 + 0.3 * Math.Sin(Math.PI * t)), t => t * (1 + 0.2 * Math.Sin(Math.PI * t)), t => 0.8 * t * (1 - t) * (1 + t));

    [Fact]
    public void A_registered_custom_interpolant_has_a_spec_that_rebuilds_it()
    {
        var custom = Wiggly("registry-test-wiggly");
        Assert.Null(custom.Spec); // not registered yet
        Assert.Same(custom, custom.Register());
        Assert.Equal(new InterpolantSpec("registry-test-wiggly"), custom.Spec);
        var again = new InterpolantSpec("Registry-Test-Wiggly").Build();
        Assert.Equal(custom.Name, again.Name);
        Assert.Equal(custom.Kind, again.Kind);
        foreach (var t in Times) Assert.Equal(custom.At(t), again.At(t));
        Assert.Equal(custom.Spec, again.Spec);
    }

    [Fact]
    public void A_custom_interpolant_registered_through_a_builder_has_a_spec()
    {
        InterpolantRegistry.Register("registry-test-builder", _ => Wiggly("registry-test-builder"));
        var mine = Wiggly("registry-test-builder"); // a distinct instance with the same functions
        Assert.Equal(new InterpolantSpec("registry-test-builder"), mine.Spec);
        foreach (var t in Times) Assert.Equal(mine.At(t), mine.Spec!.Build().At(t));
    }

    [Fact]
    public void A_custom_interpolant_whose_name_builds_something_else_has_no_spec()
    {
        Assert.Null(Wiggly("registry-test-never-registered").Spec);
        Assert.Null(Wiggly("linear").Spec); // "linear" would load as the straight line: no spec rather than a wrong one
        InterpolantRegistry.Register("registry-test-other", _ => Wiggly("registry-test-other"));
        var different = new CustomInterpolant("registry-test-other", t => 1 - t, t => t); // same name, other functions
        Assert.Null(different.Spec);
    }

    [Fact]
    public void A_checkpoint_trained_with_a_registered_custom_interpolant_loads_it_back()
    {
        var custom = Wiggly("registry-test-checkpointed").Register();
        var dir = Directory.CreateTempSubdirectory("si-registry-").FullName;
        try
        {
            using var net = new MlpNetwork(new MlpConfig(2, Width: 8, Depth: 1), seed: 1);
            var manifest = new CheckpointManifest(CheckpointManifest.CurrentFormat, custom.Spec!,
                [new NetworkEntry(FieldKind.Velocity, net.Spec, Checkpoint.WeightsFileName(FieldKind.Velocity), null)],
                "gaussian", "checkerboard", 2, 1e-3, false, new TrainingOptions(), 1, 0.5, DateTime.UtcNow);
            var folder = Path.Combine(dir, "run");
            Checkpoint.Save(folder, manifest, [(net, null)]);
            using var loaded = Checkpoint.Load(folder);
            Assert.Equal("registry-test-checkpointed", loaded.Manifest.Interpolant.Family);
            var it = loaded.Interpolant;
            Assert.Equal(custom.Name, it.Name);
            foreach (var t in Times) Assert.Equal(custom.At(t), it.At(t));
        }
        finally { Directory.Delete(dir, true); }
    }

    // ---- gamma schedules ----

    /// <summary>gamma(t) = a t^2 (1 - t)^2 with its exact derivative.</summary>
    private sealed record QuarticBump(double A) : GammaSchedule
    {
        public override string Name => "registry-test-quartic";
        public override double Scale => A;
        public override double Value(double t) => A * t * t * (1 - t) * (1 - t);
        public override double Derivative(double t) => 2 * A * t * (1 - t) * (1 - 2 * t);
    }

    [Theory]
    [InlineData("none", "none")]
    [InlineData("NONE", "none")]
    [InlineData("Zero", "none")]
    [InlineData("Sqrt", "sqrt")]
    [InlineData("quadratic", "quadratic")]
    [InlineData("T(1-T)", "quadratic")]
    [InlineData("Bridge", "quadratic")]
    [InlineData("SIN2", "sin2")]
    [InlineData("Sin^2", "sin2")]
    [InlineData(" sin-squared ", "sin2")]
    public void Gamma_registry_finds_built_ins_case_insensitively(string name, string expected) =>
        Assert.Equal(expected, GammaSchedule.Parse(name, 2).Name);

    [Fact]
    public void Gamma_registry_lists_names_and_rejects_unknown_ones_and_bad_scales()
    {
        Assert.Equal(["none", "sqrt", "quadratic", "sin2"], GammaSchedule.Names.Take(4));
        var e = Assert.ThrowsAny<ArgumentException>(() => GammaSchedule.Parse("registry-test-nothing"));
        Assert.Equal("unknown gamma schedule 'registry-test-nothing' (expected " + string.Join(", ", GammaSchedule.Names) + ")", e.Message);
        Assert.StartsWith("unknown gamma schedule 'registry-test-nothing' (expected none, sqrt, quadratic, sin2", e.Message);
        foreach (var name in new[] { "none", "sqrt", "quadratic", "sin2" })
        foreach (var a in new[] { 0.0, -1.0, double.NaN, double.PositiveInfinity })
            Assert.StartsWith("gamma scale must be a positive finite number, got ", Assert.ThrowsAny<ArgumentException>(() => GammaSchedule.Parse(name, a)).Message);
    }

    [Fact]
    public void A_registered_gamma_schedule_builds_interpolants_and_round_trips_through_their_spec()
    {
        GammaSchedule.Register("registry-test-quartic", a => new QuarticBump(a), "registry-test-t2(1-t)2");
        Assert.Contains("registry-test-quartic", GammaSchedule.Names);
        var it = new InterpolantSpec("linear", "Registry-Test-Quartic", 2).Build();
        Assert.Equal(0, it.At(0).Gamma); Assert.Equal(0, it.At(1).Gamma);
        Assert.Equal(2 * 0.0625, it.At(0.5).Gamma, 15);
        foreach (var t in new[] { 0.2, 0.5, 0.9 })
        {
            var h = 1e-6; var c = it.At(t);
            Assert.Equal((it.At(t + h).Gamma - it.At(t - h).Gamma) / (2 * h), c.GammaDot, 8);
            Assert.Equal(c.Gamma * c.GammaDot, c.GammaGammaDot, 15);
        }
        Assert.Equal(new InterpolantSpec("linear", "registry-test-quartic", 2), it.Spec);
        var again = it.Spec!.Build();
        foreach (var t in Times) Assert.Equal(it.At(t), again.At(t));
        Assert.Equal("registry-test-quartic", ((AffineInterpolant)new InterpolantSpec("mirror", "registry-test-t2(1-t)2", 1).Build()).GammaSchedule.Name);
        Assert.Contains("got -2", Assert.ThrowsAny<ArgumentException>(() => GammaSchedule.Parse("registry-test-quartic", -2)).Message);
    }

    [Fact]
    public void A_gamma_schedule_must_carry_its_registered_name()
    {
        GammaSchedule.Register("registry-test-misnamed", a => new QuarticBump(a));
        var e = Assert.Throws<InvalidOperationException>(() => GammaSchedule.Parse("registry-test-misnamed"));
        Assert.Contains("its Name must be the registered name", e.Message);
    }

    // ---- ODE solvers ----

    /// <summary>Euler with twice the steps it is given.</summary>
    private sealed class EulerTwice(int steps) : IOdeSolver
    {
        private readonly EulerSolver _inner = new(2 * steps);
        public string Name => "registry-test-euler-twice";
        public OdeSolution Integrate(IVelocityField field, Tensor x, double tStart, double tEnd, OdeOptions? options = null) =>
            _inner.Integrate(field, x, tStart, tEnd, options);
    }

    [Theory]
    [InlineData("euler", "euler")]
    [InlineData("HEUN", "heun")]
    [InlineData("MidPoint", "midpoint")]
    [InlineData("RK4", "rk4")]
    [InlineData("Dopri5", "dopri5")]
    [InlineData("DOPRI", "dopri5")]
    [InlineData("Dormand-Prince", "dopri5")]
    public void Ode_registry_finds_built_ins_case_insensitively(string name, string expected)
    {
        Assert.Equal(expected, OdeSolvers.Create(name, 10).Name);
        Assert.True(OdeSolvers.Contains(name));
    }

    [Fact]
    public void Ode_registry_lists_names_accepts_a_newcomer_and_rejects_unknown_names()
    {
        Assert.Equal(["euler", "heun", "midpoint", "rk4", "dopri5"], OdeSolvers.Names.Take(5));
        OdeSolvers.Register("registry-test-euler-twice", (steps, _, _) => new EulerTwice(steps));
        Assert.Contains("registry-test-euler-twice", OdeSolvers.Names);
        var solver = OdeSolvers.Create("Registry-Test-Euler-Twice", 8);
        Assert.Equal("registry-test-euler-twice", solver.Name);
        var field = new GaussianToGaussianVelocity([2.0, -1.0], 0.5);
        using var x0 = tensor(new double[] { 0.3, -0.7, 1.1, 0.2 }).reshape(2, 2);
        using var twice = solver.Integrate(field, x0, 0, 1);
        using var euler16 = OdeSolvers.Create("euler", 16).Integrate(field, x0, 0, 1);
        Assert.True(twice.Final.allclose(euler16.Final, 0, 0));
        Assert.Equal(16, twice.FunctionEvaluations);
        var e = Assert.ThrowsAny<ArgumentException>(() => OdeSolvers.Create("registry-test-leapfrog"));
        Assert.Equal($"unknown solver 'registry-test-leapfrog' (expected {string.Join(", ", OdeSolvers.Names)})", e.Message);
        Assert.Contains("euler, heun, midpoint, rk4, dopri5", e.Message);
    }

    [Fact]
    public void Ode_builders_receive_the_steps_and_tolerances()
    {
        (int, double, double)? seen = null;
        OdeSolvers.Register("registry-test-spy", (steps, rtol, atol) => { seen = (steps, rtol, atol); return new EulerSolver(steps); }, "registry-test-spy-alias");
        Assert.Equal("euler", OdeSolvers.Create("REGISTRY-TEST-SPY-ALIAS", 7, 1e-3, 1e-4).Name);
        Assert.Equal((7, 1e-3, 1e-4), seen);
        Assert.DoesNotContain("registry-test-spy-alias", OdeSolvers.Names);
    }

    // ---- SDE samplers ----

    [Theory]
    [InlineData("em", "em")]
    [InlineData("EM", "em")]
    [InlineData("Euler-Maruyama", "em")]
    [InlineData("Heun-SDE", "heun-sde")]
    [InlineData("STOCHASTIC-HEUN", "heun-sde")]
    public void Sde_registry_finds_built_ins_case_insensitively(string name, string expected)
    {
        Assert.Equal(expected, SdeSolvers.Create(name, 5).Name);
        Assert.True(SdeSolvers.Contains(name));
    }

    [Fact]
    public void Sde_registry_lists_names_accepts_a_newcomer_and_rejects_unknown_names()
    {
        Assert.Equal(["em", "heun-sde"], SdeSolvers.Names.Take(2));
        SdeSolvers.Register("registry-test-em-twice", steps => new EulerMaruyamaSampler(2 * steps));
        Assert.Contains("registry-test-em-twice", SdeSolvers.Names);
        var s = SdeSolvers.Create("REGISTRY-TEST-EM-TWICE", 6);
        Assert.IsType<EulerMaruyamaSampler>(s);
        Assert.Equal(12, s.StepCount);
        var e = Assert.ThrowsAny<ArgumentException>(() => SdeSolvers.Create("registry-test-milstein", 5));
        Assert.StartsWith("unknown sampler 'registry-test-milstein' (expected em, heun-sde", e.Message);
        Assert.Contains("or an ODE solver: euler, heun, midpoint, rk4, dopri5", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    // ---- bug 5 ----

    // Bug 5: encoder-decoder and mirror replaced gamma "none" / "" by their default schedule without checking the scale,
    // so a scale <= 0 (or NaN, infinity) gave gamma = 0 or negative and sqrt(2 eps) = NaN later; and the names were
    // matched case-sensitively there ("None" was an unknown schedule, "SQRT" too).
    [Theory]
    [InlineData("encoder-decoder", "none", -1.0, "got -1")]
    [InlineData("encoder-decoder", "", 0.0, "got 0")]
    [InlineData("mirror", "none", -1.0, "got -1")]
    [InlineData("mirror", "", double.NaN, "got NaN")]
    [InlineData("mirror", "None", double.PositiveInfinity, "got Infinity")]
    [InlineData("encdec", "NONE", -2.5, "got -2.5")]
    [InlineData("linear", "SQRT", -1.0, "got -1")]
    [InlineData("one-sided-linear", "none", -1.0, "got -1")]
    [InlineData("one-sided-vp", "None", 0.0, "got 0")]
    public void Every_family_validates_the_gamma_scale(string family, string gamma, double scale, string got)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => new InterpolantSpec(family, gamma, scale).Build());
        Assert.StartsWith("gamma scale must be a positive finite number, ", e.Message);
        Assert.Contains(got, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Theory]
    [InlineData("mirror", "None", "sqrt")]
    [InlineData("mirror", "SQRT", "sqrt")]
    [InlineData("mirror", " Quadratic ", "quadratic")]
    [InlineData("encoder-decoder", "None", "sin2")]
    [InlineData("Encoder-Decoder", "SIN^2", "sin2")]
    [InlineData("LINEAR", "Sin2", "sin2")]
    [InlineData("Trig", "NONE", "none")]
    [InlineData("one-sided-linear", "None", "none")]
    [InlineData("VP", "", "none")]
    public void Gamma_names_match_case_insensitively_on_every_path(string family, string gamma, string expected)
    {
        var it = (AffineInterpolant)new InterpolantSpec(family, gamma, 0.5).Build();
        Assert.Equal(expected, it.GammaSchedule.Name);
        if (expected != "none") Assert.Equal(0.5, it.GammaSchedule.Scale);
    }

    // ---- networks ----

    /// <summary>A user architecture: f(x, t) = W x + t v, with its width-free settings in JSON.</summary>
    private sealed class AffineInTime : TorchSharp.torch.nn.Module<Tensor, Tensor, Tensor>
    {
        private readonly TorchSharp.Modules.Linear _map;
        private readonly TorchSharp.Modules.Parameter _drift;

        public AffineInTime(int dimension, long seed) : base("affine-in-time")
        {
            _map = TorchSharp.torch.nn.Linear(dimension, dimension);
            using var g = new TorchSharp.torch.Generator((ulong)seed);
            _drift = new TorchSharp.Modules.Parameter(randn(dimension, generator: g));
            RegisterComponents();
            using var noGrad = no_grad();
            using var w = randn(dimension, dimension, generator: g);
            _map.weight!.copy_(w);
        }

        public override Tensor forward(Tensor x, Tensor t) => _map.forward(x) + t.unsqueeze(1) * _drift;
    }

    [Fact]
    public void A_registered_network_type_is_saved_in_a_checkpoint_and_rebuilt_from_it()
    {
        const string type = "registry-test-affine-in-time";
        NetworkRegistry.Register(type, (spec, seed) =>
        {
            using var doc = System.Text.Json.JsonDocument.Parse(spec.Settings ?? "{}");
            var d = doc.RootElement.GetProperty("dimension").GetInt32();
            return new TimeConditionedModule(new AffineInTime(d, seed), spec);
        });
        Assert.Contains(type, NetworkRegistry.Names);
        var spec = new ModelSpec(type, null, """{"dimension": 3}""");
        var original = spec.Build(seed: 11);
        var folder = Directory.CreateTempSubdirectory("si-registry-net-").FullName;
        try
        {
            var manifest = new CheckpointManifest(CheckpointManifest.CurrentFormat, new InterpolantSpec("linear"),
                [new NetworkEntry(FieldKind.Velocity, spec, Checkpoint.WeightsFileName(FieldKind.Velocity), null)],
                "gaussian", "gaussian", 3, 0, false, new TrainingOptions(), 0, 0, DateTime.UtcNow);
            Checkpoint.Save(folder, manifest, [(original.Module, null)]);
            using var loaded = Checkpoint.Load(folder);
            var rebuilt = Assert.Single(loaded.Networks).Network;
            Assert.IsType<TimeConditionedModule>(rebuilt);
            using var x = randn(5, 3);
            using var t = rand(5);
            using var a = original.forward(x, t, null);
            using var b = rebuilt.forward(x, t, null);
            Assert.True(a.allclose(b, 0, 0)); // the saved weights, not a fresh seed-0 build
            using var fresh = spec.Build(seed: 0).forward(x, t, null);
            Assert.False(fresh.allclose(b, 1e-3, 1e-3));
        }
        finally { Directory.Delete(folder, true); }
        Assert.Contains("unknown model type 'registry-test-none'", Assert.Throws<NotSupportedException>(() => new ModelSpec("registry-test-none", null).Build()).Message);
    }
}
