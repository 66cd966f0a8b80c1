using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Data;
using StochasticInterpolants.Discrete;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using StochasticInterpolants.Runtime;
using static TorchSharp.torch;

namespace StochasticInterpolants.Runs;

/// <summary>
/// Token sequences made ready for training on a discrete mixture path (docs/theory.md §16): the English word list as rows
/// of L token ids (0 = PAD after the word, 1..26 = a..z), split into training and held-out words by a seeded hash; the
/// masked or uniform source; the posterior network; and, with <c>--condition length</c>, each word's length as its class.
/// </summary>
/// <param name="Words">The word list and its split.</param>
/// <param name="Source">The source of the path (the base).</param>
/// <param name="Target">The training sequences (with their classes when conditioned).</param>
/// <param name="ValidationRows">Held-out sequences [m, L] (float ids).</param>
/// <param name="ValidationLabels">Their classes [m] (int64), or null.</param>
/// <param name="Record">What the checkpoint records.</param>
public sealed record SequencePieces(WordListData Words, TokenSource Source, IDistribution Target, Tensor ValidationRows, Tensor? ValidationLabels, SequenceRecord Record)
{
    /// <summary>True when <paramref name="config"/> trains on token sequences (its target is the word list).</summary>
    public static bool Applies(TrainingRunConfig config) => WordList.IsName(config.Target);

    /// <summary>Builds the pieces; <paramref name="message"/> hears about the word list fetched on first use.</summary>
    public static SequencePieces Build(TrainingRunConfig config, Action<string>? message = null)
    {
        var length = config.SequenceLength ?? WordList.DefaultMaxLength;
        if (length < 1 || length > 64) throw new InvalidSettingException("length", $"the word length must be in 1..64 letters, got {length}");
        var fraction = WordList.DefaultHeldOutFraction;
        if (config.Validation is { } v && (!double.TryParse(v, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out fraction) || !(fraction >= 0 && fraction < 1)))
            throw new InvalidSettingException("validation", $"words hold out a fraction in [0, 1), got '{v}'");
        var seed = config.TrainingOrDefault.Seed;
        var words = WordList.Load(config.Target, length, fraction, seed, message);
        var byLength = ByLength(config, length);
        var tokens = words.Tokens;
        var source = SourceOf(config.Base, length, tokens.VocabularySize);
        IReadOnlyList<string>? classNames = byLength ? [.. Enumerable.Range(1, length).Select(k => $"{k} letters")] : null;
        IDistribution target = byLength ? new LabelledSequences(tokens, words.Training, length) : words.TrainingDistribution();
        var classCounts = byLength ? Enumerable.Range(1, length).Select(k => (long)words.Training.Count(w => w.Length == k)).ToList() : null;
        var validation = words.HeldOut.Count == 0 ? zeros(0, length) : tokens.Encode(words.HeldOut);
        var labels = byLength && words.HeldOut.Count > 0 ? tensor(words.HeldOut.Select(w => (long)(w.Length - 1)).ToArray()) : null;
        var record = new SequenceRecord(config.Target.Trim().ToLowerInvariant(), words.Sha256, length, tokens.VocabularySize, tokens.Alphabet, source.Kind.ToString().ToLowerInvariant(),
            fraction, seed, words.Training.Count, words.HeldOut.Count, classNames, classCounts);
        return new SequencePieces(words, source, target, validation, labels, record);
    }

    // --condition: none (default) or length (each word's length is its class, for class-conditional sampling and guidance).
    private static bool ByLength(TrainingRunConfig config, int length) => (config.Condition?.Trim().ToLowerInvariant()) switch
    {
        null or "none" => false,
        "length" => true,
        var other => throw new InvalidSettingException("condition", $"words are conditioned on their length or not at all (--condition length or none), got '{other}'"),
    };

    /// <summary>The source a base name stands for on sequences of <paramref name="length"/> over <paramref name="vocabulary"/> tokens: masked (the default) or uniform.</summary>
    public static TokenSource SourceOf(string baseName, int length, int vocabulary) => baseName.Trim().ToLowerInvariant() switch
    {
        "gaussian" or "masked" or "mask" => new MaskedSource(length, vocabulary),
        "uniform" or "uniform-tokens" => new UniformTokens(length, vocabulary),
        var other => throw new InvalidSettingException("base", $"a discrete path starts from masked tokens (--base masked, the default) or uniform ones (--base uniform), not '{other}'"),
    };

    /// <summary>The source recorded in <paramref name="record"/>.</summary>
    public static TokenSource SourceOf(SequenceRecord record) => SourceOf(record.SourceKind, record.Length, record.Vocabulary);

    /// <summary>
    /// The mixture interpolant the config names: mixture-linear (also the default linear), mixture-cubic or
    /// mixture-polynomial; a continuous family is refused (its x_t is not a token).
    /// </summary>
    public static IInterpolant Interpolant(TrainingRunConfig config)
    {
        var family = config.Interpolant.Trim().ToLowerInvariant();
        if (family == "linear") family = "mixture-linear";
        if (!family.StartsWith("mixture", StringComparison.Ordinal))
            throw new InvalidSettingException("interpolant", $"the {config.Interpolant} interpolant mixes real numbers; token sequences take a discrete mixture path (--interpolant mixture-linear, mixture-cubic or mixture-polynomial)");
        return new InterpolantSpec(family, "none", config.GammaScale).Build();
    }

    /// <summary>
    /// The posterior network: --model mlp (default: an MLP over the flattened embeddings, cheaper per step at short lengths)
    /// or transformer; --width is the hidden width (the MLP's layers, the transformer's feed-forward), --depth the layers.
    /// </summary>
    public ModelSpec ModelSpec(ModelOptions m)
    {
        var architecture = m.Type?.Trim().ToLowerInvariant() ?? "mlp";
        if (architecture is not ("mlp" or "transformer"))
            throw new InvalidSettingException("model", $"token sequences are learned by a posterior network: --model mlp or transformer, not '{m.Type}'");
        var config = new PosteriorConfig(Record.Length, Record.Vocabulary, architecture, Width: architecture == "mlp" ? 32 : 64, Layers: m.Depth, Heads: 4,
            Hidden: m.Width, TimeFrequencies: m.TimeFrequencies, Classes: Record.ClassNames?.Count ?? 0);
        try { config.Validate(); }
        catch (ArgumentException e) when (e is not InvalidSettingException) { throw new InvalidSettingException("model", e.Message); }
        return new ModelSpec(PosteriorConfig.TypeName, null, config.ToJson());
    }

    // Training words with their length as the class (label = length - 1), drawn with replacement.
    private sealed class LabelledSequences(TokenSequences tokens, IReadOnlyList<string> words, int length) : IDistribution
    {
        private readonly Tensor _rows = tokens.Encode(words).DetachFromDisposeScope();
        private readonly Tensor _labels = tensor(words.Select(w => (long)(w.Length - 1)).ToArray()).DetachFromDisposeScope();
        public string Name => $"words-{length} by length";
        public int Dimension => length;
        public bool HasLogDensity => false;
        public Tensor LogDensity(Tensor x) => throw new NotSupportedException("the words have no closed-form density");
        public Tensor Sample(int count, Generator generator) => SampleWithCondition(count, generator).Samples;
        public (Tensor Samples, Tensor? Condition) SampleWithCondition(int count, Generator generator)
        {
            using var index = randint(0, _rows.shape[0], [count], dtype: int64, generator: generator);
            return (_rows.index_select(0, index), _labels.index_select(0, index));
        }
    }
}
