using static TorchSharp.torch;

namespace StochasticInterpolants.Data;

/// <summary>Words drawn from a <see cref="CharacterNgram"/> (<see cref="CharacterNgram.Sample"/>).</summary>
/// <param name="Words">The accepted words, in the order drawn (an empty string is a word that ended at once).</param>
/// <param name="Rejected">How many words were drawn longer than the maximum length and thrown away.</param>
public sealed record NgramSamples(IReadOnlyList<string> Words, long Rejected)
{
    /// <summary>The fraction of draws kept: Words.Count / (Words.Count + Rejected), an estimate of P(|w| &lt;= L); NaN for no draws.</summary>
    public double Acceptance => Words.Count + Rejected == 0 ? double.NaN : Words.Count / (double)(Words.Count + Rejected);
}

/// <summary>
/// A character n-gram model of words, smoothed by interpolated Kneser-Ney with one absolute discount per order.
/// <para>
/// A word w_1..w_m is the symbol sequence s = (BOS^(n-1), w_1, ..., w_m, END); the model predicts each symbol after the
/// padding from the n - 1 before it, over the outcomes V = alphabet + {END} (|V| = |alphabet| + 1; BOS is never predicted),
/// so log P(w) = sum_{i=1}^{m+1} log P(s_i | s_{i-n+1..i-1}) includes the END symbol and the words of every length
/// share one normalised distribution.
/// </para>
/// <para>
/// Order k (context h of k - 1 symbols, h' = h without its first symbol):
/// P_k(w | h) = max(a_k(h, w) - D_k, 0) / A_k(h) + D_k T_k(h) / A_k(h) P_{k-1}(w | h'), where A_k(h) = sum_w a_k(h, w) and
/// T_k(h) = #{w : a_k(h, w) &gt; 0}; when A_k(h) = 0 (context never seen), P_k(w | h) = P_{k-1}(w | h'). The base is uniform,
/// P_0(w) = 1 / |V|. The counts a_k are Kneser-Ney's: the raw count c(h, w) at the highest order k = n and for contexts
/// beginning with BOS (whatever precedes them is BOS, so a continuation count would be 1); otherwise the continuation count
/// N1+(. h w) = #{x : c(x, h, w) &gt; 0}, the number of distinct symbols seen before (h, w). Since every positive a_k is an
/// integer &gt;= 1 and 0 &lt; D_k &lt;= 1, sum_w P_k(w | h) = (A_k - D_k T_k) / A_k + D_k T_k / A_k = 1 at every order.
/// </para>
/// <para>
/// Discounts: D_k = n1 / (n1 + 2 n2) (Ney, Essen and Kneser), where n_r counts the pairs (h, w) with a_k(h, w) = r,
/// clamped to [0.05, 0.95] (0.5 when n1 + n2 = 0); or one fixed value for every order.
/// </para>
/// </summary>
public sealed class CharacterNgram
{
    /// <summary>The highest order this implementation accepts (contexts are packed into 64-bit keys).</summary>
    public const int MaxOrder = 10;

    /// <summary>
    /// The order used when none is chosen: 5. On Debian's wamerican words of &lt;= 8 letters (90/10 split) the held-out
    /// cross-entropy was 4.25, 3.60, 3.17, 2.90, 2.74, 2.74, 2.80 bits per symbol for n = 1..7; 5 is within 0.003 bits of 6
    /// at half the fitting time, and gave the most novel dictionary words among its samples.
    /// </summary>
    public const int DefaultOrder = 5;

    /// <summary>The lower and upper bounds of an estimated discount.</summary>
    public const double MinDiscount = 0.05, MaxDiscount = 0.95;

    private sealed class Context(int outcomes)
    {
        public readonly double[] Counts = new double[outcomes];
        public double Total;
        public int Types;
    }

    private readonly Dictionary<char, int> _index;
    // _contexts[k] for order k = 1..n maps a packed context of k - 1 symbols to its counts a_k(h, .).
    private readonly Dictionary<long, Context>[] _contexts;
    private readonly double[] _discounts;

