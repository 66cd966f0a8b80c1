using System.CommandLine;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Export;
using StochasticInterpolants.Files;

namespace StochasticInterpolants.Cli;

/// <summary><c>si export</c>: a checkpoint's network as an ONNX file that runs without TorchSharp.</summary>
internal static class ExportCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "a training output folder", Required = true };
        var outFile = new Option<string>("--out") { Description = "the ONNX file to write (FILE.onnx)", Required = true };
        var noEma = new Option<bool>("--no-ema") { Description = "export the last-iterate weights instead of the moving average" };
        var force = new Option<bool>("--force") { Description = "overwrite --out if it exists" };
        var command = new Command("export", "Write the checkpoint's velocity network (or flow map) as an ONNX graph (opset 17) with the checkpoint's manifest in its metadata: " +
            "ONNX Runtime evaluates it without TorchSharp. Inputs x [N, d] (an image flattened, d = c h w), t [N] (a flow map also t_end [N]) and, for a class-conditional network, class [N] (-1: no class); output y [N, d]. " +
            "So far the MLP and the U-Net (without an image condition) are exported; other networks are refused by name.");
        foreach (var o in new Option[] { checkpoint, outFile, noEma, force }) command.Options.Add(o);
        command.SetAction(r =>
        {
            var path = r.GetValue(outFile)!;
            if (!path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase)) throw new UsageException($"--out: give a FILE.onnx, got '{path}'");
            OutputFolder.CheckFile(path, r.GetValue(force), "--out");
            _ = Checkpoint.ReadManifest(r.GetValue(checkpoint)!); // a bad checkpoint fails before any loading
            using var ckpt = Checkpoint.Load(r.GetValue(checkpoint)!, preferEma: !r.GetValue(noEma));
            var bytes = OnnxExport.FromCheckpoint(ckpt);
            AtomicFile.Write(path, s => s.Write(bytes));
            output.WriteLine($"wrote {path} ({bytes.Length / 1024.0:F0} KiB, opset {OnnxGraph.Opset}, {(ckpt.UsesEmaWeights ? "moving-average" : "last-iterate")} weights)");
            return ExitCodes.Ok;
        });
        return command;
    }
}
