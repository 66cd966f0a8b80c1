using System.Globalization;
using StochasticInterpolants.Files;
using StochasticInterpolants.Manifolds;
using ScottPlot;
using SkiaSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Visualization;

/// <summary>How the angle axes of a torus picture are labelled.</summary>
public enum AngleTicks
{
    /// <summary>-180, -90, 0, 90, 180 (degrees; the Ramachandran convention).</summary>
    Degrees,
    /// <summary>-π, -π/2, 0, π/2, π.</summary>
    MultiplesOfPi,
}

/// <summary>Axis names and tick style of a torus picture; the coordinates themselves are always radians in [-pi, pi).</summary>
/// <param name="XLabel">Name of the first angle (horizontal axis).</param>
/// <param name="YLabel">Name of the second angle (vertical axis).</param>
/// <param name="Ticks">Ticks at multiples of pi/2, labelled in degrees or as multiples of pi.</param>
public sealed record TorusAxes(string XLabel = "θ₁", string YLabel = "θ₂", AngleTicks Ticks = AngleTicks.MultiplesOfPi)
{
    /// <summary>The Ramachandran plot's axes: phi across, psi up, in degrees from -180 to 180.</summary>
    public static TorusAxes Ramachandran { get; } = new("φ (degrees)", "ψ (degrees)", AngleTicks.Degrees);
}

/// <summary>
/// One panel of a torus or sphere figure: a density drawn as a heatmap, points drawn over it, or both. On the torus points
/// are [n, 2] angles (any real values: they are wrapped into [-pi, pi)); on the sphere [n, 3] directions (normalised
/// before projection). <paramref name="LogDensity"/> maps [m, 2] angle rows or [m, 3] unit vectors (float64) to [m] log
/// rho, rho with respect to the manifold's volume (e.g. a distribution's LogDensity). It is called once per panel with all
/// cells in one batch (see <see cref="ManifoldFigureOptions.Bins"/>), outside any no_grad (a likelihood may need autograd);
/// a float32 model converts the rows itself.
/// </summary>
/// <param name="Title">Panel title.</param>
/// <param name="Points">Points to draw, or null.</param>
/// <param name="LogDensity">The log-density to draw as a heatmap, or null.</param>
public sealed record ManifoldPanel(string Title, Tensor? Points = null, Func<Tensor, Tensor>? LogDensity = null);

/// <summary>Sizes and styles of <see cref="ManifoldFigures"/>' still figures.</summary>
public sealed record ManifoldFigureOptions
{
    /// <summary>Height of every panel in pixels (100..4000); a torus panel is as wide (plus a colour bar), a sphere panel 1.75 times as wide (rounded down).</summary>
    public int PanelSize { get; init; } = 360;
    /// <summary>
    /// Density cells: per axis on the torus (Bins^2 evaluations), across the map's height on the sphere (twice as many across
    /// its width; the pi/4 of the 2 Bins^2 cells inside the ellipse are evaluated); 2..1000. Lower it for costly densities.
    /// </summary>
    public int Bins { get; init; } = 120;
    /// <summary>Axis names and tick style of torus panels.</summary>
    public TorusAxes TorusAxes { get; init; } = new();
    /// <summary>
    /// One colour scale for all density panels (they can be compared directly) or one per panel; null: shared for
    /// side-by-side panels, per panel for rows over time (the density of a uniform base would otherwise look empty).
    /// </summary>
    public bool? SharedColourScale { get; init; }
    /// <summary>At most this many points are drawn per panel (the first ones).</summary>
    public int MaxPoints { get; init; } = 4000;
    /// <summary>Label of the colour bars.</summary>
    public string DensityLabel { get; init; } = "density";
}

/// <summary>Sizes, timing and trails of <see cref="ManifoldFigures"/>' animations.</summary>
public sealed record ManifoldAnimationOptions
{
    /// <summary>Height of the frame in pixels (100..4000); torus frames are as wide (plus a colour bar with a density), sphere frames 1.75 times as wide (rounded down).</summary>
    public int Size { get; init; } = 400;
    /// <summary>How long each frame is shown, in milliseconds (1..65535).</summary>
    public int FrameMilliseconds { get; init; } = 90;
    /// <summary>How long the last frame is shown before the loop restarts (1..65535 ms).</summary>
    public int LastFrameMilliseconds { get; init; } = 1500;
    /// <summary>A trail joins each particle's positions over this many preceding frames (0: points only).</summary>
    public int TrailFrames { get; init; } = 6;
    /// <summary>At most this many particles are drawn (the first ones).</summary>
    public int MaxParticles { get; init; } = 300;
    /// <summary>Title shown with the time in every frame.</summary>
    public string Title { get; init; } = "particles X_t";
    /// <summary>Optional density rho(t, .) drawn behind the particles at each frame's time ([m, 2] or [m, 3] float64 -> [m] log rho).</summary>
    public Func<double, Tensor, Tensor>? LogDensity { get; init; }
    /// <summary>Density cells (as <see cref="ManifoldFigureOptions.Bins"/>).</summary>
    public int Bins { get; init; } = 80;
    /// <summary>Axis names and tick style of torus frames.</summary>
    public TorusAxes TorusAxes { get; init; } = new();
    /// <summary>Where to write the last frame also as a plain PNG (for print); null for nowhere.</summary>
    public string? StillPath { get; init; }
}

