using StochasticInterpolants.Checkpoints;

namespace StochasticInterpolants.Tests.Cli;

/// <summary>
/// Every kind of bad input the reliability issue lists, through the command line: one line starting "si: error: " that
/// names the file, row or option at fault, a non-zero exit code, and nothing already written lost.
/// </summary>
public sealed class BadInputTests : IClassFixture<BadInputTests.Fixture>
{
    /// <summary>One small trained checkpoint (2-D) and a set of malformed files, shared by the cases.</summary>
    public sealed class Fixture : IDisposable
    {
        public string Dir { get; } = Directory.CreateTempSubdirectory("si-bad-").FullName;
        public string Run => Path.Combine(Dir, "run");
        public string Wide => Path.Combine(Dir, "wide");

        public Fixture()
        {
            foreach (var (name, text) in new[]
            {
                ("ragged.csv", "1,2\n3\n"), ("text.csv", "x,y\n1,2\n3,abc\n"), ("nan.csv", "1,2\nNaN,4\n"), ("inf.csv", "1,2\n3,inf\n"),
                ("huge.csv", "1,2\n3,1e999\n"), ("empty.csv", ""), ("header.csv", "a,b\n"), ("one.csv", "1,2\n"), ("three.csv", "1,2,3\n4,5,6\n7,8,9\n"),
                ("good.csv", "1,2\n3,4\n5,6\n"),
            })
                File.WriteAllText(Path.Combine(Dir, name), text);
            Directory.CreateDirectory(Path.Combine(Dir, "folder.csv"));
            File.WriteAllText(Path.Combine(Dir, "existing.csv"), "keep me\n");
            File.WriteAllText(Path.Combine(Dir, "existing.json"), "keep me\n");
            foreach (var (folder, width) in new[] { (Run, "16"), (Wide, "24") })
            {
                var (code, _, error) = SiRunner.Run("train", "--target", "moons", "--steps", "5", "--batch", "16", "--width", width, "--depth", "1",
                    "--threads", "1", "--progress", "none", "--out", folder);
                Assert.True(code == 0, error);
            }
        }

        public void Dispose() => Directory.Delete(Dir, true);
    }

    private readonly Fixture _f;
    public BadInputTests(Fixture f) => _f = f;

    private string[] Expand(string[] args) => args.Select(a => a
        .Replace("RUN", _f.Run).Replace("WIDE", _f.Wide).Replace("DIR/", _f.Dir + "/")).ToArray();

