using StochasticInterpolants.Data;

namespace StochasticInterpolants.Checkpoints;

/// <summary>
/// What a checkpoint trained on images records about its data (docs/theory.md §9): where the images came from (and the
/// SHA-256 of the bytes read), the shape of one image, its pixel levels (the map to [-1, 1] follows from them), the
/// classes, the split and how labels conditioned the network. With it, sampling returns pixels and <c>si eval</c> finds
/// the test images and the reference classifier's data again.
/// </summary>
/// <param name="Source">The data set: a name (digits, fashion-mnist, digits8), a folder or a .npy / .npz file (absolute).</param>
/// <param name="Sha256">SHA-256 of the source bytes read.</param>
/// <param name="Shape">One image [channels, height, width].</param>
/// <param name="Levels">Pixel values L (pixels are 0..L-1).</param>
/// <param name="ClassNames">Class names (index = class), or null for unlabelled data.</param>
/// <param name="ClassCounts">Training images per class, or null.</param>
/// <param name="TrainingImages">Images trained on.</param>
/// <param name="TestImages">Images held out as the test split.</param>
/// <param name="Conditional">True when the network was trained on the class labels (with a learned "no class" entry).</param>
public sealed record ImageRecord(
    string Source,
    string Sha256,
    IReadOnlyList<long> Shape,
    int Levels,
    IReadOnlyList<string>? ClassNames,
    IReadOnlyList<long>? ClassCounts,
    int TrainingImages,
    int TestImages,
    bool Conditional)
{
    /// <summary>The pixel map.</summary>
    public ImageScaling Scaling() => new(Levels);

    /// <summary>Elements of one image D = c h w.</summary>
    public int Dimension => (int)Shape.Aggregate(1L, (a, b) => a * b);
}
