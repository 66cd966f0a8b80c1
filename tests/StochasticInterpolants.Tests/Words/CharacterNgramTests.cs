using StochasticInterpolants.Data;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Words;

/// <summary>
/// The interpolated Kneser-Ney character n-gram: a bigram on a two-word corpus whose probabilities and bits per character
/// are worked out by hand (in the comments), the estimated discounts, the raw counts kept for contexts that begin with BOS,
/// normalisation over next symbols and over whole words, and samples against the exact conditional law.
/// </summary>
public sealed class CharacterNgramTests(ITestOutputHelper output)
{
    /// <summary>
    /// Corpus {ab, b}, alphabet {a, b}, order 2, D = 1/2; outcomes a, b, END. Padded: (BOS a b END), (BOS b END).
    /// Unigram continuation counts N1+(. w) from the distinct bigrams (BOS a), (a b), (b END), (BOS b): a 1, b 2, END 1
    /// (total 4, 3 types), so P1(w) = (N - 1/2)/4 + (1/2)(3/4)(1/3): P1 = (1/4, 1/2, 1/4).
    /// Bigram raw counts: after BOS a 1, b 1 (total 2, 2 types, backoff weight 1/2); after a: b 1 (1, 1, 1/2); after b:
    /// END 2 (2, 1, 1/4). Hence P(.|BOS) = (1/4 + 1/8, 1/4 + 1/4, 1/8) = (3/8, 1/2, 1/8); P(.|a) = (1/8, 1/2 + 1/4, 1/8) =
    /// (1/8, 3/4, 1/8); P(.|b) = (1/16, 1/8, 3/4 + 1/16) = (1/16, 1/8, 13/16).
    /// </summary>
    private static CharacterNgram HandBigram() => CharacterNgram.Fit(["ab", "b"], "ab", order: 2, discount: 0.5);

    [Fact]
    public void Bigram_probabilities_match_the_hand_computation_exactly()
    {
        var model = HandBigram();
        Assert.Equal([0.375, 0.5, 0.125], model.NextSymbolProbabilities(""));
        Assert.Equal([0.125, 0.75, 0.125], model.NextSymbolProbabilities("a"));
        Assert.Equal([0.0625, 0.125, 0.8125], model.NextSymbolProbabilities("b"));
        // The context is the last symbol only.
        Assert.Equal([0.0625, 0.125, 0.8125], model.NextSymbolProbabilities("aab"));
        Assert.Equal(2, model.TrainingWords);
        Assert.Equal(5, model.TrainingSymbols);
    }

    [Fact]
    public void Bigram_log_probabilities_and_bits_per_character_match_the_hand_computation()
    {
        var model = HandBigram();
        // ab: 3/8 * 3/4 * 13/16; b: 1/2 * 13/16; ba: 1/2 * 1/16 * 1/8 = 2^-8; the empty word: 1/8 = 2^-3.
        AssertClose(Math.Log(0.375 * 0.75 * 0.8125), model.LogProbability("ab"), 1e-15);
        AssertClose(Math.Log(0.5 * 0.8125), model.LogProbability("b"), 1e-15);
        AssertClose(-8 * Math.Log(2), model.LogProbability("ba"), 1e-15);
        AssertClose(-3 * Math.Log(2), model.LogProbability(""), 1e-15);
        // Bits per character divide by characters + 1 (END): ba is 8 bits over 3 symbols.
        AssertClose(8.0 / 3, model.BitsPerCharacter(["ba"]), 1e-15);
        var training = -(Math.Log2(0.375 * 0.75 * 0.8125) + Math.Log2(0.5 * 0.8125)) / 5;
        AssertClose(training, model.BitsPerCharacter(["ab", "b"]), 1e-15);
        output.WriteLine($"training bits/char {training:R}, held-out 'ba' 8/3");
        Assert.Throws<ArgumentException>(() => model.LogProbability("abc"));
    }

    [Fact]
    public void Estimated_discounts_are_n1_over_n1_plus_2_n2_per_order()
    {
        // Bigram adjusted counts (raw at the top order): 1, 1, 1, 2 -> n1 = 3, n2 = 1, D2 = 3/5.
        // Unigram continuation counts a 1, b 2, END 1 -> n1 = 2, n2 = 1, D1 = 2/4.
        var model = CharacterNgram.Fit(["ab", "b"], "ab", order: 2);
        Assert.Equal([0.5, 0.6], model.Discounts);
    }

