using System.Diagnostics;
using System.Globalization;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Data;
using StochasticInterpolants.Likelihood;
using StochasticInterpolants.Runs;
using StochasticInterpolants.Sampling;
using StochasticInterpolants.Training;

namespace StochasticInterpolants.Benchmarks;

/// <summary>
/// --tables: scikit-learn's real tables (scripts/datasets.sh sklearn), each split 80/20 into training and test rows with a
/// fixed seed, trained with the default settings (only the column options a user would give: seed 0.., all threads), and
/// its test rows scored in the data's units beside the full-covariance Gaussian fitted to the training rows (RK4 100
/// steps, exact divergence). The question it answers: does the default flow beat a Gaussian on real data?
/// </summary>
internal static class TableBenchmark
{
    /// <summary>The environment variable scripts/bench.sh sets to the folder holding the tables.</summary>
    public const string FolderVariable = "SI_BENCH_TABLES";

    private const double TestFraction = 0.2;
    private const int Rk4Steps = 100;

    /// <summary>One data set: a file of the folder and how `si train` would be told to read it.</summary>
    private sealed record DataSet(string Name, string File, string? Columns = null, string? LabelColumn = null);

    private static readonly DataSet[] DataSets =
    [
        new("breast_cancer", "breast_cancer.csv", Columns: "drop:last"),
        new("wine", "wine_data.csv", Columns: "drop:last"),
        new("iris", "iris.csv", Columns: "drop:last"),
        new("diabetes", "diabetes.csv"),
        new("iris | class", "iris.csv", LabelColumn: "last"),
    ];

    /// <summary>The figures of one data set and seed.</summary>
    private sealed record Figures(int TrainRows, int TestRows, string Columns, int KeptStep, int Steps, double Seconds,
        double Nll, double NllSe, double Gaussian, double GaussianSe, double Difference, double DifferenceSe)
    {
        public bool Beats => Difference + 2 * DifferenceSe < 0;
    }

