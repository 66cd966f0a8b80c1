namespace StochasticInterpolants.Visualization;

/// <summary>
/// Font choice for figures. ScottPlot renders headless through SkiaSharp and scans /usr/share/fonts; with no font
/// installed it silently draws no text, so callers can check <see cref="HasFonts"/> and warn.
/// </summary>
public static class PlotFonts
{
    private static readonly string[] Preferred = ["DejaVu Sans", "Liberation Sans", "Noto Sans", "Arial"];
    private static readonly Lazy<string?> Found = new(() =>
    {
        foreach (var name in Preferred)
        {
            using var typeface = SkiaSharp.SKTypeface.FromFamilyName(name);
            if (typeface is not null && string.Equals(typeface.FamilyName, name, StringComparison.OrdinalIgnoreCase)) return name;
        }
        return null;
    });

    /// <summary>The font family used for text in figures, or null when none of the preferred fonts is installed.</summary>
    public static string? Family => Found.Value;

    /// <summary>True when a font for text was found.</summary>
    public static bool HasFonts => Found.Value is not null;

    /// <summary>
    /// The largest font size up to <paramref name="preferred"/> (and no smaller than 8) at which <paramref name="text"/>
    /// fits in <paramref name="maxWidth"/> pixels: ScottPlot clips a title wider than its figure instead of wrapping it,
    /// which would cut off the note on non-finite points at the end.
    /// </summary>
    internal static float FitSize(string text, float preferred, float maxWidth)
    {
        if (Family is not { } family || text.Length == 0) return preferred;
        using var typeface = SkiaSharp.SKTypeface.FromFamilyName(family);
        using var font = new SkiaSharp.SKFont(typeface, preferred);
        var width = font.MeasureText(text);
        // Text width scales linearly with the font size.
        return width <= maxWidth ? preferred : Math.Max(8f, MathF.Floor(preferred * maxWidth / width * 10) / 10);
    }

    /// <summary>The warning to show when <see cref="HasFonts"/> is false.</summary>
    public const string MissingFontsWarning = "figures will have no text: install fonts-dejavu-core";
}
