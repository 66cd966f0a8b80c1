using TorchSharp;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Runs;
using StochasticInterpolants.Sampling;
using StochasticInterpolants.Tests.Distributed;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Sampling;

/// <summary>
/// Sampling chunks are sized by the size of a row (an image is not a 2-D point), and the samples do not depend on the chunk
/// size: X_0 and an SDE's increments are drawn per draw block, whatever the chunk (docs/theory.md §13.4).
/// </summary>
public sealed class SamplingChunkTests(SmallCheckpoint checkpoint) : IClassFixture<SmallCheckpoint>
{
    // Batch-size-dependent kernels may round a chunk of another size differently (as across ranks).
    private const double Rounding = 1e-5;

    private static void AssertClose(Tensor expected, Tensor actual, string what)
    {
        Assert.Equal(expected.shape, actual.shape);
        var worst = (expected - actual).abs().max().ToDouble();
        Assert.True(worst <= Rounding, $"{what}: largest difference {worst:G3} between chunk sizes");
    }

    [Fact]
    public void Ode_samples_do_not_depend_on_the_chunk_size()
    {
        using var c = Checkpoint.Load(checkpoint.Folder);
        var solver = new Rk4Solver(6);
        var (whole, _) = CheckpointSampler.Sample(c, 101, solver, 11, chunkSize: 101);
        var (sevens, _) = CheckpointSampler.Sample(c, 101, solver, 11, chunkSize: 7);
        var (byDefault, _) = CheckpointSampler.Sample(c, 101, solver, 11);
        using (whole) using (sevens) using (byDefault)
        {
            AssertClose(whole, sevens, "chunks of 7");
            AssertClose(whole, byDefault, "the default chunk");
        }
    }

    [Fact]
    public void Sde_samples_do_not_depend_on_the_chunk_size()
    {
        using var c = Checkpoint.Load(checkpoint.Folder);
        var sde = new EulerMaruyamaSampler(10);
        var eps = DiffusionCoefficient.Constant(0.5);
        var (whole, _) = CheckpointSampler.Sample(c, 101, sde, eps, 12, chunkSize: 101);
        var (sevens, _) = CheckpointSampler.Sample(c, 101, sde, eps, 12, chunkSize: 7);
        var (forties, _) = CheckpointSampler.Sample(c, 101, sde, eps, 12, chunkSize: 40);
        using (whole) using (sevens) using (forties)
        {
            AssertClose(whole, sevens, "chunks of 7");
            AssertClose(whole, forties, "chunks of 40");
            // The noise mattered: another seed moves the samples far more than rounding.
            using var other = CheckpointSampler.Sample(c, 101, sde, eps, 13, chunkSize: 101).Samples;
            Assert.True((whole - other).abs().max().ToDouble() > 0.1);
        }
    }

    [Fact]
    public void Chunks_are_sized_by_the_row_and_guidance_doubles_the_rows()
    {
        var table = Checkpoint.ReadManifest(checkpoint.Folder);
        Assert.Equal(65536, CheckpointSampler.ChunkRows(table));
        Assert.Equal(65536, CheckpointSampler.DrawBlockRows(table));
        ImageRecord Image(int side) => new("digits", "0", [1, side, side], 256, ["a", "b"], [1, 1], 2, 2, true);
        var digits = table with { Images = Image(28), Dimension = 784 };
        // 28 x 28 images: 64 at a time (measured, docs/guides/images.md), 32 under guidance (two network rows each), never 65,536.
        Assert.Equal(64, CheckpointSampler.ChunkRows(digits));
        Assert.Equal(32, CheckpointSampler.ChunkRows(digits, guidance: 2));
        Assert.Equal(64, CheckpointSampler.ChunkRows(digits, guidance: 0)); // w = 0 is the unconditional network alone
        Assert.Equal(1024, CheckpointSampler.ChunkRows(table with { Images = Image(7), Dimension = 49 }));
        Assert.Equal(1, CheckpointSampler.ChunkRows(table with { Images = Image(512), Dimension = 512 * 512 }));
        Assert.Equal((1 << 20) / 784, CheckpointSampler.DrawBlockRows(digits));
    }
}
