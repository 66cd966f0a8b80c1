using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using SkiaSharp;
using StochasticInterpolants.Runs;

namespace StochasticInterpolants.Tests.Cli;

/// <summary>
/// <c>si report</c> on a checkpoint trained on a table: the table sections (marginals, correlations, a principal-component
/// projection with particle paths, training and validation curves, the NLL against the Gaussian baseline) come in order,
/// without the demo's 1-D teaching figure, the configuration lists every setting once, and a table file changed since training skips the
/// data's parts with a note instead of failing.
/// </summary>
public sealed class TableReportTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-table-report-").FullName;
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private static readonly string[] Titles =
    [
        "Columns, data vs generated", "Correlations", "A 2-D projection: principal components", "Training and validation curves",
        "NLL: model vs Gaussian baseline",
    ];

    // 300 rows of a correlated 4-D Gaussian with a header line (b follows a, d follows c; every column on its own scale).
    private string CorrelatedCsv()
    {
        var random = new Random(7);
        double Normal() => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
        var lines = new List<string> { "a,b,c,d" };
        for (var i = 0; i < 300; i++)
        {
            var (z1, z2, z3, z4) = (Normal(), Normal(), Normal(), Normal());
            lines.Add(string.Create(CultureInfo.InvariantCulture,
                $"{z1:F5},{2 + 0.8 * z1 + 0.6 * z2:F5},{10 * z3 - 5:F5},{0.3 * z3 + 0.1 * z4 + 1:F5}"));
        }
        var path = Path.Combine(_dir, "table.csv");
        File.WriteAllLines(path, lines);
        return path;
    }

    private static string Configuration(string html)
    {
        var start = html.IndexOf("<h2>Configuration</h2><pre>", StringComparison.Ordinal);
        Assert.True(start >= 0, "no configuration block");
        var end = html.IndexOf("</pre>", start, StringComparison.Ordinal);
        return html[start..end];
    }

    private static int Count(string text, string fragment) => Regex.Matches(text, Regex.Escape(fragment)).Count;

    private static void AssertNonTrivialPng(string path, int minWidth)
    {
        Assert.True(File.Exists(path), $"{Path.GetFileName(path)} was not written");
        var bytes = File.ReadAllBytes(path);
        Assert.True(bytes.Length > 5000, $"{Path.GetFileName(path)} has only {bytes.Length} bytes");
        using var bitmap = SKBitmap.Decode(bytes);
        Assert.NotNull(bitmap);
        Assert.True(bitmap.Width >= minWidth && bitmap.Height >= 150, $"{Path.GetFileName(path)} is {bitmap.Width} x {bitmap.Height}");
        // A drawn figure has many colours (curves, points, colour scales); a blank or failed one has a handful.
        var colours = new HashSet<uint>();
        for (var y = 0; y < bitmap.Height; y += 2)
            for (var x = 0; x < bitmap.Width; x += 2) colours.Add((uint)bitmap.GetPixel(x, y));
        Assert.True(colours.Count > 20, $"{Path.GetFileName(path)} has only {colours.Count} colours");
    }

    [Fact]
    public void Table_report_shows_columns_correlations_projection_curves_and_nll_and_survives_a_changed_file()
    {
        var csv = CorrelatedCsv();
        var run = Path.Combine(_dir, "run");
        var (code, _, error) = SiRunner.Run("train", "--target", csv, "--steps", "60", "--width", "32", "--depth", "2", "--batch", "128",
            "--log-every", "20", "--threads", "1", "--progress", "none", "--out", run);
        Assert.True(code == 0, error);
        var evalJson = Path.Combine(run, "eval.json");
        (code, _, error) = SiRunner.Run("eval", "--checkpoint", run, "--target", csv, "--json", evalJson, "--threads", "1", "--progress", "none");
        Assert.True(code == 0, error);

        var report = Path.Combine(_dir, "report");
        (code, _, error) = SiRunner.Run("report", "--checkpoint", run, "--out", report, "--frames", "4", "--threads", "1", "--progress", "none");
        Assert.True(code == 0, error);
        var html = File.ReadAllText(Path.Combine(report, "report.html"));

        // The sections, in order; the report is about the data: the 1-D teaching animation (3 MB of a 4.3 MB page) is left out.
        var positions = Titles.Select(t => html.IndexOf("<h2>" + t + "</h2>", StringComparison.Ordinal)).ToArray();
        for (var i = 0; i < Titles.Length; i++) Assert.True(positions[i] >= 0, $"missing section '{Titles[i]}'");
        for (var i = 1; i < Titles.Length; i++) Assert.True(positions[i] > positions[i - 1], $"'{Titles[i]}' comes before '{Titles[i - 1]}'");
        Assert.DoesNotContain("Target and generated samples", html); // a 4-column table has no 2-D figures
        Assert.DoesNotContain("Eulerian and Lagrangian, in one dimension", html);
        Assert.False(File.Exists(Path.Combine(report, "transport-1d.png")));
        Assert.Contains("Lagrangian", html);
        Assert.Contains("Kept step", html);
        Assert.Contains("stopped early: no", html);

        // The NLL table carries eval.json's model and baseline figures.
        using (var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(evalJson)))
        {
            var r = doc.RootElement;
            string F(string key) => r.GetProperty(key).GetDouble().ToString("F4", CultureInfo.InvariantCulture);
            Assert.Contains($"<th>model NLL</th><td>{F("nll_mean")} &#177; {F("nll_stderr")}</td>", html);
            Assert.Contains($"<th>Gaussian baseline NLL</th><td>{F("baseline_nll_mean")} &#177; {F("baseline_nll_stderr")}</td>", html);
            Assert.Contains($"<th>model - baseline</th><td>{F("nll_minus_baseline")} &#177; {F("nll_minus_baseline_stderr")}</td>", html);
            Assert.Contains($"<th>training rows&#39; NLL</th><td>{F("training_rows_nll_mean")}</td>", html);
            Assert.Contains($"<th>kept step</th><td>{r.GetProperty("kept_step").GetInt32()}</td>", html);
            Assert.Contains("validation rows of table.csv", html);
        }

        AssertNonTrivialPng(Path.Combine(report, "marginals.png"), 400);
        AssertNonTrivialPng(Path.Combine(report, "correlations.png"), 3 * 420);
        AssertNonTrivialPng(Path.Combine(report, "projection.png"), 2 * 460); // data vs generated, and the particle paths
        Assert.True(File.Exists(Path.Combine(report, "loss.png")));
        Assert.Equal(Titles.Length - 1, Regex.Matches(html, "<img alt=").Count); // every section but the NLL table is a figure

        var config = Configuration(html);
        Assert.Equal(1, Count(config, "&quot;steps&quot;"));
        Assert.Equal(1, Count(config, "&quot;width&quot;"));
        Assert.DoesNotContain("OrDefault", config);

        // The table changes after training, eval.json is gone, and the run's config.json is one written before the derived
        // *OrDefault properties were kept out of the JSON: the report skips the data's parts and says why, says how to make
        // eval.json, and lists each setting once.
        File.AppendAllText(csv, "0.5,2.5,-5,1\n");
        File.Delete(evalJson);
        var configPath = Path.Combine(run, "config.json");
        var old = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        old["modelOrDefault"] = old["model"]!.DeepClone();
        old["trainingOrDefault"] = old["training"]!.DeepClone();
        File.WriteAllText(configPath, old.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        var changed = Path.Combine(_dir, "changed");
        (code, _, error) = SiRunner.Run("report", "--checkpoint", run, "--out", changed, "--frames", "4", "--threads", "1", "--progress", "none");
        Assert.True(code == 0, error);
        html = File.ReadAllText(Path.Combine(changed, "report.html"));
        Assert.Contains("Data sections skipped", html);
        Assert.Contains("changed since training", html);
        Assert.Contains("generated samples only", html);
        AssertNonTrivialPng(Path.Combine(changed, "marginals.png"), 200); // generated rows still drawn
        Assert.Contains("<h2>NLL: model vs Gaussian baseline</h2>", html);
        Assert.Contains($"si eval --checkpoint {run} --target {csv} --json {evalJson}", html);
        config = Configuration(html);
        Assert.Equal(1, Count(config, "&quot;steps&quot;"));
        Assert.Equal(1, Count(config, "&quot;model&quot;"));
        Assert.DoesNotContain("OrDefault", config);
    }

    [Fact]
    public void Configuration_text_folds_derived_settings_into_their_base_keys()
    {
        // Configuration: a derived key folds into its base key (its value standing in for a null one) and disappears.
        var shown = TransportReport.ConfigurationText("""{"model":null,"training":{"steps":5},"modelOrDefault":{"width":256},"trainingOrDefault":{"steps":5}}""");
        var node = JsonNode.Parse(shown)!.AsObject();
        Assert.Equal(["model", "training"], node.Select(p => p.Key).ToArray());
        Assert.Equal(256, node["model"]!["width"]!.GetValue<int>());
        Assert.Equal(1, Count(shown, "\"steps\""));
        const string plain = "{\n  \"target\": \"x.csv\"\n}";
        Assert.Same(plain, TransportReport.ConfigurationText(plain));
        Assert.Equal("not json", TransportReport.ConfigurationText("not json"));
    }
}
