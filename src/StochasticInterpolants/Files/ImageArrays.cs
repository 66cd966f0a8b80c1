using System.Globalization;
using StochasticInterpolants.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Files;

/// <summary>
/// Image arrays handed over by Python users (NumPy <c>.npy</c> / <c>.npz</c>) as an <see cref="ImageSet"/> of 8-bit
/// pixels: the layout is recognised from the shape, the value range from the values, and labels are remapped to classes.
/// </summary>
public static class ImageArrays
{
    /// <summary>Entry names tried, in order, for the images of an .npz file.</summary>
    public static IReadOnlyList<string> ImageKeys { get; } = ["x", "images", "image", "data", "X", "arr_0"];

    /// <summary>Entry names tried, in order, for the labels of an .npz file (used when 1-D).</summary>
    public static IReadOnlyList<string> LabelKeys { get; } = ["y", "labels", "label", "targets", "Y", "arr_1"];

    private const string Layouts = "[n, h, w] (grey), [n, c, h, w] or [n, h, w, c] with c = 1 (grey) or 3 (RGB)";

    /// <summary>
    /// The images (and optional labels) as an <see cref="ImageSet"/> with 256 levels.
    /// Layout: [n, h, w] is grey; [n, c, h, w] when c = shape[1] is 1 or 3; [n, h, w, c] (channels last) when shape[3]
    /// is 1 or 3 and shape[1] is not; anything else is refused. Values: integers must lie in 0..255 and are kept; floats
    /// in [0, 1] become round(255 x); other floats must be whole numbers in 0..255 (a float array of only 0 and 1 is read as
    /// [0, 1] brightness); NaN and infinities are refused. Labels: a 1-D integer array of n values &gt;= 0; the classes are
    /// its distinct values in increasing order, named by their value, and each label becomes the index of its class.
    /// </summary>
    public static ImageSet FromArrays(Tensor images, Tensor? labels, string name)
    {
        using var scope = NewDisposeScope();
        var nchw = Layout(images, name);
        var pixels = Pixels(nchw, name);
        var (classIndices, classNames) = labels is null ? (null, null) : Classes(labels, nchw.shape[0], name);
        return new ImageSet(pixels, classIndices, classNames, 256, name);
    }

    /// <summary>
    /// Reads <paramref name="path"/>: an <c>.npy</c> file holds images only; an <c>.npz</c> file holds the images under the
    /// first of <see cref="ImageKeys"/> present (else its only array of rank &gt;= 3) and labels under the first 1-D array of
    /// <see cref="LabelKeys"/> present. See <see cref="FromArrays"/> for the layouts and values accepted.
    /// </summary>
    public static ImageSet Read(string path)
    {
        var name = Path.GetFileName(path);
        var extension = Path.GetExtension(path).ToLowerInvariant();
        if (extension == ".npy")
        {
            using var images = NpyFile.Read(path);
            return FromArrays(images, null, name);
        }
        if (extension != ".npz") throw new DataFormatException($"'{path}': image arrays are read from .npy or .npz files, not '{extension}'");
        var arrays = NpzFile.Read(path);
        try
        {
            var imageKey = ImageKeys.FirstOrDefault(arrays.ContainsKey);
            if (imageKey is null)
            {
                var candidates = arrays.Where(kv => kv.Value.dim() >= 3).Select(kv => kv.Key).ToList();
                if (candidates.Count != 1)
                    throw new DataFormatException($"'{path}': cannot tell which array holds the images ({Describe(arrays)}): name it "
                        + $"{string.Join(", ", ImageKeys)}, or keep exactly one array of rank 3 or 4");
                imageKey = candidates[0];
            }
            var labelKey = LabelKeys.FirstOrDefault(k => k != imageKey && arrays.TryGetValue(k, out var t) && t.dim() == 1);
            return FromArrays(arrays[imageKey], labelKey is null ? null : arrays[labelKey], name);
        }
        finally
        {
            foreach (var t in arrays.Values) t.Dispose();
        }
    }

