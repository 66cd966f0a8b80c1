using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Couplings;
using StochasticInterpolants.Data;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using StochasticInterpolants.Runs;
using StochasticInterpolants.Runtime;
using StochasticInterpolants.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Couplings;

/// <summary>The data-dependent couplings (docs/theory.md §12.4): each corruption against its formula, the refusals, the U-Net's image condition.</summary>
public sealed class DataDependentCouplingTests
{
    private static readonly CouplingOptions Defaults = new();

    // Random images in the flow's units [n, c, h, w].
    private static Tensor Images(int n, int c, int h, int w, ulong seed)
    {
        using var g = new Generator(seed);
        using var u = rand([n, c, h, w], generator: g);
        return u.mul(2).sub_(1);
    }

    // A small labelled image set of random pixels (17 levels, like scikit-learn's digits).
    private static ImageSet PixelSet(int n = 40, int c = 1, int h = 8, int w = 8)
    {
        using var g = new Generator(11);
        using var pixels = randint(0, 17, [n, c, h, w], dtype: ScalarType.Byte, generator: g);
        return new ImageSet(pixels, Enumerable.Range(0, n).Select(i => (long)(i % 2)).ToArray(), ["a", "b"], 17, "random-pixels");
    }

    [Theory]
    [InlineData(8, 8)]
    [InlineData(28, 28)]
    [InlineData(12, 8)]
    public void In_painting_keeps_the_observed_pixels_hides_a_quarter_and_fills_the_hole_with_standard_noise(int h, int w)
    {
        var inpaint = new InPainting("center", h, w);
        using var x1 = Images(200, 2, h, w, 1);
        using var g = new Generator(2);
        using var c = inpaint.Apply(x1, g);
        var m = c.Observed!;
        Assert.Equal(new long[] { 200, 1, h, w }, m.shape);
        // Exactly the central (h/2) x (w/2) block is hidden.
        using var hidden = 1 - m;
        Assert.Equal(200.0 * (h / 2) * (w / 2), hidden.sum().ToDouble());
        Assert.Equal(0.0, hidden[.., .., ..(h / 4), ..].sum().ToDouble());
        Assert.Equal((double)(h / 2) * (w / 2), hidden[0, 0, (h / 4)..(h / 4 + h / 2), (w / 4)..(w / 4 + w / 2)].sum().ToDouble());
        // Observed pixels of x0 are x1's exactly; the condition is concat(m x1, m).
        using var mm = m.expand_as(x1);
        Assert.True((c.X0 * mm).equal(x1 * mm).all().ToBoolean());
        Assert.Equal(new long[] { 200, 3, h, w }, c.Condition.shape);
        Assert.True(c.Condition[.., ..2].equal(x1 * mm).all().ToBoolean());
        Assert.True(c.Condition[.., 2..].equal(m).all().ToBoolean());
        // The hole holds zeta ~ N(0, 1): 200 x 2 x (h/2)(w/2) >= 6400 values, mean within 5 standard errors, std within 5%.
        using var holes = c.X0.masked_select(hidden.expand_as(x1).to(ScalarType.Bool));
        var count = holes.numel();
        Assert.InRange(holes.mean().ToDouble(), -5 / Math.Sqrt(count), 5 / Math.Sqrt(count));
        Assert.InRange(holes.std().ToDouble(), 0.95, 1.05);
        Assert.Equal(3, inpaint.ConditionChannels(2));
    }

    [Fact]
    public void A_random_mask_hides_one_square_of_half_the_side_per_image_at_places_drawn_from_the_generator()
    {
        var inpaint = new InPainting("random", 8, 8);
        using var g = new Generator(5);
        using var m = inpaint.MaskFor(300, g);
        using var hidden = (1 - m).squeeze(1); // [n, 8, 8]
        var corners = new HashSet<(int, int)>();
        for (var i = 0; i < 300; i++)
        {
            using var rows = hidden[i].sum([1]).nonzero().flatten();
            using var cols = hidden[i].sum([0]).nonzero().flatten();
            Assert.Equal(16.0, hidden[i].sum().ToDouble()); // a 4 x 4 square ...
            Assert.Equal(4, rows.numel()); Assert.Equal(4, cols.numel());
            int top = (int)rows[0].ToInt64(), left = (int)cols[0].ToInt64();
            Assert.Equal(16.0, hidden[i, top..(top + 4), left..(left + 4)].sum().ToDouble()); // ... contiguous, inside the image
            corners.Add((top, left));
        }
        // 25 possible places; 300 uniform draws leave one unseen with probability < 25 (24/25)^300 < 1e-4.
        Assert.Equal(25, corners.Count);
        using var again = inpaint.MaskFor(300, new Generator(5));
        Assert.True(again.equal(m).all().ToBoolean());
    }

