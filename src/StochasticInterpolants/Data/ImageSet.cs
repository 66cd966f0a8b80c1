using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Data;

/// <summary>
/// A set of images with discrete pixel values: <see cref="Pixels"/> uint8 [n, channels, height, width] holding levels
/// 0..<see cref="Levels"/> - 1 (256 for 8-bit images, 17 for scikit-learn's 8x8 digits), with an optional class label per
/// image. The images as stored; <see cref="ImageScaling"/> maps them into the flow's space.
/// </summary>
public sealed class ImageSet : IDisposable
{
    /// <summary>
    /// Wraps <paramref name="pixels"/> (uint8 [n, c, h, w]; copied) with optional labels (class indices into
    /// <paramref name="classNames"/>). Throws <see cref="DataFormatException"/> for a pixel at or above <paramref name="levels"/>.
    /// </summary>
    public ImageSet(Tensor pixels, long[]? labels, IReadOnlyList<string>? classNames, int levels, string name)
    {
        if (pixels.dim() != 4 || pixels.shape[0] < 1 || pixels.shape.Skip(1).Any(s => s < 1))
            throw new ArgumentException($"'{name}': images must be [n, channels, height, width] with every size >= 1, got [{string.Join(",", pixels.shape)}]");
        if (pixels.dtype != ScalarType.Byte) throw new ArgumentException($"'{name}': pixels must be uint8, got {pixels.dtype}");
        if (levels < 2 || levels > 256) throw new ArgumentException($"'{name}': pixel levels must be in 2..256, got {levels}");
        if ((labels is null) != (classNames is null)) throw new ArgumentException($"'{name}': labels and class names go together");
        if (labels is not null && labels.Length != pixels.shape[0]) throw new ArgumentException($"'{name}': {labels.Length} labels for {pixels.shape[0]} images");
        if (labels is not null && labels.Any(l => l < 0 || l >= classNames!.Count))
            throw new DataFormatException($"'{name}': a label is outside 0..{classNames!.Count - 1}");
        int max; using (var m = pixels.max()) max = m.ToInt32();
        if (max >= levels) throw new DataFormatException($"'{name}': a pixel has value {max}, at or above the {levels} levels of this data");
        Pixels = pixels.detach().cpu().contiguous().clone().DetachFromDisposeScope();
        Labels = labels; ClassNames = classNames; Levels = levels; Name = name;
    }

    /// <summary>The images, uint8 [n, c, h, w] on the CPU, owned by this set.</summary>
    public Tensor Pixels { get; }
    /// <summary>Class index of each image, or null.</summary>
    public long[]? Labels { get; }
    /// <summary>Names of the classes (index = class), or null.</summary>
    public IReadOnlyList<string>? ClassNames { get; }
    /// <summary>Number of discrete pixel values L (pixels are 0..L-1).</summary>
    public int Levels { get; }
    /// <summary>A short name (the data set or file).</summary>
    public string Name { get; }

    /// <summary>Images n.</summary>
    public int Count => (int)Pixels.shape[0];
    /// <summary>The shape of one image [c, h, w].</summary>
    public long[] Shape => Pixels.shape[1..];
    /// <summary>Elements of one image D = c h w.</summary>
    public int Dimension => (int)(Pixels.shape[1] * Pixels.shape[2] * Pixels.shape[3]);

    /// <summary>The images <paramref name="rows"/> (0-based) as a new set with the same classes.</summary>
    public ImageSet Subset(IReadOnlyList<int> rows, string? name = null)
    {
        using var index = tensor(rows.Select(i => (long)i).ToArray());
        using var picked = Pixels.index_select(0, index);
        return new ImageSet(picked, Labels is null ? null : rows.Select(i => Labels[i]).ToArray(), ClassNames, Levels, name ?? Name);
    }

    /// <summary>Images per class (index = class), or null without labels.</summary>
    public IReadOnlyList<long>? ClassCounts() => Labels is null ? null
        : Enumerable.Range(0, ClassNames!.Count).Select(c => (long)Labels.Count(l => l == c)).ToList();

    /// <inheritdoc />
    public void Dispose() => Pixels.Dispose();
}

/// <summary>
/// The map between discrete pixels k in {0, ..., L-1} and the flow's space [-1, 1] (docs/theory.md §9): uniform
/// dequantisation y = 2 (k + u) / L - 1 with u ~ U[0, 1)^D, and back k = clamp(floor(L (y + 1) / 2), 0, L - 1). Its
/// Jacobian is constant, so log p_k(k + u) = log p_y(y) + D log(2 / L), and the discrete negative log-likelihood in bits
/// per dimension is bpd = NLL_y / (D ln 2) + log2(L / 2) (= NLL_y / (D ln 2) + 7 for 8-bit images).
/// </summary>
/// <param name="Levels">L, the number of pixel values.</param>
public sealed record ImageScaling(int Levels)
{
    /// <summary>Dequantised and scaled: y = 2 (k + u) / L - 1, u ~ U[0, 1) from <paramref name="generator"/> (float32, pixels' shape).</summary>
    public Tensor Encode(Tensor pixels, Generator generator)
    {
        using var scope = NewDisposeScope();
        var u = rand(pixels.shape, dtype: float32, generator: generator);
        return pixels.to(float32).add_(u).mul_(2.0 / Levels).sub_(1.0).MoveToOuterDisposeScope();
    }

