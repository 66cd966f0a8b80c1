using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using StochasticInterpolants.Data;
using StochasticInterpolants.Runtime;

namespace StochasticInterpolants.Runs;

/// <summary>
/// English words of at most L letters, split into training and held-out words, with their token encoding.
/// </summary>
/// <param name="Words">Every word kept, sorted ordinally (the dictionary a generated word is checked against).</param>
/// <param name="Training">The training words, sorted ordinally.</param>
/// <param name="HeldOut">The held-out words, sorted ordinally (disjoint from <paramref name="Training"/>; together they are <paramref name="Words"/>).</param>
/// <param name="Tokens">The encoding: lowercase letters, K = 27, sequences of L positions.</param>
/// <param name="LinesRead">Lines of the word list file.</param>
/// <param name="Source">What was read: the data set's name, L and the file.</param>
/// <param name="Sha256">Lower-case hex SHA-256 of the word list file's bytes.</param>
public sealed record WordListData(IReadOnlyList<string> Words, IReadOnlyList<string> Training, IReadOnlyList<string> HeldOut,
    TokenSequences Tokens, int LinesRead, string Source, string Sha256)
{
    /// <summary>L, the longest word kept.</summary>
    public int MaxLength => Tokens.Length;

    /// <summary><see cref="Words"/> as a set (for <see cref="Metrics.WordNovelty"/>).</summary>
    public IReadOnlySet<string> Dictionary { get; } = new HashSet<string>(Words, StringComparer.Ordinal);

    /// <summary><see cref="Training"/> as a set (for <see cref="Metrics.WordNovelty"/>).</summary>
    public IReadOnlySet<string> TrainingSet { get; } = new HashSet<string>(Training, StringComparer.Ordinal);

    /// <summary>The character n-gram baseline of order <paramref name="order"/> fitted on <see cref="Training"/> only
    /// (<see cref="CharacterNgram.Fit"/> over the lowercase letters, estimated discounts).</summary>
    public CharacterNgram FitNgram(int order = CharacterNgram.DefaultOrder) => CharacterNgram.Fit(Training, Tokens.Alphabet, order);

    /// <summary>The training words as an empirical distribution of float32 [L] id rows (<see cref="TokenSequences.Distribution"/>); the caller disposes it.</summary>
    public EmpiricalDistribution TrainingDistribution() => Tokens.Distribution(Training, $"words-{MaxLength}");
}

/// <summary>
/// The English word list Debian ships in the wamerican package (/usr/share/dict/american-english, SCOWL size 50), fetched
/// with apt-get download into <see cref="ImageDatasets.CacheFolder"/>/wamerican on first use, nothing installed. Kept:
/// the lines made only of the ASCII letters a-z as they stand (so proper nouns, possessives ending in 's, and accented
/// words drop out rather than turn into other strings) with 1..L letters, each once.
/// </summary>
public static class WordList
{
    /// <summary>The named data sets.</summary>
    public static IReadOnlyList<string> Names { get; } = ["words"];

    /// <summary>The default L.</summary>
    public const int DefaultMaxLength = 8;

    /// <summary>The default fraction of words held out.</summary>
    public const double DefaultHeldOutFraction = 0.1;

    /// <summary>The name of the cached word list file.</summary>
    public const string FileName = "american-english";

    private static readonly ImageDatasets.DebianSource Wamerican = new("the American English word list", "wamerican", "0.2 MB", "wamerican",
        [new ImageDatasets.DebianFile("usr/share/dict/american-english", FileName)]);

    /// <summary>True when <paramref name="spec"/> names a data set of <see cref="Names"/> (case and surrounding blanks ignored).</summary>
    public static bool IsName(string spec) => Names.Contains(spec.Trim().ToLowerInvariant());

    /// <summary>Loads the data set named <paramref name="spec"/> (one of <see cref="Names"/>): <c>words</c> is <see cref="Load(int, double, long, Action{string}?)"/>.</summary>
    public static WordListData Load(string spec, int maxLength = DefaultMaxLength, double heldOutFraction = DefaultHeldOutFraction, long seed = 0, Action<string>? message = null) =>
        IsName(spec) ? Load(maxLength, heldOutFraction, seed, message)
            : throw new InvalidSettingException("data", $"'{spec}' is not a word list: expected {string.Join(", ", Names)}");