    private CharacterNgram(string alphabet, int order, Dictionary<long, Context>[] contexts, double[] discounts, int words, long symbols)
    {
        Alphabet = alphabet;
        Order = order;
        _contexts = contexts;
        _discounts = discounts;
        TrainingWords = words;
        TrainingSymbols = symbols;
        _index = alphabet.Select((c, j) => (c, j)).ToDictionary(p => p.c, p => p.j);
    }

    /// <summary>The characters modelled; outcome j &lt; |alphabet| is alphabet[j].</summary>
    public string Alphabet { get; }

    /// <summary>The order n (contexts of n - 1 symbols).</summary>
    public int Order { get; }

    /// <summary>|V| = |alphabet| + 1: the outcomes, the characters then END (index |alphabet|).</summary>
    public int Outcomes => Alphabet.Length + 1;

    /// <summary>The discounts D_1..D_n (index k - 1 for order k).</summary>
    public IReadOnlyList<double> Discounts => _discounts;

    /// <summary>The number of training words.</summary>
    public int TrainingWords { get; }

    /// <summary>The number of predicted training symbols: sum over training words of (length + 1).</summary>
    public long TrainingSymbols { get; }

    private int End => Alphabet.Length;
    private int Bos => Alphabet.Length + 1;
    private int Radix => Alphabet.Length + 2;

    /// <summary>
    /// Fits the model of order <paramref name="order"/> to <paramref name="words"/> (each made of characters of
    /// <paramref name="alphabet"/>; the empty word is allowed and contributes only END). <paramref name="discount"/>, when
    /// given, is D_k for every order (0 &lt; D &lt;= 1); otherwise each D_k is estimated (see the class remarks).
    /// </summary>
    public static CharacterNgram Fit(IEnumerable<string> words, string alphabet, int order, double? discount = null)
    {
        ArgumentNullException.ThrowIfNull(words);
        ArgumentNullException.ThrowIfNull(alphabet);
        if (alphabet.Length == 0) throw new ArgumentException("character n-gram: the alphabet is empty", nameof(alphabet));
        if (alphabet.Distinct().Count() != alphabet.Length) throw new ArgumentException($"character n-gram: the alphabet \"{alphabet}\" repeats a character", nameof(alphabet));
        if (order < 1 || order > MaxOrder) throw new ArgumentOutOfRangeException(nameof(order), order, $"character n-gram: the order must be 1..{MaxOrder}");
        var radix = alphabet.Length + 2;
        if (order * Math.Log2(radix) > 62) throw new ArgumentException($"character n-gram: order {order} over {alphabet.Length} characters does not fit 64-bit keys");
        if (discount is { } d && !(d > 0 && d <= 1)) throw new ArgumentOutOfRangeException(nameof(discount), d, "character n-gram: the discount must be in (0, 1]");

        var index = alphabet.Select((c, j) => (c, j)).ToDictionary(p => p.c, p => p.j);
        int end = alphabet.Length, bos = alphabet.Length + 1, outcomes = alphabet.Length + 1;
        // Raw counts c(h, w) per order, and per order k < n the distinct (k+1)-grams (x, h, w) for the continuation counts.
        var raw = new Dictionary<long, Context>[order + 1];
        var extensions = new HashSet<long>[order + 1];
        for (var k = 1; k <= order; k++) { raw[k] = []; extensions[k] = []; }
        var sequence = new List<int>();
        int wordCount = 0;
        long symbolCount = 0;
        foreach (var word in words)
        {
            ArgumentNullException.ThrowIfNull(word, nameof(words));
            sequence.Clear();
            for (var j = 0; j < order - 1; j++) sequence.Add(bos);
            foreach (var c in word)
                sequence.Add(index.TryGetValue(c, out var s) ? s
                    : throw new ArgumentException($"character n-gram: '{word}' has '{c}', which is not in the alphabet \"{alphabet}\""));
            sequence.Add(end);
            wordCount++;
            symbolCount += word.Length + 1;
            for (var i = order - 1; i < sequence.Count; i++)
            {
                var w = sequence[i];
                for (var k = 1; k <= order; k++)
                {
                    var context = Pack(sequence, i - k + 1, k - 1, radix);
                    if (!raw[k].TryGetValue(context, out var counts)) raw[k][context] = counts = new Context(outcomes);
                    counts.Counts[w]++;
                    // i - k >= 0 because i >= n - 1 >= k for k < n.
                    if (k < order) extensions[k].Add(Pack(sequence, i - k, k + 1, radix));
                }
            }
        }
        if (wordCount == 0) throw new ArgumentException("character n-gram: no training words", nameof(words));

        var contexts = new Dictionary<long, Context>[order + 1];
        var discounts = new double[order];
        for (var k = 1; k <= order; k++)
        {
            Dictionary<long, Context> adjusted;
            if (k == order) adjusted = raw[k];
            else
            {
                adjusted = [];
                // Contexts that begin with BOS keep their raw counts (see the class remarks).
                foreach (var (context, counts) in raw[k])
                    if (k > 1 && FirstSymbol(context, k - 1, radix) == bos) adjusted[context] = counts;
                long contextModulus = 1;
                for (var j = 0; j < k - 1; j++) contextModulus *= radix;
                foreach (var gram in extensions[k])
                {
                    var w = (int)(gram % radix);
                    var context = gram / radix % contextModulus;
                    if (k > 1 && FirstSymbol(context, k - 1, radix) == bos) continue;
                    if (!adjusted.TryGetValue(context, out var counts)) adjusted[context] = counts = new Context(outcomes);
                    counts.Counts[w]++;
                }
            }
            long n1 = 0, n2 = 0;
            foreach (var counts in adjusted.Values)
            {
                counts.Total = 0;
                counts.Types = 0;
                foreach (var a in counts.Counts)
                {
                    if (a <= 0) continue;
                    counts.Total += a;
                    counts.Types++;
                    if (a == 1) n1++;
                    else if (a == 2) n2++;
                }
            }
            discounts[k - 1] = discount ?? (n1 + n2 == 0 ? 0.5 : Math.Clamp(n1 / (double)(n1 + 2 * n2), MinDiscount, MaxDiscount));
            contexts[k] = adjusted;
        }
        return new CharacterNgram(alphabet, order, contexts, discounts, wordCount, symbolCount);
    }

