using System.Diagnostics;
using StochasticInterpolants.Data;
using StochasticInterpolants.Metrics;
using StochasticInterpolants.Runs;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Words;

/// <summary>
/// The word list: which lines are kept, the seeded split, and the real list from Debian's wamerican package (fetched into
/// the data cache on first use, as the Ramachandran tests fetch pymol-data) with the n-gram baseline measured on it.
/// </summary>
public sealed class WordListTests(ITestOutputHelper output)
{
    [Fact]
    public void Select_keeps_distinct_lowercase_ascii_words_of_one_to_L_letters()
    {
        string[] lines = ["cat", "Cat", "cat's", "zebra", "zebras\r", "caf\u00e9", "", "a", "cat", "x-ray", "abcdefgh", "abcdefghi", " dog", "dog\r"];
        Assert.Equal(["a", "abcdefgh", "cat", "dog", "zebra", "zebras"], WordList.Select(lines, 8));
        Assert.Equal(["a", "cat", "dog"], WordList.Select(lines, 3));
        Assert.Equal(["a", "cat", "dog", "zebra"], WordList.Select(lines, 5));
    }

    [Fact]
    public void Split_is_seeded_disjoint_complete_and_independent_of_input_order()
    {
        var words = Enumerable.Range(0, 1000).Select(i => $"w{i:D4}").ToList();
        var (training, heldOut) = WordList.Split(words, 0.1, seed: 5);
        Assert.Equal(100, heldOut.Count);
        Assert.Equal(900, training.Count);
        Assert.Empty(training.Intersect(heldOut));
        Assert.Equal(words, training.Concat(heldOut).Order(StringComparer.Ordinal));
        Assert.Equal(training, training.Order(StringComparer.Ordinal));
        // Same seed, shuffled input: the same split.
        var shuffled = words.OrderBy(w => w.GetHashCode() ^ 12345).ThenBy(w => w, StringComparer.Ordinal).ToList();
        Assert.Equal(heldOut, WordList.Split(shuffled, 0.1, seed: 5).HeldOut);
        // Another seed: another split (sharing about 10 % of the held-out words).
        var other = WordList.Split(words, 0.1, seed: 6).HeldOut;
        var shared = other.Intersect(heldOut).Count();
        output.WriteLine($"held-out words shared by seeds 5 and 6: {shared} of 100");
        Assert.InRange(shared, 1, 30);
        // round(0.1 * 15) = 2 (1.5 rounds away from zero); a fraction of 0 holds nothing out.
        Assert.Equal(2, WordList.Split(words.Take(15).ToList(), 0.1, 0).HeldOut.Count);
        Assert.Empty(WordList.Split(words, 0, 0).HeldOut);
        Assert.Throws<ArgumentOutOfRangeException>(() => WordList.Split(words, 1, 0));
        Assert.Throws<ArgumentException>(() => WordList.Split(["a", "a", "b"], 0.1, 0));
    }