    [Fact]
    public void Contexts_beginning_with_BOS_keep_raw_counts_below_the_top_order()
    {
        // Corpus {a, a, b}, order 3, D = 1/2. Unigram continuation counts from bigrams (BOS a), (a END), (BOS b), (b END):
        // a 1, b 1, END 2 -> P1(a) = 1/8 + (1/2)(3/4)(1/3) = 1/4. The order-2 context (BOS) keeps raw counts a 2, b 1
        // (continuation counts would be 1, 1): P2(a|BOS) = 3/2/3 + (1/2)(2/3)(1/4) = 7/12. Order 3, context (BOS BOS), raw
        // a 2, b 1: P3(a) = 1/2 + (1/3)(7/12) = 25/36 (continuation counts at order 2 would give 5/8).
        var model = CharacterNgram.Fit(["a", "a", "b"], "ab", order: 3, discount: 0.5);
        AssertClose(25.0 / 36, model.NextSymbolProbabilities("")[0], 1e-15);
    }

    [Fact]
    public void Middle_orders_use_continuation_counts()
    {
        // Corpus {xab, xab, yab}, alphabet {a, b, x, y}, order 3, D = 1/2; outcomes a, b, x, y, END (|V| = 5).
        // Unigram continuation counts from the distinct bigrams (BOS x), (x a), (a b), (b END), (BOS y), (y a):
        // x 1, y 1, a 2, b 1, END 1 (total 6, 5 types): P1(b) = (1/2)/6 + (1/2)(5/6)(1/5) = 1/6, P1(a) = (3/2)/6 + 1/12 = 1/3.
        // Context (a) at order 2: N1+(. a b) = |{x, y}| = 2 (the raw count would be 3), total 2, 1 type:
        // P2(b|a) = (3/2)/2 + (1/2)(1/2)(1/6) = 19/24, P2(a|a) = (1/4)(1/3) = 1/12.
        // Context (x a) at order 3, raw b 2: P3(b|x a) = (3/2)/2 + (1/2)(1/2)(19/24) = 3/4 + 19/96 = 91/96,
        // P3(a|x a) = (1/4)(1/12) = 1/48. (Raw counts at order 2 would give P2(b|a) = 31/36 and P3(b|x a) = 3/4 + 31/144.)
        var model = CharacterNgram.Fit(["xab", "xab", "yab"], "abxy", order: 3, discount: 0.5);
        var p = model.NextSymbolProbabilities("xa");
        AssertClose(91.0 / 96, p[1], 1e-15);
        AssertClose(1.0 / 48, p[0], 1e-15);
        AssertClose(1, p.Sum(), 1e-15);
    }

