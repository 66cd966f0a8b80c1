using TorchSharp;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Runs;
using StochasticInterpolants.Sampling;
using StochasticInterpolants.Tests.Distributed;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Sampling;

/// <summary>
/// Completions are integrated in chunks sized by the row, as samples are, and do not depend on the chunk: the corruption's
/// randomness (random masks, noise) is drawn per draw block, whatever the chunk (docs/theory.md §13.4).
/// </summary>
public sealed class CompletionChunkTests(SmallImageCheckpoints checkpoints) : IClassFixture<SmallImageCheckpoints>
{
    [Fact]
    public void Completions_do_not_depend_on_the_chunk_size()
    {
        using var data = ImageDatasets.Load("digits8");
        using var observed = data.Test.Pixels[..9].clone();
        using var c = Checkpoint.Load(checkpoints.Inpainting);
        var solver = new EulerSolver(4);
        using var whole = CheckpointCompletion.Complete(c, observed, solver, 6, perObservation: 2, chunkSize: 18);
        using var threes = CheckpointCompletion.Complete(c, observed, solver, 6, perObservation: 2, chunkSize: 3);
        using var byDefault = CheckpointCompletion.Complete(c, observed, solver, 6, perObservation: 2);
        foreach (var (other, what) in new[] { (threes, "chunks of 3"), (byDefault, "the default chunk") })
        {
            // The random masks come from the generator: the same masks whatever the chunk.
            Assert.True(whole.Observed!.eq(other.Observed!).all().item<bool>(), $"{what}: the masks differ");
            Assert.True(whole.Views.allclose(other.Views), $"{what}: the network's views differ");
            // Pixels are rounded to 17 levels: a kernel's rounding in a batch of another size can move one across a level.
            using var steps = (whole.Pixels.to(int32) - other.Pixels.to(int32)).abs();
            Assert.True(steps.max().ToInt32() <= 1, $"{what}: a completion differs by more than one pixel level");
            Assert.True(steps.to(float32).mean().ToDouble() < 0.01, $"{what}: completions differ in more than 1 % of the pixels");
        }
    }
}
