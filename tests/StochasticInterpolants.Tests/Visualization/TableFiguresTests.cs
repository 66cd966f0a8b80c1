using SkiaSharp;
using StochasticInterpolants.Training;
using StochasticInterpolants.Visualization;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Visualization;

public sealed class TableFiguresTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-table-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private static bool DarkGrey(SKColor c) => c.Red < 110 && c.Green < 110 && c.Blue < 110 && Math.Abs(c.Red - c.Blue) < 20;
    private static bool Blue(SKColor c) => c.Blue > 140 && c.Blue - c.Red > 60;
    private static bool DarkRed(SKColor c) => c.Red > 90 && c.Green < 50 && c.Blue < 70;
    private static bool DarkBlue(SKColor c) => c.Blue > 80 && c.Red < 60 && c.Blue - c.Red > 50;
    private static bool NearWhite(SKColor c) => c.Red > 225 && c.Green > 225 && c.Blue > 225;
    private static bool Validation(SKColor c) => c.Red > 150 && c.Green < 90 && c.Blue is > 80 and < 170;

    private static List<(int X, int Y)> Find(SKBitmap bitmap, SKRectI r, Func<SKColor, bool> test)
    {
        var found = new List<(int, int)>();
        for (var x = r.Left; x < r.Right; x++) for (var y = r.Top; y < r.Bottom; y++) if (test(bitmap.GetPixel(x, y))) found.Add((x, y));
        return found;
    }

    private static SKRectI Inset(SKRectI r, int by) => new(r.Left + by, r.Top + by, r.Right - by, r.Bottom - by);

    private static SKColor CellCentre(SKBitmap bitmap, SKRectI area, int d, int row, int column) =>
        bitmap.GetPixel(area.Left + (int)((column + 0.5) * area.Width / d), area.Top + (int)((row + 0.5) * area.Height / d));

    [Fact]
    public void Marginal_grid_has_one_panel_per_column_with_every_series_and_shows_a_shift()
    {
        using var g = new Generator(5);
        using var training = randn(1500, 6, generator: g);
        using var generated = randn(1500, 6, generator: g).to(float64);
        generated[.., 0] += 2.5; // only column 0 is off
        var names = new[] { "a", "b", "c", "d", "e", "f" };
        var path = Path.Combine(_dir, "m.png");
        var areas = TableFigures.DrawMarginals(path, names, [new TableSeries("training rows", training), new TableSeries("generated", generated)], 36);
        using var bitmap = SKBitmap.Decode(path);
        // 6 columns: a 3 x 2 grid under a header with the title and one legend line.
        Assert.Equal(3 * TableFigures.MarginalPanelWidth, bitmap.Width);
        Assert.InRange(bitmap.Height - 2 * TableFigures.MarginalPanelHeight, 40, 80);
        Assert.Equal(6, areas.Count);
        for (var c = 0; c < 6; c++)
        {
            var area = areas[c];
            var cellLeft = c % 3 * TableFigures.MarginalPanelWidth;
            Assert.True(area.Left > cellLeft && area.Right < cellLeft + TableFigures.MarginalPanelWidth, $"panel {c} is not in its grid cell");
            Assert.True(area.Width > 100 && area.Height > 80, $"panel {c} data area is too small: {area}");
            var inner = Inset(area, 3);
            var grey = Find(bitmap, inner, DarkGrey); var blue = Find(bitmap, inner, Blue);
            Assert.True(grey.Count > 100, $"panel {c} has no training histogram ({grey.Count} pixels)");
            Assert.True(blue.Count > 100, $"panel {c} has no generated histogram ({blue.Count} pixels)");
            // Shared bins: the shifted column's generated outline sits to the right, the others overlap.
            var shift = (blue.Average(p => p.X) - grey.Average(p => p.X)) / area.Width;
            if (c == 0) Assert.True(shift > 0.15, $"column 0's shift is not visible: {shift:0.00}");
            else Assert.True(Math.Abs(shift) < 0.1, $"column {c} looks shifted: {shift:0.00}");
        }
        // Legend swatches and title are drawn in the header.
        var header = new SKRectI(0, 0, bitmap.Width, areas.Min(a => a.Top) - 30);
        Assert.NotEmpty(Find(bitmap, header, Blue));
        Assert.NotEmpty(Find(bitmap, header, DarkGrey));
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));

        // Only the first maxColumns columns are drawn.
        var few = TableFigures.DrawMarginals(path, names, [new TableSeries("training rows", training)], 4);
        Assert.Equal(4, few.Count);
        using var small = SKBitmap.Decode(path);
        Assert.Equal(2 * TableFigures.MarginalPanelWidth, small.Width);
    }

    [Fact]
    public void Correlation_heatmaps_put_each_value_in_its_cell_on_one_diverging_scale()
    {
        const int d = 4;
        var identity = new double[d, d]; var anti = new double[d, d]; var marked = new double[d, d];
        for (var i = 0; i < d; i++) for (var j = 0; j < d; j++) { identity[i, j] = i == j ? 1 : 0; anti[i, j] = i == j ? 1 : -1; }
        marked[0, 3] = 1; marked[3, 0] = -1; marked[1, 2] = 1.8; // row 0 is at the top; beyond 1 is drawn as 1
        var path = Path.Combine(_dir, "c.png");
        var areas = TableFigures.DrawCorrelations(path, ["x1", "x2", "x3", "x4"], [("data", identity), ("generated", anti), ("marked", marked)], 360);
        using var bitmap = SKBitmap.Decode(path);
        Assert.Equal(3 * 360 + TableFigures.ColorBarStripWidth, bitmap.Width);
        Assert.Equal(360, bitmap.Height);
        Assert.Equal(3, areas.Count);
        foreach (var a in areas) Assert.InRange(a.Width - a.Height, -1, 1); // square cells
        for (var i = 0; i < d; i++)
            for (var j = 0; j < d; j++)
            {
                Assert.True(i == j ? DarkRed(CellCentre(bitmap, areas[0], d, i, j)) : NearWhite(CellCentre(bitmap, areas[0], d, i, j)), $"identity cell ({i},{j})");
                Assert.True(i == j ? DarkRed(CellCentre(bitmap, areas[1], d, i, j)) : DarkBlue(CellCentre(bitmap, areas[1], d, i, j)), $"anti cell ({i},{j})");
            }
        Assert.True(DarkRed(CellCentre(bitmap, areas[2], d, 0, 3)), "top-right cell should be +1");
        Assert.True(DarkBlue(CellCentre(bitmap, areas[2], d, 3, 0)), "bottom-left cell should be -1");
        Assert.True(DarkRed(CellCentre(bitmap, areas[2], d, 1, 2)), "a value beyond 1 should take the end colour");
        Assert.True(NearWhite(CellCentre(bitmap, areas[2], d, 0, 0)));
        // The colour bar runs from dark red at the top to dark blue at the bottom of the heatmaps.
        var barX = 3 * 360 + 18;
        Assert.True(DarkRed(bitmap.GetPixel(barX, areas[0].Top + 3)), "no colour bar top");
        Assert.True(DarkBlue(bitmap.GetPixel(barX, areas[0].Bottom - 3)), "no colour bar bottom");
        Assert.True(NearWhite(bitmap.GetPixel(barX, (areas[0].Top + areas[0].Bottom) / 2)), "colour bar middle is not white");

        // Many columns: numbered ticks instead of names, still square.
        var big = new double[25, 25];
        for (var i = 0; i < 25; i++) big[i, i] = 1;
        var bigAreas = TableFigures.DrawCorrelations(path, Enumerable.Range(0, 25).Select(i => $"column {i}").ToArray(), [("data", big)], 400);
        using var bigBitmap = SKBitmap.Decode(path);
        Assert.Equal(400 + TableFigures.ColorBarStripWidth, bigBitmap.Width);
        Assert.True(DarkRed(CellCentre(bigBitmap, bigAreas[0], 25, 24, 24)) && NearWhite(CellCentre(bigBitmap, bigAreas[0], 25, 24, 0)));
    }

    [Fact]
    public void Correlation_heatmaps_take_an_all_equal_panel_and_a_diagonal_a_rounding_error_below_one()
    {
        // Both once crashed ScottPlot's interpolated colour map (an empty colour range; an index past the last colour).
        var nearOne = new double[3, 3];
        for (var i = 0; i < 3; i++) for (var j = 0; j < 3; j++) nearOne[i, j] = i == j ? 0.9999999999999998 : -0.3;
        var path = Path.Combine(_dir, "edge.png");
        TableFigures.SaveCorrelations(path, ["a", "b", "c"], [("data", nearOne), ("difference", new double[3, 3])]);
        using var bitmap = SkiaSharp.SKBitmap.Decode(path);
        Assert.Equal(2 * 420 + 80, bitmap.Width);
    }

    [Fact]
    public void Projection_overlays_the_clouds_and_draws_paths_on_shared_axes()
    {
        using var g = new Generator(6);
        using var data = randn(800, 2, generator: g) * 0.3 + tensor(new[] { -2f, 0f });
        using var generated = randn(800, 2, generator: g) * 0.3 + tensor(new[] { 2f, 0f });
        // Paths from (x, -2) up to (x, +2).
        using var start = randn(60, 2, generator: g) * 0.3 + tensor(new[] { 0f, -2f });
        using var paths = stack(Enumerable.Range(0, 5).Select(t => start + tensor(new[] { 0f, t }, float32)).ToArray());
        var path = Path.Combine(_dir, "p.png");
        var areas = TableFigures.DrawProjection(path, "PC 1", "PC 2", data, generated, paths, "training rows", "generated", 400, 150);
        using var bitmap = SKBitmap.Decode(path);
        Assert.Equal(800, bitmap.Width); Assert.Equal(400, bitmap.Height);
        Assert.Equal(2, areas.Count);
        Assert.Equal(areas[0].Size, areas[1].Size);
        var left = areas[0];
        SKRectI LeftHalf(SKRectI r) => new(r.Left + 2, r.Top + 60, r.MidX, r.Bottom - 2); // below the legend
        SKRectI RightHalf(SKRectI r) => new(r.MidX, r.Top + 60, r.Right - 2, r.Bottom - 2);
        bool Greyish(SKColor c) => c.Red < 200 && Math.Abs(c.Red - c.Blue) < 12 && Math.Abs(c.Red - c.Green) < 12;
        Assert.True(Find(bitmap, LeftHalf(left), Greyish).Count > 300, "data cloud missing on the left");
        Assert.True(Find(bitmap, RightHalf(left), Blue).Count > 300, "generated cloud missing on the right");
        Assert.True(Find(bitmap, LeftHalf(left), Blue).Count < 30, "generated points drawn where there are none");
        // Right panel: navy end points in the upper half, grey start points in the lower half.
        var right = areas[1];
        bool Navy(SKColor c) => c.Blue > 90 && c.Red < 40 && c.Green < 40;
        var upper = new SKRectI(right.Left + 2, right.Top + 2, right.Right - 2, right.MidY);
        var lower = new SKRectI(right.Left + 2, right.MidY, right.Right - 2, right.Bottom - 2);
        Assert.True(Find(bitmap, upper, Navy).Count > 50, "no end points at the top");
        Assert.True(Find(bitmap, lower, Navy).Count < 10, "end points drawn at the bottom");
        Assert.True(Find(bitmap, lower, c => c.Red is > 100 and < 160 && Math.Abs(c.Red - c.Blue) < 8).Count > 50, "no grey start points at the bottom");

        // Without paths: one panel.
        TableFigures.SaveProjection(path, "PC 1", "PC 2", data, generated, null, panelSize: 300);
        using var single = SKBitmap.Decode(path);
        Assert.Equal(300, single.Width); Assert.Equal(300, single.Height);
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));
    }

    [Fact]
    public void LossCurve_with_validation_adds_the_objective_series_and_an_nll_panel()
    {
        var log = Enumerable.Range(1, 30).Select(i => new LossLogEntry(i * 100, 5.0 / i + 1, 1e-3, i, null,
            i % 5 == 0 ? 5.0 / i + 1.2 : null, i % 5 == 0 ? 2 + Math.Pow(i - 20, 2) / 50.0 : null)).ToList();
        var path = Path.Combine(_dir, "l.png");
        LossCurvePlot.Save(path, log, width: 500, height: 350);
        using var both = SKBitmap.Decode(path);
        Assert.Equal(1000, both.Width); Assert.Equal(350, both.Height);
        var leftPanel = new SKRectI(0, 0, 500, 350); var rightPanel = new SKRectI(500, 0, 1000, 350);
        Assert.True(Find(both, leftPanel, Validation).Count > 50, "no validation objective on the loss axes");
        Assert.True(Find(both, rightPanel, Validation).Count > 100, "no validation NLL panel");
        // An explicit kept step moves the mark: only the NLL panel changes.
        var keptPath = Path.Combine(_dir, "k.png");
        LossCurvePlot.Save(keptPath, log, width: 500, height: 350, keptStep: 1000);
        using var kept = SKBitmap.Decode(keptPath);
        int Differ(SKRectI r) { var n = 0; for (var x = r.Left; x < r.Right; x++) for (var y = r.Top; y < r.Bottom; y++) if (both.GetPixel(x, y) != kept.GetPixel(x, y)) n++; return n; }
        Assert.Equal(0, Differ(leftPanel));
        Assert.True(Differ(rightPanel) > 100, "the kept-step mark did not move");

        // Objective without NLL: one panel with the validation series; without validation: the old single curve.
        LossCurvePlot.Save(path, log.Select(e => e with { ValidationNll = null }).ToList(), width: 500, height: 350);
        using var objectiveOnly = SKBitmap.Decode(path);
        Assert.Equal(500, objectiveOnly.Width);
        Assert.True(Find(objectiveOnly, leftPanel, Validation).Count > 50);
        LossCurvePlot.Save(path, log.Select(e => e with { ValidationNll = null, ValidationObjective = null }).ToList(), width: 500, height: 350);
        using var plain = SKBitmap.Decode(path);
        Assert.Equal(500, plain.Width);
        Assert.Empty(Find(plain, leftPanel, Validation));
    }

    [Fact]
    public void Bad_inputs_and_missing_folders_give_clear_errors()
    {
        var path = Path.Combine(_dir, "x.png");
        using var rows = zeros(10, 3);
        using var wrong = zeros(10, 4);
        using var empty = zeros(0, 3);
        using var nan = zeros(10, 3); nan[4, 1] = float.NaN;
        using var ints = zeros(10, 3, dtype: int64);
        string[] names = ["a", "b", "c"];
        void Refused(Action act, string part)
        {
            var e = Assert.Throws<ArgumentException>(act);
            Assert.Contains(part, e.Message);
            Assert.DoesNotContain('\n', e.Message);
        }
        Refused(() => TableFigures.SaveMarginals(path, [], [new TableSeries("t", rows)]), "column name");
        Refused(() => TableFigures.SaveMarginals(path, names, []), "series");
        Refused(() => TableFigures.SaveMarginals(path, names, [new TableSeries("t", rows), new TableSeries("g", wrong)]), "[n, 3]");
        Refused(() => TableFigures.SaveMarginals(path, names, [new TableSeries("t", empty)]), "no rows");
        Refused(() => TableFigures.SaveMarginals(path, names, [new TableSeries("g", nan)]), "row 4, column 1");
        Refused(() => TableFigures.SaveMarginals(path, names, [new TableSeries("g", ints)]), "floating-point");
        Refused(() => TableFigures.SaveMarginals(path, names, [new TableSeries("t", rows)], maxColumns: 0), "maxColumns");

        var ok = new double[3, 3];
        var bad = new double[3, 3]; bad[2, 0] = double.PositiveInfinity;
        Refused(() => TableFigures.SaveCorrelations(path, names, [("data", ok), ("generated", new double[2, 2])]), "3 x 3");
        Refused(() => TableFigures.SaveCorrelations(path, names, [("data", bad)]), "row 2, column 0");
        Refused(() => TableFigures.SaveCorrelations(path, names, []), "panel");

        using var cloud = zeros(10, 2);
        using var notPlanar = zeros(10, 3);
        using var nanCloud = zeros(10, 2); nanCloud[3, 0] = float.NaN;
        Refused(() => TableFigures.SaveProjection(path, "x", "y", notPlanar, cloud, null), "[n, 2]");
        Refused(() => TableFigures.SaveProjection(path, "x", "y", cloud, nanCloud, null, generatedLabel: "generated"), "generated has a non-finite value");
        using var flatPaths = zeros(5, 10);
        using var oneState = zeros(1, 10, 2);
        Refused(() => TableFigures.SaveProjection(path, "x", "y", cloud, cloud, flatPaths), "[T, p, 2]");
        Refused(() => TableFigures.SaveProjection(path, "x", "y", cloud, cloud, oneState), "T >= 2");

        var missing = Path.Combine(_dir, "no", "x.png");
        Assert.Contains(Path.Combine(_dir, "no"), Assert.Throws<DirectoryNotFoundException>(() => TableFigures.SaveMarginals(missing, names, [new TableSeries("t", rows)])).Message);
        Assert.Throws<DirectoryNotFoundException>(() => TableFigures.SaveCorrelations(missing, names, [("data", ok)]));
        Assert.Throws<DirectoryNotFoundException>(() => TableFigures.SaveProjection(missing, "x", "y", cloud, cloud, null));
        Assert.Throws<DirectoryNotFoundException>(() => LossCurvePlot.Save(missing, [new LossLogEntry(1, 1, 1e-3, 0, ValidationNll: 1)]));
        Assert.Empty(Directory.GetFiles(_dir, "*", SearchOption.AllDirectories));
    }
}
