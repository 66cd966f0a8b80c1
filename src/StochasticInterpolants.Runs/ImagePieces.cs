using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Data;
using StochasticInterpolants.Models;
using StochasticInterpolants.Runtime;

namespace StochasticInterpolants.Runs;

/// <summary>
/// An image target made ready for training (docs/theory.md §9): the data set loaded (fetched on first use), its training
/// split as the flow's target (dequantised and scaled to [-1, 1] on every draw, labels as the condition when the run is
/// class-conditional) and what the checkpoint records.
/// </summary>
/// <param name="Data">The training and test images.</param>
/// <param name="Target">The training images as the flow sees them.</param>
/// <param name="Record">What the checkpoint records.</param>
public sealed record ImagePieces(ImageData Data, ImageDistribution Target, ImageRecord Record)
{
    /// <summary>Loads <see cref="TrainingRunConfig.Target"/>; <paramref name="message"/> hears about a first-time download.</summary>
    public static ImagePieces Build(TrainingRunConfig config, Action<string>? message = null)
    {
        var data = ImageDatasets.Load(config.Target, message);
        var train = data.Train;
        // A data-dependent coupling conditions the network on the corrupted image; class labels are not combined with it.
        var conditional = Couplings.Corruptions.IsDataDependent(config.Coupling) ? RefuseClasses(config) : config.ConditionOnClasses(train.Labels is not null);
        // The name of a data set as given, or the full path of a folder or file, so the data can be found again from anywhere.
        var spec = config.Target.Trim();
        var source = ImageDatasets.Names.Contains(spec.ToLowerInvariant()) ? spec.ToLowerInvariant() : Path.GetFullPath(spec);
        var record = new ImageRecord(source, data.Sha256, train.Shape, train.Levels, train.ClassNames, train.ClassCounts(),
            train.Count, data.Test.Count, conditional);
        return new ImagePieces(data, new ImageDistribution(train, withLabels: conditional), record);
    }

    private static bool RefuseClasses(TrainingRunConfig config)
    {
        if (config.Condition?.Trim().ToLowerInvariant() is { } c && c != "none")
            throw new InvalidSettingException("condition", $"the '{config.Coupling!.Trim().ToLowerInvariant()}' coupling conditions the network on the corrupted image; class labels are not combined with it (use --condition none)");
        return false;
    }

    /// <summary>
    /// One line on the data, as a table run prints its rows: e.g. "digits: 4500 training images and 500 test images of
    /// 1 x 28 x 28 (256 levels); 10 classes (0: 450, 1: 450, ...), class-conditional".
    /// </summary>
    public string Summary()
    {
        var r = Record;
        var classes = r.ClassNames is { } names && r.ClassCounts is { } counts
            ? $"; {names.Count} classes ({string.Join(", ", names.Select((n, i) => $"{n}: {counts[i]}"))}), {(r.Conditional ? "class-conditional" : "trained without the labels")}"
            : "; no labels (unconditional)";
        var name = Path.GetFileName(r.Source.TrimEnd('/', Path.DirectorySeparatorChar));
        return $"{(name.Length > 0 ? name : r.Source)}: {r.TrainingImages} training images and {r.TestImages} test images " +
               $"of {string.Join(" x ", r.Shape)} ({r.Levels} levels){classes}";
    }

    /// <summary>The classes the network is conditioned on (0 when unconditional).</summary>
    public int ConditionClasses => Record.Conditional ? Record.ClassNames!.Count : 0;

    /// <summary>
    /// The U-Net of <paramref name="model"/>'s preset for these images, with the options that replace the preset's
    /// (channels, level multipliers, attention resolution).
    /// </summary>
    public UNetConfig UNetConfig(ModelOptions model)
    {
        var shape = Record.Shape;
        UNetConfig c;
        try { c = Models.UNetConfig.Preset(model.UNetPreset, (int)shape[0], (int)shape[1], (int)shape[2], ConditionClasses); }
        catch (ArgumentException e) when (e is not InvalidSettingException) { throw new InvalidSettingException("unet", e.Message); }
        if (model.UNetChannels is { } channels) c = c with { BaseChannels = channels };
        if (model.UNetMultipliers is { } text)
        {
            var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            var multipliers = new int[parts.Length];
            for (var i = 0; i < parts.Length; i++)
                if (!int.TryParse(parts[i], out multipliers[i]) || multipliers[i] < 1)
                    throw new InvalidSettingException("unet-multipliers", $"channel multipliers must be whole numbers >= 1 separated by commas, e.g. 1,2,2; got '{text}'");
            if (multipliers.Length == 0) throw new InvalidSettingException("unet-multipliers", "give at least one level's multiplier, e.g. 1,2,2");
            c = c with { ChannelMultipliers = multipliers };
        }
        if (model.UNetAttention is { } attention) c = c with { AttentionBelow = attention };
        try { c.Validate(); }
        catch (ArgumentException e) when (e is not InvalidSettingException) { throw new InvalidSettingException("unet", e.Message); }
        return c;
    }
}
