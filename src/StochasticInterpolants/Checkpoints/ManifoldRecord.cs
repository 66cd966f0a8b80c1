namespace StochasticInterpolants.Checkpoints;

/// <summary>
/// What a checkpoint trained on a manifold records about its data (docs/theory.md §15.8): the manifold, and for observed
/// points (a CSV file, the Ramachandran set) where they came from and how they were split, so evaluation scores the
/// same held-out points training never saw.
/// </summary>
/// <param name="Manifold">The manifold, as <see cref="Manifolds.Manifold.Parse"/> reads it.</param>
/// <param name="Source">The observed points' file or data set name; null for a named target with an exact density.</param>
/// <param name="Sha256">The SHA-256 of the observed points as read, to notice a changed file.</param>
/// <param name="Rows">The number of observed points.</param>
/// <param name="ValidationFraction">The share of points held out.</param>
/// <param name="Seed">The seed of the split.</param>
/// <param name="TrainingRows">Points trained on.</param>
/// <param name="ValidationRows">Points held out.</param>
public sealed record ManifoldRecord(string Manifold, string? Source = null, string? Sha256 = null, int Rows = 0, double ValidationFraction = 0,
    long Seed = 0, int TrainingRows = 0, int ValidationRows = 0);