    [Theory]
    [InlineData("left")]
    [InlineData("top")]
    public void Half_masks_hide_the_left_or_top_half(string mask)
    {
        using var m = new InPainting(mask, 6, 8).MaskFor(3, new Generator(0));
        using var hidden = 1 - m;
        Assert.Equal(3.0 * 24, hidden.sum().ToDouble());
        var region = mask == "left" ? hidden[.., .., .., ..4] : hidden[.., .., ..3, ..];
        Assert.Equal(3.0 * 24, region.sum().ToDouble());
    }

    [Fact]
    public void Super_resolution_down_and_up_are_exact_on_constant_blocks_and_average_the_blocks()
    {
        var sr = new SuperResolution(2, 0.1, 8, 8);
        using var low = Images(5, 3, 4, 4, 3);
        using var blocky = sr.Up(low);
        Assert.Equal(new long[] { 5, 3, 8, 8 }, blocky.shape);
        Assert.Equal(low[1, 2, 3, 0].ToSingle(), blocky[1, 2, 7, 1].ToSingle());
        using var down = sr.Down(blocky);
        Assert.True(down.equal(low).all().ToBoolean()); // down(up(y)) = y
        using var x = Images(2, 1, 8, 8, 4);
        using var dx = sr.Down(x);
        var expected = (x[1, 0, 2, 4].ToDouble() + x[1, 0, 2, 5].ToDouble() + x[1, 0, 3, 4].ToDouble() + x[1, 0, 3, 5].ToDouble()) / 4;
        Assert.Equal(expected, dx[1, 0, 1, 2].ToDouble(), 6);
        using var updown = sr.Up(dx);
        using var back = sr.Down(updown);
        Assert.True(back.allclose(dx, rtol: 0, atol: 1e-6)); // up(down(x)) is constant on blocks
    }

    [Fact]
    public void Super_resolution_x0_is_the_upsampled_low_resolution_plus_noise_of_the_given_std()
    {
        var sr = new SuperResolution(4, 0.3, 8, 8);
        using var x1 = Images(100, 1, 8, 8, 6);
        using var c = sr.Apply(x1, new Generator(7));
        Assert.Null(c.Observed);
        using var expected = sr.Up(sr.Down(x1));
        Assert.True(c.Condition.allclose(expected, rtol: 0, atol: 1e-6));
        using var noise = c.X0 - c.Condition;
        // 6400 values: std within 5% of 0.3 (its standard error is ~0.9%), mean within 5 standard errors.
        Assert.InRange(noise.std().ToDouble(), 0.285, 0.315);
        Assert.InRange(noise.mean().ToDouble(), -5 * 0.3 / 80, 5 * 0.3 / 80);
        using var low = sr.Down(x1);
        using var fromLow = sr.FromLowResolution(low, new Generator(7));
        Assert.True(fromLow.X0.allclose(c.X0, rtol: 0, atol: 1e-6)); // the low-resolution observation gives the same x0
    }

    [Fact]
    public void Denoising_adds_noise_of_the_given_std_and_conditions_on_the_noisy_image()
    {
        var dn = new Denoising(0.2);
        using var x1 = Images(100, 1, 8, 8, 8);
        using var c = dn.Apply(x1, new Generator(9));
        Assert.True(c.Condition.equal(c.X0).all().ToBoolean());
        using var noise = c.X0 - x1;
        Assert.InRange(noise.std().ToDouble(), 0.19, 0.21);
        Assert.InRange(noise.mean().ToDouble(), -5 * 0.2 / 80, 5 * 0.2 / 80);
    }