/// <summary>
/// Pictures of data on the flat torus T^2 and the sphere S^2 (docs/theory.md §15.9). The torus is drawn as its square
/// [-pi, pi)^2, whose opposite edges are identified: a path that leaves through one edge comes back through the opposite
/// one and is drawn as two pieces (<see cref="SplitTorusPath"/>), never as a line across the square. The sphere is drawn
/// in the Hammer equal-area projection (<see cref="HammerProjection"/>): the whole sphere in one ellipse with its one
/// seam, the meridian at ±180°, on the left and right edges, and a density per unit map area equal to the density per
/// unit sphere area, so equal colours mean equal mass per area everywhere on the map. Densities are evaluated in
/// float64 at cell centres (on the sphere, each cell centre is mapped back to its unit vector), exp(log rho) coloured
/// with Viridis from 0 to the largest value.
/// </summary>
public static class ManifoldFigures
{
    /// <summary>Pixels a colour bar with its ticks and label takes beside a panel.</summary>
    internal const int ColourBarWidth = 90;

    /// <summary>
    /// Writes torus panels side by side (e.g. data | model samples | model density) as one PNG of
    /// panels x (PanelSize [+ colour bar]) by PanelSize pixels, atomically. Points are [n, 2] angles in radians.
    /// </summary>
    /// <exception cref="ArgumentException">No panels, points that are not [n, 2], or bad options.</exception>
    /// <exception cref="DirectoryNotFoundException">The folder of <paramref name="path"/> does not exist.</exception>
    public static void SaveTorus(string path, IReadOnlyList<ManifoldPanel> panels, ManifoldFigureOptions? options = null) =>
        SavePanels(path, new TorusChart((options ?? new()).TorusAxes), panels, options ?? new(), sharedByDefault: true);

    /// <summary>
    /// Writes sphere panels side by side, each the Hammer map of S^2 with a 30° graticule, as one PNG of
    /// panels x (floor(1.75 PanelSize) [+ colour bar]) by PanelSize pixels, atomically. Points are [n, 3] directions.
    /// </summary>
    /// <exception cref="ArgumentException">No panels, points that are not [n, 3], or bad options.</exception>
    /// <exception cref="DirectoryNotFoundException">The folder of <paramref name="path"/> does not exist.</exception>
    public static void SaveSphere(string path, IReadOnlyList<ManifoldPanel> panels, ManifoldFigureOptions? options = null) =>
        SavePanels(path, SphereChart.Instance, panels, options ?? new(), sharedByDefault: true);

    /// <summary>
    /// rho(t) on the torus at several times in one row: panel k is the heatmap of exp(<paramref name="logDensity"/>(t_k, .))
    /// with, when given, <paramref name="particles"/>[k] ([n, 2]) drawn over it. Times default to 0, 0.25, 0.5, 0.75, 1.
    /// </summary>
    public static void SaveTorusDensityRow(string path, Func<double, Tensor, Tensor> logDensity, IReadOnlyList<double>? times = null,
        IReadOnlyList<Tensor>? particles = null, ManifoldFigureOptions? options = null) =>
        SavePanels(path, new TorusChart((options ?? new()).TorusAxes), RowPanels(logDensity, times, particles), options ?? new(), sharedByDefault: false);

    /// <summary>rho(t) on the sphere at several times in one row, as <see cref="SaveTorusDensityRow"/> (particles [n, 3]).</summary>
    public static void SaveSphereDensityRow(string path, Func<double, Tensor, Tensor> logDensity, IReadOnlyList<double>? times = null,
        IReadOnlyList<Tensor>? particles = null, ManifoldFigureOptions? options = null) =>
        SavePanels(path, SphereChart.Instance, RowPanels(logDensity, times, particles), options ?? new(), sharedByDefault: false);

    /// <summary>
    /// The Lagrangian picture on the torus as an APNG: frame k shows the particles <paramref name="snapshots"/>[k] ([n, 2]
    /// angles, the same n in every frame) at <paramref name="times"/>[k], each with a trail through its positions of the
    /// last <see cref="ManifoldAnimationOptions.TrailFrames"/> frames, split where it wraps around.
    /// </summary>
    public static void SaveTorusAnimation(string path, IReadOnlyList<Tensor> snapshots, IReadOnlyList<double> times, ManifoldAnimationOptions? options = null)
    {
        var o = options ?? new();
        SaveAnimation(path, new TorusChart(o.TorusAxes), snapshots, times, o);
    }

    /// <summary>The Lagrangian picture on the sphere as an APNG (snapshots [n, 3]), as <see cref="SaveTorusAnimation"/>, on the Hammer map.</summary>
    public static void SaveSphereAnimation(string path, IReadOnlyList<Tensor> snapshots, IReadOnlyList<double> times, ManifoldAnimationOptions? options = null) =>
        SaveAnimation(path, SphereChart.Instance, snapshots, times, options ?? new());

    /// <summary>
    /// True when <paramref name="manifold"/> can be drawn here: the torus T^2 (<c>torus:2</c>) or the sphere S^2 (<c>sphere:3</c>).
    /// </summary>
    public static bool CanDraw(IManifold manifold)
    {
        ArgumentNullException.ThrowIfNull(manifold);
        return manifold is FlatTorus { CoordinateDimension: 2 } or Sphere { CoordinateDimension: 3 };
    }

    /// <summary><see cref="SaveTorus"/> or <see cref="SaveSphere"/>, whichever <paramref name="manifold"/> is (see <see cref="CanDraw"/>).</summary>
    /// <exception cref="ArgumentException">A manifold other than T^2 or S^2.</exception>
    public static void Save(string path, IManifold manifold, IReadOnlyList<ManifoldPanel> panels, ManifoldFigureOptions? options = null)
    {
        if (IsTorus(manifold)) SaveTorus(path, panels, options); else SaveSphere(path, panels, options);
    }