    [Theory]
    // Data files: the file and the line or field at fault.
    [InlineData(1, "ragged.csv: line 2 has 1 fields, expected 2", "train", "--target", "DIR/ragged.csv", "--out", "DIR/o")]
    [InlineData(1, "text.csv: line 3, field 2 is not a number ('abc')", "train", "--target", "DIR/text.csv", "--out", "DIR/o")]
    [InlineData(1, "nan.csv: line 2, field 1 is NaN", "train", "--target", "DIR/nan.csv", "--out", "DIR/o")]
    [InlineData(1, "inf.csv: line 2, field 2 is infinite", "train", "--target", "DIR/inf.csv", "--out", "DIR/o")]
    [InlineData(1, "huge.csv: line 2, field 2 is infinite", "eval", "--checkpoint", "RUN", "--target", "DIR/huge.csv")]
    [InlineData(1, "empty.csv: no data rows", "train", "--target", "DIR/empty.csv", "--out", "DIR/o")]
    [InlineData(1, "header.csv: no data rows", "train", "--base", "DIR/header.csv", "--target", "DIR/good.csv", "--out", "DIR/o")]
    [InlineData(1, "one.csv' has only one data row", "train", "--target", "DIR/one.csv", "--out", "DIR/o")]
    [InlineData(1, "one.csv' has only one data row", "eval", "--checkpoint", "RUN", "--target", "DIR/one.csv")]
    [InlineData(1, "target 'DIR/three.csv' has dimension 3, the checkpoint 2", "eval", "--checkpoint", "RUN", "--target", "DIR/three.csv")]
    [InlineData(1, "base 'DIR/three.csv' has dimension 3 but target 'DIR/good.csv' has dimension 2", "train", "--base", "DIR/three.csv", "--target", "DIR/good.csv", "--out", "DIR/o")]
    [InlineData(1, "file 'DIR/missing.csv' does not exist", "train", "--target", "DIR/missing.csv", "--out", "DIR/o")]
    [InlineData(1, "'DIR/folder.csv' is a folder, not a CSV file", "train", "--target", "DIR/folder.csv", "--out", "DIR/o")]
    [InlineData(1, "config file 'DIR/folder.csv' is a folder", "train", "--config", "DIR/folder.csv", "--out", "DIR/o")]
    // Checkpoints.
    [InlineData(1, "checkpoint folder 'DIR/nothing' does not exist", "sample", "--checkpoint", "DIR/nothing", "--out", "DIR/s.csv")]
    [InlineData(1, "holds no checkpoint.json", "sample", "--checkpoint", "DIR/", "--out", "DIR/s.csv")]
    [InlineData(1, "holds no checkpoint.json", "report", "--checkpoint", "DIR/", "--out", "DIR/rep")]
    // Numbers and names.
    [InlineData(2, "--steps: training steps must be >= 1, got 0", "train", "--steps", "0", "--out", "DIR/o")]
    [InlineData(2, "--steps: training steps must be >= 1, got -3", "train", "--steps", "-3", "--out", "DIR/o")]
    [InlineData(2, "--batch: batch size must be in 1..10000000, got 0", "train", "--batch", "0", "--out", "DIR/o")]
    [InlineData(2, "--checkpoint-every: snapshot interval must be >= 1, got 0", "train", "--checkpoint-every", "0", "--out", "DIR/o")]
    [InlineData(2, "--ema: moving-average decay must be in [0, 1), got 1", "train", "--ema", "1", "--out", "DIR/o")]
    [InlineData(2, "--interpolant: unknown interpolant 'wavy'", "train", "--interpolant", "wavy", "--out", "DIR/o")]
    [InlineData(2, "--gamma-scale: gamma scale must be a positive finite number, got -1", "train", "--interpolant", "mirror", "--gamma-scale", "-1", "--out", "DIR/o")]
    [InlineData(2, "--gamma-scale: gamma scale must be a positive finite number, got 0", "train", "--interpolant", "encoder-decoder", "--gamma-scale", "0", "--out", "DIR/o")]
    [InlineData(2, "--coupling: unknown coupling 'nearest'", "train", "--coupling", "nearest", "--out", "DIR/o")]
    [InlineData(2, "--coupling: the 'ot' coupling pairs x0 with x1, but the mirror interpolant has x0 = x1", "train", "--coupling", "ot", "--interpolant", "mirror", "--out", "DIR/o")]
    [InlineData(2, "--coupling: the 'ot' coupling pairs x0 with x1, but interpolant 'one-sided-linear' is one-sided", "train", "--coupling", "ot", "--interpolant", "one-sided-linear", "--out", "DIR/o")]
    [InlineData(2, "--ot-block: the OT block size must be 0 (the whole batch) or a number of rows >= 1, got -4", "train", "--coupling", "ot", "--ot-block", "-4", "--out", "DIR/o")]
    [InlineData(2, "--width: hidden width must be in 1..65536, got 0", "train", "--width", "0", "--out", "DIR/o")]
    [InlineData(2, "--count must be >= 1, got 0", "sample", "--checkpoint", "RUN", "--count", "0", "--out", "DIR/s.csv")]
    [InlineData(2, "--steps: solver steps must be in 1..1000000, got 0", "sample", "--checkpoint", "RUN", "--steps", "0", "--out", "DIR/s.csv")]
    [InlineData(2, "--eps must be a finite number >= 0, got -0.5", "sample", "--checkpoint", "RUN", "--sampler", "em", "--eps", "-0.5", "--out", "DIR/s.csv")]
    [InlineData(2, "--eps must be a finite number >= 0, got NaN", "sample", "--checkpoint", "RUN", "--sampler", "em", "--eps", "NaN", "--out", "DIR/s.csv")]
    [InlineData(2, "--count must be >= 1, got -1", "demo", "--count", "-1", "--out", "DIR/d")]
    [InlineData(2, "Cannot parse argument 'lots'", "train", "--batch", "lots", "--out", "DIR/o")]
    // Outputs: unwritable, or already there.
    [InlineData(1, "cannot write to output folder 'DIR/good.csv/sub'", "train", "--out", "DIR/good.csv/sub")]
    [InlineData(1, "cannot write to output folder '/proc/si-test'", "train", "--out", "/proc/si-test")]
    [InlineData(1, "--out 'DIR/folder.csv' is a folder, not a file", "sample", "--checkpoint", "RUN", "--out", "DIR/folder.csv")]
    [InlineData(1, "--out 'DIR/existing.csv' already exists (use --force to overwrite it)", "sample", "--checkpoint", "RUN", "--out", "DIR/existing.csv")]
    [InlineData(1, "--json 'DIR/existing.json' already exists (use --force", "eval", "--checkpoint", "RUN", "--target", "moons", "--json", "DIR/existing.json")]
    [InlineData(1, "output folder 'RUN' already holds a training run (use --force to replace it", "train", "--out", "RUN")]
    [InlineData(1, "output folder 'RUN' already holds a training run", "demo", "--out", "RUN")]
    public void Each_bad_input_gets_one_clear_line_and_a_non_zero_exit(int expected, string fragment, params string[] args)
    {
        var before = Snapshot();
        var (code, _, error) = SiRunner.Run([.. Expand(args), "--progress", "none"]);
        Assert.True(expected == code, $"exit {code}, expected {expected}: {error}");
        Assert.StartsWith("si: error: ", error);
        Assert.Single(error.TrimEnd().Split('\n'));
        Assert.Contains(Expand([fragment])[0], error);
        // Nothing that existed was changed.
        foreach (var (path, bytes) in before) Assert.True(File.Exists(path) && File.ReadAllBytes(path).AsSpan().SequenceEqual(bytes), $"{path} was changed");
    }

