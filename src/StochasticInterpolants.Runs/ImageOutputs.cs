using System.Globalization;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Files;
using StochasticInterpolants.Runtime;
using StochasticInterpolants.Visualization;
using static TorchSharp.torch;

namespace StochasticInterpolants.Runs;

/// <summary>
/// The files generated images are written to, from one name FILE.npy or FILE.png: FILE.npy (the pixels, uint8
/// [n, c, h, w], for NumPy), FILE.png (a grid of the first <see cref="MaximumGridImages"/>, one row per class when every
/// class was sampled in turn) and, with classes, FILE.labels.npy (each image's class index, int64 [n]).
/// </summary>
public sealed class ImageOutputs
{
    /// <summary>The grid shows at most this many images (a picture of 10,000 digits is no longer a picture).</summary>
    public const int MaximumGridImages = 400;

    private readonly string _stem;

    private ImageOutputs(string stem) => _stem = stem;

    /// <summary>The outputs named by <paramref name="path"/> (FILE.npy or FILE.png); throws <see cref="InvalidSettingException"/> otherwise.</summary>
    public static ImageOutputs For(string path)
    {
        var extension = Path.GetExtension(path).ToLowerInvariant();
        if (extension is not (".npy" or ".png"))
            throw new InvalidSettingException("out", $"an image checkpoint writes FILE.npy and FILE.png; got '{path}'");
        return new ImageOutputs(path[..^extension.Length]);
    }

    /// <summary>The pixels' file.</summary>
    public string ArrayFile => _stem + ".npy";
    /// <summary>The grid picture.</summary>
    public string GridFile => _stem + ".png";
    /// <summary>The labels' file (written for class-conditional samples).</summary>
    public string LabelsFile => _stem + ".labels.npy";

    /// <summary>The files that will be written.</summary>
    public IReadOnlyList<string> Files(bool withLabels) => withLabels ? [ArrayFile, GridFile, LabelsFile] : [ArrayFile, GridFile];

    /// <summary>
    /// Writes <paramref name="pixels"/> (uint8 [n, c, h, w]) and, when given, <paramref name="labels"/>; the grid has one
    /// row per class when <paramref name="perClass"/> (the images ordered class by class). Returns the paths written.
    /// </summary>
    public IReadOnlyList<string> Write(Tensor pixels, Tensor? labels, CheckpointManifest manifest, bool perClass, double guidance)
    {
        var record = manifest.Images ?? throw new ArgumentException("not an image checkpoint");
        NpyFile.Write(ArrayFile, pixels);
        if (labels is not null) NpyFile.Write(LabelsFile, labels);
        var classes = manifest.ConditionClasses();
        var n = (int)pixels.shape[0];
        ImageGridOptions options;
        int columns;
        Tensor shown;
        if (perClass && classes is not null)
        {
            var perRow = n / classes.Count;
            columns = Math.Min(perRow, Math.Max(1, MaximumGridImages / classes.Count));
            using var grid = pixels.reshape([classes.Count, perRow, .. record.Shape])[.., ..columns];
            shown = grid.reshape([-1, .. record.Shape]);
            options = new ImageGridOptions { RowLabels = classes, Title = Title(record, guidance) };
        }
        else
        {
            var count = Math.Min(n, MaximumGridImages);
            columns = Math.Min(20, (int)Math.Ceiling(Math.Sqrt(count)));
            shown = pixels[..count];
            options = new ImageGridOptions { Title = Title(record, labels is null ? null : guidance) };
        }
        using (shown)
        using (var brightness = record.Scaling().PixelBrightness(shown))
            ImageGrid.Save(GridFile, brightness, columns, options);
        return labels is null ? [ArrayFile, GridFile] : [ArrayFile, GridFile, LabelsFile];
    }

    /// <summary>
    /// Writes completions of observed images (<see cref="CheckpointCompletion"/>): FILE.npy (the completions, uint8
    /// [n k, c, h, w]) and FILE.png, one row per observation (at most <see cref="MaximumGridImages"/> cells): what the network
    /// was shown, then its <paramref name="perObservation"/> completions. Returns the paths written.
    /// </summary>
    public IReadOnlyList<string> WriteCompletions(Completions completions, int perObservation, CheckpointManifest manifest, string title)
    {
        var record = manifest.Images ?? throw new ArgumentException("not an image checkpoint");
        NpyFile.Write(ArrayFile, completions.Pixels);
        var rows = Math.Max(1, MaximumGridImages / (perObservation + 1));
        var (images, columns, headings) = CompletionGrid(completions, perObservation, record, null, rows);
        using (images) ImageGrid.Save(GridFile, images, columns, new ImageGridOptions { Title = title, ColumnHeadings = headings });
        return [ArrayFile, GridFile];
    }

    /// <summary>
    /// The cells of a completion figure, brightness [r (k + 1 or 2), c, h, w] for the first r = min(n, <paramref name="maxRows"/>)
    /// observations: per row what the network was shown, the k completions and, when <paramref name="truth"/> (uint8
    /// [n, c, h, w]) is given, the true image; with the column count and headings.
    /// </summary>
    public static (Tensor Images, int Columns, IReadOnlyList<string> Headings) CompletionGrid(Completions completions, int perObservation, ImageRecord record,
        Tensor? truth, int maxRows)
    {
        using var scope = NewDisposeScope();
        var scaling = record.Scaling();
        var n = (int)completions.Pixels.shape[0] / perObservation;
        var rows = Math.Min(n, maxRows);
        var cells = new List<Tensor>();
        for (var i = 0; i < rows; i++)
        {
            cells.Add(completions.Views[(i * perObservation)..(i * perObservation + 1)]);
            cells.Add(scaling.PixelBrightness(completions.Pixels[(i * perObservation)..((i + 1) * perObservation)]));
            if (truth is not null) cells.Add(scaling.PixelBrightness(truth[i..(i + 1)]));
        }
        var headings = new List<string> { "observed" };
        headings.AddRange(Enumerable.Range(1, perObservation).Select(k => perObservation == 1 ? "completed" : $"#{k}"));
        if (truth is not null) headings.Add("truth");
        return (cat(cells, 0).MoveToOuterDisposeScope(), headings.Count, headings);
    }

    private static string Title(ImageRecord record, double? guidance) =>
        $"generated {Path.GetFileName(record.Source.TrimEnd('/'))}" + (guidance is { } w ? string.Create(CultureInfo.InvariantCulture, $", guidance w = {w:G3}") : "");
}
