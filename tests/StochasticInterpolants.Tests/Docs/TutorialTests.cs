using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using StochasticInterpolants.Tests.Bench;

namespace StochasticInterpolants.Tests.Docs;

/// <summary>
/// The tutorial (docs/tutorial/index.md) against the program that draws its figures (examples/tutorial.cs): a quick run of
/// the program still draws every figure the page shows, under the same file names, as valid PNGs (animations as APNGs of
/// several frames); every figure the page shows is committed; and every C# region the page includes exists.
/// In the "Examples" collection: tests that `dotnet run` an example build the same library projects, and two such builds
/// at once would write the same obj/ folders.
/// </summary>
[Trait("Category", "Docs")]
[Collection("Examples")]
public partial class TutorialTests
{
    private static string Page => Path.Combine(Repo.Root, "docs", "tutorial", "index.md");
    private static string Images => Path.Combine(Repo.Root, "docs", "tutorial", "images");
    private static string Program => Path.Combine(Repo.Root, "examples", "tutorial.cs");

    [GeneratedRegex(@"!\[[^\]]*\]\((?<path>[^)\s]+)\)")]
    private static partial Regex ImageLink();

    [GeneratedRegex(@"\[!code-csharp\[[^\]]*\]\((?<file>[^)#]+)#(?<region>[^)]+)\)\]")]
    private static partial Regex CodeInclude();

    /// <summary>The file names of the images the page shows (all under images/).</summary>
    private static List<string> PageImages()
    {
        var links = ImageLink().Matches(File.ReadAllText(Page)).Select(m => m.Groups["path"].Value).ToList();
        Assert.All(links, l => Assert.StartsWith("images/", l));
        return links.Select(l => l["images/".Length..]).Distinct().ToList();
    }

    [Fact]
    public void Quick_run_draws_every_figure_the_page_shows()
    {
        var shown = PageImages();
        var output = Path.Combine(Path.GetTempPath(), "si-tutorial-" + Guid.NewGuid().ToString("N"));
        try
        {
            var (code, log) = RunProgram(["--quick", "--out", output, "--threads", "1"]);
            Assert.True(code == 0, $"dotnet run examples/tutorial.cs -- --quick exited with {code}:\n{log}");
            foreach (var name in shown)
            {
                var drawn = Path.Combine(output, name);
                Assert.True(File.Exists(drawn), $"the page shows {name}, but the quick run did not draw it; it drew: {string.Join(", ", Directory.GetFiles(output).Select(Path.GetFileName))}");
                var frames = Png.Frames(drawn); // throws on a broken file
                // A figure committed as an animation must still be drawn as one.
                if (Png.Frames(Path.Combine(Images, name)) > 1) Assert.True(frames > 1, $"{name} is an animation on the page, but the quick run drew {frames} frame(s)");
            }
        }
        finally
        {
            if (Directory.Exists(output)) Directory.Delete(output, recursive: true);
        }
    }

    [Fact]
    public void Every_figure_the_page_shows_is_committed_and_valid()
    {
        var shown = PageImages();
        Assert.True(shown.Count >= 10, $"the page shows only {shown.Count} figures");
        foreach (var name in shown)
        {
            var path = Path.Combine(Images, name);
            Assert.True(File.Exists(path), $"the page shows images/{name}, which is not in docs/tutorial/images (run: dotnet run examples/tutorial.cs)");
            Assert.True(Png.Frames(path) >= 1);
        }
        // The animations of section 2 and 5 play: APNGs of many frames.
        Assert.True(Png.Frames(Path.Combine(Images, "transport-1d.png")) >= 10);
        Assert.True(Png.Frames(Path.Combine(Images, "transport-2d.png")) >= 10);
        // Nothing committed that the page does not show.
        var unused = Directory.GetFiles(Images).Select(Path.GetFileName).Except(shown).ToList();
        Assert.True(unused.Count == 0, $"docs/tutorial/images holds files the page does not show: {string.Join(", ", unused)}");
    }

