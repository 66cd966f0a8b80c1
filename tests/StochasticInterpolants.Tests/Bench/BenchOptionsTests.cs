using System.Text.RegularExpressions;
using StochasticInterpolants.Benchmarks;

namespace StochasticInterpolants.Tests.Bench;

/// <summary>Every benchmark command the documentation gives (README.md and docs/, chiefly docs/guides/benchmark.md) runs the mode it says (once `--fuzz` ran the speed comparison).</summary>
public class BenchOptionsTests
{
    private static readonly Dictionary<string, BenchMode> ModeFlags = new()
    {
        ["--throughput"] = BenchMode.Throughput, ["--profile"] = BenchMode.Profile, ["--sde-table"] = BenchMode.SdeTable,
        ["--nll-curve"] = BenchMode.NllCurve, ["--memory"] = BenchMode.Memory, ["--fuzz"] = BenchMode.Fuzz, ["--tables"] = BenchMode.Tables, ["--unet"] = BenchMode.UNet,
        ["--image-curve"] = BenchMode.ImageCurve, ["--image-memory"] = BenchMode.ImageMemory, ["--image-chunks"] = BenchMode.ImageChunks,
        ["--coupling-speed"] = BenchMode.CouplingSpeed, ["--coupling-quality"] = BenchMode.CouplingQuality, ["--ot-solver"] = BenchMode.OtSolver,
        ["--mpi"] = BenchMode.Mpi, ["--flow-map"] = BenchMode.FlowMap, ["--manifolds"] = BenchMode.Manifolds, ["--words"] = BenchMode.Words,
        ["--onnx"] = BenchMode.Onnx,
    };

    private static readonly string BenchmarkGuide = Path.Combine(Repo.Root, "docs", "guides", "benchmark.md");

    private static IEnumerable<string> DocumentationFiles() =>
        new[] { Path.Combine(Repo.Root, "README.md") }.Concat(Directory.EnumerateFiles(Path.Combine(Repo.Root, "docs"), "*.md", SearchOption.AllDirectories));

    private static IEnumerable<string[]> DocumentedCommands(IEnumerable<string> files) => files.SelectMany(f => BenchCommands(File.ReadAllText(f)));

