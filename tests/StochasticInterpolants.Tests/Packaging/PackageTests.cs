using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using StochasticInterpolants.Tests.Bench;
using Xunit.Abstractions;

namespace StochasticInterpolants.Tests.Packaging;

/// <summary>
/// The packages as an app uses them: the solution is packed (<c>dotnet pack --no-build</c>, so it needs the solution built in
/// this test assembly's configuration, as building the tests does) into a temporary local feed under a fresh prerelease
/// version; a new console app restores the core package from that feed plus libtorch-cpu-linux-x64 from the normal NuGet
/// source and runs the README's library example; the tool package installs into a tool path and runs.
/// </summary>
/// <remarks>
/// The app restores into its own packages folder (a nuget.config in the temporary folder) with the machine's global
/// packages folder as a fallback: TorchSharp and libtorch (~700 MB unpacked) are used from there without extracting them
/// again, while the freshly packed packages are extracted only into the temporary folder, so no run leaves a package in the
/// global cache and none can find a stale one there (the version is new on every run). Everything is deleted afterwards
/// (about 2 GB at the peak: the app's bin and the installed tool each carry a copy of libtorch).
/// </remarks>
[Trait("Category", "Packaging")]
public sealed class PackageTests(PackedFeed feed, ITestOutputHelper output) : IClassFixture<PackedFeed>
{
    /// <summary>The five packages (the three libraries, the tool, the ONNX generator); the MPI engine, the tests and the
    /// benchmark are not packages.</summary>
    private static readonly string[] PackageIds =
        ["StochasticInterpolants", "StochasticInterpolants.Visualization", "StochasticInterpolants.Runs", "StochasticInterpolants.Cli", "StochasticInterpolants.Onnx"];

    /// <summary>The README example's sizes, reduced for a test run: (text in README.md, replacement).</summary>
    private static readonly (string From, string To)[] Reductions = [("Steps: 7000", "Steps: 1500"), ("10_000", "2000"), ("Width: 256", "Width: 64")];

    /// <summary>
    /// The fraction of samples inside the checkerboard's squares that the reduced example must exceed. Measured on this
    /// machine (one libtorch thread): 0.734 after 1,500 steps of a width-64 MLP, against 0.51-0.53 for the standard
    /// Gaussian base itself (no transport) and 0.40 after 200 steps (the moving average of the weights still lags).
    /// </summary>
    private const double InsideBound = 0.65;

