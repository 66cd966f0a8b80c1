using System.Text.RegularExpressions;
using StochasticInterpolants.Tests.Bench;

namespace StochasticInterpolants.Tests.Docs;

/// <summary>
/// No C# in the documentation can rot: every C# block of README.md and docs/ is, line for line, a marked region of one
/// of the programs in examples/ (which the example tests compile and run), and every region the site includes by
/// reference exists. A block that is not in an example fails here with the page and the line it starts on.
/// </summary>
[Trait("Category", "Docs")]
public class CodeBlockTests
{
    private static readonly Regex Fence = new(@"^(\s*)```(csharp|cs|c#)\s*$", RegexOptions.IgnoreCase);
    private static readonly Regex Include = new(@"\[!code-(?:csharp|cs)\[[^\]]*\]\(([^)#]+)(?:#([^)]+))?\)\]", RegexOptions.IgnoreCase);
    private static readonly Regex RegionStart = new(@"^\s*// <([A-Za-z0-9_-]+)>\s*$");

    /// <summary>The Markdown sources of the README and the site (generated API pages and installed tools excluded).</summary>
    public static IEnumerable<string> Pages()
    {
        yield return Path.Combine(Repo.Root, "README.md");
        foreach (var f in Directory.EnumerateFiles(Path.Combine(Repo.Root, "docs"), "*.md", SearchOption.AllDirectories))
        {
            var rel = Path.GetRelativePath(Path.Combine(Repo.Root, "docs"), f).Replace('\\', '/');
            if (!rel.StartsWith("site/node_modules/") && !(rel.StartsWith("api/") && rel != "api/index.md")) yield return f;
        }
    }

    /// <summary>The regions of every example: name -> lines, with their common indentation removed.</summary>
    public static Dictionary<(string File, string Region), string[]> Regions()
    {
        var regions = new Dictionary<(string, string), string[]>();
        foreach (var file in Directory.EnumerateFiles(Path.Combine(Repo.Root, "examples"), "*.cs"))
        {
            var lines = File.ReadAllLines(file);
            for (var i = 0; i < lines.Length; i++)
            {
                var m = RegionStart.Match(lines[i]);
                if (!m.Success) continue;
                var name = m.Groups[1].Value;
                var end = Array.FindIndex(lines, i + 1, l => l.Trim() == $"// </{name}>");
                Assert.True(end > i, $"{Path.GetFileName(file)}:{i + 1}: region <{name}> is never closed");
                regions[(Path.GetFullPath(file), name)] = Dedent(lines[(i + 1)..end]);
            }
        }
        return regions;
    }

    [Fact]
    public void Every_csharp_block_in_the_docs_is_a_region_of_an_example()
    {
        var regions = Regions();
        Assert.NotEmpty(regions);
        var blocks = 0;
        var strays = new List<string>();
        foreach (var page in Pages())
        {
            var lines = File.ReadAllLines(page);
            for (var i = 0; i < lines.Length; i++)
            {
                if (!Fence.IsMatch(lines[i])) continue;
                var end = Array.FindIndex(lines, i + 1, l => l.Trim() == "```");
                Assert.True(end > i, $"{Path.GetRelativePath(Repo.Root, page)}:{i + 1}: a C# block is never closed");
                var block = Dedent(lines[(i + 1)..end]);
                blocks++;
                if (!regions.Values.Any(r => r.SequenceEqual(block)))
                    strays.Add($"{Path.GetRelativePath(Repo.Root, page)}:{i + 1} ({block.Length} lines, first: '{block.FirstOrDefault()}')");
                i = end;
            }
        }
        Assert.True(blocks > 0, "no C# block found in README.md or docs/: the README's library example should be one");
        Assert.True(strays.Count == 0,
            "C# blocks that are not a region of any examples/*.cs (mark the code in an example with // <name> ... // </name>, " +
            "or include it with [!code-csharp[](../../examples/FILE.cs#name)]):\n  " + string.Join("\n  ", strays));
    }

    [Fact]
    public void Every_included_example_region_exists()
    {
        var regions = Regions();
        var includes = 0;
        var broken = new List<string>();
        foreach (var page in Pages())
        {
            foreach (Match m in Include.Matches(File.ReadAllText(page)))
            {
                includes++;
                var file = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(page)!, m.Groups[1].Value));
                var region = m.Groups[2].Success ? m.Groups[2].Value : null;
                if (!File.Exists(file)) broken.Add($"{Path.GetRelativePath(Repo.Root, page)}: {m.Value}: no file {file}");
                else if (!Path.GetRelativePath(Repo.Root, file).StartsWith("examples")) broken.Add($"{Path.GetRelativePath(Repo.Root, page)}: {m.Value}: not an example");
                else if (region is not null && !regions.ContainsKey((file, region))) broken.Add($"{Path.GetRelativePath(Repo.Root, page)}: {m.Value}: no region <{region}>");
            }
        }
        Assert.True(includes > 0, "the site includes no example code");
        Assert.True(broken.Count == 0, string.Join("\n", broken));
    }

    private static string[] Dedent(string[] lines)
    {
        var trimmed = lines.Select(l => l.TrimEnd()).ToArray();
        var indent = trimmed.Where(l => l.Length > 0).Select(l => l.Length - l.TrimStart().Length).DefaultIfEmpty(0).Min();
        return trimmed.Select(l => l.Length >= indent ? l[indent..] : l).ToArray();
    }
}
