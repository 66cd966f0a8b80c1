using System.Text.Json;
using StochasticInterpolants.Files;
using StochasticInterpolants.Runs;

namespace StochasticInterpolants.Tests.Cli;

/// <summary>Words through the CLI (docs/theory.md §16): train, sample, eval and report on the discrete path; a length-conditional model with guidance; refusals.</summary>
public sealed class SequenceCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-words-cli-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private static (int Code, string Out, string Err) Run(params string[] args) => SiRunner.Run(args);

    private static readonly string[] Tiny = ["--width", "64", "--depth", "2", "--batch", "128", "--threads", "1", "--progress", "none"];

    private string Train(string name, params string[] extra)
    {
        var run = Path.Combine(_dir, name);
        var (code, output, error) = Run(["train", "--target", "words", "--steps", "40", "--seed", "1", .. Tiny, "--out", run, .. extra]);
        Assert.True(code == 0, error);
        Assert.Contains("trained 40 steps", output);
        return run;
    }

    [Fact]
    public void A_word_model_trains_samples_evaluates_and_reports()
    {
        var run = Train("words");
        var manifest = File.ReadAllText(Path.Combine(run, "checkpoint.json"));
        Assert.Contains("\"family\": \"mixture-linear\"", manifest);
        Assert.Contains("\"sourceKind\": \"masked\"", manifest);
        var txt = Path.Combine(_dir, "words.txt");
        var (code, output, error) = Run("sample", "--checkpoint", run, "--count", "50", "--steps", "16", "--threads", "1", "--progress", "none", "--out", txt);
        Assert.True(code == 0, error);
        Assert.Contains("wrote 50 sequences", output);
        var lines = File.ReadAllLines(txt);
        Assert.Equal(50, lines.Length);
        Assert.All(lines, l => Assert.True(l.Length is > 0 and <= 8 && l.All(c => c is >= 'a' and <= 'z') || l.StartsWith('<'), $"'{l}' is neither a word of at most 8 letters nor a marked malformed row"));
        // The same seed gives the same words.
        var again = Path.Combine(_dir, "again.txt");
        (code, _, error) = Run("sample", "--checkpoint", run, "--count", "50", "--steps", "16", "--threads", "1", "--progress", "none", "--out", again);
        Assert.True(code == 0, error);
        Assert.Equal(lines, File.ReadAllLines(again));

        var json = Path.Combine(_dir, "eval.json");
        (code, output, error) = Run("eval", "--checkpoint", run, "--count", "100", "--generated", "100", "--steps", "16", "--threads", "1", "--progress", "none", "--json", json);
        Assert.True(code == 0, error);
        Assert.Contains("bits per character", output);
        using (var doc = JsonDocument.Parse(File.ReadAllText(json)))
        {
            var model = doc.RootElement.GetProperty("bound_bits_per_character").GetDouble();
            var ngram = doc.RootElement.GetProperty("ngram_bits_per_character").GetDouble();
            // 40 steps learn letter frequencies at best: between the 5-gram (about 2.7-2.8 bits) and far above log2(27) + slack.
            Assert.True(model > ngram && model < 8, $"bound {model} bits/char against the 5-gram's {ngram}");
            Assert.InRange(ngram, 2.3, 3.3);
            Assert.Equal(100, doc.RootElement.GetProperty("held_out").GetInt32());
        }
        var report = Path.Combine(_dir, "report");
        (code, _, error) = Run("report", "--checkpoint", run, "--out", report, "--threads", "1", "--progress", "none");
        Assert.True(code == 0, error);
        var html = File.ReadAllText(Path.Combine(report, "report.html"));
        Assert.Contains("The chain, step by step", html);
        Assert.Contains("Generated words", html);
    }

    [Fact]
    public void A_length_conditional_model_records_its_classes_and_samples_one_class_with_guidance()
    {
        var run = Train("by-length", "--condition", "length");
        var manifest = File.ReadAllText(Path.Combine(run, "checkpoint.json"));
        Assert.Contains("\"6 letters\"", manifest);
        Assert.Contains("\"conditionDropout\": 0.1", manifest);
        var txt = Path.Combine(_dir, "six.txt");
        var (code, output, error) = Run("sample", "--checkpoint", run, "--class", "6 letters", "--guidance", "2", "--count", "20", "--steps", "8", "--threads", "1",
            "--progress", "none", "--out", txt);
        Assert.True(code == 0, error);
        Assert.Contains("guidance w = 2", output);
        Assert.Equal(20, File.ReadAllLines(txt).Length);
        var json = Path.Combine(_dir, "eval-c.json");
        (code, _, error) = Run("eval", "--checkpoint", run, "--count", "50", "--generated", "50", "--steps", "8", "--threads", "1", "--progress", "none", "--json", json);
        Assert.True(code == 0, error);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal(JsonValueKind.Number, doc.RootElement.GetProperty("class_accuracy").ValueKind);
    }

    [Theory]
    [InlineData("--target", "words", "--coupling", "ot")]
    [InlineData("--target", "words", "--gamma", "sqrt")]
    [InlineData("--target", "words", "--learn", "velocity,score")]
    [InlineData("--target", "words", "--interpolant", "trigonometric")]
    [InlineData("--target", "words", "--condition", "class")]
    [InlineData("--target", "words", "--base", "gaussian:3")]
    [InlineData("--target", "checkerboard", "--interpolant", "mixture")]
    public void Choices_that_cannot_work_on_tokens_are_refused_with_exit_2_before_any_work(params string[] args) => SiRunner.AssertTrainRefused(_dir, args);

    [Fact]
    public void Ode_options_and_image_outputs_are_refused_on_a_word_checkpoint()
    {
        var run = Train("refusals");
        foreach (var (extra, fragment) in new[] { (new[] { "--solver", "rk4" }, "--solver"), (new[] { "--sampler", "em" }, "--sampler") })
        {
            var (code, _, error) = Run(["sample", "--checkpoint", run, "--count", "5", "--out", Path.Combine(_dir, "x.txt"), "--progress", "none", .. extra]);
            Assert.Equal(2, code);
            Assert.Contains(fragment, error);
        }
        var (c, _, e) = Run("sample", "--checkpoint", run, "--count", "5", "--out", Path.Combine(_dir, "x.png"), "--progress", "none");
        Assert.Equal(2, c);
        Assert.Contains("FILE.txt", e);
        Assert.False(File.Exists(Path.Combine(_dir, "x.txt")));
    }
}