    public static int Run(int seeds, bool quick)
    {
        string folder;
        try { folder = Folder(); }
        catch (IOException e) { Console.WriteLine($"tables: {e.Message}"); return 1; }
        var training = new TrainingOptions();
        if (quick) training = training with { Steps = 400 };
        Console.WriteLine($"tables from {folder}: {1 - TestFraction:P0} train / {TestFraction:P0} test rows (split seed{(seeds == 1 ? " 0" : $"s 0..{seeds - 1}")}), "
            + $"trained with the defaults{(quick ? $" except {training.Steps} steps (quick)" : "")} (training seed = split seed; 10 % of the training rows validate, "
            + $"patience 10); test NLL in nats per row in the data's units, RK4 {Rk4Steps} steps, exact divergence; Gaussian: full covariance fitted to the training rows; "
            + "model-Gauss ± its paired s.e.; beats: model-Gauss + 2 s.e. < 0"
            + (seeds == 1 ? "" : $"; figures are means over {seeds} seeds, beats counts the seeds that do"));
        var header = string.Create(CultureInfo.InvariantCulture,
            $"{"data set",-14} {"train/test",10} {"cols",7} {"kept/run",10} {"train s",8} {"model NLL ± se",17} {"Gauss NLL ± se",17} {"model-Gauss ± se",17} {"beats",9}");
        Console.WriteLine(seeds == 1 ? header : header + "  model-Gauss per seed");
        var work = Directory.CreateTempSubdirectory("si-bench-tables-").FullName;
        var failed = 0;
        var notes = new List<string>();
        var watch = Stopwatch.StartNew();
        try
        {
            foreach (var set in DataSets)
            {
                var runs = new List<Figures>();
                try
                {
                    for (var seed = 0; seed < seeds; seed++)
                    {
                        var (figures, warnings) = RunOne(set, Path.Combine(folder, set.File), Path.Combine(work, $"{Slug(set.Name)}-{seed}"), seed, training);
                        runs.Add(figures);
                        if (seed == 0) notes.AddRange(warnings.Select(w => $"  {set.Name}: {w}"));
                    }
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    failed++;
                    Console.WriteLine($"{set.Name,-14} failed{(seeds == 1 ? "" : $" (seed {runs.Count})")}: {OneLine(e)}");
                    continue;
                }
                Console.WriteLine(Row(set.Name, runs));
            }
        }
        finally
        {
            try { Directory.Delete(work, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
        if (notes.Count > 0)
        {
            Console.WriteLine("training warnings (seed 0):");
            foreach (var n in notes.Distinct()) Console.WriteLine(n);
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{DataSets.Length - failed} of {DataSets.Length} data sets in {watch.Elapsed.TotalSeconds:F0} s{(failed > 0 ? $"; {failed} failed" : "")}"));
        return failed > 0 ? 1 : 0;
    }

    // The tables' folder: from scripts/bench.sh, else the cache scripts/datasets.sh fills.
    internal static string Folder()
    {
        var folder = Environment.GetEnvironmentVariable(FolderVariable);
        if (string.IsNullOrWhiteSpace(folder))
        {
            var cache = Environment.GetEnvironmentVariable("SI_DATA") is { Length: > 0 } data ? data
                : Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg ? xdg
                    : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "stochastic-interpolants", "datasets");
            folder = Path.Combine(cache, "sklearn");
        }
        var missing = DataSets.Select(s => s.File).Distinct().Where(f => !File.Exists(Path.Combine(folder, f))).ToList();
        if (missing.Count > 0)
            throw new IOException($"{string.Join(", ", missing)} missing from '{folder}': run scripts/bench.sh --tables, or scripts/datasets.sh sklearn first (or set {FolderVariable})");
        return folder;
    }

    private static (Figures Figures, IReadOnlyList<string> Warnings) RunOne(DataSet set, string source, string folder, int seed, TrainingOptions training)
    {
        Directory.CreateDirectory(folder);
        var (trainPath, testPath, trainRows, testRows) = Split(source, folder, seed);
        var config = new TrainingRunConfig(Target: trainPath, Columns: set.Columns, LabelColumn: set.LabelColumn, Training: training with { Seed = seed });
        var watch = Stopwatch.StartNew();
        var result = TrainingRun.Execute(config, Path.Combine(folder, "run"));
        var seconds = watch.Elapsed.TotalSeconds;
        using var checkpoint = Checkpoint.Load(result.OutputFolder);
        var report = Evaluator.EvaluateTable(checkpoint, testPath,
            new EvaluationOptions(Solver: new Rk4Solver(Rk4Steps), Likelihood: new LikelihoodOptions(DivergenceEstimator.Exact), Seed: seed));
        var manifest = result.Manifest;
        var table = manifest.Table ?? throw new InvalidOperationException("the checkpoint records no table");
        var columns = table.ClassNames is { } classes ? $"{table.Columns.Count}+{classes.Count}c" : $"{table.Columns.Count}";
        if (report.HeldOut != testRows) throw new InvalidOperationException($"{report.HeldOut} of the {testRows} test rows were scored");
        var figures = new Figures(trainRows, testRows, columns, manifest.Selection?.KeptStep ?? manifest.StepsCompleted, manifest.StepsCompleted, seconds,
            report.NllMean, report.NllStdErr, report.BaselineNll!.Value, report.BaselineNllStdErr!.Value,
            report.NllMinusBaseline!.Value, report.NllMinusBaselineStdErr!.Value);
        return (figures, result.Warnings);
    }

    /// <summary>
    /// Writes the data rows of <paramref name="source"/> (leading lines holding anything but numbers, such as sklearn's
    /// "150,4,setosa,..." metadata line, left out) into train.csv and test.csv, split by <see cref="RowSplit.Random"/> with <paramref name="seed"/>,
    /// each line as it was and neither with a header, so both read alike with skip-rows 0.
    /// </summary>
    internal static (string Train, string Test, int TrainRows, int TestRows) Split(string source, string folder, int seed)
    {
        var lines = File.ReadAllLines(source).Select(l => l.Trim()).Where(l => l.Length > 0).ToList();
        var skipped = 0;
        while (skipped < lines.Count && !AllNumbers(lines[skipped])) skipped++;
        var data = lines.Skip(skipped).ToArray();
        if (skipped > 0 && Fields(lines[0]) is [var first, ..] && int.TryParse(first, NumberStyles.Integer, CultureInfo.InvariantCulture, out var declared) && declared != data.Length)
            throw new InvalidDataException($"{Path.GetFileName(source)}: its first line announces {declared} rows, it holds {data.Length}");
        if (data.Length < 10) throw new InvalidDataException($"{Path.GetFileName(source)}: only {data.Length} data rows");
        // The library's seeded split (the one si train uses for validation rows), here for the test rows.
        var (trainRows, testRows) = RowSplit.Random(data.Length, TestFraction, seed);
        var test = testRows.Select(i => data[i]).ToArray();
        var train = trainRows.Select(i => data[i]).ToArray();
        var (trainPath, testPath) = (Path.Combine(folder, "train.csv"), Path.Combine(folder, "test.csv"));
        File.WriteAllLines(trainPath, train);
        File.WriteAllLines(testPath, test);
        return (trainPath, testPath, train.Length, test.Length);
    }

    private static string[] Fields(string line) => line.Contains(',')
        ? line.Split(',', StringSplitOptions.TrimEntries)
        : line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);

    private static bool AllNumbers(string line) =>
        Fields(line).All(f => double.TryParse(f, NumberStyles.Float, CultureInfo.InvariantCulture, out _));

    private static string Row(string name, IReadOnlyList<Figures> runs)
    {
        double Mean(Func<Figures, double> f) => runs.Average(f);
        var first = runs[0];
        var beats = runs.Count(r => r.Beats);
        var verdict = runs.Count == 1 ? (first.Beats ? "yes" : "no") : $"{(beats == runs.Count ? "yes" : "no")} {beats}/{runs.Count}";
        var row = string.Create(CultureInfo.InvariantCulture,
            $"{name,-14} {$"{first.TrainRows}/{first.TestRows}",10} {first.Columns,7} {$"{Mean(r => r.KeptStep):F0}/{Mean(r => r.Steps):F0}",10} {Mean(r => r.Seconds),8:F1} "
            + $"{PlusMinus(Mean(r => r.Nll), Mean(r => r.NllSe)),17} {PlusMinus(Mean(r => r.Gaussian), Mean(r => r.GaussianSe)),17} "
            + $"{PlusMinus(Mean(r => r.Difference), Mean(r => r.DifferenceSe)),17} {verdict,9}");
        return runs.Count == 1 ? row : row + "  " + string.Join(" ", runs.Select(r => r.Difference.ToString("F2", CultureInfo.InvariantCulture)));
    }

    private static string PlusMinus(double value, double se) => string.Create(CultureInfo.InvariantCulture, $"{value:F2} ± {se:F2}");

    private static string Slug(string name) => new(name.Select(c => char.IsLetterOrDigit(c) ? c : '-').ToArray());

    private static string OneLine(Exception e)
    {
        var message = e.Message.Split('\n')[0].Trim();
        return e is ArgumentException or IOException or InvalidDataException ? message : $"{e.GetType().Name}: {message}";
    }
}
