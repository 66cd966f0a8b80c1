using System.Diagnostics;
using System.Text.RegularExpressions;
using StochasticInterpolants.Tests.Cli;

namespace StochasticInterpolants.Tests.Visualization;

public sealed class ReportTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-report-").FullName;
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private string TinyReport()
    {
        var run = Path.Combine(_dir, "run");
        var (code, _, error) = SiRunner.Run("train", "--target", "checkerboard", "--interpolant", "one-sided-linear", "--steps", "30", "--batch", "64",
            "--width", "16", "--depth", "1", "--threads", "1", "--progress", "none", "--out", run);
        Assert.True(code == 0, error);
        var report = Path.Combine(_dir, "report");
        (code, _, error) = SiRunner.Run("report", "--checkpoint", run, "--out", report, "--frames", "4", "--threads", "1", "--progress", "none");
        Assert.True(code == 0, error);
        return Path.Combine(report, "report.html");
    }

    [Fact]
    public void Report_embeds_every_figure_as_a_png_data_uri()
    {
        var html = File.ReadAllText(TinyReport());
        var images = Regex.Matches(html, "<img alt=\"([^\"]+)\" src=\"data:image/png;base64,([^\"]+)\"");
        // 1-D animation, samples, rho(t), paths, velocity, 2-D animation, loss curve.
        Assert.Equal(7, images.Count);
        foreach (Match m in images)
        {
            var bytes = Convert.FromBase64String(m.Groups[2].Value);
            Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47 }, bytes[..4]);
        }
        Assert.Contains("Eulerian", html);
        Assert.Contains("Lagrangian", html);
        Assert.Contains("interpolant", html);
        Assert.DoesNotContain("http://", html);
        Assert.DoesNotContain("https://", html);
    }

    [Fact]
    public void Report_can_be_written_into_the_checkpoint_folder_itself()
    {
        var run = Path.Combine(_dir, "run");
        Assert.Equal(0, SiRunner.Run("train", "--target", "moons", "--steps", "20", "--batch", "32", "--width", "8", "--depth", "1",
            "--threads", "1", "--progress", "none", "--out", run).Code);
        var (code, _, error) = SiRunner.Run("report", "--checkpoint", run, "--out", run, "--frames", "3", "--threads", "1", "--progress", "none");
        Assert.True(code == 0, error);
        Assert.True(File.Exists(Path.Combine(run, "report.html")));
    }

    [Fact]
    public async Task Report_loads_every_image_in_headless_chromium()
    {
        var chromium = new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome" }.FirstOrDefault(File.Exists);
        Assert.True(chromium is not null, "headless Chromium is required for this test: scripts/test.sh installs Debian's chromium");
        var html = TinyReport();
        var profile = Path.Combine(_dir, "profile");
        var start = new ProcessStartInfo(chromium!)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--no-first-run", $"--user-data-dir={profile}", "--virtual-time-budget=10000", "--dump-dom", "file://" + html })
            start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var dom = await process.StandardOutput.ReadToEndAsync(timeout.Token);
        await process.WaitForExitAsync(timeout.Token);
        var match = Regex.Match(dom, "data-images=\"(\\d+)/(\\d+)\"");
        Assert.True(match.Success, "the page's load handler did not run");
        Assert.Equal("7", match.Groups[2].Value);
        Assert.Equal(match.Groups[2].Value, match.Groups[1].Value); // every image decoded
    }
}