    [Fact]
    public void The_coupling_draws_x1_then_corrupts_it_reproducibly_and_drops_the_labels()
    {
        using var set = PixelSet();
        using var target = new ImageDistribution(set);
        var coupling = Assert.IsType<DataDependentCoupling>(StochasticInterpolants.Couplings.Couplings.Create("inpaint", new LinearInterpolant(), new StandardGaussian(64), target));
        Assert.Equal(2, coupling.ConditionChannels);
        var a = coupling.Sample(6, new Generator(1));
        var b = coupling.Sample(6, new Generator(1));
        Assert.Equal(new long[] { 6, 1, 8, 8 }, a.X0.shape);
        Assert.Equal(new long[] { 6, 2, 8, 8 }, a.Condition!.shape);
        Assert.True(a.X0.equal(b.X0).all().ToBoolean() && a.X1.equal(b.X1).all().ToBoolean());
        using var m = a.Condition[.., 1..];
        Assert.True((a.X0 * m).equal(a.X1 * m).all().ToBoolean());
        var batch = ((ICoupling)coupling).DrawBatch(4, new Generator(2), 0);
        batch.Validate();
        Assert.Equal(ScalarType.Float32, batch.Condition!.dtype);
    }

    [Fact]
    public void Unfit_targets_interpolants_and_settings_are_refused_naming_the_setting()
    {
        using var set = PixelSet();
        using var target = new ImageDistribution(set);
        var linear = new LinearInterpolant();
        ICoupling Make(string name, IInterpolant it, IDistribution t, CouplingOptions? o = null) =>
            StochasticInterpolants.Couplings.Couplings.Create(name, it, new StandardGaussian(t.Dimension), t, o);
        var flat = Assert.Throws<InvalidSettingException>(() => Make("inpaint", linear, new Checkerboard()));
        Assert.Equal("coupling", flat.Setting);
        Assert.Contains("flat data", flat.Message);
        var oneSided = Assert.Throws<InvalidSettingException>(() => Make("superres", new InterpolantSpec("one-sided-linear").Build(), target));
        Assert.Contains("one-sided", oneSided.Message);
        Assert.Contains("mirror", Assert.Throws<InvalidSettingException>(() => Make("denoise", new InterpolantSpec("mirror").Build(), target)).Message);
        Assert.Equal("factor", Assert.Throws<InvalidSettingException>(() => Make("superres", linear, target, Defaults with { Factor = 3 })).Setting);
        Assert.Equal("mask", Assert.Throws<InvalidSettingException>(() => Make("inpaint", linear, target, Defaults with { Mask = "circle" })).Setting);
        Assert.Equal("corruption-noise", Assert.Throws<InvalidSettingException>(() => Make("denoise", linear, target, Defaults with { Noise = 0 })).Setting);
        Assert.Equal("corruption-noise", Assert.Throws<InvalidSettingException>(() => Make("superres", linear, target, Defaults with { Noise = double.NaN })).Setting);
    }

    [Fact]
    public void The_hidden_region_error_averages_per_image_over_its_hidden_pixels_only()
    {
        using var truth = zeros(2, 1, 2, 2);
        using var estimate = tensor(new float[] { 1, 1, 9, 9, /**/ 2, 0, 0, 0 }).reshape(2, 1, 2, 2);
        using var hidden = tensor(new float[] { 1, 1, 0, 0, /**/ 1, 0, 0, 0 }).reshape(2, 1, 2, 2);
        var (mean, stderr) = CompletionEvaluator.HiddenMse(estimate, truth, hidden);
        // Image 0: (1 + 1) / 2 = 1 (the 9s are observed, not scored); image 1: 4 / 1 = 4.
        Assert.Equal(2.5, mean, 12);
        Assert.Equal(1.5, stderr, 12); // sqrt(((1 - 2.5)^2 + (4 - 2.5)^2) / 1 / 2)
        using var none = zeros_like(hidden);
        Assert.Throws<ArgumentException>(() => CompletionEvaluator.HiddenMse(estimate, truth, none));
    }

    private static UNetConfig Conditioned(int conditionChannels = 2) => UNetConfig.Preset("tiny", 1, 8, 8, 0) with { ConditionChannels = conditionChannels };