    /// <summary>"x [10, 28, 28] Byte, y [10] Int64" for messages.</summary>
    private static string Describe(IReadOnlyDictionary<string, Tensor> arrays) =>
        string.Join(", ", arrays.OrderBy(kv => kv.Key, StringComparer.Ordinal).Take(20).Select(kv => $"{NpyType.Clip(kv.Key)} [{string.Join(", ", kv.Value.shape)}] {kv.Value.dtype}"))
        + (arrays.Count > 20 ? $" and {arrays.Count - 20} more" : "");

    private static Tensor Layout(Tensor images, string name)
    {
        var shape = images.shape;
        var shown = $"[{string.Join(", ", shape)}]";
        Tensor nchw = shape.Length switch
        {
            3 => images.unsqueeze(1),
            4 when shape[1] is 1 or 3 => images.alias(),
            4 when shape[3] is 1 or 3 => images.permute(0, 3, 1, 2),
            4 => throw new DataFormatException($"'{name}': images of shape {shown} have neither 1 nor 3 channels in dimension 2 or 4 (4 channels with alpha are not accepted): expected {Layouts}"),
            _ => throw new DataFormatException($"'{name}': an array of shape {shown} is not a set of images: expected {Layouts}"),
        };
        if (nchw.shape.Any(s => s == 0)) throw new DataFormatException($"'{name}': images of shape {shown} hold no pixels");
        return nchw;
    }

    private static Tensor Pixels(Tensor images, string name)
    {
        var dtype = images.dtype;
        if (dtype is ScalarType.Bool) return images.to(ScalarType.Byte);
        if (dtype is ScalarType.Byte or ScalarType.Int8 or ScalarType.Int16 or ScalarType.Int32 or ScalarType.Int64)
        {
            var (low, high) = (images.min().ToInt64(), images.max().ToInt64());
            if (low < 0 || high > 255) throw new DataFormatException($"'{name}': integer pixel values span {low}..{high}: expected 0..255");
            return images.to(ScalarType.Byte);
        }
        if (dtype is not (ScalarType.Float32 or ScalarType.Float64 or ScalarType.Float16 or ScalarType.BFloat16))
            throw new DataFormatException($"'{name}': pixel values of type {dtype} are not accepted (integers 0..255 or floats)");
        var x = images.to(ScalarType.Float64);
        if (!isfinite(x).all().item<bool>()) throw new DataFormatException($"'{name}': the images hold NaN or infinite values");
        var (min, max) = (x.min().ToDouble(), x.max().ToDouble());
        string Shown(double v) => v.ToString("G6", CultureInfo.InvariantCulture);
        if (min >= 0 && max <= 1) return x.mul(255).round_().to(ScalarType.Byte);
        var whole = x.eq(x.round()).all().item<bool>();
        if (min >= 0 && max <= 255 && whole) return x.to(ScalarType.Byte);
        throw new DataFormatException($"'{name}': float pixel values span [{Shown(min)}, {Shown(max)}]{(whole ? "" : " and are not all whole numbers")}: "
            + "expected values in [0, 1] or whole numbers in 0..255");
    }

    private static (long[] Labels, IReadOnlyList<string> ClassNames) Classes(Tensor labels, long n, string name)
    {
        if (labels.dim() != 1 || labels.shape[0] != n)
            throw new DataFormatException($"'{name}': labels must be a 1-D array of {n} values (one per image), got shape [{string.Join(", ", labels.shape)}]");
        if (labels.dtype is not (ScalarType.Byte or ScalarType.Int8 or ScalarType.Int16 or ScalarType.Int32 or ScalarType.Int64 or ScalarType.Bool))
            throw new DataFormatException($"'{name}': labels must be integers, got {labels.dtype}");
        using var wide = labels.to(ScalarType.Int64).contiguous();
        var values = wide.data<long>().ToArray();
        for (var i = 0; i < values.Length; i++)
            if (values[i] < 0) throw new DataFormatException($"'{name}': label {values[i]} of image {i + 1} is negative (labels must be >= 0)");
        var classes = values.Distinct().Order().ToArray();
        var index = new Dictionary<long, long>(classes.Length);
        for (var k = 0; k < classes.Length; k++) index[classes[k]] = k;
        return (values.Select(v => index[v]).ToArray(), classes.Select(c => c.ToString(CultureInfo.InvariantCulture)).ToList());
    }
}