    /// <summary><see cref="SaveTorusDensityRow"/> or <see cref="SaveSphereDensityRow"/>, whichever <paramref name="manifold"/> is.</summary>
    /// <exception cref="ArgumentException">A manifold other than T^2 or S^2.</exception>
    public static void SaveDensityRow(string path, IManifold manifold, Func<double, Tensor, Tensor> logDensity, IReadOnlyList<double>? times = null,
        IReadOnlyList<Tensor>? particles = null, ManifoldFigureOptions? options = null)
    {
        if (IsTorus(manifold)) SaveTorusDensityRow(path, logDensity, times, particles, options);
        else SaveSphereDensityRow(path, logDensity, times, particles, options);
    }

    /// <summary><see cref="SaveTorusAnimation"/> or <see cref="SaveSphereAnimation"/>, whichever <paramref name="manifold"/> is.</summary>
    /// <exception cref="ArgumentException">A manifold other than T^2 or S^2.</exception>
    public static void SaveAnimation(string path, IManifold manifold, IReadOnlyList<Tensor> snapshots, IReadOnlyList<double> times, ManifoldAnimationOptions? options = null)
    {
        if (IsTorus(manifold)) SaveTorusAnimation(path, snapshots, times, options); else SaveSphereAnimation(path, snapshots, times, options);
    }

    /// <summary>True for T^2, false for S^2; anything else is refused.</summary>
    private static bool IsTorus(IManifold manifold) => CanDraw(manifold)
        ? manifold is FlatTorus
        : throw new ArgumentException($"pictures are drawn for torus:2 and sphere:3 only, not {manifold.Name}");

    /// <summary>
    /// Writes the two example figures of docs/theory.md §15.9 into <paramref name="folder"/> (which must exist):
    /// <c>torus-example.png</c>, 2,000 samples of the <c>von-mises-mixture</c> target beside its exact density on T^2, and
    /// <c>sphere-example.png</c>, 2,000 samples of the <c>vmf-mixture</c> target beside its exact density on the Hammer map
    /// of S^2. Samples are drawn with a generator seeded by <paramref name="seed"/>, so the pictures are reproducible.
    /// Returns the two paths.
    /// </summary>
    public static (string Torus, string Sphere) SaveExamples(string folder, int panelSize = 320, ulong seed = 0)
    {
        ArgumentNullException.ThrowIfNull(folder);
        var torus = Path.Combine(folder, "torus-example.png");
        var sphere = Path.Combine(folder, "sphere-example.png");
        using var scope = NewDisposeScope();
        using var g = new TorchSharp.torch.Generator(seed);
        var vonMises = Data.TorusTargets.VonMisesMixture();
        var vmf = Data.ManifoldTargets.VmfMixture();
        var options = new ManifoldFigureOptions { PanelSize = panelSize };
        SaveTorus(torus, [new ManifoldPanel("von Mises mixture: 2,000 samples", vonMises.Sample(2000, g)), new ManifoldPanel("its density", LogDensity: vonMises.LogDensity)], options);
        SaveSphere(sphere, [new ManifoldPanel("vMF mixture: 2,000 samples", vmf.Sample(2000, g)), new ManifoldPanel("its density", LogDensity: vmf.LogDensity)], options);
        return (torus, sphere);
    }

    /// <summary>
    /// A path on T^2 as the pieces to draw in the square [-pi, pi]^2. Consecutive points a, b (wrapped into [-pi, pi)) are
    /// joined by the shortest segment, a + s wrap(b - a) for s in [0, 1]; where it leaves the square through an edge
    /// (a coordinate reaching pi or falling below -pi) it is cut at the edge and continued from the opposite edge, so a
    /// step from 179° to -179° becomes the pieces 179°..180° and -180°..-179°. A non-finite point ends the current piece.
    /// Only pieces of at least two points are returned.
    /// </summary>
    public static IReadOnlyList<(double X, double Y)[]> SplitTorusPath(IReadOnlyList<(double X, double Y)> path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var pieces = new List<(double X, double Y)[]>();
        var current = new List<(double X, double Y)>();
        void Close()
        {
            if (current.Count >= 2) pieces.Add(current.ToArray());
            current.Clear();
        }
        (double X, double Y)? previous = null;
        foreach (var raw in path)
        {
            if (!double.IsFinite(raw.X) || !double.IsFinite(raw.Y)) { Close(); previous = null; continue; }
            var b = (X: FlatTorus.Wrap(raw.X), Y: FlatTorus.Wrap(raw.Y));
            if (previous is not { } a) { current.Add(b); previous = b; continue; }
            double dx = FlatTorus.Wrap(b.X - a.X), dy = FlatTorus.Wrap(b.Y - a.Y);
            // The unwrapped end a + d leaves [-pi, pi) through at most one edge per coordinate, since |d_i| <= pi.
            var cuts = new List<(double S, int Axis, int Sign)>(2);
            if (a.X + dx >= Math.PI) cuts.Add(((Math.PI - a.X) / dx, 0, 1));
            else if (a.X + dx < -Math.PI) cuts.Add(((-Math.PI - a.X) / dx, 0, -1));
            if (a.Y + dy >= Math.PI) cuts.Add(((Math.PI - a.Y) / dy, 1, 1));
            else if (a.Y + dy < -Math.PI) cuts.Add(((-Math.PI - a.Y) / dy, 1, -1));
            cuts.Sort((u, v) => u.S.CompareTo(v.S));
            double offX = 0, offY = 0; // what is subtracted from the unwrapped segment to bring it back into the square
            foreach (var (s, axis, sign) in cuts)
            {
                var e = (X: a.X + s * dx, Y: a.Y + s * dy);
                // On the cut coordinate the crossing point is exactly the edge (its formula only rounds near it).
                if (axis == 0) e.X = sign * Math.PI; else e.Y = sign * Math.PI;
                current.Add((e.X - offX, e.Y - offY));
                Close();
                if (axis == 0) offX += sign * 2 * Math.PI; else offY += sign * 2 * Math.PI;
                current.Add((e.X - offX, e.Y - offY));
            }
            current.Add((a.X + dx - offX, a.Y + dy - offY));
            previous = b;
        }
        Close();
        return pieces;
    }

