using StochasticInterpolants.Data;
using StochasticInterpolants.Metrics;

namespace StochasticInterpolants.Tests.Words;

/// <summary>The novelty fractions on a hand-made example, counted by hand.</summary>
public sealed class WordNoveltyTests
{
    private static readonly HashSet<string> Dictionary = ["cat", "dog", "cow", "hen", "pig"];
    private static readonly HashSet<string> Training = ["cat", "dog", "cow"];

    [Fact]
    public void Fractions_of_a_hand_made_example()
    {
        // 10 sequences: cat cat (copied), hen hen pig (novel, valid), zzz qat (words, not valid), null and "" (malformed),
        // dog (copied).
        string?[] generated = ["cat", "hen", "zzz", null, "cat", "pig", "", "hen", "qat", "dog"];
        var score = WordNovelty.Compute(generated, Training, Dictionary);
        Assert.Equal(new WordNovelty(Count: 10, Malformed: 2, Valid: 6, NovelValid: 3, Copied: 3, Distinct: 6, DistinctNovelValid: 2), score);
        Assert.Equal(0.2, score.MalformedFraction);
        Assert.Equal(0.6, score.ValidFraction);
        Assert.Equal(0.3, score.NovelValidFraction);
        Assert.Equal(0.3, score.CopiedFraction);
        Assert.Equal(0.6, score.DistinctFraction);
    }

    [Fact]
    public void Decoded_rows_count_malformed_statuses_as_malformed()
    {
        DecodedSequence[] decoded =
        [
            new("hen", SequenceStatus.Word), new(null, SequenceStatus.Empty), new(null, SequenceStatus.CharacterAfterPad),
            new(null, SequenceStatus.OutOfVocabulary), new("cow", SequenceStatus.Word),
        ];
        var score = WordNovelty.Compute(decoded, Training, Dictionary);
        Assert.Equal(new WordNovelty(5, 3, 2, 1, 1, 2, 1), score);
        Assert.Equal(0.6, score.MalformedFraction);
    }

    [Fact]
    public void No_samples_gives_NaN_fractions()
    {
        var score = WordNovelty.Compute(Array.Empty<string?>(), Training, Dictionary);
        Assert.Equal(0, score.Count);
        Assert.True(double.IsNaN(score.ValidFraction));
        Assert.True(double.IsNaN(score.DistinctFraction));
    }
}
