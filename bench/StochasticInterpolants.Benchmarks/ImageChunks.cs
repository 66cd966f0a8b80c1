using System.Diagnostics;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Runs;
using StochasticInterpolants.Sampling;

namespace StochasticInterpolants.Benchmarks;

/// <summary>
/// Time per image and peak resident memory of an image checkpoint's sampling (RK4 5 steps, 20 network evaluations per
/// image) at chunk sizes 8 to 512, plain and under classifier-free guidance (two network rows per image): the measurement
/// behind <see cref="CheckpointSampler.ChunkRows"/>. Each size samples the same 512 images (256 with --quick), so a size
/// above the count is one chunk; sizes run in increasing order, so each peak is that size's (the peak only grows).
/// </summary>
internal static class ImageChunks
{
    public static int Run(string folder, bool quick)
    {
        using var checkpoint = Checkpoint.Load(folder);
        if (checkpoint.Manifest.Images is null) { Console.WriteLine("--image-chunks needs an image checkpoint"); return 2; }
        var count = quick ? 256 : 512;
        var guided = checkpoint.Manifest.ConditionClasses() is not null;
        Console.WriteLine($"{count} images of {string.Join("x", checkpoint.Manifest.SampleShape())}, RK4 5 steps; default chunk {CheckpointSampler.ChunkRows(checkpoint.Manifest)} (guided {CheckpointSampler.ChunkRows(checkpoint.Manifest, 2)})");
        Console.WriteLine($"{"chunk",6} {"guidance",9} {"s/image",9} {"peak MiB",9}");
        foreach (var w in guided ? new[] { 1.0, 2.0 } : [1.0])
            foreach (var chunk in new[] { 8, 16, 32, 64, 128, 256, 512 })
            {
                if (chunk > count) break;
                ProcessMemory.ResetPeak();
                var classes = guided ? new SampleClasses(Guidance: w) : null;
                // One chunk first as a warm-up (allocations at this size), then the timed run.
                CheckpointSampler.Sample(checkpoint, chunk, new Rk4Solver(1), 1, chunkSize: chunk, classes: classes).Samples.Dispose();
                var clock = Stopwatch.StartNew();
                CheckpointSampler.Sample(checkpoint, count, new Rk4Solver(5), 1, chunkSize: chunk, classes: classes).Samples.Dispose();
                Console.WriteLine($"{chunk,6} {w,9:G3} {clock.Elapsed.TotalSeconds / count,9:F4} {ProcessMemory.PeakMiB(),9:F0}");
            }
        return 0;
    }
}