    /// <summary>
    /// A path on S^2 (points normalised first) as the pieces to draw on the Hammer map, in map coordinates. Consecutive
    /// points are joined by their great-circle arc, drawn through points at most <paramref name="maxStepRadians"/> apart (a
    /// chord on the map would not follow the sphere); where an arc crosses the seam (the meridian at ±180°, the half-plane
    /// y = 0, x &lt; 0) it is cut there, ending on one edge of the map and continuing from the other at the same latitude.
    /// Consecutive antipodal or non-finite points end the current piece (no arc is defined). Only pieces of at least two
    /// points are returned.
    /// </summary>
    public static IReadOnlyList<(double X, double Y)[]> SplitSpherePath(IReadOnlyList<(double X, double Y, double Z)> path, double maxStepRadians = Math.PI / 90)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!(maxStepRadians > 0 && maxStepRadians <= 1)) throw new ArgumentException($"maxStepRadians must be in (0, 1], got {maxStepRadians}");
        var pieces = new List<(double X, double Y)[]>();
        var current = new List<(double X, double Y)>();
        void Close()
        {
            if (current.Count >= 2) pieces.Add(current.ToArray());
            current.Clear();
        }
        (double X, double Y, double Z)? previous = null;
        foreach (var raw in path)
        {
            if (Normalised(raw) is not { } b) { Close(); previous = null; continue; }
            if (previous is not { } a) { current.Add(HammerProjection.Forward(b.X, b.Y, b.Z)); previous = b; continue; }
            var dot = a.X * b.X + a.Y * b.Y + a.Z * b.Z;
            var (cx, cy, cz) = (a.Y * b.Z - a.Z * b.Y, a.Z * b.X - a.X * b.Z, a.X * b.Y - a.Y * b.X);
            var sin = Math.Sqrt(cx * cx + cy * cy + cz * cz);
            var theta = Math.Atan2(sin, dot);
            if (sin < 1e-9 && dot < 0) { Close(); current.Add(HammerProjection.Forward(b.X, b.Y, b.Z)); previous = b; continue; }
            var steps = Math.Max(1, (int)Math.Ceiling(theta / maxStepRadians));
            var u = a;
            for (var k = 1; k <= steps; k++)
            {
                var v = k == steps ? b : Slerp(a, b, theta, sin, (double)k / steps);
                if (SeamCrossing(u, v) is { } c)
                {
                    // Latitude of the crossing; the piece ends on u's edge and the next starts on v's.
                    var phi = Math.Atan2(c.Z, Math.Sqrt(c.X * c.X + c.Y * c.Y));
                    current.Add(HammerProjection.FromLongitudeLatitude(East(u) ? Math.PI : -Math.PI, phi));
                    Close();
                    current.Add(HammerProjection.FromLongitudeLatitude(East(v) ? Math.PI : -Math.PI, phi));
                }
                current.Add(HammerProjection.Forward(v.X, v.Y, v.Z));
                u = v;
            }
            previous = b;
        }
        Close();
        return pieces;
    }

    /// <summary>True when the longitude atan2(y, x) of <paramref name="p"/> is &gt;= 0 (the right half of the map).</summary>
    private static bool East((double X, double Y, double Z) p) => Math.Atan2(p.Y, p.X) >= 0;

    /// <summary>Where the short arc from u to v crosses the seam y = 0, x &lt; 0, or null when it does not.</summary>
    private static (double X, double Y, double Z)? SeamCrossing((double X, double Y, double Z) u, (double X, double Y, double Z) v)
    {
        if (East(u) == East(v)) return null;
        // The arc meets the plane y = 0 where the chord does (the arc is the chord pushed out radially).
        var denominator = u.Y - v.Y;
        var s = denominator != 0 ? u.Y / denominator : 0.5;
        var c = (X: u.X + s * (v.X - u.X), Y: 0.0, Z: u.Z + s * (v.Z - u.Z));
        return c.X < 0 ? c : null; // x >= 0: the arc crosses the central meridian instead, which is no seam
    }

    private static (double X, double Y, double Z) Slerp((double X, double Y, double Z) a, (double X, double Y, double Z) b, double theta, double sin, double t)
    {
        // sin(theta) is |a x b|; for tiny arcs the chord, renormalised, is the arc to rounding.
        double wa, wb;
        if (sin < 1e-12) { wa = 1 - t; wb = t; }
        else { wa = Math.Sin((1 - t) * theta) / sin; wb = Math.Sin(t * theta) / sin; }
        return Normalised((wa * a.X + wb * b.X, wa * a.Y + wb * b.Y, wa * a.Z + wb * b.Z)) ?? b;
    }

    private static (double X, double Y, double Z)? Normalised((double X, double Y, double Z) p)
    {
        var n = Math.Sqrt(p.X * p.X + p.Y * p.Y + p.Z * p.Z);
        return n > 0 && double.IsFinite(n) ? (p.X / n, p.Y / n, p.Z / n) : null;
    }

    // ---- charts: the two geometries behind one drawing routine ----

    /// <summary>What the drawing routine needs to know about a manifold's picture.</summary>
    internal abstract class Chart
    {
        /// <summary>Coordinate columns of a point (2 angles or 3 ambient coordinates).</summary>
        public abstract int Columns { get; }
        /// <summary>The drawn rectangle in plot coordinates.</summary>
        public abstract CoordinateRect Extent { get; }
        /// <summary>Width of a panel (without colour bar) per pixel of height.</summary>
        public abstract double WidthPerHeight { get; }
        /// <summary>exp(log rho) at cell centres, row 0 at the top; NaN for cells that are not on the map.</summary>
        public abstract double[,] Density(Func<Tensor, Tensor> logDensity, int bins);
        /// <summary>A point (<see cref="Columns"/> finite values) in plot coordinates.</summary>
        public abstract (double X, double Y) Project(double[] row, int offset);
        /// <summary>One particle's recent positions as pieces to draw.</summary>
        public abstract IReadOnlyList<(double X, double Y)[]> Trail(IReadOnlyList<double[]> frames, int particle);
        /// <summary>Axes, ticks, graticule and limits.</summary>
        public abstract void Decorate(Plot plot, bool overDensity, int height);
        /// <summary>
        /// Fixes the data area inside a panel of <paramref name="width"/> x <paramref name="height"/> pixels (room for the
        /// title, ticks and any colour bar around it), so it has the same place and size in every panel and frame.
        /// </summary>
        public abstract void Layout(Plot plot, int width, int height, bool colourBar);
    }

    internal sealed class TorusChart(TorusAxes axes) : Chart
    {
        public override int Columns => 2;
        public override CoordinateRect Extent => new(-Math.PI, Math.PI, -Math.PI, Math.PI);
        public override double WidthPerHeight => 1;

        public override double[,] Density(Func<Tensor, Tensor> logDensity, int bins) =>
            DensityHeatmap.EvaluateOnGrid((_, x) => logDensity(x), 0, bins, -Math.PI, Math.PI, float64);

        public override (double X, double Y) Project(double[] row, int offset) => (FlatTorus.Wrap(row[offset]), FlatTorus.Wrap(row[offset + 1]));

        public override IReadOnlyList<(double X, double Y)[]> Trail(IReadOnlyList<double[]> frames, int particle) =>
            SplitTorusPath(frames.Select(f => (f[2 * particle], f[2 * particle + 1])).ToList());

        public override void Decorate(Plot plot, bool overDensity, int height)
        {
            double[] positions = [-Math.PI, -Math.PI / 2, 0, Math.PI / 2, Math.PI];
            string[] labels = axes.Ticks == AngleTicks.Degrees ? ["-180", "-90", "0", "90", "180"] : ["-π", "-π/2", "0", "π/2", "π"];
            plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(positions, labels);
            plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(positions, labels);
            plot.XLabel(axes.XLabel, size: 12);
            plot.YLabel(axes.YLabel, size: 12);
            plot.Axes.SetLimits(-Math.PI, Math.PI, -Math.PI, Math.PI);
        }

        public override void Layout(Plot plot, int width, int height, bool colourBar)
        {
            // A square data area of exactly [-pi, pi]^2 (no axis stretched to fill the panel): side = height - title - ticks.
            const int left = 54, top = 34, bottom = 44;
            var side = Math.Min(height - top - bottom, width - left - 8);
            plot.Layout.Fixed(new PixelPadding(left, width - left - side, height - top - side, top));
        }
    }

    internal sealed class SphereChart : Chart
    {
        public static SphereChart Instance { get; } = new();
        public override int Columns => 3;
        public override CoordinateRect Extent => new(-HammerProjection.HalfWidth, HammerProjection.HalfWidth, -HammerProjection.HalfHeight, HammerProjection.HalfHeight);
        public override double WidthPerHeight => 1.75; // the map is twice as wide as tall, the title takes some height

        public override double[,] Density(Func<Tensor, Tensor> logDensity, int bins)
        {
            // Square cells: bins rows over the height 2 sqrt 2, 2 bins columns over the width 4 sqrt 2.
            var (rows, cols) = (bins, 2 * bins);
            var cell = 2 * HammerProjection.HalfHeight / rows;
            var inside = new List<int>(rows * cols);
            var vectors = new List<double>(3 * rows * cols);
            for (var r = 0; r < rows; r++)
                for (var c = 0; c < cols; c++)
                {
                    var x = -HammerProjection.HalfWidth + (c + 0.5) * cell;
                    var y = HammerProjection.HalfHeight - (r + 0.5) * cell;
                    if (HammerProjection.Inverse(x, y) is not { } p) continue;
                    inside.Add(r * cols + c);
                    vectors.Add(p.X); vectors.Add(p.Y); vectors.Add(p.Z);
                }
            var density = new double[rows, cols];
            for (var r = 0; r < rows; r++) for (var c = 0; c < cols; c++) density[r, c] = double.NaN;
            if (inside.Count == 0) return density;
            using var scope = NewDisposeScope();
            using var grid = tensor(vectors.ToArray(), [inside.Count, 3]);
            var values = logDensity(grid).exp().to(float64).cpu().data<double>().ToArray();
            if (values.Length != inside.Count) throw new ArgumentException($"the log-density gave {values.Length} values for {inside.Count} points");
            for (var k = 0; k < inside.Count; k++) density[inside[k] / cols, inside[k] % cols] = double.IsFinite(values[k]) ? values[k] : 0;
            return density;
        }

        public override (double X, double Y) Project(double[] row, int offset) => HammerProjection.Forward(row[offset], row[offset + 1], row[offset + 2]);

        public override IReadOnlyList<(double X, double Y)[]> Trail(IReadOnlyList<double[]> frames, int particle) =>
            SplitSpherePath(frames.Select(f => (f[3 * particle], f[3 * particle + 1], f[3 * particle + 2])).ToList());

        public override void Decorate(Plot plot, bool overDensity, int height)
        {
            var line = overDensity ? Colors.White.WithAlpha(0.35) : Colors.Gray.WithAlpha(0.45);
            // Meridians every 30° and parallels every 30°, each as a projected polyline (1° steps).
            for (var lon = -150; lon <= 150; lon += 30)
                AddLine(plot, Enumerable.Range(-90, 181).Select(lat => HammerProjection.FromLongitudeLatitude(lon * Math.PI / 180, lat * Math.PI / 180)), line, 1);
            for (var lat = -60; lat <= 60; lat += 30)
                AddLine(plot, Enumerable.Range(-180, 361).Select(lon => HammerProjection.FromLongitudeLatitude(lon * Math.PI / 180, lat * Math.PI / 180)), line, 1);
            // The outline is the seam (the meridian at ±180°, once on each side).
            foreach (var side in new[] { -Math.PI, Math.PI })
                AddLine(plot, Enumerable.Range(-90, 181).Select(lat => HammerProjection.FromLongitudeLatitude(side, lat * Math.PI / 180)), Colors.DimGray, 1.5f);
            var text = overDensity ? Colors.White : Colors.DimGray;
            // Longitude labels along the equator only where there is room for them.
            foreach (var lon in height >= 200 ? new[] { -120, -60, 0, 60, 120 } : [])
            {
                var (x, y) = HammerProjection.FromLongitudeLatitude(lon * Math.PI / 180, 0);
                var label = plot.Add.Text(lon.ToString(CultureInfo.InvariantCulture) + "°", x, y);
                label.LabelFontSize = 10; label.LabelFontColor = text; label.LabelAlignment = Alignment.UpperCenter;
            }
            foreach (var (name, y, align) in new[] { ("N", HammerProjection.HalfHeight, Alignment.LowerCenter), ("S", -HammerProjection.HalfHeight, Alignment.UpperCenter) })
            {
                var label = plot.Add.Text(name, 0, y);
                label.LabelFontSize = 10; label.LabelFontColor = Colors.DimGray; label.LabelAlignment = align;
            }
            plot.HideAxesAndGrid();
            plot.Axes.Title.IsVisible = true;
            plot.Axes.SetLimits(-HammerProjection.HalfWidth * 1.02, HammerProjection.HalfWidth * 1.02, -HammerProjection.HalfHeight * 1.2, HammerProjection.HalfHeight * 1.2); // room for the N and S labels
            plot.Axes.SquareUnits();
        }

        public override void Layout(Plot plot, int width, int height, bool colourBar)
        {
            // Room for the title above and the colour bar (if any) to the right, the map centred in the rest; SquareUnits
            // then keeps the map's shape.
            const int top = 34, bottom = 14;
            var bar = colourBar ? ColourBarWidth : 0;
            var spare = Math.Max(8, width - bar - (int)(1.7 * (height - top - bottom)));
            plot.Layout.Fixed(new PixelPadding(spare / 2, spare - spare / 2 + bar, bottom, top));
        }

        private static void AddLine(Plot plot, IEnumerable<(double X, double Y)> points, Color colour, float width)
        {
            var p = points.ToArray();
            var s = plot.Add.Scatter(p.Select(q => q.X).ToArray(), p.Select(q => q.Y).ToArray());
            s.MarkerSize = 0; s.LineWidth = width; s.Color = colour;
        }
    }

    // ---- drawing ----

    /// <summary>Where a panel's data landed in the figure: its left pixel, its data rectangle (panel pixels) and its axis limits.</summary>
    internal sealed record PanelFrame(int Left, PixelRect DataRect, AxisLimits Limits)
    {
        /// <summary>The figure pixel of plot coordinates (x, y).</summary>
        public (double Column, double Row) Pixel(double x, double y) => (
            Left + DataRect.Left + (x - Limits.Left) / (Limits.Right - Limits.Left) * DataRect.Width,
            DataRect.Top + (Limits.Top - y) / (Limits.Top - Limits.Bottom) * DataRect.Height);
    }

    private static IReadOnlyList<ManifoldPanel> RowPanels(Func<double, Tensor, Tensor> logDensity, IReadOnlyList<double>? times, IReadOnlyList<Tensor>? particles)
    {
        ArgumentNullException.ThrowIfNull(logDensity);
        var ts = times ?? [0, 0.25, 0.5, 0.75, 1];
        if (ts.Count == 0) throw new ArgumentException("give at least one time");
        if (particles is not null && particles.Count != ts.Count) throw new ArgumentException($"{particles.Count} particle sets for {ts.Count} times");
        return ts.Select((t, k) => new ManifoldPanel($"ρ(t), t = {t.ToString("0.##", CultureInfo.InvariantCulture)}", particles?[k], x => logDensity(t, x))).ToList();
    }

    private static void SavePanels(string path, Chart chart, IReadOnlyList<ManifoldPanel> panels, ManifoldFigureOptions o, bool sharedByDefault)
    {
        ArgumentNullException.ThrowIfNull(path);
        CheckFolder(path, "figure");
        var (bitmap, _) = RenderPanels(chart, panels, o, sharedByDefault);
        using (bitmap)
        {
            using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
            AtomicFile.Write(path, s => data.SaveTo(s));
        }
    }

    /// <summary>Draws the panels side by side; returns the bitmap and where each panel's data area is (for tests).</summary>
    internal static (SKBitmap Bitmap, IReadOnlyList<PanelFrame> Frames) RenderPanels(Chart chart, IReadOnlyList<ManifoldPanel> panels, ManifoldFigureOptions o, bool sharedByDefault)
    {
        ArgumentNullException.ThrowIfNull(panels);
        if (panels.Count == 0) throw new ArgumentException("a figure needs at least one panel");
        Check(o.PanelSize, o.Bins, o.MaxPoints);
        var densities = panels.Select(p => p.LogDensity is null ? null : chart.Density(p.LogDensity, o.Bins)).ToList();
        var points = panels.Select(p => p.Points is null ? ((double[] Xs, double[] Ys, int Dropped)?)null : Points(chart, p.Points, $"panel '{p.Title}'", o.MaxPoints)).ToList();
        var shared = (o.SharedColourScale ?? sharedByDefault) ? Maximum(densities.Where(d => d is not null).SelectMany(d => d!.Cast<double>())) : (double?)null;
        var anyDensity = densities.Any(d => d is not null);
        var width = (int)(chart.WidthPerHeight * o.PanelSize) + (anyDensity ? ColourBarWidth : 0);
        return Compose(panels.Count, width, o.PanelSize, (i, plot) =>
        {
            var title = points[i] is { Dropped: > 0 } pts ? SampleScatterPlot.PanelTitle(panels[i].Title, pts.Dropped) : panels[i].Title;
            plot.Title(title, size: PlotFonts.FitSize(title, 14, width * 0.8f));
            if (densities[i] is { } d) AddDensity(plot, chart, d, shared ?? Maximum(d.Cast<double>()), o.DensityLabel);
            if (points[i] is { } p)
            {
                var dots = plot.Add.ScatterPoints(p.Xs, p.Ys);
                dots.MarkerSize = p.Xs.Length > 2000 ? 2f : 3.5f;
                dots.MarkerShape = MarkerShape.FilledCircle;
                dots.Color = densities[i] is not null ? Colors.White.WithAlpha(0.8) : (i == 0 ? Colors.Black : Colors.RoyalBlue).WithAlpha(p.Xs.Length > 2000 ? 0.4 : 0.8);
                // White points over a density get a dark rim, so they stay visible where the density is near its maximum (yellow).
                if (densities[i] is not null) { dots.MarkerStyle.OutlineColor = Colors.Black.WithAlpha(0.6); dots.MarkerStyle.OutlineWidth = 0.6f; }
            }
            chart.Decorate(plot, densities[i] is not null, o.PanelSize);
            chart.Layout(plot, width, o.PanelSize, densities[i] is not null);
        });
    }

    private static void SaveAnimation(string path, Chart chart, IReadOnlyList<Tensor> snapshots, IReadOnlyList<double> times, ManifoldAnimationOptions o)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(snapshots);
        ArgumentNullException.ThrowIfNull(times);
        if (snapshots.Count < 2) throw new ArgumentException($"an animation needs at least 2 snapshots, got {snapshots.Count}");
        if (times.Count != snapshots.Count) throw new ArgumentException($"{times.Count} times for {snapshots.Count} snapshots");
        Check(o.Size, o.Bins, o.MaxParticles);
        if (o.TrailFrames < 0) throw new ArgumentException($"trail frames must be >= 0, got {o.TrailFrames}");
        if (o.FrameMilliseconds is < 1 or > 65535 || o.LastFrameMilliseconds is < 1 or > 65535) throw new ArgumentException("frame times must be 1..65535 ms");
        CheckFolder(path, "animation");
        var frames = snapshots.Select((s, k) => Rows(s, chart.Columns, $"snapshot {k}")).ToList();
        var n = frames[0].Length / chart.Columns;
        for (var k = 1; k < frames.Count; k++)
            if (frames[k].Length != frames[0].Length) throw new ArgumentException($"snapshot {k} has {frames[k].Length / chart.Columns} particles, snapshot 0 has {n}");
        var shown = Math.Min(n, o.MaxParticles);
        var densities = o.LogDensity is { } f ? times.Select(t => chart.Density(x => f(t, x), o.Bins)).ToList() : null;
        // One colour scale for the whole animation, so brightness means the same in every frame.
        var vmax = densities is null ? 0 : Maximum(densities.SelectMany(d => d.Cast<double>()));
        var width = (int)(chart.WidthPerHeight * o.Size) + (densities is null ? 0 : ColourBarWidth);
        var encoded = new List<byte[]>(frames.Count);
        for (var k = 0; k < frames.Count; k++)
        {
            var (bitmap, _) = Compose(1, width, o.Size, (_, plot) =>
            {
                var title = $"{o.Title}, {ImageAnimation.TimeCaption(times[k])}";
                plot.Title(title, size: PlotFonts.FitSize(title, 14, width * 0.8f));
                if (densities is not null) AddDensity(plot, chart, densities[k], vmax, "ρ(t)");
                var trailColour = (densities is null ? Colors.SteelBlue : Colors.White).WithAlpha(0.45);
                var window = frames.Skip(Math.Max(0, k - o.TrailFrames)).Take(Math.Min(k, o.TrailFrames) + 1).ToList();
                if (window.Count >= 2)
                    for (var p = 0; p < shown; p++)
                        foreach (var piece in chart.Trail(window, p))
                        {
                            var s = plot.Add.Scatter(piece.Select(q => q.X).ToArray(), piece.Select(q => q.Y).ToArray());
                            s.MarkerSize = 0; s.LineWidth = 1; s.Color = trailColour;
                        }
                var xs = new List<double>(shown); var ys = new List<double>(shown);
                for (var p = 0; p < shown; p++)
                {
                    var row = frames[k].AsSpan(p * chart.Columns, chart.Columns);
                    var finite = true;
                    foreach (var v in row) finite &= double.IsFinite(v);
                    if (!finite) continue;
                    var (x, y) = chart.Project(frames[k], p * chart.Columns);
                    xs.Add(x); ys.Add(y);
                }
                var dots = plot.Add.ScatterPoints(xs.ToArray(), ys.ToArray());
                dots.MarkerSize = 3.5f; dots.MarkerShape = MarkerShape.FilledCircle;
                dots.Color = densities is null ? Colors.OrangeRed : Colors.White;
                chart.Decorate(plot, densities is not null, o.Size);
                chart.Layout(plot, width, o.Size, densities is not null);
            });
            using (bitmap)
            using (var data = bitmap.Encode(SKEncodedImageFormat.Png, 100))
                encoded.Add(data.ToArray());
        }
        var delays = Enumerable.Range(0, frames.Count).Select(k => k == frames.Count - 1 ? o.LastFrameMilliseconds : o.FrameMilliseconds).ToList();
        ApngWriter.Write(path, encoded, delays, o.StillPath);
    }

    private static void AddDensity(Plot plot, Chart chart, double[,] density, double vmax, string label)
    {
        var heat = plot.Add.Heatmap(density);
        heat.Colormap = new ScottPlot.Colormaps.Viridis();
        heat.ManualRange = new ScottPlot.Range(0, vmax);
        heat.NaNCellColor = Colors.Transparent; // off the map (the sphere's corners): background shows through
        heat.Rectangle = chart.Extent;
        plot.Add.ColorBar(heat).Label = label;
    }

    /// <summary>The largest finite value (cells off the map are NaN), at least 1e-300 so a colour range exists.</summary>
    private static double Maximum(IEnumerable<double> values)
    {
        var m = 0.0;
        foreach (var v in values) if (double.IsFinite(v) && v > m) m = v;
        return Math.Max(m, 1e-300);
    }

    /// <summary>The first <paramref name="max"/> points as plot coordinates; rows with a non-finite coordinate are not drawn and counted.</summary>
    private static (double[] Xs, double[] Ys, int Dropped) Points(Chart chart, Tensor points, string what, int max)
    {
        var v = Rows(points, chart.Columns, what);
        var n = v.Length / chart.Columns;
        var xs = new List<double>(Math.Min(n, max)); var ys = new List<double>(Math.Min(n, max));
        var dropped = 0;
        for (var i = 0; i < n; i++)
        {
            var finite = true;
            for (var c = 0; c < chart.Columns; c++) finite &= double.IsFinite(v[i * chart.Columns + c]);
            if (!finite) { dropped++; continue; }
            if (xs.Count >= max) continue;
            var (x, y) = chart.Project(v, i * chart.Columns);
            if (!double.IsFinite(x) || !double.IsFinite(y)) { dropped++; continue; } // a zero vector has no direction
            xs.Add(x); ys.Add(y);
        }
        return (xs.ToArray(), ys.ToArray(), dropped);
    }

    /// <summary>The values of a [n, columns] tensor, row-major, in float64.</summary>
    private static double[] Rows(Tensor points, int columns, string what)
    {
        ArgumentNullException.ThrowIfNull(points);
        if (points.dim() != 2 || points.shape[1] != columns)
            throw new ArgumentException($"{what} needs [n, {columns}] points, got [{string.Join(",", points.shape)}]");
        using var cpu = points.detach().to(float64).cpu().contiguous();
        return cpu.data<double>().ToArray();
    }

    private static void Check(int size, int bins, int max)
    {
        if (size < 100 || size > 4000) throw new ArgumentException($"size must be in 100..4000 pixels, got {size}");
        if (bins < 2 || bins > 1000) throw new ArgumentException($"bins must be in 2..1000, got {bins}");
        if (max < 1) throw new ArgumentException($"the most points drawn must be >= 1, got {max}");
    }

    private static void CheckFolder(string path, string what)
    {
        // Checked before rendering so a typo in the folder fails fast instead of after the drawing.
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"cannot write {what} '{path}': folder '{folder}' does not exist");
    }

    /// <summary>Renders <paramref name="count"/> plots side by side, each on its own surface (Plot.Render clears its canvas), and records their data areas.</summary>
    internal static (SKBitmap, IReadOnlyList<PanelFrame>) Compose(int count, int panelWidth, int panelHeight, Action<int, Plot> draw)
    {
        var bitmap = new SKBitmap(count * panelWidth, panelHeight);
        var frames = new List<PanelFrame>(count);
        try
        {
            using var canvas = new SKCanvas(bitmap);
            canvas.Clear(SKColors.White);
            for (var i = 0; i < count; i++)
            {
                using var plot = new Plot();
                if (PlotFonts.Family is { } font) plot.Font.Set(font);
                draw(i, plot);
                using var surface = SKSurface.Create(new SKImageInfo(panelWidth, panelHeight)) ?? throw new InvalidOperationException("could not create a drawing surface");
                plot.Render(surface);
                var last = plot.RenderManager.LastRender;
                frames.Add(new PanelFrame(i * panelWidth, last.DataRect, last.AxisLimits));
                using var image = surface.Snapshot();
                canvas.DrawImage(image, i * panelWidth, 0);
            }
        }
        catch
        {
            bitmap.Dispose();
            throw;
        }
        return (bitmap, frames);
    }
}
