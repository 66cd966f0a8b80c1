namespace StochasticInterpolants.Metrics;

/// <summary>
/// How often predicted classes match the intended ones: overall accuracy = #{i : p_i = y_i} / n, and per class k the
/// accuracy among the samples intended as k, #{i : y_i = k, p_i = k} / #{i : y_i = k} (NaN for a class with no samples).
/// </summary>
/// <param name="Overall">Fraction of all samples predicted as intended.</param>
/// <param name="PerClass">Accuracy within each intended class (index = class).</param>
/// <param name="Counts">Samples intended as each class.</param>
/// <param name="Confusion">Confusion[k][j]: samples intended as k and predicted as j.</param>
public sealed record ClassAccuracy(double Overall, IReadOnlyList<double> PerClass, IReadOnlyList<long> Counts, IReadOnlyList<IReadOnlyList<long>> Confusion)
{
    /// <summary>Scores <paramref name="predicted"/> against <paramref name="intended"/> labels in 0..<paramref name="classes"/> - 1.</summary>
    public static ClassAccuracy Compute(IReadOnlyList<long> predicted, IReadOnlyList<long> intended, int classes)
    {
        if (predicted.Count != intended.Count) throw new ArgumentException($"class accuracy: {predicted.Count} predictions for {intended.Count} labels");
        if (classes < 1) throw new ArgumentException($"class accuracy: classes must be >= 1, got {classes}");
        var confusion = new long[classes][];
        for (var k = 0; k < classes; k++) confusion[k] = new long[classes];
        for (var i = 0; i < predicted.Count; i++)
        {
            long p = predicted[i], y = intended[i];
            if (p < 0 || p >= classes || y < 0 || y >= classes)
                throw new ArgumentException($"class accuracy: sample {i} has prediction {p} and label {y}, outside 0..{classes - 1}");
            confusion[y][p]++;
        }
        var counts = confusion.Select(row => row.Sum()).ToArray();
        var perClass = Enumerable.Range(0, classes).Select(k => counts[k] == 0 ? double.NaN : confusion[k][k] / (double)counts[k]).ToArray();
        var correct = Enumerable.Range(0, classes).Sum(k => confusion[k][k]);
        var overall = predicted.Count == 0 ? double.NaN : correct / (double)predicted.Count;
        return new ClassAccuracy(overall, perClass, counts, confusion);
    }
}
