using System.Diagnostics;
using System.Text.Json;
using StochasticInterpolants.Tests.Bench;
using StochasticInterpolants.Visualization;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Docs;

/// <summary>
/// The documentation site, built from this clone by the one command the README gives (<c>scripts/docs.sh</c>, offline:
/// docfx from NuGet, KaTeX and playwright-core from npm) and checked in headless Chromium by docs/site/check-site.mjs:
/// every page loads, no link or image is broken, no formula is left as LaTeX, nothing is fetched from another host,
/// the animations play and the tutorial's first figure is not blank. A second test makes sure the checker itself
/// catches each of those faults on a small broken site, so a green site check means something.
/// </summary>
[Trait("Category", "Docs")]
public sealed class SiteTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-site-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    [Fact]
    public void Site_builds_offline_and_every_page_loads_in_headless_chromium()
    {
        var site = Path.Combine(_dir, "site");
        var (code, output, _) = ChildProcess.Run("bash", [Path.Combine(Repo.Root, "scripts", "docs.sh"), "--check", "--out", site], Repo.Root, TimeSpan.FromMinutes(8));
        Assert.True(code == 0, $"scripts/docs.sh --check exited with {code}:\n{ChildProcess.Tail(output, 60)}");

        using var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir, "site-check.json")));
        var root = report.RootElement;
        Assert.Equal(0, root.GetProperty("failures").GetArrayLength());

        // The API reference: a page for every public type of the four library assemblies, and each namespace page
        // carries its summary from docs/namespaces.
        var assemblies = new[] { typeof(StochasticInterpolants.Interpolants.InterpolantPath).Assembly, typeof(ImagePng).Assembly, typeof(StochasticInterpolants.Runs.TrainingRun).Assembly,
            typeof(StochasticInterpolants.Onnx.OnnxGenerator).Assembly };
        var missing = assemblies.SelectMany(a => a.GetExportedTypes())
            .Select(t => (t.FullName ?? t.Name).Replace('+', '.').Replace('`', '-'))
            .Where(name => !File.Exists(Path.Combine(site, "api", name + ".html")))
            .ToList();
        Assert.True(missing.Count == 0, $"{missing.Count} public types have no API page, e.g. {string.Join(", ", missing.Take(5))}");
        foreach (var summary in Directory.GetFiles(Path.Combine(Repo.Root, "docs", "namespaces"), "*.md"))
        {
            var ns = Path.GetFileNameWithoutExtension(summary);
            var page = Path.Combine(site, "api", ns + ".html");
            Assert.True(File.Exists(page), $"namespace {ns} has a summary in docs/namespaces but no API page");
            var firstWords = File.ReadAllLines(summary).SkipWhile(l => l != "---").Skip(1).SkipWhile(l => l != "---").Skip(1)
                .First(l => l.Length > 0).Split(' ').Take(3);
            Assert.Contains(string.Join(' ', firstWords).Replace("`", ""), StripTags(File.ReadAllText(page)));
        }

        // Every guide, the tutorial and the theory are pages of the site.
        foreach (var md in Directory.GetFiles(Path.Combine(Repo.Root, "docs", "guides"), "*.md").Append(Path.Combine(Repo.Root, "docs", "theory.md"))
                     .Append(Path.Combine(Repo.Root, "docs", "tutorial", "index.md")))
        {
            var html = Path.ChangeExtension(Path.Combine(site, Path.GetRelativePath(Path.Combine(Repo.Root, "docs"), md)), ".html");
            Assert.True(File.Exists(html), $"{Path.GetRelativePath(Repo.Root, md)} is not in the site");
        }

        // The tutorial's formulas were typeset and its animations play: every APNG it shows was decoded by Chromium with
        // more than one frame (the checker fails otherwise; here we make sure they were all seen).
        Assert.True(root.GetProperty("mathRendered").GetInt32() >= 20, $"only {root.GetProperty("mathRendered").GetInt32()} formulas typeset");
        var tutorialApngs = Directory.GetFiles(Path.Combine(Repo.Root, "docs", "tutorial", "images"), "*.png")
            .Where(f => ApngWriter.FrameCount(f) > 1).Select(f => "tutorial/images/" + Path.GetFileName(f)).ToHashSet();
        Assert.NotEmpty(tutorialApngs);
        var checkedAnimations = root.GetProperty("animations").EnumerateArray()
            .Where(a => a.TryGetProperty("frames", out var f) && f.GetInt32() > 1).Select(a => a.GetProperty("file").GetString()!).ToHashSet();
        Assert.Subset(checkedAnimations, tutorialApngs);

        // The screenshot of the tutorial's first figure, as Chromium drew it, has content: many grey levels, spread out.
        var shot = root.GetProperty("screenshot").GetString()!;
        using var scope = NewDisposeScope();
        var pixels = ImageDecoding.Read(shot).to_type(ScalarType.Float32);
        var std = pixels.std().item<float>();
        var levels = pixels.flatten().unique().output.shape[0];
        Assert.True(std > 20 && levels > 16, $"the tutorial's first figure looks blank in the screenshot: std {std:F1}, {levels} levels ({shot})");
    }

    [Fact]
    public void Site_check_catches_broken_links_missing_images_raw_math_outside_fetches_stills_and_a_blank_figure()
    {
        var site = Path.Combine(_dir, "broken");
        Directory.CreateDirectory(Path.Combine(site, "tutorial"));
        using (var noise = randint(0, 255, [1, 32, 32], dtype: ScalarType.Byte, generator: new Generator(3)))
            ImagePng.Save(Path.Combine(site, "fine.png"), noise);
        using (var flat = full([1, 32, 32], 200, dtype: ScalarType.Byte))
        {
            ImagePng.Save(Path.Combine(site, "tutorial", "blank.png"), flat);
            var frame = ImagePng.Encode(flat);
            ApngWriter.Write(Path.Combine(site, "still.png"), [frame, frame], [100, 100]);
        }
        File.WriteAllText(Path.Combine(site, "index.html"), """
            <html><head><script src="https://cdn.example.org/x.js"></script></head><body><article>
            <img src="fine.png"><img src="gone.png"><img src="still.png">
            <a href="nowhere.html">a</a> <a href="tutorial/index.html#no-such-id">b</a> <a href="index.html#top">c</a>
            <p id="top">the density $\rho(t, x)$ here was never typeset</p>
            </article></body></html>
            """);
        File.WriteAllText(Path.Combine(site, "tutorial", "index.html"), """
            <html><body><article><h1 id="start">Tutorial</h1><img src="blank.png"></article></body></html>
            """);
        var (code, output, _) = ChildProcess.Run("node", [Path.Combine(Repo.Root, "docs", "site", "check-site.mjs"), site, Path.Combine(_dir, "broken.json"), Path.Combine(_dir, "b.png")],
            Path.Combine(Repo.Root, "docs", "site"), TimeSpan.FromMinutes(3));
        Assert.True(code == 1, $"the checker passed a broken site (exit {code}):\n{ChildProcess.Tail(output, 30)}");
        using var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir, "broken.json")));
        var failures = string.Join("\n", report.RootElement.GetProperty("failures").EnumerateArray().Select(f => f.GetString()));
        foreach (var expected in new[]
                 {
                     "broken link nowhere.html", "broken image gone.png", "no id \"no-such-id\"", "loads https://cdn.example.org/x.js",
                     "LaTeX left as text", "still.png: first and last frames are identical", "first figure looks blank",
                 })
            Assert.True(failures.Contains(expected), $"the checker did not report '{expected}'; it reported:\n{failures}");
        Assert.DoesNotContain("#top", failures);
        Assert.DoesNotContain("fine.png", failures);
    }

    private static string StripTags(string html) => System.Text.RegularExpressions.Regex.Replace(html, "<[^>]+>", "");
}
