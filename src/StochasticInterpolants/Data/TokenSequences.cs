using static TorchSharp.torch;

namespace StochasticInterpolants.Data;

/// <summary>What decoding one row of token ids gave (<see cref="TokenSequences.Decode(Tensor)"/>).</summary>
public enum SequenceStatus
{
    /// <summary>One or more characters followed only by PAD: a well-formed word.</summary>
    Word,
    /// <summary>PAD in every position: no word (malformed).</summary>
    Empty,
    /// <summary>A character after a PAD (malformed): the word would have a hole in it.</summary>
    CharacterAfterPad,
    /// <summary>An id outside 0..K-1 (for example a MASK id K left in the sequence): not a sequence of the vocabulary (malformed).</summary>
    OutOfVocabulary,
}

/// <summary>One decoded row: the word when <see cref="Status"/> is <see cref="SequenceStatus.Word"/>, else null.</summary>
/// <param name="Word">The characters before the first PAD, when the row is well formed; null otherwise.</param>
/// <param name="Status">Whether the row is a word or why it is malformed.</param>
public readonly record struct DecodedSequence(string? Word, SequenceStatus Status)
{
    /// <summary>True unless <see cref="Status"/> is <see cref="SequenceStatus.Word"/>.</summary>
    public bool IsMalformed => Status != SequenceStatus.Word;
}

/// <summary>
/// Words as fixed-length sequences of token ids. The vocabulary has K = |alphabet| + 1 ids: 0 is PAD, and character
/// alphabet[j] is id j + 1 (for <see cref="LowercaseLetters"/>, 1..26 = 'a'..'z', K = 27). A word w_1..w_m with
/// 1 &lt;= m &lt;= L is the row (id(w_1), ..., id(w_m), 0, ..., 0) of length L. A masked source may use id K
/// (<see cref="MaskId"/>) for "not yet decided"; it is not part of this vocabulary, and decoding flags it.
/// Rows are stored as float32 (the training pipeline's sample type) holding exact small integers.
/// </summary>
public sealed class TokenSequences
{
    /// <summary>The id of PAD, which fills the positions after a word's end.</summary>
    public const int Pad = 0;

    private readonly Dictionary<char, int> _ids;

    /// <summary>A vocabulary of <paramref name="alphabet"/> (distinct characters, ids 1..|alphabet| in this order) and
    /// sequences of <paramref name="length"/> L positions.</summary>
    public TokenSequences(string alphabet, int length)
    {
        ArgumentNullException.ThrowIfNull(alphabet);
        if (alphabet.Length == 0) throw new ArgumentException("token sequences: the alphabet is empty", nameof(alphabet));
        if (length < 1) throw new ArgumentOutOfRangeException(nameof(length), length, "token sequences: the length must be >= 1");
        _ids = new Dictionary<char, int>(alphabet.Length);
        for (var j = 0; j < alphabet.Length; j++)
            if (!_ids.TryAdd(alphabet[j], j + 1))
                throw new ArgumentException($"token sequences: '{alphabet[j]}' appears twice in the alphabet", nameof(alphabet));
        Alphabet = alphabet;
        Length = length;
    }

    /// <summary>The lowercase ASCII letters "abcdefghijklmnopqrstuvwxyz": ids 1..26, K = 27.</summary>
    public const string LowercaseAlphabet = "abcdefghijklmnopqrstuvwxyz";

    /// <summary>Sequences of <paramref name="length"/> positions over <see cref="LowercaseAlphabet"/> (K = 27).</summary>
    public static TokenSequences LowercaseLetters(int length) => new(LowercaseAlphabet, length);

    /// <summary>The characters, in id order: alphabet[j] has id j + 1.</summary>
    public string Alphabet { get; }

    /// <summary>The sequence length L (the longest word that fits).</summary>
    public int Length { get; }

    /// <summary>K = |alphabet| + 1: the ids 0..K-1 (PAD and the characters).</summary>
    public int VocabularySize => Alphabet.Length + 1;

    /// <summary>K, the id a masked source uses for an undecided position; outside this vocabulary.</summary>
    public int MaskId => VocabularySize;

    /// <summary>True when <paramref name="word"/> has 1..L characters, all in the alphabet.</summary>
    public bool Fits(string word) => word.Length >= 1 && word.Length <= Length && word.All(_ids.ContainsKey);

    /// <summary>The id of <paramref name="c"/> (1..K-1); throws for a character outside the alphabet.</summary>
    public int Id(char c) => _ids.TryGetValue(c, out var id) ? id
        : throw new ArgumentException($"token sequences: '{c}' (U+{(int)c:X4}) is not in the alphabet \"{Alphabet}\"");

