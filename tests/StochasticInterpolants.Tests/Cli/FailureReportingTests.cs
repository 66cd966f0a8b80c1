using StochasticInterpolants.Cli;
using StochasticInterpolants.Models;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Cli;

/// <summary>
/// Failures reach the user as one line (issue 23, defect 8): settings that libtorch would reject are refused before any
/// work, and an error raised inside libtorch is reported as one line naming what was being done, never as an unhandled
/// exception with a native stack trace.
/// </summary>
public sealed class FailureReportingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-failures-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    [Theory]
    [InlineData("--unet-channels", "12", "--unet-multipliers", "2,2")] // small: 8 groups; the first block normalises 12 channels
    [InlineData("--unet", "tiny", "--unet-channels", "6")]             // tiny: 4 groups
    public void Unet_channels_that_the_normalisation_groups_do_not_divide_are_a_usage_error(params string[] args)
    {
        var bad = Path.Combine(_dir, "bad");
        var (code, _, error) = SiRunner.Run(["train", "--target", "digits8", "--steps", "2", "--threads", "1", "--progress", "none", "--out", bad, .. args]);
        Assert.Equal(2, code);
        Assert.StartsWith("si: error: --unet-channels", error.Trim());
        Assert.Single(error.Trim().Split('\n'));
        Assert.False(Directory.Exists(bad));
    }

    /// <summary>Every configuration that <see cref="UNetConfig.Validate"/> accepts builds and runs: the check covers every
    /// GroupNorm the network has, not only the level widths.</summary>
    [Fact]
    public void Every_unet_configuration_that_validates_runs_a_forward_pass()
    {
        var accepted = 0;
        foreach (var baseChannels in new[] { 4, 6, 8, 12 })
        foreach (var multipliers in new[] { new[] { 1 }, new[] { 2, 2 }, new[] { 1, 2 }, new[] { 3, 2 } })
        foreach (var groups in new[] { 2, 4, 8 })
        {
            var config = new UNetConfig(1, 8, 8, BaseChannels: baseChannels, ChannelMultipliers: multipliers, AttentionBelow: 0, Groups: groups);
            try { config.Validate(); }
            catch (ArgumentException) { continue; }
            accepted++;
            using var scope = NewDisposeScope();
            using var net = new UNet(config, 0);
            var y = net.forward(randn(2, 1, 8, 8), rand(2), null);
            Assert.Equal(new long[] { 2, 1, 8, 8 }, y.shape);
        }
        Assert.True(accepted >= 10, $"only {accepted} configurations validated");
    }

    [Fact]
    public void An_error_raised_inside_libtorch_is_one_line_naming_the_command_and_the_operation()
    {
        Exception caught;
        // (A shape error in matmul terminates the process inside libtorch instead: STACK.md; group_norm's check is translated.)
        try { using var _ = TorchSharp.torch.nn.functional.group_norm(ones(2, 12, 4, 4), 8); throw new InvalidOperationException("libtorch normalised 12 channels in 8 groups"); }
        catch (System.Runtime.InteropServices.ExternalException e) { caught = e; }
        var error = new StringWriter();
        var code = SiApp.Report(caught, "sample", error);
        Assert.Equal(ExitCodes.Failed, code);
        var lines = error.ToString().TrimEnd().Split('\n');
        Assert.StartsWith("si: error: si sample: libtorch failed in ", lines[0]);
        Assert.Contains("FailureReportingTests", lines[0]); // the operation: the innermost frame of our own code
        Assert.Contains("divisible by num_groups", lines[0]);
        Assert.DoesNotContain("frame #", error.ToString());
    }

    [Fact]
    public void A_bug_is_one_line_with_its_trace_kept_in_a_file()
    {
        Exception caught;
        try { throw new NullReferenceException("a test bug"); }
        catch (NullReferenceException e) { caught = e; }
        var error = new StringWriter();
        var code = SiApp.Report(caught, "train", error);
        Assert.Equal(ExitCodes.Failed, code);
        var lines = error.ToString().TrimEnd().Split('\n');
        Assert.Equal(2, lines.Length);
        Assert.StartsWith("si: error: si train: internal error (NullReferenceException: a test bug)", lines[0]);
        var file = System.Text.RegularExpressions.Regex.Match(lines[1], @"^si: the full trace is in (\S+\.txt)").Groups[1].Value;
        Assert.True(File.Exists(file), lines[1]);
        Assert.Contains("A_bug_is_one_line_with_its_trace_kept_in_a_file", File.ReadAllText(file));
        File.Delete(file);
    }

    [Fact]
    public void A_missing_gpu_is_reported_before_the_data_is_read_or_the_folder_made()
    {
        if (TorchSharp.torch.cuda.is_available()) return; // a machine with a GPU trains; this checks the refusal elsewhere
        var table = Path.Combine(_dir, "rows.csv");
        File.WriteAllLines(table, Enumerable.Range(0, 20).Select(i => $"{i % 7},{i * 0.5}"));
        var run = Path.Combine(_dir, "gpu");
        var (code, output, error) = SiRunner.Run("train", "--target", table, "--device", "cuda", "--steps", "2", "--threads", "1", "--progress", "none", "--out", run);
        Assert.Equal(1, code);
        Assert.StartsWith("si: error: device 'cuda'", error.Trim());
        Assert.DoesNotContain("training rows", error); // the data summary comes after reading, so the refusal came first
        Assert.False(Directory.Exists(run));
    }

    [Fact]
    public void A_checkpoint_is_named_by_its_folder_or_by_its_manifest_file()
    {
        var run = Path.Combine(_dir, "run");
        var (code, _, error) = SiRunner.Run("train", "--target", "moons", "--steps", "20", "--batch", "64", "--width", "16", "--depth", "1",
            "--seed", "1", "--threads", "1", "--progress", "none", "--out", run);
        Assert.True(code == 0, error);
        var a = Path.Combine(_dir, "a.csv");
        var b = Path.Combine(_dir, "b.csv");
        (code, _, error) = SiRunner.Run("sample", "--checkpoint", run, "--count", "50", "--steps", "4", "--seed", "2", "--threads", "1", "--progress", "none", "--out", a);
        Assert.True(code == 0, error);
        (code, _, error) = SiRunner.Run("sample", "--checkpoint", Path.Combine(run, "checkpoint.json"), "--count", "50", "--steps", "4", "--seed", "2", "--threads", "1", "--progress", "none", "--out", b);
        Assert.True(code == 0, error);
        Assert.Equal(File.ReadAllText(a), File.ReadAllText(b));
        (code, _, error) = SiRunner.Run("sample", "--checkpoint", Path.Combine(run, "loss.csv"), "--count", "5", "--threads", "1", "--progress", "none", "--out", Path.Combine(_dir, "c.csv"));
        Assert.Equal(1, code);
        Assert.Contains("is a file: give the training output folder", error);
    }
}
