using StochasticInterpolants.Data;

namespace StochasticInterpolants.Metrics;

/// <summary>
/// How generated words relate to a dictionary and to the words trained on. Of n generated sequences, each is either
/// malformed (no word: null, the empty string, or a decoded row that is not <see cref="SequenceStatus.Word"/>) or a word
/// w. A word is valid when w is in the dictionary D, copied when w is in the training set T, and novel-valid when
/// w is in D but not in T. All fractions divide by n, the malformed sequences included, so a model cannot raise them by
/// failing to produce words:
/// valid = #{i : w_i in D} / n; novel-valid = #{i : w_i in D \ T} / n; copied = #{i : w_i in T} / n;
/// malformed = #{i : malformed} / n; distinct = #{distinct w_i among the words} / n (1 when every sequence is a word
/// and no word repeats; malformed sequences add nothing). NaN for n = 0.
/// </summary>
/// <param name="Count">n, the generated sequences scored.</param>
/// <param name="Malformed">Sequences that are not words.</param>
/// <param name="Valid">Words in the dictionary (with repeats).</param>
/// <param name="NovelValid">Words in the dictionary and not in the training set (with repeats).</param>
/// <param name="Copied">Words in the training set (with repeats).</param>
/// <param name="Distinct">Distinct words.</param>
/// <param name="DistinctNovelValid">Distinct words in the dictionary and not in the training set.</param>
public sealed record WordNovelty(int Count, int Malformed, int Valid, int NovelValid, int Copied, int Distinct, int DistinctNovelValid)
{
    /// <summary>Malformed / n.</summary>
    public double MalformedFraction => Fraction(Malformed);
    /// <summary>Valid / n: the generated words found in the dictionary.</summary>
    public double ValidFraction => Fraction(Valid);
    /// <summary>NovelValid / n: dictionary words the model was not trained on.</summary>
    public double NovelValidFraction => Fraction(NovelValid);
    /// <summary>Copied / n: training words reproduced.</summary>
    public double CopiedFraction => Fraction(Copied);
    /// <summary>Distinct / n.</summary>
    public double DistinctFraction => Fraction(Distinct);

    private double Fraction(int k) => Count == 0 ? double.NaN : k / (double)Count;

    /// <summary>
    /// Scores generated strings: null or the empty string is malformed, any other string is a word (compared ordinally,
    /// so the caller lower-cases if the dictionary is lower-case).
    /// </summary>
    public static WordNovelty Compute(IReadOnlyList<string?> generated, IReadOnlySet<string> training, IReadOnlySet<string> dictionary)
    {
        ArgumentNullException.ThrowIfNull(generated);
        ArgumentNullException.ThrowIfNull(training);
        ArgumentNullException.ThrowIfNull(dictionary);
        int malformed = 0, valid = 0, novel = 0, copied = 0;
        var distinct = new HashSet<string>(StringComparer.Ordinal);
        var distinctNovel = new HashSet<string>(StringComparer.Ordinal);
        foreach (var word in generated)
        {
            if (string.IsNullOrEmpty(word)) { malformed++; continue; }
            distinct.Add(word);
            var inDictionary = dictionary.Contains(word);
            var inTraining = training.Contains(word);
            if (inDictionary) valid++;
            if (inTraining) copied++;
            if (inDictionary && !inTraining) { novel++; distinctNovel.Add(word); }
        }
        return new WordNovelty(generated.Count, malformed, valid, novel, copied, distinct.Count, distinctNovel.Count);
    }

    /// <summary>Scores decoded rows (<see cref="TokenSequences.Decode"/>): a row is a word when its status is
    /// <see cref="SequenceStatus.Word"/>, else malformed.</summary>
    public static WordNovelty Compute(IReadOnlyList<DecodedSequence> decoded, IReadOnlySet<string> training, IReadOnlySet<string> dictionary) =>
        Compute(decoded.Select(d => d.IsMalformed ? null : d.Word).ToList(), training, dictionary);
}
