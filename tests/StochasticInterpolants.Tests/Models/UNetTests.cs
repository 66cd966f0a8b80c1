using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using StochasticInterpolants.Runtime;
using StochasticInterpolants.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Models;

public class UNetTests
{
    // 1x8x8, two levels (8, 4), attention at 4x4 and in the middle, 3 classes: every kind of block, in milliseconds.
    private static UNetConfig Tiny(int classes = 3) => UNetConfig.Preset("tiny", 1, 8, 8, classes);

    // Three levels (8, 4, 2), two blocks per level, two heads, two channels: the skip bookkeeping with more than one block.
    private static readonly UNetConfig Deeper = new(2, 8, 8, BaseChannels: 8, ChannelMultipliers: [1, 2, 2], BlocksPerLevel: 2, AttentionBelow: 2,
        AttentionHeads: 2, Groups: 4, Classes: 2);

    [Fact]
    public void Every_parameter_is_finite_after_construction_including_the_group_norms()
    {
        foreach (var config in new[] { Tiny(), Tiny(0), Deeper, UNetConfig.Preset("small", 1, 28, 28, 10) })
        {
            using var net = new UNet(config, seed: 5);
            foreach (var (name, p) in net.named_parameters())
                Assert.True(isfinite(p).all().item<bool>(), $"{name} has a non-finite value");
            // GroupNorm is 1 / 0 exactly (TorchSharp leaves it uninitialised); a weight outside the uniform bound would betray it too.
            foreach (var (name, p) in net.named_parameters().Where(p => p.name.Contains("norm")))
                Assert.Equal(name.EndsWith("weight", StringComparison.Ordinal) ? 1.0 : 0.0, p.abs().max().ToDouble());
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Output_has_the_input_shape_for_images_and_for_flat_rows_and_both_agree(bool deeper)
    {
        var config = deeper ? Deeper : Tiny();
        using var net = new UNet(config, seed: 1);
        using var g = new Generator(3);
        using var x = randn([5, config.Channels, 8, 8], generator: g);
        using var t = rand(5, dtype: float64, generator: g);
        using var labels = tensor(new long[] { 0, 1, -1, 1, 0 });
        using var y = net.forward(x, t, labels);
        Assert.Equal(x.shape, y.shape);
        using var flat = x.reshape(5, -1);
        using var yFlat = net.forward(flat, t, labels);
        Assert.Equal(flat.shape, yFlat.shape);
        Assert.True(yFlat.reshape(y.shape).allclose(y, rtol: 0, atol: 1e-6));
        Assert.True(y.std().ToDouble() > 0.01, "the output is (nearly) constant");
    }

    [Fact]
    public void A_28x28_image_batch_keeps_its_shape_with_the_small_preset()
    {
        using var net = new UNet(UNetConfig.Preset("small", 1, 28, 28, 10), seed: 0);
        using var x = randn(2, 1, 28, 28);
        using var y = net.forward(x, tensor(new[] { 0.1f, 0.9f }), tensor(new long[] { 3, 9 }));
        Assert.Equal([2L, 1, 28, 28], y.shape);
    }

    [Fact]
    public void One_time_for_all_rows_equals_the_same_time_per_row_in_either_precision()
    {
        using var net = new UNet(Tiny(), seed: 2);
        using var g = new Generator(4);
        using var x = randn([6, 1, 8, 8], generator: g);
        using var labels = tensor(new long[] { 0, 1, 2, -1, 0, 2 });
        foreach (var time in new[] { 0.0, 0.37, 1.0 })
        {
            using var a = net.forward(x, tensor(time, dtype: float64), labels);
            using var b = net.forward(x, full(6, time, dtype: float64), labels);
            using var c = net.forward(x, full(6, time, dtype: float32), labels);
            Assert.True(a.allclose(b, rtol: 0, atol: 1e-6), $"t = {time}: max difference {(a - b).abs().max().ToDouble()}");
            Assert.True(a.allclose(c, rtol: 0, atol: 1e-6));
        }
        // The time embedding matters: a nearby time gives a different output.
        using var early = net.forward(x, tensor(0.30), labels);
        using var later = net.forward(x, tensor(0.31), labels);
        Assert.True((early - later).abs().max().ToDouble() > 1e-4);
    }

    [Fact]
    public void A_null_condition_equals_labels_of_minus_one_and_classes_change_the_output()
    {
        using var net = new UNet(Tiny(), seed: 3);
        using var x = randn(4, 1, 8, 8);
        using var t = tensor(0.5);
        using var none = net.forward(x, t, null);
        using var minusOne = net.forward(x, t, full(4, -1L, dtype: int64));
        using var belowMinusOne = net.forward(x, t, full(4, -7L, dtype: int64));
        Assert.True(none.allclose(minusOne, rtol: 0, atol: 0));
        Assert.True(none.allclose(belowMinusOne, rtol: 0, atol: 0));
        using var classTwo = net.forward(x, t, full(4, 2L, dtype: int64));
        Assert.True((classTwo - none).abs().max().ToDouble() > 1e-4, "the class embedding does not reach the output");
        // int32 labels are accepted (the CLI's labels may come in any integer type).
        using var asInt32 = net.forward(x, t, full(4, 2, dtype: ScalarType.Int32));
        Assert.True(asInt32.allclose(classTwo, rtol: 0, atol: 0));
    }

    [Fact]
    public void Bad_inputs_are_refused_with_one_line_naming_the_problem()
    {
        using var net = new UNet(Tiny(), seed: 0);
        using var x = randn(2, 1, 8, 8);
        using var t = tensor(0.5);
        Assert.Equal("class labels must be below 3 (or < 0 for no class), got 3", Assert.Throws<ArgumentException>(() => net.forward(x, t, tensor(new long[] { 0, 3 }))).Message);
        Assert.Contains("class labels must be [n] = [2]", Assert.Throws<ArgumentException>(() => net.forward(x, t, tensor(new long[] { 0, 1, 2 }))).Message);
        Assert.Contains("integers", Assert.Throws<ArgumentException>(() => net.forward(x, t, tensor(new[] { 0f, 1f }))).Message);
        Assert.Contains("images [n, 1, 8, 8] or flat [n, 64], got [2,1,8,7]", Assert.Throws<ArgumentException>(() => net.forward(randn(2, 1, 8, 7), t, null)).Message);
        Assert.Contains("one per image [2], got [3]", Assert.Throws<ArgumentException>(() => net.forward(x, rand(3), null)).Message);
        using var unconditional = new UNet(Tiny(0), seed: 0);
        Assert.Equal("this unet was built without classes, but a condition was given",
            Assert.Throws<ArgumentException>(() => unconditional.forward(x, t, tensor(new long[] { 0, 1 }))).Message);
    }

    [Fact]
    public void The_seed_fixes_the_weights()
    {
        // (TorchSharp's layer constructors still draw their default initialisation from the global generator; every value
        // they draw is overwritten from the seeded one, which this checks.)
        using var a = new UNet(Tiny(), seed: 7);
        manual_seed(123); // a different global state must not matter
        using var b = new UNet(Tiny(), seed: 7);
        using var c = new UNet(Tiny(), seed: 8);
        var pa = a.named_parameters().ToList(); var pb = b.named_parameters().ToList(); var pc = c.named_parameters().ToList();
        Assert.Equal(pa.Select(p => p.name), pb.Select(p => p.name));
        for (var i = 0; i < pa.Count; i++) Assert.True(pa[i].parameter.allclose(pb[i].parameter, rtol: 0, atol: 0), pa[i].name);
        Assert.True(pa.Where(p => !p.name.Contains("norm")).All(p => !p.parameter.allclose(pc[pa.IndexOf(p)].parameter)), "a layer did not change with the seed");
    }

    [Fact]
    public void The_registry_rebuilds_the_network_from_its_spec()
    {
        using var net = new UNet(Deeper, seed: 9);
        var spec = net.Spec;
        Assert.Equal("unet", spec.Type);
        Assert.Null(spec.Mlp);
        using var x = randn(3, 2, 8, 8);
        using var t = tensor(new[] { 0.2, 0.5, 0.8 });
        using var labels = tensor(new long[] { 1, -1, 0 });
        using var expected = net.forward(x, t, labels);
        // Same seed: the same network.
        var same = NetworkRegistry.Build(spec, seed: 9);
        using (same.Module)
        {
            Assert.IsType<UNet>(same);
            Assert.Equal(spec, same.Spec);
            using var y = same.forward(x, t, labels);
            Assert.True(y.allclose(expected, rtol: 0, atol: 0));
        }
        // Another seed, then the saved weights copied in (how a checkpoint loads).
        var other = spec.Build(seed: 1);
        using (other.Module)
        {
            ParameterCopy.CopyInto(other.Module, net.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter), "test");
            using var y = other.forward(x, t, labels);
            Assert.True(y.allclose(expected, rtol: 0, atol: 0));
        }
        Assert.Contains("unet", NetworkRegistry.Names);
        Assert.Contains("needs its settings", Assert.Throws<ArgumentException>(() => NetworkRegistry.Build(new ModelSpec("unet", null))).Message);
    }

    [Fact]
    public void A_checkpoint_rebuilds_the_unet_with_its_saved_weights()
    {
        using var net = new UNet(Tiny(), seed: 13);
        var folder = Directory.CreateTempSubdirectory("si-unet-checkpoint-").FullName;
        try
        {
            var manifest = new CheckpointManifest(CheckpointManifest.CurrentFormat, new InterpolantSpec("linear"),
                [new NetworkEntry(FieldKind.Velocity, net.Spec, Checkpoint.WeightsFileName(FieldKind.Velocity), null)],
                "gaussian", "images", 64, 0, false, new TrainingOptions(), 0, 0, DateTime.UtcNow);
            Checkpoint.Save(folder, manifest, [(net, null)]);
            using var loaded = Checkpoint.Load(folder);
            var rebuilt = Assert.IsType<UNet>(Assert.Single(loaded.Networks).Network);
            Assert.Equal(net.Config, rebuilt.Config);
            using var x = randn(3, 64); // flat rows, as samplers pass them
            using var t = tensor(0.4);
            using var labels = tensor(new long[] { 2, -1, 0 });
            using var a = net.forward(x, t, labels);
            using var b = rebuilt.forward(x, t, labels);
            Assert.True(a.allclose(b, rtol: 0, atol: 0)); // the saved weights, not a fresh build
            using var fresh = new UNet(Tiny(), seed: 0);
            using var c = fresh.forward(x, t, labels);
            Assert.False(c.allclose(b, rtol: 1e-3, atol: 1e-3));
        }
        finally { Directory.Delete(folder, true); }
    }

    [Fact]
    public void The_configuration_round_trips_through_json_and_compares_its_multipliers_by_value()
    {
        var config = Deeper;
        var json = config.ToJson();
        Assert.Contains("\"channelMultipliers\":[1,2,2]", json);
        Assert.DoesNotContain("levels", json);
        var back = UNetConfig.FromJson(json);
        Assert.Equal(config, back);
        Assert.Equal(config.GetHashCode(), back.GetHashCode());
        Assert.Equal(config, config with { ChannelMultipliers = [1, 2, 2] });
        Assert.NotEqual(config, config with { ChannelMultipliers = [1, 2, 4] });
        Assert.Contains("ChannelMultipliers = [1, 2, 2]", config.ToString());
        // The caller's array is copied: changing it later does not change the configuration.
        int[] multipliers = [1, 2];
        var fromArray = new UNetConfig(1, 8, 8, ChannelMultipliers: multipliers);
        multipliers[1] = 5;
        Assert.Equal([1, 2], fromArray.ChannelMultipliers);
        Assert.Equal([1, 2, 2], new UNetConfig(1, 28, 28).ChannelMultipliers);
        var error = Assert.Throws<ArgumentException>(() => UNetConfig.FromJson("{\"channels\": 1, \"height\": \"tall\"}")).Message;
        Assert.StartsWith("unet settings are not a valid configuration", error);
        Assert.DoesNotContain('\n', error);
    }

    [Theory]
    [InlineData("tiny", 40_841, 30_000, 60_000)]
    [InlineData("small", 205_153, 150_000, 250_000)]
    [InlineData("medium", 628_489, 500_000, 750_000)]
    public void Presets_have_the_documented_parameter_counts_at_28x28_with_10_classes(string preset, long exact, long low, long high)
    {
        using var net = new UNet(UNetConfig.Preset(preset, 1, 28, 28, 10), seed: 0);
        Assert.Equal(exact, net.ParameterCount);
        Assert.InRange(net.ParameterCount, low, high);
        Assert.Equal(UNetConfig.Preset(preset, 1, 28, 28, 10), UNetConfig.Preset($" {preset.ToUpperInvariant()} ", 1, 28, 28, 10));
    }

    [Theory]
    [InlineData("height and width must be divisible by 4, got 30x28", 1, 30, 28, 16, new[] { 1, 2, 2 }, 1, 7, 1, 8, 0)]
    [InlineData("base channels (12) must be divisible by the 8 normalisation groups", 1, 28, 28, 12, new[] { 1, 2, 2 }, 1, 7, 1, 8, 0)]
    [InlineData("base channels must be even", 1, 28, 28, 7, new[] { 1 }, 1, 7, 1, 7, 0)]
    [InlineData("channel multipliers must list 1..8 levels, got 0", 1, 28, 28, 16, new int[0], 1, 7, 1, 8, 0)]
    [InlineData("channel multipliers must be in 1..64, got [1, 0]", 1, 28, 28, 16, new[] { 1, 0 }, 1, 7, 1, 8, 0)]
    [InlineData("blocks per level must be in 1..16, got 0", 1, 28, 28, 16, new[] { 1, 2 }, 0, 7, 1, 8, 0)]
    [InlineData("attention resolution must be >= 0", 1, 28, 28, 16, new[] { 1, 2 }, 1, -1, 1, 8, 0)]
    [InlineData("level 1 has 32 channels, not divisible by 3 attention heads", 1, 28, 28, 16, new[] { 1, 2 }, 1, 14, 3, 8, 0)]
    [InlineData("normalisation groups must be >= 1, got 0", 1, 28, 28, 16, new[] { 1, 2 }, 1, 7, 1, 0, 0)]
    [InlineData("class count must be in 0..1000000, got -1", 1, 28, 28, 16, new[] { 1, 2 }, 1, 7, 1, 8, -1)]
    [InlineData("image channels must be in 1..4096, got 0", 0, 28, 28, 16, new[] { 1, 2 }, 1, 7, 1, 8, 0)]
    public void Bad_configurations_are_refused_with_one_line(string fragment, int channels, int height, int width, int baseChannels, int[] multipliers,
        int blocks, int attentionBelow, int heads, int groups, int classes)
    {
        var config = new UNetConfig(channels, height, width, baseChannels, multipliers, blocks, attentionBelow, heads, groups, classes);
        var message = Assert.ThrowsAny<ArgumentException>(config.Validate).Message;
        Assert.Contains(fragment, message);
        Assert.DoesNotContain('\n', message);
        Assert.Contains(fragment, Assert.ThrowsAny<ArgumentException>(() => new UNet(config, 0)).Message);
    }

    [Fact]
    public void An_unknown_preset_names_the_known_ones()
    {
        var e = Assert.Throws<InvalidSettingException>(() => UNetConfig.Preset("huge", 1, 28, 28, 10));
        Assert.Equal("unknown unet preset 'huge' (expected tiny, small, medium)", e.Message);
    }

    [Fact]
    public void Evaluation_without_autograd_equals_the_training_forward()
    {
        // The no-grad path overwrites activations in place; it must compute the same function.
        using var net = new UNet(Deeper, seed: 4);
        using var x = randn(3, 2, 8, 8);
        using var t = tensor(new[] { 0.1, 0.6, 0.95 });
        using var labels = tensor(new long[] { 0, 1, -1 });
        using var withGrad = net.forward(x, t, labels);
        Assert.True(withGrad.requires_grad);
        using (no_grad())
        {
            using var without = net.forward(x, t, labels);
            Assert.True(without.allclose(withGrad, rtol: 0, atol: 1e-6));
        }
    }

    [Fact]
    public void Float64_networks_evaluate_in_float64()
    {
        using var net = new UNet(Tiny(), seed: 6);
        using var x = randn(2, 1, 8, 8);
        using var t = tensor(new[] { 0.25f, 0.75f });
        using var labels = tensor(new long[] { 2, -1 });
        using var y32 = net.forward(x, t, labels);
        net.to(float64);
        using var x64 = x.to(float64);
        using var y64 = net.forward(x64, t, labels);
        Assert.Equal(ScalarType.Float64, y64.dtype);
        Assert.True(y64.to(float32).allclose(y32, rtol: 0, atol: 1e-4));
    }

    [Fact]
    public void Every_parameter_gets_a_gradient_and_a_few_adam_steps_lower_a_fixed_regression_loss()
    {
        using var net = new UNet(Deeper, seed: 2);
        using var g = new Generator(8);
        using var x = randn([8, 2, 8, 8], generator: g);
        using var target = randn([8, 2, 8, 8], generator: g);
        using var t = rand(8, dtype: float64, generator: g);
        using var labels = tensor(new long[] { 0, 1, -1, 0, 1, -1, 0, 1 }); // every row of the class table, "no class" included
        using var optimizer = new AdamOptimizer(net.named_parameters().Select(p => (p.name, p.parameter)));

        double Loss(bool step)
        {
            using var scope = NewDisposeScope();
            optimizer.ZeroGrad();
            var loss = nn.functional.mse_loss(net.forward(x, t, labels), target);
            if (!step) return loss.ToDouble();
            loss.backward();
            optimizer.Step(1e-3);
            return loss.ToDouble();
        }

        // One backward: every parameter (every row of the class table) gets a non-zero gradient.
        using (var scope = NewDisposeScope())
        {
            optimizer.ZeroGrad();
            nn.functional.mse_loss(net.forward(x, t, labels), target).backward();
            foreach (var (name, p) in net.named_parameters())
            {
                var grad = p.grad!;
                var perRow = name == "classes.weight" ? grad.abs().sum([1]) : grad.abs().sum().reshape(1);
                Assert.True((perRow > 0).all().item<bool>(), $"{name} got a zero gradient");
            }
        }
        var first = Loss(step: false);
        for (var i = 0; i < 15; i++) Loss(step: true);
        var last = Loss(step: false);
        Assert.True(last < 0.9 * first, $"loss went from {first:F4} to {last:F4}");
    }
}
