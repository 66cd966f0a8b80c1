using StochasticInterpolants.Runs;

namespace StochasticInterpolants.Tests.Metrics;

/// <summary>The images the memorisation check compares come from every class, however the images are ordered.</summary>
public class ImageMemorisationTests
{
    [Fact]
    public void Every_class_of_generated_class_blocks_enters_the_memorisation_check()
    {
        // si eval generates class blocks: 100 of class 0, then 100 of class 1, ...; the check compares 500 of them. A prefix
        // of 500 held classes 0-4 only.
        var labels = Enumerable.Range(0, 10).SelectMany(c => Enumerable.Repeat((long)c, 100)).ToArray();
        var chosen = ImageEvaluator.Stratified(labels, labels.Length, 500, seed: 1);
        Assert.Equal(500, chosen.Length);
        Assert.Equal(500, chosen.Distinct().Count());
        var perClass = chosen.GroupBy(i => labels[i]).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(10, perClass.Count);
        Assert.All(perClass.Values, n => Assert.Equal(50, n));
    }

    [Fact]
    public void A_small_class_gives_all_it_has_and_the_others_share_the_rest()
    {
        // Class 2 has 3 images: it gives them all; the other 27 of 30 are split between classes 0 and 1.
        long[] labels = [.. Enumerable.Repeat(0L, 40), .. Enumerable.Repeat(2L, 3), .. Enumerable.Repeat(1L, 40)];
        var chosen = ImageEvaluator.Stratified(labels, labels.Length, 30, seed: 1);
        var perClass = chosen.GroupBy(i => labels[i]).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(3, perClass[2]);
        Assert.InRange(perClass[0], 13, 14);
        Assert.Equal(30, perClass.Values.Sum());
        Assert.Equal(chosen.Order(), chosen);
    }

    [Fact]
    public void Unlabelled_images_are_a_seeded_random_choice_not_a_prefix()
    {
        var a = ImageEvaluator.Stratified(null, 1000, 100, seed: 4);
        Assert.Equal(a, ImageEvaluator.Stratified(null, 1000, 100, seed: 4));
        Assert.Equal(100, a.Distinct().Count());
        Assert.True(a.Max() > 500, "a prefix would end below 100");
        Assert.Equal(Enumerable.Range(0, 7), ImageEvaluator.Stratified(null, 7, 100, seed: 4)); // fewer than asked: all
    }
}

/// <summary>No image figure leaves an evaluation as NaN or infinity: it is refused with its name.</summary>
public class ImageReportFinitenessTests
{
    private static ImageEvaluationReport Report(double bpdErr = 0.02, double? fcd = 17.3, double? ratio = 1.09, double[]? perClass = null) =>
        new(-2600, 12, 0.86, bpdErr, "class", 50, 80, "rk4", "hutchinson", 0.97, 2, 0.9, perClass ?? [0.9, 0.9], 0.8, [0.8, 0.8], fcd, 12.4,
            3.29, 3.02, ratio, 200, 80, 60, "digits");

    [Fact]
    public void A_finite_report_passes_and_a_missing_ratio_is_allowed()
    {
        Assert.NotNull(ImageEvaluator.EnsureFinite(Report()));
        Assert.NotNull(ImageEvaluator.EnsureFinite(Report(ratio: null)));
    }

    [Fact]
    public void A_non_finite_figure_is_refused_with_its_name()
    {
        var e = Assert.Throws<StochasticInterpolants.Sampling.IntegrationException>(() => ImageEvaluator.EnsureFinite(Report(bpdErr: double.NaN)));
        Assert.Contains("bits/dim standard error", e.Message);
        e = Assert.Throws<StochasticInterpolants.Sampling.IntegrationException>(() => ImageEvaluator.EnsureFinite(Report(ratio: double.PositiveInfinity)));
        Assert.Contains("memorisation ratio", e.Message);
        e = Assert.Throws<StochasticInterpolants.Sampling.IntegrationException>(() => ImageEvaluator.EnsureFinite(Report(perClass: [0.9, double.NaN])));
        Assert.Contains("class 1", e.Message);
    }
}