    [Fact]
    public void A_unet_with_an_image_condition_keeps_the_shape_uses_the_condition_and_requires_it()
    {
        using var net = new UNet(Conditioned(), seed: 3);
        using var x = Images(4, 1, 8, 8, 1);
        using var cond = Images(4, 2, 8, 8, 2);
        using var other = Images(4, 2, 8, 8, 3);
        using var t = tensor(new[] { 0.1, 0.4, 0.6, 0.9 });
        using var y = net.forward(x, t, cond);
        Assert.Equal(x.shape, y.shape);
        using var flat = net.forward(x.reshape(4, 64), t, cond.reshape(4, 128));
        Assert.True(flat.reshape(y.shape).allclose(y, rtol: 0, atol: 1e-6));
        using var y2 = net.forward(x, t, other);
        Assert.True((y2 - y).abs().max().ToDouble() > 1e-3, "the condition does not change the output");
        Assert.Contains("none was given", Assert.Throws<ArgumentException>(() => net.forward(x, t, null)).Message);
        using var labels = tensor(new long[] { 0, 1, 0, 1 });
        Assert.Contains("condition is an image", Assert.Throws<ArgumentException>(() => net.forward(x, t, labels)).Message);
        using var wrong = Images(4, 1, 8, 8, 4);
        Assert.Contains("condition must be [4, 2, 8, 8]", Assert.Throws<ArgumentException>(() => net.forward(x, t, wrong)).Message);
        Assert.Contains("not both", Assert.Throws<ArgumentException>(() => (Conditioned() with { Classes = 3 }).Validate()).Message);
        // Guidance blends with a "no class" field that an image condition does not have.
        var guided = new GuidedNetwork(net, 2.0);
        Assert.Contains("class labels", Assert.Throws<ArgumentException>(() => guided.forward(x, t, cond)).Message);
    }

    [Fact]
    public void The_condition_channels_survive_the_spec_and_a_checkpoint_and_old_specs_default_to_none()
    {
        using var net = new UNet(Conditioned(), seed: 13);
        Assert.Equal(Conditioned(), UNetConfig.FromJson(net.Spec.Settings!));
        var old = UNetConfig.FromJson(net.Config.ToJson().Replace(",\"conditionChannels\":2", ""));
        Assert.Equal(0, old.ConditionChannels);
        var folder = Directory.CreateTempSubdirectory("si-unet-condition-").FullName;
        try
        {
            var manifest = new CheckpointManifest(CheckpointManifest.CurrentFormat, new InterpolantSpec("linear"),
                [new NetworkEntry(FieldKind.Velocity, net.Spec, Checkpoint.WeightsFileName(FieldKind.Velocity), null)],
                "gaussian", "images", 64, 0, false, new TrainingOptions(), 0, 0, DateTime.UtcNow, Coupling: new CouplingSpec("inpaint", Defaults));
            Checkpoint.Save(folder, manifest, [(net, null)]);
            using var loaded = Checkpoint.Load(folder);
            var rebuilt = Assert.IsType<UNet>(Assert.Single(loaded.Networks).Network);
            Assert.Equal(2, rebuilt.Config.ConditionChannels);
            Assert.Equal("inpaint", loaded.Manifest.CouplingOrDefault().Name);
            using var x = Images(3, 1, 8, 8, 5);
            using var cond = Images(3, 2, 8, 8, 6);
            using var t = tensor(0.4);
            using var a = net.forward(x, t, cond);
            using var b = rebuilt.forward(x, t, cond);
            Assert.True(a.allclose(b, rtol: 0, atol: 0));
        }
        finally { Directory.Delete(folder, true); }
    }

    [Fact]
    public void A_run_sets_the_unets_condition_from_the_coupling_and_refuses_what_does_not_go_with_an_image_condition()
    {
        var config = new TrainingRunConfig(Target: "digits8", Coupling: "superres", Model: new ModelOptions(UNetPreset: "tiny"));
        Assert.Equal(0, config.TrainingOrDefault.ConditionDropout); // the image defaults drop labels; an image condition is never dropped
        var pieces = RunPieces.Build(config);
        var unet = UNetConfig.FromJson(pieces.ModelSpecFor(config).Settings!);
        Assert.Equal(1, unet.ConditionChannels);
        Assert.Equal(0, unet.Classes);
        Assert.False(pieces.Images!.Record.Conditional);
        Assert.Equal("condition", Assert.Throws<InvalidSettingException>(() => RunPieces.Build(config with { Condition = "class" })).Setting);
        Assert.Equal("model", Assert.Throws<InvalidSettingException>(() => RunPieces.Build(config with { Model = new ModelOptions(Type: "mlp") })).Setting);
        Assert.Equal("cond-drop", Assert.Throws<InvalidSettingException>(() => RunPieces.Build(config with { Training = TrainingRunConfig.ImageTrainingDefaults })).Setting);
        Assert.Equal("factor", Assert.Throws<InvalidSettingException>(() => RunPieces.Build(config with { CouplingOptions = Defaults with { Factor = 3 } })).Setting);
        Assert.Equal("coupling", Assert.Throws<InvalidSettingException>(() => RunPieces.Build(new TrainingRunConfig(Coupling: "inpaint"))).Setting);
    }
}