    [Fact]
    public void Every_included_code_region_exists()
    {
        var includes = CodeInclude().Matches(File.ReadAllText(Page)).ToList();
        Assert.True(includes.Count >= 6, $"the page includes only {includes.Count} code regions");
        var lines = File.ReadAllLines(Program).Select(l => l.Trim()).ToList();
        foreach (var m in includes)
        {
            Assert.Equal("../../examples/tutorial.cs", m.Groups["file"].Value);
            var region = m.Groups["region"].Value;
            var start = lines.IndexOf($"// <{region}>");
            var end = lines.IndexOf($"// </{region}>");
            Assert.True(start >= 0 && end > start + 1, $"examples/tutorial.cs has no non-empty region '{region}' (// <{region}> ... // </{region}>)");
        }
    }

    [Fact]
    public void Png_reader_counts_frames_and_rejects_damage()
    {
        // The checker itself: a committed APNG has its frames; the same bytes with one flipped bit are refused.
        var path = Path.Combine(Images, "transport-1d.png");
        Assert.True(Png.Frames(path) > 1);
        var bytes = File.ReadAllBytes(path);
        bytes[100] ^= 0x10;
        var damaged = Path.Combine(Path.GetTempPath(), "si-tutorial-damaged-" + Guid.NewGuid().ToString("N") + ".png");
        File.WriteAllBytes(damaged, bytes);
        try { Assert.Throws<InvalidDataException>(() => Png.Frames(damaged)); }
        finally { File.Delete(damaged); }
    }

    // Runs the tutorial program with `dotnet run` from the repository root; returns the exit code and its output. The first
    // run compiles the program and the library (a few minutes under load); the quick run itself takes seconds.
    private static (int Code, string Log) RunProgram(IEnumerable<string> args)
    {
        var (code, log, _) = ChildProcess.Run("dotnet", ["run", "-c", "Release", Program, "--", .. args], Repo.Root, TimeSpan.FromMinutes(15));
        return (code, log);
    }

    /// <summary>A strict PNG chunk walker: signature, IHDR first, every chunk's CRC, IEND last; APNG frames from acTL.</summary>
    private static class Png
    {
        private static readonly byte[] Signature = [137, 80, 78, 71, 13, 10, 26, 10];

        /// <summary>The number of frames: acTL's count for an APNG (checked against its fcTL chunks), else 1.</summary>
        public static int Frames(string path)
        {
            var data = File.ReadAllBytes(path);
            if (data.Length < 8 || !data.AsSpan(0, 8).SequenceEqual(Signature)) throw new InvalidDataException($"{path}: not a PNG (signature)");
            var position = 8;
            var first = true;
            int? declared = null;
            var frameControls = 0;
            var sawData = false;
            while (true)
            {
                if (position + 12 > data.Length) throw new InvalidDataException($"{path}: truncated before IEND");
                var length = BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(position));
                if (length > int.MaxValue || position + 12 + (long)length > data.Length) throw new InvalidDataException($"{path}: chunk runs past the end");
                var type = Encoding.ASCII.GetString(data, position + 4, 4);
                var body = data.AsSpan(position + 8, (int)length);
                var crc = BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(position + 8 + (int)length));
                if (Crc(data.AsSpan(position + 4, 4 + (int)length)) != crc) throw new InvalidDataException($"{path}: bad CRC in {type}");
                if (first && type != "IHDR") throw new InvalidDataException($"{path}: first chunk is {type}, not IHDR");
                first = false;
                if (type == "acTL") declared = (int)BinaryPrimitives.ReadUInt32BigEndian(body);
                if (type == "fcTL") frameControls++;
                if (type == "IDAT") sawData = true;
                position += 12 + (int)length;
                if (type == "IEND") break;
            }
            if (!sawData) throw new InvalidDataException($"{path}: no image data");
            if (declared is { } n && n != frameControls) throw new InvalidDataException($"{path}: acTL declares {n} frames, {frameControls} fcTL chunks");
            return declared ?? 1;
        }

        private static uint Crc(ReadOnlySpan<byte> bytes)
        {
            var c = 0xFFFFFFFFu;
            foreach (var b in bytes)
            {
                c ^= b;
                for (var k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }
            return c ^ 0xFFFFFFFFu;
        }
    }
}