    [Fact]
    public void Real_word_list_counts_and_split()
    {
        var data = WordList.Load("words", message: m => output.WriteLine(m));
        output.WriteLine($"{data.Source}: {data.LinesRead} lines, {data.Words.Count} words kept, {data.Training.Count} training, "
            + $"{data.HeldOut.Count} held out, SHA-256 {data.Sha256}");
        // Debian 12's wamerican 2020.12.07 has 104,334 lines and 35,715 lowercase words of 1..8 letters.
        Assert.InRange(data.LinesRead, 90_000, 120_000);
        Assert.InRange(data.Words.Count, 30_000, 42_000);
        Assert.Equal(8, data.MaxLength);
        Assert.Equal(27, data.Tokens.VocabularySize);
        Assert.Equal((int)Math.Round(0.1 * data.Words.Count, MidpointRounding.AwayFromZero), data.HeldOut.Count);
        Assert.Empty(data.TrainingSet.Intersect(data.HeldOut));
        Assert.Equal(data.Words.Count, data.Training.Count + data.HeldOut.Count);
        Assert.All(data.Words, w => Assert.True(data.Tokens.Fits(w)));
        foreach (var w in new[] { "cat", "zebra", "a", "quiz", "keyboard" }) Assert.Contains(w, data.Dictionary);
        foreach (var w in new[] { "America", "cat's", "zebras's", "abandoned", "" }) Assert.DoesNotContain(w, data.Dictionary);
        // Loading again with the same seed gives the same split; another seed another one.
        var again = WordList.Load();
        Assert.Equal(data.HeldOut, again.HeldOut);
        Assert.NotEqual(data.HeldOut, WordList.Load(seed: 1).HeldOut);
        var ten = WordList.Load(maxLength: 10);
        output.WriteLine($"L = 10: {ten.Words.Count} words");
        Assert.InRange(ten.Words.Count, 45_000, 60_000);
        Assert.Throws<StochasticInterpolants.Runtime.InvalidSettingException>(() => WordList.Load("sentences"));

        using var scope = NewDisposeScope();
        using var distribution = data.TrainingDistribution();
        Assert.Equal(8, distribution.Dimension);
        var drawn = data.Tokens.Decode(distribution.Sample(1000, new Generator(1)));
        Assert.All(drawn, d => Assert.Contains(d.Word!, data.TrainingSet));
    }

    /// <summary>The baseline's figures on the real list (fit on the training words, scored on the held-out ones); one thread.</summary>
    [Fact]
    public void Ngram_baseline_on_the_real_word_list()
    {
        using var scope = NewDisposeScope();
        var data = WordList.Load();
        var uniform = Math.Log2(27);
        var bits = new double[6];
        for (var order = 2; order <= 5; order++)
        {
            var clock = Stopwatch.StartNew();
            var model = CharacterNgram.Fit(data.Training, TokenSequences.LowercaseAlphabet, order);
            var fit = clock.Elapsed.TotalMilliseconds;
            bits[order] = model.BitsPerCharacter(data.HeldOut);
            var train = model.BitsPerCharacter(data.Training);
            clock.Restart();
            var samples = model.Sample(10_000, data.MaxLength, new Generator((ulong)order));
            var sample = clock.Elapsed.TotalMilliseconds;
            var score = WordNovelty.Compute(samples.Words, data.TrainingSet, data.Dictionary);
            output.WriteLine($"n = {order}: D = [{string.Join(", ", model.Discounts.Select(d => d.ToString("F3")))}], "
                + $"held-out {bits[order]:F4} bits/char (training {train:F4}), fit {fit:F0} ms, 10,000 samples {sample:F0} ms "
                + $"(acceptance {samples.Acceptance:F3}): valid {score.ValidFraction:F4}, novel-valid {score.NovelValidFraction:F4}, "
                + $"copied {score.CopiedFraction:F4}, malformed {score.MalformedFraction:F4}, distinct {score.DistinctFraction:F4}, "
                + $"distinct novel-valid {score.DistinctNovelValid}");
            Assert.InRange(bits[order], 1.0, uniform);
            Assert.True(score.NovelValidFraction > 0, $"n = {order}: no novel valid word");
            Assert.True(score.MalformedFraction < 0.01, $"n = {order}: malformed {score.MalformedFraction}");
        }
        // Context helps: each order up to 5 beats the one before on held-out words (measured 3.60, 3.17, 2.90, 2.74).
        Assert.True(bits[3] < bits[2] - 0.2, $"bigram {bits[2]}, trigram {bits[3]}");
        Assert.True(bits[4] < bits[3] - 0.1, $"trigram {bits[3]}, 4-gram {bits[4]}");
        Assert.True(bits[5] < bits[4], $"4-gram {bits[4]}, 5-gram {bits[5]}");
        Assert.Equal(bits[CharacterNgram.DefaultOrder], data.FitNgram().BitsPerCharacter(data.HeldOut));
    }
}