    private Dictionary<string, byte[]> Snapshot() =>
        Directory.EnumerateFiles(_f.Dir, "*", SearchOption.AllDirectories).ToDictionary(p => p, File.ReadAllBytes);

    [Fact]
    public void Damaged_or_mismatched_checkpoints_are_refused_by_name()
    {
        var copy = Path.Combine(_f.Dir, "damaged");
        Directory.CreateDirectory(copy);
        foreach (var f in Directory.GetFiles(_f.Run)) File.Copy(f, Path.Combine(copy, Path.GetFileName(f)), true);
        var ema = Path.Combine(copy, "weights.velocity.ema.safetensors");
        var good = File.ReadAllBytes(ema);

        string Sample() => SiRunner.Run("sample", "--checkpoint", copy, "--out", Path.Combine(_f.Dir, "never.csv"), "--progress", "none").Err;
        File.WriteAllBytes(ema, good[..(good.Length / 2)]);
        Assert.Matches("si: error: .*weights.velocity.ema.safetensors.* (truncated|corrupt)", Sample());
        var flipped = good.ToArray(); flipped[^3] ^= 0x40;
        File.WriteAllBytes(ema, flipped);
        Assert.Contains("checksum mismatch", Sample());
        File.Copy(Path.Combine(_f.Wide, "weights.velocity.ema.safetensors"), ema, true); // weights of a wider model
        Assert.Contains("do not fit the model", Sample());
        File.WriteAllText(Path.Combine(copy, Checkpoint.ManifestFileName), "{ \"format\": ");
        Assert.Contains("checkpoint.json' is corrupt", Sample());
        Assert.False(File.Exists(Path.Combine(_f.Dir, "never.csv")));
    }

    [Fact]
    public void Force_replaces_what_is_there_and_nothing_else()
    {
        var existing = Path.Combine(_f.Dir, "replace.csv");
        File.WriteAllText(existing, "old\n");
        var (code, _, error) = SiRunner.Run("sample", "--checkpoint", _f.Run, "--count", "7", "--solver", "euler", "--steps", "2", "--out", existing, "--force", "--progress", "none");
        Assert.True(code == 0, error);
        Assert.Equal(7, File.ReadAllLines(existing).Length);

        var copy = Path.Combine(_f.Dir, "retrain");
        Assert.Equal(0, SiRunner.Run("train", "--target", "moons", "--steps", "3", "--batch", "8", "--width", "8", "--depth", "1", "--threads", "1", "--progress", "none", "--out", copy).Code);
        (code, _, error) = SiRunner.Run("train", "--target", "moons", "--steps", "4", "--batch", "8", "--width", "8", "--depth", "1", "--threads", "1", "--progress", "none", "--out", copy, "--force");
        Assert.True(code == 0, error);
        Assert.Equal(4, Checkpoint.ReadManifest(copy).StepsCompleted);
    }
}