    [Fact]
    public void Packs_five_packages_with_their_dependencies_readme_licence_and_symbols()
    {
        output.WriteLine($"dotnet pack --no-build: {feed.PackTime.TotalSeconds:F1} s");
        var nupkgs = Directory.GetFiles(feed.Feed, "*.nupkg").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(PackageIds.Select(id => $"{id}.{feed.Version}.nupkg").Order(StringComparer.Ordinal), nupkgs);
        foreach (var id in PackageIds)
        {
            Assert.True(File.Exists(feed.Snupkg(id)), $"no symbol package {Path.GetFileName(feed.Snupkg(id))} in {feed.Feed}");
            using var zip = ZipFile.OpenRead(feed.Nupkg(id));
            var entries = zip.Entries.Select(e => e.FullName).ToHashSet(StringComparer.Ordinal);
            var meta = Nuspec(zip).Child("metadata")!;
            Assert.Equal(id, meta.Child("id")?.Value);
            Assert.Equal(feed.Version, meta.Child("version")?.Value);
            Assert.Equal("MIT", meta.Child("license")?.Value);
            Assert.Equal("expression", meta.Child("license")?.Attribute("type")?.Value);
            Assert.Equal("README.md", meta.Child("readme")?.Value);
            Assert.Contains("README.md", entries);
            Assert.Contains("LICENSE", entries);
            Assert.Equal("StochasticInterpolants contributors", meta.Child("authors")?.Value);
            Assert.False(string.IsNullOrWhiteSpace(meta.Child("description")?.Value), $"{id}: no description");
            Assert.Contains("flow-matching", meta.Child("tags")?.Value ?? "");
            var readme = ReadEntry(zip, "README.md");
            Assert.StartsWith($"# {id}\n", readme.ReplaceLineEndings("\n"));
        }

        // The core depends on TorchSharp only: the app picks its libtorch backend (CPU or CUDA, per OS).
        Assert.Equal(["TorchSharp 0.107.0"], Dependencies("StochasticInterpolants"));
        Assert.Equal(["ScottPlot 5.1.59", "SkiaSharp.NativeAssets.Linux.NoDependencies 3.119.0", $"StochasticInterpolants {feed.Version}"],
            Dependencies("StochasticInterpolants.Visualization").Order(StringComparer.Ordinal));
        Assert.Equal([$"StochasticInterpolants {feed.Version}", $"StochasticInterpolants.Visualization {feed.Version}"],
            Dependencies("StochasticInterpolants.Runs").Order(StringComparer.Ordinal));
        Assert.Empty(Dependencies("StochasticInterpolants.Cli"));
        // The ONNX generator: ONNX Runtime only, and its assembly references nothing of TorchSharp or of the other packages.
        Assert.Equal(["Microsoft.ML.OnnxRuntime 1.32.0"], Dependencies("StochasticInterpolants.Onnx"));
        using (var onnx = ZipFile.OpenRead(feed.Nupkg("StochasticInterpolants.Onnx")))
        {
            using var dll = new MemoryStream();
            using (var entry = onnx.GetEntry("lib/net10.0/StochasticInterpolants.Onnx.dll")!.Open()) entry.CopyTo(dll);
            dll.Position = 0;
            using var pe = new System.Reflection.PortableExecutable.PEReader(dll);
            var metadata = System.Reflection.Metadata.PEReaderExtensions.GetMetadataReader(pe);
            var references = metadata.AssemblyReferences.Select(h => metadata.GetString(metadata.GetAssemblyReference(h).Name)).ToArray();
            Assert.Contains("Microsoft.ML.OnnxRuntime", references);
            Assert.DoesNotContain(references, r => r.StartsWith("TorchSharp", StringComparison.Ordinal) || r.StartsWith("StochasticInterpolants", StringComparison.Ordinal));
            Assert.DoesNotContain(onnx.Entries, e => e.FullName.Contains("torch", StringComparison.OrdinalIgnoreCase));
        }
        foreach (var id in PackageIds[..3].Append("StochasticInterpolants.Onnx"))
        {
            using var zip = ZipFile.OpenRead(feed.Nupkg(id));
            var entries = zip.Entries.Select(e => e.FullName).ToArray();
            Assert.Contains($"lib/net10.0/{id}.dll", entries);
            Assert.Contains($"lib/net10.0/{id}.xml", entries); // the XML docs travel with the library
            Assert.DoesNotContain(entries, e => e.StartsWith("runtimes/", StringComparison.Ordinal)); // no native backend
            using var symbols = ZipFile.OpenRead(feed.Snupkg(id));
            Assert.Contains($"lib/net10.0/{id}.pdb", symbols.Entries.Select(e => e.FullName));
        }

        // The tool: a DotnetTool package carrying the MPI engine and libtorch's CPU libraries (and their licence).
        using (var tool = ZipFile.OpenRead(feed.Nupkg("StochasticInterpolants.Cli")))
        {
            var meta = Nuspec(tool).Child("metadata")!;
            Assert.Equal("DotnetTool", meta.Child("packageTypes")?.Child("packageType")?.Attribute("name")?.Value);
            var files = tool.Entries.Select(e => e.FullName).ToArray();
            foreach (var file in new[] { "si.dll", "StochasticInterpolants.Mpi.dll", "StochasticInterpolants.Runs.dll", "libtorch_cpu.so", "DotnetToolSettings.xml" })
                Assert.True(files.Any(f => f.StartsWith("tools/net10.0/", StringComparison.Ordinal) && f.EndsWith("/" + file, StringComparison.Ordinal)),
                    $"the tool package lacks {file}");
            Assert.Contains("LICENSE-LIBTORCH.txt", files);
            var settings = XDocument.Parse(ReadEntry(tool, files.First(f => f.EndsWith("/DotnetToolSettings.xml", StringComparison.Ordinal))));
            Assert.Equal("si", settings.Descendants("Command").Single().Attribute("Name")?.Value);
        }
    }