    /// <summary>The character of id 1..K-1.</summary>
    public char Character(int id) => id >= 1 && id < VocabularySize ? Alphabet[id - 1]
        : throw new ArgumentOutOfRangeException(nameof(id), id, $"token sequences: character ids are 1..{VocabularySize - 1}");

    /// <summary>The L ids of <paramref name="word"/>: its characters' ids, then PAD. Throws unless <see cref="Fits"/>.</summary>
    public int[] EncodeOne(string word)
    {
        if (word.Length < 1 || word.Length > Length)
            throw new ArgumentException($"token sequences: '{word}' has {word.Length} characters; 1..{Length} fit");
        var row = new int[Length];
        for (var i = 0; i < word.Length; i++) row[i] = Id(word[i]);
        return row;
    }

    /// <summary>The words as a float32 [n, L] tensor of ids (row i = <see cref="EncodeOne"/> of words[i]), on the CPU.</summary>
    public Tensor Encode(IReadOnlyList<string> words)
    {
        var values = new float[(long)words.Count * Length];
        for (var i = 0; i < words.Count; i++)
        {
            var row = EncodeOne(words[i]);
            for (var j = 0; j < Length; j++) values[(long)i * Length + j] = row[j];
        }
        return tensor(values, [words.Count, Length], ScalarType.Float32);
    }

    /// <summary>
    /// Decodes one row of ids: the word is the characters before the first PAD. The row is malformed when it holds an id
    /// outside 0..K-1 (<see cref="SequenceStatus.OutOfVocabulary"/>, checked first), has a character after a PAD
    /// (<see cref="SequenceStatus.CharacterAfterPad"/>, also when the first position is PAD), or is all PAD
    /// (<see cref="SequenceStatus.Empty"/>).
    /// </summary>
    public DecodedSequence DecodeOne(ReadOnlySpan<long> ids)
    {
        if (ids.Length != Length) throw new ArgumentException($"token sequences: a row has {ids.Length} ids, expected L = {Length}");
        foreach (var id in ids)
            if (id < 0 || id >= VocabularySize) return new DecodedSequence(null, SequenceStatus.OutOfVocabulary);
        var end = ids.IndexOf((long)Pad);
        if (end < 0) end = Length;
        for (var j = end + 1; j < Length; j++)
            if (ids[j] != Pad) return new DecodedSequence(null, SequenceStatus.CharacterAfterPad);
        if (end == 0) return new DecodedSequence(null, SequenceStatus.Empty);
        var chars = new char[end];
        for (var j = 0; j < end; j++) chars[j] = Alphabet[(int)ids[j] - 1];
        return new DecodedSequence(new string(chars), SequenceStatus.Word);
    }

    /// <summary>
    /// Decodes each row of an [n, L] tensor of ids (any real or integer type; see <see cref="DecodeOne"/>). Values must be
    /// whole numbers: a fractional or non-finite value is not an id and throws (the caller forgot to round or argmax).
    /// </summary>
    public IReadOnlyList<DecodedSequence> Decode(Tensor ids)
    {
        if (ids.dim() != 2 || ids.shape[1] != Length)
            throw new ArgumentException($"token sequences: expected ids of shape [n, {Length}], got [{string.Join(",", ids.shape)}]");
        using var scope = NewDisposeScope();
        var values = ids.detach().cpu().to(ScalarType.Float64).contiguous().data<double>().ToArray();
        var n = (int)ids.shape[0];
        var result = new DecodedSequence[n];
        var row = new long[Length];
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < Length; j++)
            {
                var v = values[(long)i * Length + j];
                if (!double.IsFinite(v) || v != Math.Floor(v))
                    throw new ArgumentException($"token sequences: row {i}, position {j} holds {v}, not a whole-number id");
                // Clamp huge values into "out of vocabulary" without overflowing the conversion.
                row[j] = Math.Abs(v) > int.MaxValue ? -1 : (long)v;
            }
            result[i] = DecodeOne(row);
        }
        return result;
    }

    /// <summary>
    /// The empirical distribution of <paramref name="words"/> encoded (<see cref="Encode"/>): <c>Sample</c> draws rows
    /// uniformly with replacement using only the given generator; no density. Needs at least 2 words.
    /// </summary>
    public EmpiricalDistribution Distribution(IReadOnlyList<string> words, string name)
    {
        using var rows = Encode(words);
        return new EmpiricalDistribution(rows, name);
    }
}
