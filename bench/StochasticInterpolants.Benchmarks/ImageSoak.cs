using StochasticInterpolants.Runs;

/// <summary>
/// Memory over a long image run: a class-conditional U-Net trained for 20,000 steps through <c>TrainingRun</c> (snapshots
/// every 1,000 steps, as <c>si train</c> writes them). Prints resident and peak memory at 1k, 10k and 20k steps; the peak at
/// 20k must stay within 5 % of the peak at 1k. The data set and U-Net preset are options: the default, 8x8 digits with the
/// tiny U-Net, runs in minutes; 28x28 digits with the small U-Net takes over an hour on 2 cores.
/// </summary>
internal static class ImageSoak
{
    public static int Run(bool quick, string dataset, string preset)
    {
        var steps = quick ? 2000 : 20_000;
        int[] marks = quick ? [200, 1000, 2000] : [1000, 10_000, 20_000];
        var folder = Directory.CreateTempSubdirectory("si-image-memory-").FullName;
        try
        {
            var config = new TrainingRunConfig(Target: dataset, Model: new ModelOptions(Type: "unet", UNetPreset: preset), Condition: "class",
                Training: TrainingRunConfig.ImageTrainingDefaults with { Steps = steps, LogEvery = 500 });
            var pieces = RunPieces.Build(config, m => Console.Error.WriteLine($"[bench] {m}"));
            Console.WriteLine($"image memory soak: {dataset} ({string.Join("x", pieces.Images!.Record.Shape)}), class-conditional U-Net '{preset}', batch {config.TrainingOrDefault.BatchSize}, " +
                              $"{steps} steps with a snapshot every {config.CheckpointEvery}");
            return MemorySoak.Verdict(MemorySoak.TrainWithPeaks(config, folder, marks), marks);
        }
        finally
        {
            try { Directory.Delete(folder, recursive: true); } catch (IOException) { }
        }
    }
}
