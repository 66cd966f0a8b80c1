using System.CommandLine;
using StochasticInterpolants.Runs;

namespace StochasticInterpolants.Cli;

/// <summary><c>si report</c>: a self-contained report.html of a checkpoint, with figures and animations embedded.</summary>
internal static class ReportCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "a training output folder", Required = true };
        var outDir = new Option<string>("--out") { Description = "folder for report.html and its figures", Required = true };
        var force = new Option<bool>("--force") { Description = "overwrite an existing report.html in --out" };
        var frames = new Option<int>("--frames") { Description = "frames per animation", DefaultValueFactory = _ => 30 };
        var seed = CommonOptions.Seed();
        var threads = CommonOptions.Threads();
        var progress = CommonOptions.Progress();
        var command = new Command("report", "Write report.html: samples, rho(t) from the interpolant and the model, particle paths, the velocity field, animations, metrics, configuration; for a table, each column's marginals, correlations, a principal-component projection with particle paths, training and validation curves and the NLL against a Gaussian baseline; on the torus or the sphere, data, samples and densities on the square or an equal-area map, rho(t) two ways and the particles' flow.");
        foreach (var o in new Option[] { checkpoint, outDir, force, frames, seed, threads, progress }) command.Options.Add(o);
        command.SetAction(r =>
        {
            if (r.GetValue(frames) is < 2 or > 500) throw new UsageException($"--frames must be in 2..500, got {r.GetValue(frames)}");
            Checkpoints.OutputFolder.CheckFile(Path.Combine(r.GetValue(outDir)!, "report.html"), r.GetValue(force), "report");
            var folder = Checkpoints.Checkpoint.FolderOf(r.GetValue(checkpoint)!); // the folder, or its checkpoint.json
            var manifest = Checkpoints.Checkpoint.ReadManifest(folder); // a bad checkpoint fails before any work
            var threadNote = CommonOptions.ApplyRuntime(r.GetValue(threads));
            var display = new ProgressDisplay(r.GetValue(progress), error, threadNote);
            // The teaching figure's network is trained only for a report that shows it (not a table's).
            using var teaching = TransportReport.HasTeachingFigure(manifest) ? ThreeGaussians.Train(r.GetValue(seed)) : null;
            var html = display.Fraction("report", p => TransportReport.Write(r.GetValue(outDir)!, folder, new ReportOptions(Frames: r.GetValue(frames), Seed: r.GetValue(seed)), p, teaching));
            output.WriteLine($"wrote {html}");
            return ExitCodes.Ok;
        });
        return command;
    }
}
