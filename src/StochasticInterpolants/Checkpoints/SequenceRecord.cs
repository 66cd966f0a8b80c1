namespace StochasticInterpolants.Checkpoints;

/// <summary>
/// What a checkpoint trained on token sequences records (docs/theory.md §16): the data, its encoding and split, and the
/// source of the mixture path, so sampling, evaluation and the report rebuild the same tokens and held-out sequences.
/// </summary>
/// <param name="Source">The data set's name (words).</param>
/// <param name="Sha256">The SHA-256 of the data as read, to notice a change.</param>
/// <param name="Length">Positions L of a sequence.</param>
/// <param name="Vocabulary">Data tokens K (0 = PAD, then the alphabet); the masked source's MASK is K.</param>
/// <param name="Alphabet">The characters of tokens 1..K-1.</param>
/// <param name="SourceKind">The source of the path: masked or uniform.</param>
/// <param name="ValidationFraction">The share of sequences held out.</param>
/// <param name="Seed">The seed of the split.</param>
/// <param name="TrainingRows">Sequences trained on.</param>
/// <param name="ValidationRows">Sequences held out.</param>
/// <param name="ClassNames">The classes a conditional model was trained on (word lengths), or null.</param>
/// <param name="ClassCounts">Training sequences per class, or null.</param>
public sealed record SequenceRecord(string Source, string Sha256, int Length, int Vocabulary, string Alphabet, string SourceKind, double ValidationFraction,
    long Seed, int TrainingRows, int ValidationRows, IReadOnlyList<string>? ClassNames = null, IReadOnlyList<long>? ClassCounts = null);