    /// <summary>Packs symbols[start .. start+length-1] into a key: the base-radix number with the first symbol most significant.</summary>
    private static long Pack(IReadOnlyList<int> symbols, int start, int length, int radix)
    {
        long key = 0;
        for (var j = 0; j < length; j++) key = key * radix + symbols[start + j];
        return key;
    }

    private static int FirstSymbol(long context, int length, int radix)
    {
        for (var j = 1; j < length; j++) context /= radix;
        return (int)context;
    }

    /// <summary>The symbols of <paramref name="prefix"/> preceded by n - 1 BOS.</summary>
    private List<int> History(string prefix)
    {
        var history = new List<int>(Order - 1 + prefix.Length);
        for (var j = 0; j < Order - 1; j++) history.Add(Bos);
        foreach (var c in prefix) history.Add(Symbol(c, prefix));
        return history;
    }

    private int Symbol(char c, string word) => _index.TryGetValue(c, out var s) ? s
        : throw new ArgumentException($"character n-gram: '{word}' has '{c}', which is not in the alphabet \"{Alphabet}\"");

    /// <summary>P(. | the last n - 1 symbols of history[..length]) over the outcomes, written into <paramref name="p"/>.</summary>
    private void Distribution(List<int> history, int length, double[] p)
    {
        Array.Fill(p, 1.0 / Outcomes);
        for (var k = 1; k <= Order; k++)
        {
            var key = Pack(history, length - (k - 1), k - 1, Radix);
            // An unseen context leaves P_k = P_{k-1}.
            if (!_contexts[k].TryGetValue(key, out var counts)) continue;
            var d = _discounts[k - 1];
            var backoff = d * counts.Types / counts.Total;
            for (var w = 0; w < p.Length; w++) p[w] = Math.Max(counts.Counts[w] - d, 0) / counts.Total + backoff * p[w];
        }
    }

    /// <summary>P(w | h) for the one outcome w after the last n - 1 symbols of history[..length].</summary>
    private double Probability(List<int> history, int length, int w)
    {
        var p = 1.0 / Outcomes;
        for (var k = 1; k <= Order; k++)
        {
            var key = Pack(history, length - (k - 1), k - 1, Radix);
            if (!_contexts[k].TryGetValue(key, out var counts)) continue;
            var d = _discounts[k - 1];
            p = Math.Max(counts.Counts[w] - d, 0) / counts.Total + d * counts.Types / counts.Total * p;
        }
        return p;
    }

