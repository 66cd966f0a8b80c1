using System.Text.RegularExpressions;
using StochasticInterpolants.Tests.Bench;

namespace StochasticInterpolants.Tests.Docs;

/// <summary>Every "docs/theory.md §N" (or §N.M) cited in the sources names a section that exists.</summary>
public class TheoryCitationTests
{
    [Fact]
    public void Every_cited_section_of_the_theory_notes_exists()
    {
        var theory = File.ReadAllText(Path.Combine(Repo.Root, "docs", "theory.md"));
        var sections = Regex.Matches(theory, @"^#{2,3} (\d+(?:\.\d+)?)\.? ", RegexOptions.Multiline).Select(m => m.Groups[1].Value).ToHashSet();
        var missing = new List<string>();
        foreach (var file in Directory.EnumerateFiles(Path.Combine(Repo.Root, "src"), "*.cs", SearchOption.AllDirectories))
        {
            if (file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") || file.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}")) continue;
            foreach (Match m in Regex.Matches(File.ReadAllText(file), @"theory\.md,? §(\d+(?:\.\d+)?)"))
                if (!sections.Contains(m.Groups[1].Value)) missing.Add($"{Path.GetRelativePath(Repo.Root, file)}: §{m.Groups[1].Value}");
        }
        Assert.True(sections.Count > 10, "no numbered sections found in docs/theory.md");
        Assert.True(missing.Count == 0, "cited but not in docs/theory.md: " + string.Join("; ", missing));
    }
}