    private static readonly string[] Corpus =
    [
        "the", "of", "and", "to", "in", "is", "was", "that", "for", "on", "with", "as", "his", "they", "at", "be", "this",
        "from", "have", "or", "by", "one", "had", "not", "but", "what", "all", "were", "when", "we", "there", "can", "an",
        "your", "which", "their", "said", "if", "do", "will", "each", "about", "how", "up", "out", "them", "then", "she",
        "many", "some", "so", "these", "would", "other", "into", "has", "more", "her", "two", "like", "him", "see", "time",
    ];

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(6)]
    public void Next_symbol_probabilities_sum_to_one_for_many_contexts(int order)
    {
        var alphabet = TokenSequences.LowercaseAlphabet;
        foreach (var discount in new double?[] { null, 1.0, 0.3 })
        {
            var model = CharacterNgram.Fit(Corpus, alphabet, order, discount);
            var random = new Random(11);
            // Prefixes of training words (seen contexts), and random strings (mostly unseen contexts, letters never seen).
            var prefixes = Corpus.SelectMany(w => Enumerable.Range(0, w.Length + 1).Select(k => w[..k]))
                .Concat(Enumerable.Range(0, 300).Select(_ => new string(Enumerable.Range(0, random.Next(0, 9)).Select(_ => alphabet[random.Next(26)]).ToArray())))
                .ToList();
            var worst = 0.0;
            foreach (var prefix in prefixes)
            {
                var p = model.NextSymbolProbabilities(prefix);
                Assert.All(p, v => Assert.True(v > 0, $"order {order}: a zero probability after '{prefix}'"));
                worst = Math.Max(worst, Math.Abs(p.Sum() - 1));
            }
            output.WriteLine($"order {order}, discount {discount?.ToString() ?? $"estimated [{string.Join(", ", model.Discounts.Select(d => d.ToString("F4")))}]"}: "
                + $"{prefixes.Count} contexts, max |sum - 1| = {worst:E2}");
            Assert.True(worst <= 1e-12, $"order {order}: |sum - 1| = {worst}");
        }
    }

    [Fact]
    public void Word_probabilities_and_the_mass_left_on_long_prefixes_add_to_one()
    {
        // Over alphabet {a, b, c}: sum_{|w| <= 4} P(w) + sum_{|u| = 5} P(u is a prefix) = 1, with P(w) from LogProbability
        // and the prefix masses from NextSymbolProbabilities, which must agree word by word.
        var model = CharacterNgram.Fit(["abc", "cab", "a", "bb", "cca", "ab", "bac", "ccc"], "abc", order: 3);
        double total = 0, worstWord = 0;
        void Walk(string prefix, double mass)
        {
            if (prefix.Length == 5) { total += mass; return; }
            var p = model.NextSymbolProbabilities(prefix);
            var word = mass * p[3];
            worstWord = Math.Max(worstWord, Math.Abs(Math.Exp(model.LogProbability(prefix)) / word - 1));
            total += word;
            for (var j = 0; j < 3; j++) Walk(prefix + "abc"[j], mass * p[j]);
        }
        Walk("", 1);
        output.WriteLine($"total mass {total:R}, worst relative word mismatch {worstWord:E2}");
        Assert.True(Math.Abs(total - 1) <= 1e-12, $"total {total}");
        Assert.True(worstWord <= 1e-12, $"word mismatch {worstWord}");
    }

    [Fact]
    public void Samples_follow_the_law_conditioned_on_the_maximum_length()
    {
        using var scope = NewDisposeScope();
        var model = HandBigram();
        // Words of length <= 2 over {a, b} and their exact probabilities.
        string[] words = ["", "a", "b", "aa", "ab", "ba", "bb"];
        var exact = words.Select(w => Math.Exp(model.LogProbability(w))).ToArray();
        var accepted = exact.Sum();
        const int n = 40_000;
        var samples = model.Sample(n, maxLength: 2, new Generator(3));
        Assert.Equal(n, samples.Words.Count);
        Assert.All(samples.Words, w => Assert.True(w.Length <= 2));
        for (var i = 0; i < words.Length; i++)
        {
            var p = exact[i] / accepted;
            var observed = samples.Words.Count(w => w == words[i]) / (double)n;
            var sigma = Math.Sqrt(p * (1 - p) / n);
            output.WriteLine($"'{words[i]}': exact {p:F5}, observed {observed:F5} ({(observed - p) / sigma:+0.00;-0.00} sigma)");
            Assert.True(Math.Abs(observed - p) <= 4.5 * sigma, $"'{words[i]}': {observed} vs {p}");
        }
        // Acceptance = P(|w| <= 2), a geometric count of draws per kept word.
        var draws = n + samples.Rejected;
        var acceptanceSigma = Math.Sqrt(accepted * (1 - accepted) / draws);
        output.WriteLine($"acceptance exact {accepted:F5}, observed {samples.Acceptance:F5}");
        Assert.True(Math.Abs(samples.Acceptance - accepted) <= 5 * acceptanceSigma, $"acceptance {samples.Acceptance} vs {accepted}");
        // The same generator seed gives the same words.
        Assert.Equal(model.Sample(500, 2, new Generator(9)).Words, model.Sample(500, 2, new Generator(9)).Words);
    }

    [Fact]
    public void Fit_refuses_bad_arguments()
    {
        Assert.Throws<ArgumentException>(() => CharacterNgram.Fit(["abd"], "abc", 2));
        Assert.Throws<ArgumentException>(() => CharacterNgram.Fit([], "abc", 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => CharacterNgram.Fit(["ab"], "abc", 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => CharacterNgram.Fit(["ab"], "abc", 2, discount: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => CharacterNgram.Fit(["ab"], "abc", 2, discount: 1.5));
        Assert.Throws<ArgumentException>(() => CharacterNgram.Fit(["ab"], "abca", 2));
    }

    private static void AssertClose(double expected, double actual, double relative) =>
        Assert.True(Math.Abs(actual - expected) <= relative * Math.Max(1, Math.Abs(expected)), $"expected {expected:R}, got {actual:R}");
}