    /// <summary>
    /// The words of 1..<paramref name="maxLength"/> letters (<see cref="Select"/>) of the word list (fetched first when
    /// missing, reporting through <paramref name="message"/>), split by <see cref="Split"/> with
    /// <paramref name="heldOutFraction"/> and <paramref name="seed"/>.
    /// </summary>
    public static WordListData Load(int maxLength = DefaultMaxLength, double heldOutFraction = DefaultHeldOutFraction, long seed = 0, Action<string>? message = null)
    {
        var tokens = TokenSequences.LowercaseLetters(maxLength);
        var dir = ImageDatasets.Fetch(Wamerican, message);
        var path = Path.Combine(dir, FileName);
        var bytes = File.ReadAllBytes(path);
        string text;
        try { text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes); }
        catch (DecoderFallbackException e) { throw new DataFormatException($"'{path}' is not UTF-8 text: {e.Message.Split('\n')[0]}"); }
        var lines = text.Split('\n');
        var lineCount = lines.Length - (text.EndsWith('\n') ? 1 : 0);
        var words = Select(lines, maxLength);
        if (words.Count < 2) throw new DataFormatException($"'{path}' has {words.Count} words of 1..{maxLength} lowercase letters; at least 2 are needed");
        var (training, heldOut) = Split(words, heldOutFraction, seed);
        return new WordListData(words, training, heldOut, tokens, lineCount, $"words (L = {maxLength}, {path})",
            Convert.ToHexStringLower(SHA256.HashData(bytes)));
    }

    /// <summary>
    /// The distinct lines (a trailing carriage return removed) that consist of 1..<paramref name="maxLength"/> characters
    /// all in 'a'..'z', sorted ordinally.
    /// </summary>
    public static IReadOnlyList<string> Select(IEnumerable<string> lines, int maxLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 1);
        var kept = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var raw in lines)
        {
            var line = raw.EndsWith('\r') ? raw[..^1] : raw;
            if (line.Length >= 1 && line.Length <= maxLength && line.All(c => c is >= 'a' and <= 'z')) kept.Add(line);
        }
        return [.. kept];
    }

    /// <summary>
    /// A seeded split: each word gets the key k(w) = the first 8 bytes (little-endian) of SHA-256(UTF-8 of
    /// "<paramref name="seed"/>:" + w); the round(f n) words with the smallest keys (ties by the word) are held out, the
    /// rest are training. Depends only on the seed and the set of words (not their order, nor any random generator), so
    /// the same seed gives the same split on every machine, and a word's side changes only through its rank.
    /// Both parts are sorted ordinally. Requires 0 &lt;= f &lt; 1 and leaves at least one training word.
    /// </summary>
    public static (IReadOnlyList<string> Training, IReadOnlyList<string> HeldOut) Split(IReadOnlyList<string> words, double heldOutFraction, long seed)
    {
        if (!(heldOutFraction >= 0 && heldOutFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(heldOutFraction), heldOutFraction, "the held-out fraction must be in [0, 1)");
        var distinct = words.Distinct(StringComparer.Ordinal).ToList();
        if (distinct.Count != words.Count) throw new ArgumentException($"word split: {words.Count - distinct.Count} words repeat", nameof(words));
        var held = (int)Math.Round(heldOutFraction * words.Count, MidpointRounding.AwayFromZero);
        held = Math.Min(held, words.Count - 1);
        var prefix = $"{seed}:";
        var ranked = words
            .Select(w => (Word: w, Key: BinaryPrimitives.ReadUInt64LittleEndian(SHA256.HashData(Encoding.UTF8.GetBytes(prefix + w)))))
            .OrderBy(p => p.Key).ThenBy(p => p.Word, StringComparer.Ordinal)
            .Select(p => p.Word).ToList();
        var heldOut = ranked.Take(held).Order(StringComparer.Ordinal).ToList();
        var training = ranked.Skip(held).Order(StringComparer.Ordinal).ToList();
        return (training, heldOut);
    }
}