    [Fact]
    public void A_new_console_app_restores_the_core_package_and_runs_the_readme_example()
    {
        var clock = Stopwatch.StartNew();
        var app = Path.Combine(feed.Root, "app");
        feed.Dotnet(feed.Root, TimeSpan.FromMinutes(2), "new", "console", "-o", app, "--no-restore");
        var project = Path.Combine(app, "app.csproj");
        var csproj = File.ReadAllText(project);
        Assert.Contains("</Project>", csproj);
        File.WriteAllText(project, csproj.Replace("</Project>", $"""
              <ItemGroup>
                <PackageReference Include="StochasticInterpolants" Version="{feed.Version}" />
                <PackageReference Include="libtorch-cpu-linux-x64" Version="2.10.0" />
              </ItemGroup>
            </Project>
            """, StringComparison.Ordinal));
        File.WriteAllText(Path.Combine(app, "Program.cs"), ReducedExample(ReadmeLibraryExample()));
        output.WriteLine($"new console app: {clock.Elapsed.TotalSeconds:F1} s");

        clock.Restart();
        feed.Dotnet(app, TimeSpan.FromMinutes(5), "build", "-c", "Release", "--disable-build-servers", "-nologo");
        output.WriteLine($"restore + build: {clock.Elapsed.TotalSeconds:F1} s");
        // The core came from the local feed into the app's own packages folder, not from anywhere else.
        Assert.True(Directory.Exists(Path.Combine(feed.Packages, "stochasticinterpolants", feed.Version)),
            $"StochasticInterpolants {feed.Version} was not restored into {feed.Packages}");

        clock.Restart();
        var dll = Path.Combine(app, "bin", "Release", "net10.0", "app.dll");
        var printed = feed.Dotnet(app, TimeSpan.FromMinutes(5), dll);
        output.WriteLine($"run: {clock.Elapsed.TotalSeconds:F1} s; printed {printed.Trim()}");
        var last = printed.Trim().Split('\n').Last().Trim();
        Assert.True(double.TryParse(last, NumberStyles.Float, CultureInfo.InvariantCulture, out var inside),
            $"the example's last line is not a number: '{last}'\n{printed}");
        Assert.InRange(inside, double.Epsilon, 1.0);
        Assert.True(inside > InsideBound, $"{inside} of the samples inside the squares; expected > {InsideBound} after the short training");
    }

    [Fact]
    public void A_new_console_app_restores_only_the_onnx_package_and_generates_from_an_exported_model()
    {
        // A small checkerboard model, trained and exported in-process.
        var run = Path.Combine(feed.Root, "onnx-run");
        var (code, _, error) = Cli.SiRunner.Run("train", "--target", "checkerboard", "--steps", "20", "--width", "16", "--depth", "1", "--threads", "1", "--progress", "none", "--out", run);
        Assert.True(code == 0, error);
        var model = Path.Combine(feed.Root, "cb.onnx");
        (code, _, error) = Cli.SiRunner.Run("export", "--checkpoint", run, "--out", model);
        Assert.True(code == 0, error);
        var app = Path.Combine(feed.Root, "onnx-app");
        feed.Dotnet(feed.Root, TimeSpan.FromMinutes(2), "new", "console", "-o", app, "--no-restore");
        var project = Path.Combine(app, "onnx-app.csproj");
        File.WriteAllText(project, File.ReadAllText(project).Replace("</Project>", $"""
              <ItemGroup>
                <PackageReference Include="StochasticInterpolants.Onnx" Version="{feed.Version}" />
              </ItemGroup>
            </Project>
            """, StringComparison.Ordinal));
        File.WriteAllText(Path.Combine(app, "Program.cs"), """
            using StochasticInterpolants.Onnx;
            using var generator = OnnxGenerator.Load(args[0]);
            var y = generator.Sample(500, new Random(1), "heun", 10);
            Console.WriteLine($"{generator.Decoding} {generator.Dimension} {y.Length} {y.All(float.IsFinite)}");
            """);
        var clock = Stopwatch.StartNew();
        feed.Dotnet(app, TimeSpan.FromMinutes(5), "build", "-c", "Release", "--disable-build-servers", "-nologo");
        output.WriteLine($"restore + build of the ONNX app: {clock.Elapsed.TotalSeconds:F1} s");
        Assert.True(Directory.Exists(Path.Combine(feed.Packages, "stochasticinterpolants.onnx", feed.Version)), "the Onnx package was not restored from the feed");
        var bin = Path.Combine(app, "bin", "Release", "net10.0");
        var files = Directory.GetFiles(bin, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(bin, f)).ToArray();
        Assert.DoesNotContain(files, f => f.Contains("torch", StringComparison.OrdinalIgnoreCase) || f == "StochasticInterpolants.dll");
        var printed = feed.Dotnet(app, TimeSpan.FromMinutes(2), Path.Combine(bin, "onnx-app.dll"), model);
        Assert.Equal("None 2 1000 True", printed.Trim().Split('\n').Last().Trim());
    }

