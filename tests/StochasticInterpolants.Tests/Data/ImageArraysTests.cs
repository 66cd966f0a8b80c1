using StochasticInterpolants.Data;
using StochasticInterpolants.Files;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Data;

public sealed class ImageArraysTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-arrays-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    /// <summary>Pixel value of image i, channel c, row y, column x in the test arrays: distinct per position, below 256.</summary>
    private static int Value(int i, int c, int y, int x) => 60 * i + 20 * c + 4 * y + x;

    /// <summary>2 images of 3 channels, 2 x 3 pixels, as [n, c, h, w] int64.</summary>
    private static Tensor Nchw() => tensor(Enumerable.Range(0, 2 * 3 * 2 * 3).Select(k => (long)Value(k / 18, k / 6 % 3, k / 3 % 2, k % 3)).ToArray(), [2, 3, 2, 3]);

    [Fact]
    public void Layouts_grey_channels_first_and_channels_last_give_the_same_images()
    {
        using var scope = NewDisposeScope();
        var nchw = Nchw();
        using var first = ImageArrays.FromArrays(nchw, null, "a");
        using var last = ImageArrays.FromArrays(nchw.permute(0, 2, 3, 1), null, "a");
        Assert.Equal(new long[] { 3, 2, 3 }, first.Shape);
        Assert.Equal(256, first.Levels);
        Assert.True(first.Pixels.equal(last.Pixels).all().item<bool>());
        Assert.Equal(Value(1, 2, 1, 0), first.Pixels[1, 2, 1, 0].ToInt32());
        using var grey = ImageArrays.FromArrays(nchw[.., 0], null, "g");
        Assert.Equal(new long[] { 1, 2, 3 }, grey.Shape);
        using var greyLast = ImageArrays.FromArrays(nchw[.., 0].unsqueeze(3), null, "g");
        Assert.True(grey.Pixels.equal(greyLast.Pixels).all().item<bool>());
        using var greyFirst = ImageArrays.FromArrays(nchw[.., 0].unsqueeze(1), null, "g");
        Assert.True(grey.Pixels.equal(greyFirst.Pixels).all().item<bool>());
    }

    [Theory]
    [InlineData(new long[] { 2, 4, 4, 4 }, "4 channels")]
    [InlineData(new long[] { 2, 5, 4, 2 }, "neither 1 nor 3 channels")]
    [InlineData(new long[] { 4, 4 }, "not a set of images")]
    [InlineData(new long[] { 2, 3, 4, 4, 1 }, "not a set of images")]
    [InlineData(new long[] { 0, 4, 4 }, "hold no pixels")]
    public void Other_layouts_are_refused_naming_the_accepted_ones(long[] shape, string expected)
    {
        using var images = zeros(shape, ScalarType.Byte);
        var e = Assert.Throws<DataFormatException>(() => ImageArrays.FromArrays(images, null, "arr"));
        Assert.Contains(expected, e.Message);
        if (!expected.Contains("no pixels")) Assert.Contains("[n, h, w] (grey), [n, c, h, w] or [n, h, w, c]", e.Message);
    }

    [Fact]
    public void Values_integers_whole_floats_and_unit_floats_become_8_bit_levels()
    {
        using var scope = NewDisposeScope();
        using var ints = ImageArrays.FromArrays(tensor(new[] { 0, 17, 255, 3 }, [1, 2, 2]), null, "i");
        Assert.Equal(new byte[] { 0, 17, 255, 3 }, ints.Pixels.data<byte>().ToArray());
        using var whole = ImageArrays.FromArrays(tensor(new[] { 0.0, 17, 255, 3 }, [1, 2, 2]), null, "w");
        Assert.Equal(new byte[] { 0, 17, 255, 3 }, whole.Pixels.data<byte>().ToArray());
        // [0, 1] floats: round(255 x); 0.5 -> 127.5 -> 128 (round half to even gives 128 too).
        using var unit = ImageArrays.FromArrays(tensor(new[] { 0f, 0.5f, 1f, 17 / 255f }, [1, 2, 2]), null, "u");
        Assert.Equal(new byte[] { 0, 128, 255, 17 }, unit.Pixels.data<byte>().ToArray());
        // A float array of only 0 and 1 is brightness, not two dark levels.
        using var binary = ImageArrays.FromArrays(tensor(new[] { 0f, 1, 1, 0 }, [1, 2, 2]), null, "b");
        Assert.Equal(new byte[] { 0, 255, 255, 0 }, binary.Pixels.data<byte>().ToArray());
    }

    [Theory]
    [InlineData(new[] { 0.0, 300 }, "span [0, 300]")]
    [InlineData(new[] { -0.5, 0.5 }, "span [-0.5, 0.5]")]
    [InlineData(new[] { 0.0, 2.5 }, "not all whole numbers")]
    [InlineData(new[] { 0.0, double.NaN }, "NaN or infinite")]
    [InlineData(new[] { 0.0, double.PositiveInfinity }, "NaN or infinite")]
    public void Other_float_ranges_are_refused_saying_what_was_found(double[] values, string expected)
    {
        using var images = tensor(values, [1, 1, 2]);
        Assert.Contains(expected, Assert.Throws<DataFormatException>(() => ImageArrays.FromArrays(images, null, "f")).Message);
    }

    [Fact]
    public void Integers_outside_0_255_are_refused_with_their_range()
    {
        using var images = tensor(new long[] { -3, 0, 7, 1000 }, [1, 2, 2]);
        Assert.Contains("span -3..1000: expected 0..255", Assert.Throws<DataFormatException>(() => ImageArrays.FromArrays(images, null, "i")).Message);
    }

    [Fact]
    public void Labels_become_indices_of_their_distinct_values_in_increasing_order()
    {
        using var scope = NewDisposeScope();
        var images = zeros([4, 2, 2], ScalarType.Byte);
        using var set = ImageArrays.FromArrays(images, tensor(new[] { 7, 3, 12, 7 }), "l");
        Assert.Equal(new[] { "3", "7", "12" }, set.ClassNames);
        Assert.Equal(new long[] { 1, 0, 2, 1 }, set.Labels);
        Assert.Contains("negative", Assert.Throws<DataFormatException>(() => ImageArrays.FromArrays(images, tensor(new[] { 0, -1, 0, 0 }), "l")).Message);
        Assert.Contains("1-D array of 4 values", Assert.Throws<DataFormatException>(() => ImageArrays.FromArrays(images, tensor(new[] { 0, 1, 0 }), "l")).Message);
        Assert.Contains("1-D array of 4 values", Assert.Throws<DataFormatException>(() => ImageArrays.FromArrays(images, zeros(4, 1, dtype: ScalarType.Int64), "l")).Message);
        Assert.Contains("must be integers", Assert.Throws<DataFormatException>(() => ImageArrays.FromArrays(images, tensor(new[] { 0f, 1, 0, 1 }), "l")).Message);
    }

    [Fact]
    public void Npz_entries_are_found_by_name_or_as_the_only_image_array()
    {
        using var scope = NewDisposeScope();
        var images = Nchw().to(ScalarType.Byte);
        var labels = tensor(new[] { 4L, 2L });
        string Npz(string name, Dictionary<string, Tensor> arrays) { var p = Path.Combine(_dir, name); NpzFile.Write(p, arrays); return p; }

        using var named = ImageArrays.Read(Npz("a.npz", new() { ["x"] = images, ["y"] = labels, ["extra"] = zeros(2, 3, 4) }));
        Assert.Equal(new[] { "2", "4" }, named.ClassNames);
        Assert.Equal(new long[] { 1, 0 }, named.Labels);
        Assert.Equal("a.npz", named.Name);
        using var positional = ImageArrays.Read(Npz("b.npz", new() { ["arr_0"] = images, ["arr_1"] = labels }));
        Assert.Equal(new long[] { 1, 0 }, positional.Labels);
        // No known name: the only array of rank >= 3 is the images; a 2-D 'labels' array is not taken as labels.
        using var only = ImageArrays.Read(Npz("c.npz", new() { ["faces"] = images, ["labels"] = labels.unsqueeze(1) }));
        Assert.Null(only.Labels);
        Assert.True(only.Pixels.equal(named.Pixels).all().item<bool>());
        var e = Assert.Throws<DataFormatException>(() => ImageArrays.Read(Npz("d.npz", new() { ["faces"] = images, ["masks"] = images, ["ids"] = labels })));
        Assert.Contains("cannot tell which array holds the images", e.Message);
        Assert.Contains("faces [2, 3, 2, 3] Byte, ids [2] Int64, masks [2, 3, 2, 3] Byte", e.Message);
        var npy = Path.Combine(_dir, "e.npy");
        NpyFile.Write(npy, images);
        using var plain = ImageArrays.Read(npy);
        Assert.Null(plain.Labels);
        Assert.Equal(2, plain.Count);
    }
}