    /// <summary>The pixel centres y = 2 (k + 1/2) / L - 1 (no noise): how an image is shown to a model without dequantisation.</summary>
    public Tensor EncodeCentres(Tensor pixels)
    {
        using var scope = NewDisposeScope();
        return pixels.to(float32).add_(0.5).mul_(2.0 / Levels).sub_(1.0).MoveToOuterDisposeScope();
    }

    /// <summary>Pixel values k = clamp(floor(L (y + 1) / 2), 0, L - 1) as uint8.</summary>
    public Tensor Decode(Tensor y)
    {
        using var scope = NewDisposeScope();
        return y.to(float32).add(1.0).mul_(Levels / 2.0).floor_().clamp_(0, Levels - 1).to(ScalarType.Byte).MoveToOuterDisposeScope();
    }

    /// <summary>Brightness in [0, 1] of stored pixels, for pictures and pixel distances: k / (L - 1) (float32).</summary>
    public Tensor PixelBrightness(Tensor pixels)
    {
        using var scope = NewDisposeScope();
        return pixels.to(float32).div_(Levels - 1).MoveToOuterDisposeScope();
    }

    /// <summary>Brightness in [0, 1] for pictures: (y + 1) / 2 clamped.</summary>
    public static Tensor Brightness(Tensor y)
    {
        using var scope = NewDisposeScope();
        return y.to(float32).add(1.0).mul_(0.5).clamp_(0, 1).MoveToOuterDisposeScope();
    }

    /// <summary>log |det| of the map from dequantised pixels k + u to y, per image of <paramref name="dimension"/> elements: D log(2 / L).</summary>
    public double LogAbsDeterminant(int dimension) => dimension * Math.Log(2.0 / Levels);

    /// <summary>
    /// Bits per dimension of the discrete pixels from the NLL of y in nats per image: (NLL_y - log |det|) / (D ln 2) with
    /// <see cref="LogAbsDeterminant"/>, = NLL_y / (D ln 2) + log2(L / 2).
    /// </summary>
    public double BitsPerDimension(double nllNats, int dimension) => (nllNats - LogAbsDeterminant(dimension)) / (dimension * Math.Log(2));
}

/// <summary>
/// An <see cref="ImageSet"/> as a distribution on the flow's space: an image drawn uniformly with replacement and mapped
/// by <see cref="ImageScaling.Encode"/> (dequantised afresh on every draw); labelled images return their class as the
/// condition. No density.
/// </summary>
public sealed class ImageDistribution : SampledDistribution, IDistribution, IDisposable // (re-listed: its SampleWithCondition and Shape replace the interface's defaults)
{
    private readonly Tensor? _labels;

    /// <summary>Wraps <paramref name="images"/> (not owned: the caller disposes it after this distribution's use).</summary>
    public ImageDistribution(ImageSet images, bool withLabels = true)
    {
        Images = images;
        Scaling = new ImageScaling(images.Levels);
        _labels = withLabels && images.Labels is { } l ? tensor(l).DetachFromDisposeScope() : null;
    }

    /// <summary>The images.</summary>
    public ImageSet Images { get; }
    /// <summary>The pixel map.</summary>
    public ImageScaling Scaling { get; }
    /// <inheritdoc />
    public override string Name => Images.Name;
    /// <inheritdoc />
    public override int Dimension => Images.Dimension;
    /// <summary>[c, h, w].</summary>
    public IReadOnlyList<long> Shape => Images.Shape;

    /// <inheritdoc />
    public override Tensor Sample(int count, Generator generator)
    {
        var (samples, condition) = SampleWithCondition(count, generator);
        condition?.Dispose();
        return samples;
    }

    /// <summary>Images drawn with replacement, dequantised and scaled ([count, c, h, w] float32), with their labels when labelled.</summary>
    public (Tensor Samples, Tensor? Condition) SampleWithCondition(int count, Generator generator)
    {
        CheckCount(count);
        using var index = randint(0, Images.Count, [count], generator: generator);
        using var pixels = Images.Pixels.index_select(0, index);
        return (Scaling.Encode(pixels, generator), _labels?.index_select(0, index));
    }

    /// <summary>Disposes the labels' tensor (not the images, which the caller owns).</summary>
    public void Dispose() => _labels?.Dispose();
}
