using TorchSharp;
using StochasticInterpolants.Metrics;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Metrics;

public class NearestNeighboursTests
{
    // Brute force in float64: all distances, argmin with ties to the lowest index.
    private static (double[] Distances, long[] Indices) BruteForce(Tensor q, Tensor r)
    {
        using var d = (q.to(float64).unsqueeze(1) - r.to(float64).unsqueeze(0)).square().sum([2]).sqrt();
        var values = d.data<double>().ToArray();
        var (m, n) = ((int)q.shape[0], (int)r.shape[0]);
        var distances = new double[m]; var indices = new long[m];
        for (var i = 0; i < m; i++)
        {
            var best = 0;
            for (var j = 1; j < n; j++) if (values[i * n + j] < values[i * n + best]) best = j;
            (distances[i], indices[i]) = (values[i * n + best], best);
        }
        return (distances, indices);
    }

    [Theory]
    [InlineData(1024, 4096)] // one block each
    [InlineData(37, 53)]     // block boundaries that divide nothing
    [InlineData(1, 1)]       // every row its own block
    public void Match_brute_force_on_random_data_across_block_boundaries(int queryBlock, int referenceBlock)
    {
        using var g = new Generator(2);
        using var scope = NewDisposeScope();
        // Far from the origin on purpose: the float32 screen must not lose the winner to |q|^2 round-off.
        var reference = randn(300, 24, generator: g) + 1000;
        var queries = randn(150, 24, generator: g) + 1000;
        var expected = BruteForce(queries, reference);
        var found = NearestNeighbours.Find(queries, reference, queryBlock, referenceBlock);
        Assert.Equal(expected.Indices, found.Indices);
        for (var i = 0; i < expected.Distances.Length; i++) Assert.Equal(expected.Distances[i], found.Distances[i], 1e-9);
    }

    [Fact]
    public void Exact_ties_go_to_the_lowest_index_and_small_references_work()
    {
        using var scope = NewDisposeScope();
        // Points 0, 2 and 2 again on a line, in separate blocks: the query 1 is equidistant from all three, the query 2
        // coincides with two, and the query 3 is nearest to the duplicates.
        var reference = tensor(new float[] { 0, 0, 2, 0, 2, 0 }, [3, 2]);
        var queries = tensor(new float[] { 1, 0, 2, 0, 3, 0, -5, 0 }, [4, 2]);
        foreach (var block in new[] { 1, 2, 16 })
        {
            var found = NearestNeighbours.Find(queries, reference, queryBlock: block, referenceBlock: block);
            Assert.Equal([0L, 1L, 1L, 0L], found.Indices);
            Assert.Equal([1.0, 0.0, 1.0, 5.0], found.Distances);
        }
        // Duplicated rows among many: a query equal to one of them finds the first copy at distance 0.
        using var g = new Generator(4);
        var many = randn(200, 10, generator: g);
        many[150] = many[70].clone();
        many[199] = many[70].clone();
        var hit = NearestNeighbours.Find(many[TensorIndex.Slice(150, 151)], many, 32, 64);
        Assert.Equal(70L, hit.Indices[0]);
        Assert.Equal(0.0, hit.Distances[0]);
    }

    [Fact]
    public void Memorisation_ratio_is_near_one_for_fresh_samples_and_near_zero_for_copies()
    {
        using var g = new Generator(6);
        using var scope = NewDisposeScope();
        var train = randn(400, 3, 4, 4, generator: g); // images [n, c, h, w] are flattened
        var test = randn(200, 3, 4, 4, generator: g);
        var fresh = randn(200, 3, 4, 4, generator: g);
        var copies = train[TensorIndex.Slice(0, 200)] + 0.01 * randn(200, 3, 4, 4, generator: g);
        var honest = MemorisationSummary.Compute(fresh, train, test);
        var copying = MemorisationSummary.Compute(copies, train, test);
        // Fresh and test images are draws from one law: their median distances agree to sampling error (~5% at n = 200).
        Assert.InRange(honest.MedianRatio!.Value, 0.85, 1.15);
        // Copies lie 0.01 sqrt(48) ~ 0.07 from their source, against ~ sqrt(2 x 48) x 0.6 for fresh points.
        Assert.InRange(copying.MedianRatio!.Value, 0, 0.05);
        Assert.Equal(200, copying.Generated);
        Assert.True(honest.TestToTrain.Lower <= honest.TestToTrain.Median && honest.TestToTrain.Median <= honest.TestToTrain.Upper);
    }

    [Fact]
    public void Memorisation_ratio_is_null_not_infinite_when_test_images_duplicate_training_images()
    {
        // A split with duplicates: every test image is also a training image, so the test-to-train median is 0 and
        // median(generated) / 0 was +infinity, printed with exit 0.
        using var g = new Generator(8);
        using var scope = NewDisposeScope();
        var train = randn(100, 1, 4, 4, generator: g);
        var test = train[TensorIndex.Slice(0, 30)].clone();
        var generated = randn(30, 1, 4, 4, generator: g);
        var summary = MemorisationSummary.Compute(generated, train, test);
        Assert.Equal(0.0, summary.TestToTrain.Median);
        Assert.True(summary.GeneratedToTrain.Median > 0);
        Assert.Null(summary.MedianRatio);
    }

    [Fact]
    public void Quartiles_interpolate_between_order_statistics()
    {
        Assert.Equal(new Quartiles(2, 3, 4), Quartiles.Of([5.0, 1, 4, 2, 3]));
        Assert.Equal(new Quartiles(1.75, 2.5, 3.25), Quartiles.Of([4.0, 3, 2, 1])); // numpy.percentile's default
        Assert.Equal(new Quartiles(7, 7, 7), Quartiles.Of([7.0]));
    }

    [Fact]
    public void Rejects_mismatched_dimensions()
    {
        using var a = zeros(3, 4);
        using var b = zeros(5, 3);
        Assert.Throws<ArgumentException>(() => NearestNeighbours.Find(a, b));
    }
}

public class ClassAccuracyTests
{
    [Fact]
    public void Overall_and_per_class_accuracy_and_confusion_count_what_they_say()
    {
        long[] intended = [0, 0, 0, 1, 1, 2, 2, 2, 2];
        long[] predicted = [0, 0, 1, 1, 0, 2, 2, 2, 0];
        var a = ClassAccuracy.Compute(predicted, intended, 4);
        Assert.Equal(6 / 9.0, a.Overall, 12);
        Assert.Equal(2 / 3.0, a.PerClass[0], 12);
        Assert.Equal(0.5, a.PerClass[1], 12);
        Assert.Equal(0.75, a.PerClass[2], 12);
        Assert.True(double.IsNaN(a.PerClass[3])); // no sample intended as class 3
        Assert.Equal([3L, 2, 4, 0], a.Counts);
        Assert.Equal([2L, 1, 0, 0], a.Confusion[0]);
        Assert.Equal([1L, 0, 3, 0], a.Confusion[2]);
        Assert.Throws<ArgumentException>(() => ClassAccuracy.Compute([0, 5], [0, 1], 4));
        Assert.Throws<ArgumentException>(() => ClassAccuracy.Compute([0], [0, 1], 4));
    }
}
