using TorchSharp;
using StochasticInterpolants.Data;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Data;

public class ImageScalingTests
{
    [Theory]
    [InlineData(256)]
    [InlineData(17)]
    [InlineData(2)]
    public void Decoding_a_dequantised_pixel_gives_the_pixel_back_for_every_level_and_every_u(int levels)
    {
        var scaling = new ImageScaling(levels);
        using var pixels = arange(levels, dtype: ScalarType.Byte).repeat(50).reshape(-1, 1, 1, levels);
        using var g = new Generator(4);
        using var y = scaling.Encode(pixels, g);
        Assert.True(y.min().item<float>() >= -1 && y.max().item<float>() < 1);
        using var back = scaling.Decode(y);
        Assert.True(back.equal(pixels).all().item<bool>());
        using var centres = scaling.EncodeCentres(pixels);
        using var backCentres = scaling.Decode(centres);
        Assert.True(backCentres.equal(pixels).all().item<bool>());
        // Outside [-1, 1] decoding clamps to the extreme levels.
        using var outside = tensor(new[] { -3f, 5f });
        Assert.Equal(new byte[] { 0, (byte)(levels - 1) }, scaling.Decode(outside).data<byte>().ToArray());
    }

    [Theory]
    [InlineData(256, 784)]
    [InlineData(17, 64)]
    public void Bits_per_dimension_of_the_uniform_density_is_log2_of_the_levels(int levels, int dimension)
    {
        // The uniform density on [-1, 1]^D (p_y = 2^-D, NLL_y = D ln 2) puts probability 1/L on each level of every pixel:
        // exactly log2 L bits per dimension, which the formula must return.
        var scaling = new ImageScaling(levels);
        Assert.Equal(Math.Log2(levels), scaling.BitsPerDimension(dimension * Math.Log(2), dimension), 12);
    }

    [Theory]
    [InlineData(256)]
    [InlineData(17)]
    public void The_log_determinant_is_that_of_the_encoding_measured_by_finite_differences(int levels)
    {
        // Independently of the formula: Encode maps x = k + u to y; with the same u (same generator seed), pixels one level
        // apart give y's one step apart, and sum_i log(dy_i / dx_i) over the D coordinates is log |det| of the map.
        var scaling = new ImageScaling(levels);
        const int side = 5, dimension = side * side;
        using var g = new Generator(3);
        using var k = randint(0, levels - 1, [1, 1, side, side], dtype: ScalarType.Byte, generator: g);
        using var k1 = (k + 1).to(ScalarType.Byte);
        using var ga = new Generator(21);
        using var gb = new Generator(21);
        using var y = scaling.Encode(k, ga).to(float64);
        using var y1 = scaling.Encode(k1, gb).to(float64);
        var logDet = (y1 - y).log().sum().ToDouble();
        Assert.Equal(logDet, scaling.LogAbsDeterminant(dimension), 4);
        // And bits/dim is the discrete NLL through it: (NLL_y - log |det|) / (D ln 2), for any NLL_y.
        foreach (var nll in new[] { -300.0, 0, 41.5 })
            Assert.Equal((nll - logDet) / (dimension * Math.Log(2)), scaling.BitsPerDimension(nll, dimension), 4);
    }

    [Fact]
    public void An_image_set_refuses_pixels_above_its_levels_and_mismatched_labels()
    {
        using var pixels = full([2, 1, 2, 2], 17, dtype: ScalarType.Byte);
        Assert.Throws<DataFormatException>(() => new ImageSet(pixels, null, null, 17, "x"));
        using var ok = zeros([2, 1, 2, 2], dtype: ScalarType.Byte);
        Assert.Throws<ArgumentException>(() => new ImageSet(ok, [0], ["a"], 17, "x"));
        Assert.Throws<DataFormatException>(() => new ImageSet(ok, [0, 2], ["a", "b"], 17, "x"));
        using var set = new ImageSet(ok, [0, 1], ["a", "b"], 17, "x");
        Assert.Equal(new long[] { 1, 2, 2 }, set.Shape);
        Assert.Equal(4, set.Dimension);
        Assert.Equal(new long[] { 1, 1 }, set.ClassCounts());
        using var one = set.Subset([1]);
        Assert.Equal(new long[] { 1 }, one.Labels);
    }

    [Fact]
    public void An_image_distribution_draws_shaped_dequantised_images_with_their_labels()
    {
        using var pixels = cat([zeros([1, 1, 2, 2], dtype: ScalarType.Byte), full([1, 1, 2, 2], 16, dtype: ScalarType.Byte)]);
        using var set = new ImageSet(pixels, [0, 1], ["dark", "bright"], 17, "two");
        var d = new ImageDistribution(set);
        using var g = new Generator(9);
        var (x, c) = d.SampleWithCondition(400, g);
        using (x) using (c)
        {
            Assert.Equal(new long[] { 400, 1, 2, 2 }, x.shape);
            // Each image's pixels all come from its label's level: dark in [-1, -1 + 2/17), bright in [-1 + 32/17, 1).
            using var means = x.flatten(1).mean([1]);
            var labels = c!.data<long>().ToArray();
            var values = means.data<float>().ToArray();
            for (var i = 0; i < 400; i++)
                Assert.True(labels[i] == 0 ? values[i] < -1 + 2.0 / 17 : values[i] >= -1 + 32.0 / 17, $"row {i}");
            Assert.InRange(labels.Count(l => l == 1), 150, 250);
        }
        using var unlabelled = new ImageDistribution(set, withLabels: false).SampleWithCondition(3, g).Samples;
        Assert.Null(new ImageDistribution(set, withLabels: false).SampleWithCondition(3, g).Condition);
    }
}
