using System.Diagnostics;
using System.Text.Json.Serialization;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Data;
using StochasticInterpolants.Discrete;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Metrics;
using StochasticInterpolants.Runtime;
using StochasticInterpolants.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Runs;

/// <summary>
/// Generates token sequences from a checkpoint trained on a discrete mixture path (docs/theory.md §16.3): x0 from its source
/// (seeded), then the Euler steps of the continuous-time Markov chain with the network's posterior, guided for a
/// class-conditional checkpoint. Rows are generated in chunks; the result depends on the seed, not on the chunk size.
/// </summary>
public static class SequenceSampler
{
    /// <summary>Rows generated at once.</summary>
    public const int ChunkRows = 4096;

    /// <summary>The default Euler steps of the chain (each one network evaluation per row; two under guidance).</summary>
    public const int DefaultSteps = 64;

    /// <summary>
    /// <paramref name="count"/> sequences [count, L] (float32 ids in 0..K-1) and the network evaluations per sequence;
    /// <paramref name="classes"/> as for <see cref="CheckpointSampler.ClassesFor"/>.
    /// </summary>
    public static (Tensor Tokens, double FunctionEvaluations) Sample(Checkpoint checkpoint, int count, int steps, long seed, SampleClasses? classes = null,
        IProgress<double>? progress = null)
    {
        var (tokens, _, nfe) = Run(checkpoint, count, steps, seed, classes, [], progress);
        return (tokens, nfe);
    }

    /// <summary>As <see cref="Sample"/>, also keeping every sequence's state at <paramref name="saveTimes"/> (the chain's path).</summary>
    public static (Tensor Tokens, IReadOnlyList<Tensor> Saved, double FunctionEvaluations) SamplePath(Checkpoint checkpoint, int count, int steps, long seed,
        IReadOnlyList<double> saveTimes, SampleClasses? classes = null) => Run(checkpoint, count, steps, seed, classes, saveTimes, null);

    private static (Tensor, IReadOnlyList<Tensor>, double) Run(Checkpoint checkpoint, int count, int steps, long seed, SampleClasses? classes,
        IReadOnlyList<double> saveTimes, IProgress<double>? progress)
    {
        var record = checkpoint.Manifest.Sequences ?? throw new InvalidSettingException("checkpoint", "this checkpoint was not trained on token sequences");
        if (count < 1) throw new InvalidSettingException("count", $"sample count must be >= 1, got {count}");
        if (steps < 1 || steps > 10_000) throw new InvalidSettingException("steps", $"the chain's steps must be in 1..10000, got {steps}");
        var interpolant = (MixtureInterpolant)checkpoint.Interpolant;
        var source = SequencePieces.SourceOf(record);
        var network = checkpoint.Networks.Single(n => n.Kind == FieldKind.Posterior).Network;
        var guidance = classes?.Guidance ?? 1;
        var posterior = DiscretePosterior.FromNetwork(network, source.Kind, record.Vocabulary, guidance);
        var sampler = new DiscreteSampler(interpolant, steps);
        using var labels = CheckpointSampler.ClassesFor(checkpoint.Manifest, count, seed, classes);
        using var generator = new Generator((ulong)seed);
        var finals = new List<Tensor>();
        var saved = saveTimes.Select(_ => new List<Tensor>()).ToList();
        try
        {
            for (var start = 0; start < count; start += ChunkRows)
            {
                var n = Math.Min(ChunkRows, count - start);
                using var scope = NewDisposeScope();
                var x0 = source.Sample(n, generator);
                var condition = labels?[start..(start + n)];
                var offset = (double)start / count; var fraction = (double)n / count;
                var chunkProgress = progress is null ? null : new SyncProgress<double>(f => progress.Report(offset + fraction * f));
                var (final, states) = sampler.SamplePath(x0, posterior, generator, saveTimes, condition, chunkProgress);
                finals.Add(final.DetachFromDisposeScope());
                for (var i = 0; i < states.Count; i++) saved[i].Add(states[i].DetachFromDisposeScope());
            }
            var evaluations = steps * (labels is not null && guidance != 1 ? 2 : 1);
            return (cat(finals, 0), saved.Select(s => cat(s, 0)).ToList(), evaluations);
        }
        finally
        {
            foreach (var t in finals) t.Dispose();
            foreach (var list in saved) foreach (var t in list) t.Dispose();
        }
    }
}