    /// <summary>
    /// P(next symbol | <paramref name="prefix"/>) for every outcome: index j &lt; |alphabet| is alphabet[j], index |alphabet|
    /// is END. Sums to 1 (up to rounding) for every prefix.
    /// </summary>
    public double[] NextSymbolProbabilities(string prefix)
    {
        var history = History(prefix);
        var p = new double[Outcomes];
        Distribution(history, history.Count, p);
        return p;
    }

    /// <summary>log P(<paramref name="word"/>) in nats: sum over its characters and the END symbol of log P(s_i | context).</summary>
    public double LogProbability(string word)
    {
        var history = History(word);
        var total = 0.0;
        for (var i = Order - 1; i <= history.Count; i++)
            total += Math.Log(Probability(history, i, i < history.Count ? history[i] : End));
        return total;
    }

    /// <summary>
    /// Cross-entropy in bits per symbol: -sum_w log2 P(w) / sum_w (|w| + 1). The denominator counts each word's characters
    /// and its END symbol, the symbols the model predicts (a model that knows only the length distribution still pays for END).
    /// </summary>
    public double BitsPerCharacter(IEnumerable<string> words)
    {
        double bits = 0;
        long symbols = 0;
        foreach (var word in words)
        {
            bits -= LogProbability(word) / Math.Log(2);
            symbols += word.Length + 1;
        }
        if (symbols == 0) throw new ArgumentException("character n-gram: no words to score", nameof(words));
        return bits / symbols;
    }

    /// <summary>
    /// Draws <paramref name="count"/> words from the model conditioned on length &lt;= <paramref name="maxLength"/>: each
    /// symbol by inverse CDF from a float64 uniform of <paramref name="generator"/>, and a word that reaches L characters
    /// without END next is rejected and redrawn (so the words have the law P(w | |w| &lt;= L), the support a sequence model
    /// of length L has; the count of rejections is returned). A word may be empty (END first). Throws when more than
    /// 1000 (count + 1) draws are rejected (a model that almost never ends within L).
    /// </summary>
    public NgramSamples Sample(int count, int maxLength, Generator generator)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 1);
        ArgumentNullException.ThrowIfNull(generator);
        var words = new List<string>(count);
        long rejected = 0;
        var uniforms = new Uniforms(generator);
        var p = new double[Outcomes];
        var history = new List<int>(Order + maxLength);
        var chars = new char[maxLength];
        while (words.Count < count)
        {
            history.Clear();
            for (var j = 0; j < Order - 1; j++) history.Add(Bos);
            var length = 0;
            while (true)
            {
                Distribution(history, history.Count, p);
                var w = Draw(p, uniforms.Next());
                if (w == End) { words.Add(new string(chars, 0, length)); break; }
                if (length == maxLength)
                {
                    if (++rejected > 1000L * (count + 1))
                        throw new InvalidOperationException($"character n-gram: over {rejected - 1} draws were longer than {maxLength} characters for {words.Count} kept");
                    break;
                }
                chars[length++] = Alphabet[w];
                history.Add(w);
            }
        }
        return new NgramSamples(words, rejected);
    }

    /// <summary>The first index whose cumulative probability exceeds u (the last positive one if rounding leaves u above the sum).</summary>
    private static int Draw(double[] p, double u)
    {
        var cumulative = 0.0;
        var last = 0;
        for (var w = 0; w < p.Length; w++)
        {
            if (p[w] <= 0) continue;
            last = w;
            cumulative += p[w];
            if (u < cumulative) return w;
        }
        return last;
    }

    /// <summary>Uniforms on [0, 1) from a generator, drawn in blocks to keep the per-symbol cost off libtorch.</summary>
    private sealed class Uniforms(Generator generator)
    {
        private double[] _block = [];
        private int _next;

        public double Next()
        {
            if (_next == _block.Length)
            {
                using var block = rand([4096], ScalarType.Float64, generator: generator);
                _block = block.data<double>().ToArray();
                _next = 0;
            }
            return _block[_next++];
        }
    }
}