    private static IEnumerable<string[]> BenchCommands(string text)
    {
        foreach (Match m in Regex.Matches(text, @"\./scripts/bench\.sh((?: --?[a-z0-9-]+(?: [0-9]+| [A-Z]+| (?:gmm|checkerboard|table|digits)(?:,(?:gmm|checkerboard|table|digits))*(?![a-z0-9,-])| lsd| psd)?)*)"))
            yield return m.Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries);
    }

    [Fact]
    public void Each_documented_command_parses_to_the_mode_it_names()
    {
        var commands = DocumentedCommands(DocumentationFiles()).ToList();
        Assert.True(commands.Count >= 7, $"found {commands.Count} bench commands in README.md and docs/");
        var guide = DocumentedCommands([BenchmarkGuide]).ToList();
        foreach (var flag in ModeFlags.Keys) // the benchmark guide lists every mode
            Assert.True(guide.Any(c => c.Contains(flag)), $"docs/guides/benchmark.md gives no command with {flag}");
        foreach (var args in commands)
        {
            var expected = args.Select(a => ModeFlags.TryGetValue(a, out var m) ? m : (BenchMode?)null).FirstOrDefault(m => m is not null) ?? BenchMode.Compare;
            var o = BenchOptions.Parse(args);
            Assert.True(o.Mode == expected, $"'{string.Join(' ', args)}' runs {o.Mode}, the documentation says {expected}");
            if (o.Mode == BenchMode.Fuzz) Assert.Equal(int.Parse(args[Array.IndexOf(args, "--fuzz") + 1]), o.FuzzInputs);
            if (args.Contains("--seeds")) Assert.Equal(int.Parse(args[Array.IndexOf(args, "--seeds") + 1]), o.Seeds);
        }
        Assert.Contains(commands, c => c.Contains("--fuzz"));
        Assert.Contains(commands, c => c.Length == 0 || c.All(a => a is "--quick" or "--rounds" || int.TryParse(a, out _)));
    }

    [Theory]
    [InlineData("unknown argument '--fast'", "--fast")]
    [InlineData("give one mode, not both --fuzz and --throughput", "--fuzz", "10", "--throughput")]
    [InlineData("--fuzz needs a whole number >= 1, got 'lots'", "--fuzz", "lots")]
    [InlineData("--rounds needs a value", "--rounds")]
    [InlineData("--checkpoint goes with --sde-table", "--checkpoint", "x")]
    [InlineData("--seeds goes with --tables", "--seeds", "3")]
    [InlineData("--seeds goes with --tables", "--nll-curve", "--seeds", "3")]
    [InlineData("--seeds needs a whole number >= 1, got '0'", "--tables", "--seeds", "0")]
    [InlineData("--seeds needs a value", "--tables", "--seeds")]
    [InlineData("give one mode, not both --tables and --nll-curve", "--tables", "--nll-curve")]
    [InlineData("--preset goes with --unet", "--preset", "small")]
    [InlineData("--preset must be one of tiny, small, medium, got 'huge'", "--unet", "--preset", "huge")]
    [InlineData("give one mode, not both --unet and --profile", "--unet", "--profile")]
    [InlineData("--couplings goes with --coupling-speed or --coupling-quality", "--throughput", "--couplings", "ot")]
    [InlineData("--couplings needs one or more coupling names", "--coupling-speed", "--couplings", " , ")]
    [InlineData("--couplings needs a value", "--coupling-quality", "--couplings")]
    [InlineData("give one mode, not both --coupling-speed and --coupling-quality", "--coupling-speed", "--coupling-quality")]
    public void Bad_command_lines_are_refused_with_the_reason(string fragment, params string[] args) =>
        Assert.Contains(fragment, Assert.Throws<ArgumentException>(() => BenchOptions.Parse(args)).Message);

    [Theory]
    [InlineData(1, false, "--tables")]
    [InlineData(3, false, "--tables", "--seeds", "3")]
    [InlineData(5, true, "--seeds", "5", "--quick", "--tables")]
    [InlineData(1, false, "--tables", "--threads", "2", "--tables")]
    public void Tables_parses_with_its_seeds(int seeds, bool quick, params string[] args)
    {
        var o = BenchOptions.Parse(args);
        Assert.Equal(BenchMode.Tables, o.Mode);
        Assert.Equal(seeds, o.Seeds);
        Assert.Equal(quick, o.Quick);
        Assert.Equal("--tables", BenchOptions.Flag(o.Mode));
        Assert.Equal(1, BenchOptions.Parse(["--throughput"]).Seeds);
    }

    [Fact]
    public void Image_modes_take_their_data_set_and_preset_and_nothing_else_does()
    {
        var curve = BenchOptions.Parse(["--image-curve", "--data", "digits", "--quick"]);
        Assert.Equal((BenchMode.ImageCurve, "digits", true), (curve.Mode, curve.Data, curve.Quick));
        var memory = BenchOptions.Parse(["--image-memory", "--preset", "small", "--data", "digits"]);
        Assert.Equal((BenchMode.ImageMemory, "digits", "small"), (memory.Mode, memory.Data, memory.Preset));
        Assert.Null(BenchOptions.Parse(["--image-memory"]).Preset); // the soak's own default (tiny) applies
        Assert.Contains("--data goes with", Assert.Throws<ArgumentException>(() => BenchOptions.Parse(["--unet", "--data", "digits"])).Message);
        Assert.Contains("--preset goes with", Assert.Throws<ArgumentException>(() => BenchOptions.Parse(["--image-curve", "--preset", "small"])).Message);
    }

    [Theory]
    [InlineData(null, false, null, "--unet")]
    [InlineData("medium", true, 3, "--unet", "--preset", "medium", "--quick", "--rounds", "3")]
    [InlineData("tiny", false, null, "--preset", "tiny", "--unet", "--threads", "2")]
    public void Unet_parses_with_its_preset(string? preset, bool quick, int? rounds, params string[] args)
    {
        var o = BenchOptions.Parse(args);
        Assert.Equal(BenchMode.UNet, o.Mode);
        Assert.Equal(preset, o.Preset);
        Assert.Equal(quick, o.Quick);
        Assert.Equal(rounds, o.Rounds);
        Assert.Equal("--unet", BenchOptions.Flag(o.Mode));
    }

    [Theory]
    [InlineData(BenchMode.CouplingSpeed, null, "--coupling-speed")]
    [InlineData(BenchMode.CouplingQuality, "independent", "--coupling-quality", "--couplings", "independent", "--quick")]
    [InlineData(BenchMode.CouplingSpeed, "independent,ot,sinkhorn", "--couplings", "Independent, ot,,sinkhorn,ot", "--coupling-speed")]
    public void Coupling_modes_parse_with_their_coupling_list(BenchMode mode, string? couplings, params string[] args)
    {
        var o = BenchOptions.Parse(args);
        Assert.Equal(mode, o.Mode);
        Assert.Equal(couplings, o.Couplings is null ? null : string.Join(',', o.Couplings));
        Assert.Equal(args.First(a => a.StartsWith("--coupling-", StringComparison.Ordinal)), BenchOptions.Flag(o.Mode));
        Assert.Equal(["independent", "ot", "sinkhorn"], BenchOptions.DefaultCouplings);
        Assert.Contains("--coupling-speed", BenchOptions.Usage);
        Assert.Contains("--coupling-quality", BenchOptions.Usage);
    }

    [Fact]
    public void Fuzz_runs_the_fuzzer_and_nothing_else()
    {
        var output = new StringWriter();
        var previous = Console.Out;
        Console.SetOut(output);
        int code;
        try { code = BenchCommand.Run(["--fuzz", "40", "--threads", "1"]); }
        finally { Console.SetOut(previous); }
        var text = output.ToString();
        Assert.Equal(0, code);
        Assert.Contains("mode: --fuzz", text);
        Assert.Contains("40 inputs in", text);
        Assert.Contains("no crash", text);
        Assert.DoesNotContain("steps/s", text); // the speed comparison did not run
        Assert.Equal(2, BenchCommand.Run(["--bogus"]));
    }
}

/// <summary>The repository's root, found from the test assembly's folder (the folder holding StochasticInterpolants.slnx).</summary>
internal static class Repo
{
    public static string Root { get; } = Find();

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "StochasticInterpolants.slnx"))) return dir.FullName;
        throw new InvalidOperationException($"no StochasticInterpolants.slnx above {AppContext.BaseDirectory}");
    }
}