/// <summary>
/// The figures of a word model (docs/theory.md §16.4; <c>si eval --json</c> keys in snake_case): the likelihood bound on
/// held-out words in bits per position and per character, beside a character n-gram fitted to the training words; and
/// the generated words — valid (in the word list), novel and valid (in the list, not among the training words), copied,
/// malformed, distinct — beside the n-gram's own samples.
/// </summary>
public sealed record SequenceEvaluationReport(
    [property: JsonPropertyName("held_out")] int HeldOut,
    [property: JsonPropertyName("bound_bits_per_position")] double BitsPerPosition,
    [property: JsonPropertyName("bound_bits_per_position_stderr")] double BitsPerPositionStdErr,
    [property: JsonPropertyName("bound_bits_per_character")] double BitsPerCharacter,
    [property: JsonPropertyName("bound_bits_per_character_stderr")] double BitsPerCharacterStdErr,
    [property: JsonPropertyName("ngram_order")] int NgramOrder,
    [property: JsonPropertyName("ngram_bits_per_character")] double NgramBitsPerCharacter,
    [property: JsonPropertyName("generated")] int Generated,
    [property: JsonPropertyName("steps")] int Steps,
    [property: JsonPropertyName("valid")] double Valid,
    [property: JsonPropertyName("novel_valid")] double NovelValid,
    [property: JsonPropertyName("copied")] double Copied,
    [property: JsonPropertyName("malformed")] double Malformed,
    [property: JsonPropertyName("distinct")] double Distinct,
    [property: JsonPropertyName("ngram_valid")] double NgramValid,
    [property: JsonPropertyName("ngram_novel_valid")] double NgramNovelValid,
    [property: JsonPropertyName("ngram_copied")] double NgramCopied,
    [property: JsonPropertyName("class_accuracy")] double? ClassAccuracy,
    [property: JsonPropertyName("guidance")] double Guidance,
    [property: JsonPropertyName("source")] string Source,
    [property: JsonPropertyName("seconds")] double Seconds,
    [property: JsonPropertyName("examples")] IReadOnlyList<string> Examples);

