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
