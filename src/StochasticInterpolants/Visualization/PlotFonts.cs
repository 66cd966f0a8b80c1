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

    /// <summary>The warning to show when <see cref="HasFonts"/> is false.</summary>
    public const string MissingFontsWarning = "figures will have no text: install fonts-dejavu-core";
}