/// <summary>Scores a word model (see <see cref="SequenceEvaluationReport"/>).</summary>
public static class SequenceEvaluator
{
    /// <summary>
    /// Scores <paramref name="checkpoint"/>: the bound on <paramref name="heldOut"/> held-out words (all when null or more),
    /// <paramref name="repeats"/> draws each; <paramref name="generated"/> words by <paramref name="steps"/> chain steps
    /// (class-conditional: classes in the training proportions, guided by <paramref name="guidance"/>, and the share of words
    /// of the length asked for); the n-gram of order <paramref name="ngramOrder"/> scored on the same words and sampled as many times.
    /// </summary>
    public static SequenceEvaluationReport Evaluate(Checkpoint checkpoint, int? heldOut = null, int generated = 2000, int steps = SequenceSampler.DefaultSteps,
        long seed = 0, double guidance = 1, int repeats = 4, int ngramOrder = CharacterNgram.DefaultOrder, IProgress<double>? progress = null, Action<string>? message = null)
    {
        var record = checkpoint.Manifest.Sequences ?? throw new InvalidSettingException("checkpoint", "this checkpoint was not trained on token sequences");
        if (generated < 1) throw new InvalidSettingException("generated", $"at least one word must be generated, got {generated}");
        if (repeats < 1) throw new InvalidSettingException("repeats", $"at least one draw per word, got {repeats}");
        var watch = Stopwatch.StartNew();
        var words = WordList.Load(record.Source, record.Length, record.ValidationFraction, record.Seed, message);
        if (words.Sha256 != record.Sha256) throw new DataFormatException($"the word list changed since training (SHA-256 differs): its held-out words are no longer those training left out");
        if (words.HeldOut.Count == 0) throw new InvalidSettingException("validation", "this checkpoint held out no words to score");
        using var scope = NewDisposeScope();
        var scored = words.HeldOut.Take(heldOut ?? int.MaxValue).ToList();
        var x1 = words.Tokens.Encode(scored);
        var conditional = record.ClassNames is not null;
        var labels = conditional ? tensor(scored.Select(w => (long)(w.Length - 1)).ToArray()) : null;
        var interpolant = (MixtureInterpolant)checkpoint.Interpolant;
        var source = SequencePieces.SourceOf(record);
        var network = checkpoint.Networks.Single(n => n.Kind == FieldKind.Posterior).Network;
        var posterior = DiscretePosterior.FromNetwork(network, source.Kind, record.Vocabulary);
        using var boundGenerator = new Generator((ulong)seed ^ 0x424F554EUL);
        var bound = DiscreteLikelihoodBound.Estimate(x1, posterior, interpolant, source, boundGenerator, labels, repeats);
        progress?.Report(0.4);
        // Per character: the bound's nats per word over the word's letters plus one end (the first PAD), as the n-gram counts them.
        var symbols = scored.Sum(w => w.Length + 1);
        var perCharacter = bound.NatsPerRow * scored.Count / symbols / Math.Log(2);
        var perCharacterError = bound.StandardError * record.Length * scored.Count / symbols;
        var ngram = words.FitNgram(ngramOrder);
        var ngramBits = ngram.BitsPerCharacter(scored);
        var classes = new SampleClasses(Guidance: guidance);
        var (tokens, _) = SequenceSampler.Sample(checkpoint, generated, steps, seed + 1, conditional ? classes : null,
            progress is null ? null : new SyncProgress<double>(f => progress.Report(0.4 + 0.5 * f)));
        var decoded = words.Tokens.Decode(tokens);
        var novelty = WordNovelty.Compute(decoded, words.TrainingSet, words.Dictionary);
        double? accuracy = null;
        if (conditional)
        {
            using var asked = CheckpointSampler.ClassesFor(checkpoint.Manifest, generated, seed + 1, classes)!;
            var wanted = asked.data<long>().ToArray();
            accuracy = decoded.Select((d, i) => d.Word is { } w && w.Length - 1 == wanted[i] ? 1.0 : 0.0).Average();
        }
        using var ngramGenerator = new Generator((ulong)seed ^ 0x4E47524DUL);
        var ngramSamples = ngram.Sample(generated, record.Length, ngramGenerator);
        var ngramNovelty = WordNovelty.Compute(ngramSamples.Words.Select(w => (string?)w).ToList(), words.TrainingSet, words.Dictionary);
        progress?.Report(1.0);
        foreach (var (name, value) in new[] { ("bound", bound.BitsPerToken), ("n-gram bits", ngramBits) })
            if (!double.IsFinite(value)) throw new IntegrationException($"the evaluation's {name} is {value}");
        return new SequenceEvaluationReport(scored.Count, bound.BitsPerToken, bound.StandardError, perCharacter, perCharacterError, ngramOrder, ngramBits,
            generated, steps, novelty.ValidFraction, novelty.NovelValidFraction, novelty.CopiedFraction, novelty.MalformedFraction, novelty.DistinctFraction,
            ngramNovelty.ValidFraction, ngramNovelty.NovelValidFraction, ngramNovelty.CopiedFraction, accuracy, guidance, record.SourceKind,
            watch.Elapsed.TotalSeconds, decoded.Take(40).Select(Show).ToList());
    }

    /// <summary>A decoded sequence as text: the word, or a malformed one marked (its status).</summary>
    public static string Show(DecodedSequence d) => d.Word ?? $"<{d.Status}>";

    /// <summary>One row of token ids as text: letters, '_' for MASK, '.' for PAD (the chain's state at a time).</summary>
    public static string Show(TokenSequences tokens, ReadOnlySpan<long> ids)
    {
        var chars = new char[ids.Length];
        for (var i = 0; i < ids.Length; i++)
            chars[i] = ids[i] == TokenSequences.Pad ? '.' : ids[i] >= tokens.VocabularySize ? '_' : tokens.Character((int)ids[i]);
        return new string(chars);
    }
}