    [Fact]
    public void The_tool_package_installs_and_si_runs()
    {
        var clock = Stopwatch.StartNew();
        var tools = Path.Combine(feed.Root, "tools");
        feed.Dotnet(feed.Root, TimeSpan.FromMinutes(5), "tool", "install", "StochasticInterpolants.Cli", "--version", feed.Version,
            "--tool-path", tools, "--add-source", feed.Feed);
        output.WriteLine($"tool install: {clock.Elapsed.TotalSeconds:F1} s ({new FileInfo(feed.Nupkg("StochasticInterpolants.Cli")).Length / 1e6:F0} MB package)");
        var si = Path.Combine(tools, "si");
        Assert.True(File.Exists(si), $"dotnet tool install made no {si}");

        var help = PackedFeed.Run(si, feed.Root, TimeSpan.FromMinutes(1), "--help");
        Assert.Contains("train", help);
        Assert.Contains("sample", help);
        var version = PackedFeed.Run(si, feed.Root, TimeSpan.FromMinutes(1), "--version");
        Assert.StartsWith(PackedFeed.BaseVersion() + "+", version.Trim());
    }

    /// <summary>The first csharp block under README.md's heading "## Using the library" (lines ending in \n).</summary>
    internal static string ReadmeLibraryExample()
    {
        var lines = File.ReadAllText(Path.Combine(Repo.Root, "README.md")).ReplaceLineEndings("\n").Split('\n');
        var heading = Array.IndexOf(lines, "## Using the library");
        Assert.True(heading >= 0, "README.md has no heading '## Using the library'");
        var start = Array.FindIndex(lines, heading + 1, l => l.StartsWith("```csharp", StringComparison.Ordinal));
        Assert.True(start > 0 && !lines[(heading + 1)..start].Any(l => l.StartsWith("## ", StringComparison.Ordinal)),
            "no ```csharp block under README.md's '## Using the library' (before the next heading)");
        var end = Array.FindIndex(lines, start + 1, l => l.StartsWith("```", StringComparison.Ordinal));
        Assert.True(end > start + 1, "README.md's library example is not closed by ```");
        return string.Join("", lines[(start + 1)..end].Select(l => l + "\n"));
    }

    /// <summary>The README example with its sizes reduced and one libtorch thread (the machine is shared; results are
    /// reproducible for a fixed thread count). Every reduction must apply exactly once, so a change of the README's sizes
    /// fails here, loudly, instead of silently running the full example.</summary>
    internal static string ReducedExample(string example)
    {
        foreach (var (from, to) in Reductions)
        {
            var count = Regex.Matches(example, Regex.Escape(from)).Count;
            Assert.True(count == 1, $"README.md's library example contains '{from}' {count} times, expected once: update PackageTests' reductions");
            example = example.Replace(from, to, StringComparison.Ordinal);
        }
        var lines = example.Split('\n').ToList();
        var directive = new Regex(@"^using (static )?[A-Za-z_][\w.]*( = [\w.]+)?;\s*$");
        var firstStatement = lines.FindIndex(l => l.Trim().Length > 0 && !directive.IsMatch(l));
        Assert.True(firstStatement > 0, "README.md's library example has no using directives followed by statements");
        lines.Insert(firstStatement, "TorchSharp.torch.set_num_threads(1);");
        return string.Join('\n', lines);
    }

    private List<string> Dependencies(string id)
    {
        using var zip = ZipFile.OpenRead(feed.Nupkg(id));
        return Nuspec(zip).Descendants().Where(d => d.Name.LocalName == "dependency").Select(d => $"{d.Attribute("id")?.Value} {d.Attribute("version")?.Value}").ToList();
    }

    /// <summary>The nuspec's root element (its namespace depends on the schema version: look elements up by local name).</summary>
    private static XElement Nuspec(ZipArchive zip) =>
        XDocument.Parse(ReadEntry(zip, zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).FullName)).Root!;

    private static string ReadEntry(ZipArchive zip, string name)
    {
        using var reader = new StreamReader(zip.GetEntry(name)!.Open(), Encoding.UTF8);
        return reader.ReadToEnd();
    }
}

/// <summary>The core package's readme (what a feed shows) and README.md give the same example; no packing needed.</summary>
public sealed class PackageReadmeTests
{
    [Fact]
    public void The_core_package_readme_shows_the_readme_example()
    {
        // The package's readme on a feed cannot include files: it repeats README.md's example, which this keeps equal.
        var packageReadme = File.ReadAllText(Path.Combine(Repo.Root, "docs", "packages", "StochasticInterpolants.md")).ReplaceLineEndings("\n");
        var blocks = Regex.Matches(packageReadme, "^```csharp\n(.*?)^```$", RegexOptions.Singleline | RegexOptions.Multiline);
        Assert.True(blocks.Count == 1, $"docs/packages/StochasticInterpolants.md has {blocks.Count} csharp blocks; expected the README's library example");
        Assert.Equal(PackageTests.ReadmeLibraryExample(), blocks[0].Groups[1].Value);
    }
}

/// <summary>The solution packed once into a temporary local feed for <see cref="PackageTests"/>.</summary>
public sealed class PackedFeed : IDisposable
{
    /// <summary>The temporary folder holding the feed, the nuget.config, the app and the tool path.</summary>
    public string Root { get; }

    /// <summary>The local feed (the .nupkg and .snupkg files).</summary>
    public string Feed { get; }

    /// <summary>The app's own packages folder (the machine's global folder is only a fallback).</summary>
    public string Packages { get; }

    /// <summary>The packages' version: Directory.Build.props' version with a prerelease label new on every run.</summary>
    public string Version { get; }

    /// <summary>How long <c>dotnet pack</c> took.</summary>
    public TimeSpan PackTime { get; }

    /// <summary>Packs the solution (no build) into a new temporary feed.</summary>
    public PackedFeed()
    {
        Root = Directory.CreateTempSubdirectory("si-packages-").FullName;
        Feed = Path.Combine(Root, "feed");
        Packages = Path.Combine(Root, "packages");
        Version = $"{BaseVersion()}-packagetest.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";
        try
        {
            // Keep MSBuild files above the temporary folder (if any) out of the app's build.
            foreach (var name in new[] { "Directory.Build.props", "Directory.Build.targets", "Directory.Packages.props" })
                File.WriteAllText(Path.Combine(Root, name), "<Project />\n");
            var fallback = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } env
                ? env
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
            File.WriteAllText(Path.Combine(Root, "nuget.config"), $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <config>
                    <add key="globalPackagesFolder" value="{Packages}" />
                  </config>
                  <packageSources>
                    <add key="si-test-feed" value="{Feed}" />
                  </packageSources>
                  <fallbackPackageFolders>
                    {(Directory.Exists(fallback) ? $"<add key=\"machine\" value=\"{fallback}\" />" : "")}
                  </fallbackPackageFolders>
                </configuration>
                """);

            var clock = Stopwatch.StartNew();
            var configuration = typeof(PackedFeed).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Release";
            Dotnet(Repo.Root, TimeSpan.FromMinutes(5), "pack", Path.Combine(Repo.Root, "StochasticInterpolants.slnx"), "-c", configuration, "--no-build",
                "-o", Feed, $"-p:PackageVersion={Version}", $"-p:PublishDir={Path.Combine(Root, "publish")}/", "-nodeReuse:false", "-nologo");
            PackTime = clock.Elapsed;
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The version in Directory.Build.props (the packages' version without a prerelease label).</summary>
    public static string BaseVersion() =>
        XDocument.Load(Path.Combine(Repo.Root, "Directory.Build.props")).Descendants("Version").Single().Value.Trim();

    /// <summary>The package file of <paramref name="id"/>.</summary>
    public string Nupkg(string id) => Path.Combine(Feed, $"{id}.{Version}.nupkg");

    /// <summary>The symbol package of <paramref name="id"/>.</summary>
    public string Snupkg(string id) => Path.Combine(Feed, $"{id}.{Version}.snupkg");

    /// <summary>Runs <c>dotnet</c> in <paramref name="folder"/>; returns its output or fails with its tail.</summary>
    public string Dotnet(string folder, TimeSpan timeout, params string[] arguments) => Run("dotnet", folder, timeout, arguments);

    /// <summary>Runs a program; returns its standard output and error or fails with their tail, the command and the exit code.</summary>
    public static string Run(string program, string folder, TimeSpan timeout, params string[] arguments)
    {
        var (code, output, elapsed) = ChildProcess.Run(program, arguments, folder, timeout);
        Assert.True(code == 0, $"{program} {string.Join(' ', arguments)} (in {folder}) exited with {code} after {elapsed.TotalSeconds:F0} s; " +
            $"its output ended:\n{ChildProcess.Tail(output)}");
        return output;
    }

    /// <summary>Deletes the temporary folder (feed, app, installed tool; ~2 GB) unless SI_KEEP_PACKAGE_TEST=1.</summary>
    public void Dispose()
    {
        if (Environment.GetEnvironmentVariable("SI_KEEP_PACKAGE_TEST") == "1") return;
        try { Directory.Delete(Root, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}

/// <summary>Nuspec elements by local name (nuspec schema versions differ in namespace).</summary>
internal static class NuspecXml
{
    /// <summary>The first child element named <paramref name="name"/> in any namespace, or null.</summary>
    public static XElement? Child(this XElement? parent, string name) => parent?.Elements().FirstOrDefault(e => e.Name.LocalName == name);
}
