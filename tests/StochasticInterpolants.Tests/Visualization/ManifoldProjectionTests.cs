using StochasticInterpolants.Manifolds;
using StochasticInterpolants.Visualization;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Visualization;

/// <summary>The Hammer projection keeps area, inverts exactly, and the path splitters cut at the seams and nowhere else.</summary>
public sealed class ManifoldProjectionTests
{
    private const double Degree = Math.PI / 180;

    [Fact]
    public void Hammer_jacobian_determinant_equals_the_sphere_area_element_everywhere()
    {
        // dX dY = cos(phi) d lambda d phi: det of d(X, Y) / d(lambda, phi), by central differences, over cos(phi) is 1.
        var rng = new Random(7);
        const double h = 1e-5;
        var worst = 0.0;
        for (var i = 0; i < 2000; i++)
        {
            var lambda = (rng.NextDouble() * 2 - 1) * (Math.PI - 0.01);
            var phi = (rng.NextDouble() * 2 - 1) * (Math.PI / 2 - 0.01);
            var (xl1, yl1) = HammerProjection.FromLongitudeLatitude(lambda + h, phi);
            var (xl0, yl0) = HammerProjection.FromLongitudeLatitude(lambda - h, phi);
            var (xp1, yp1) = HammerProjection.FromLongitudeLatitude(lambda, phi + h);
            var (xp0, yp0) = HammerProjection.FromLongitudeLatitude(lambda, phi - h);
            var det = ((xl1 - xl0) * (yp1 - yp0) - (xp1 - xp0) * (yl1 - yl0)) / (4 * h * h);
            worst = Math.Max(worst, Math.Abs(det / Math.Cos(phi) - 1));
        }
        Assert.True(worst < 1e-7, $"|det J / cos(phi) - 1| reached {worst:e2}");
    }

    [Fact]
    public void Uniform_points_on_the_sphere_land_uniformly_on_the_map()
    {
        // 200,000 uniform directions; cells of side sqrt(2)/4 lying wholly inside the ellipse must each hold
        // n * cell area / (4 pi) points up to Poisson noise: the chi-square over k cells is k +- sqrt(2k).
        using var scope = NewDisposeScope();
        using var g = new Generator(11);
        const int n = 200_000;
        var p = new Sphere(3).SampleUniform(n, g, ScalarType.Float64).data<double>().ToArray();
        var map = new (double X, double Y)[n];
        for (var i = 0; i < n; i++) map[i] = HammerProjection.Forward(p[3 * i], p[3 * i + 1], p[3 * i + 2]);
        const int cols = 16, rows = 8;
        var cell = 2 * HammerProjection.HalfHeight / rows;
        var (chi, cells) = ChiSquare(map, cols, rows, -HammerProjection.HalfWidth, -HammerProjection.HalfHeight, cell, cell,
            (c, r) => Corners(-HammerProjection.HalfWidth + c * cell, -HammerProjection.HalfHeight + r * cell, cell, cell).All(q => HammerProjection.Contains(q.X, q.Y)),
            n * cell * cell / (4 * Math.PI));
        Assert.True(cells >= 70, $"only {cells} cells inside the map");
        Assert.True(Math.Abs(chi - cells) < 5 * Math.Sqrt(2 * cells), $"chi-square {chi:F1} over {cells} cells: the map does not keep area");

        // The statistic can see a map that does not keep area: the plate carree (lambda, phi), taken as if it kept area
        // (the same count expected in every cell), fails it by far, its polar cells holding too few points.
        var plate = p.Chunk(3).Select(v => (Math.Atan2(v[1], v[0]), Math.Atan2(v[2], Math.Sqrt(v[0] * v[0] + v[1] * v[1])))).ToArray();
        var (chiPlate, platecells) = ChiSquare(plate, cols, rows, -Math.PI, -Math.PI / 2, 2 * Math.PI / cols, Math.PI / rows, (_, _) => true, (double)n / (cols * rows));
        Assert.True(chiPlate > 100 * platecells, $"plate carree chi-square only {chiPlate:F0} over {platecells} cells");
    }

    private static (double Chi, int Cells) ChiSquare((double X, double Y)[] points, int cols, int rows, double left, double bottom, double w, double h,
        Func<int, int, bool> use, double expected)
    {
        var counts = new int[cols, rows];
        foreach (var (x, y) in points)
        {
            var c = (int)Math.Floor((x - left) / w); var r = (int)Math.Floor((y - bottom) / h);
            if (c >= 0 && c < cols && r >= 0 && r < rows) counts[c, r]++;
        }
        double chi = 0; var cells = 0;
        for (var c = 0; c < cols; c++)
            for (var r = 0; r < rows; r++)
            {
                if (!use(c, r)) continue;
                chi += (counts[c, r] - expected) * (counts[c, r] - expected) / expected;
                cells++;
            }
        return (chi, cells);
    }

    private static (double X, double Y)[] Corners(double x, double y, double w, double h) => [(x, y), (x + w, y), (x, y + h), (x + w, y + h)];

    [Fact]
    public void Inverse_maps_pixels_to_unit_vectors_and_round_trips()
    {
        var worstNorm = 0.0; var worstMap = 0.0; var inside = 0;
        for (var r = 0; r < 200; r++)
            for (var c = 0; c < 400; c++)
            {
                var x = -HammerProjection.HalfWidth + (c + 0.5) * 2 * HammerProjection.HalfWidth / 400;
                var y = HammerProjection.HalfHeight - (r + 0.5) * 2 * HammerProjection.HalfHeight / 200;
                var p = HammerProjection.Inverse(x, y);
                Assert.Equal(HammerProjection.Contains(x, y), p is not null);
                if (p is not { } v) continue;
                inside++;
                worstNorm = Math.Max(worstNorm, Math.Abs(Math.Sqrt(v.X * v.X + v.Y * v.Y + v.Z * v.Z) - 1));
                var (bx, by) = HammerProjection.Forward(v.X, v.Y, v.Z);
                worstMap = Math.Max(worstMap, Math.Max(Math.Abs(bx - x), Math.Abs(by - y)));
            }
        // The ellipse covers pi / 4 of its bounding box.
        Assert.InRange(inside / 80000.0, Math.PI / 4 - 0.01, Math.PI / 4 + 0.01);
        Assert.True(worstNorm < 1e-12, $"| |p| - 1 | reached {worstNorm:e2}");
        Assert.True(worstMap < 1e-12, $"map -> sphere -> map moved a pixel centre by {worstMap:e2}");

        // sphere -> map -> sphere for random directions.
        var rng = new Random(3); var worstSphere = 0.0;
        for (var i = 0; i < 5000; i++)
        {
            var (a, b, z) = (rng.NextDouble() * 2 - 1, rng.NextDouble() * 2 - 1, rng.NextDouble() * 2 - 1);
            var norm = Math.Sqrt(a * a + b * b + z * z);
            (a, b, z) = (a / norm, b / norm, z / norm);
            var (mx, my) = HammerProjection.Forward(a, b, z);
            var q = HammerProjection.Inverse(mx, my) ?? throw new Xunit.Sdk.XunitException($"({a}, {b}, {z}) maps outside the ellipse");
            worstSphere = Math.Max(worstSphere, Math.Max(Math.Abs(q.X - a), Math.Max(Math.Abs(q.Y - b), Math.Abs(q.Z - z))));
        }
        Assert.True(worstSphere < 1e-12, $"sphere -> map -> sphere moved a point by {worstSphere:e2}");
        Assert.Null(HammerProjection.Inverse(2.9, 0));
        Assert.Null(HammerProjection.Inverse(0, 1.5));
    }

    [Fact]
    public void Landmarks_land_where_the_map_says()
    {
        static void Near((double X, double Y) got, double x, double y) { Assert.Equal(x, got.X, 1e-14); Assert.Equal(y, got.Y, 1e-14); }
        Near(HammerProjection.Forward(1, 0, 0), 0, 0);                               // centre: longitude 0 on the equator
        Near(HammerProjection.Forward(0, 0, 1), 0, Math.Sqrt(2));                    // north pole: top
        Near(HammerProjection.Forward(0, 0, -5), 0, -Math.Sqrt(2));                  // south pole, any length: bottom
        Near(HammerProjection.Forward(-1, 0, 0), 2 * Math.Sqrt(2), 0);               // atan2(+0, -1) = pi: right edge
        Near(HammerProjection.Forward(-1, -0.0, 0), -2 * Math.Sqrt(2), 0);           // atan2(-0, -1) = -pi: left edge
        Assert.True(HammerProjection.Forward(0, 1, 0).X > 1);                        // east is to the right
        Assert.True(double.IsNaN(HammerProjection.Forward(0, 0, 0).X));
    }

    [Fact]
    public void A_torus_step_across_the_edge_is_drawn_as_two_short_pieces()
    {
        var pieces = ManifoldFigures.SplitTorusPath([(179 * Degree, 10 * Degree), (-179 * Degree, 10 * Degree)]);
        Assert.Equal(2, pieces.Count);
        Assert.Equal(2, pieces[0].Length); Assert.Equal(2, pieces[1].Length);
        Assert.Equal(179 * Degree, pieces[0][0].X, 1e-12); Assert.Equal(Math.PI, pieces[0][1].X, 1e-12);
        Assert.Equal(-Math.PI, pieces[1][0].X, 1e-12); Assert.Equal(-179 * Degree, pieces[1][1].X, 1e-12);
        Assert.All(pieces.SelectMany(p => p), q => Assert.Equal(10 * Degree, q.Y, 1e-12));
        Assert.All(pieces, p => Assert.Equal(Degree, Length(p), 1e-12)); // each 1°, not 358° across the square

        // The reverse step, on psi.
        var down = ManifoldFigures.SplitTorusPath([(0.5, -179 * Degree), (0.5, 179 * Degree)]);
        Assert.Equal(2, down.Count);
        Assert.Equal(-Math.PI, down[0][^1].Y, 1e-12); Assert.Equal(Math.PI, down[1][0].Y, 1e-12);
    }

    [Fact]
    public void Torus_paths_keep_their_length_and_cut_only_at_edges()
    {
        // A straight path with slope 0.7 winding several times round: pieces together are exactly as long as the path,
        // every piece stays in the square, and every cut lies on an edge.
        var path = Enumerable.Range(0, 200).Select(k => (X: -3.0 + 0.11 * k, Y: 2.0 - 0.077 * k)).ToList();
        var pieces = ManifoldFigures.SplitTorusPath(path);
        var total = pieces.Sum(Length);
        Assert.Equal(199 * Math.Sqrt(0.11 * 0.11 + 0.077 * 0.077), total, 1e-9);
        Assert.All(pieces.SelectMany(p => p), q => { Assert.InRange(q.X, -Math.PI, Math.PI); Assert.InRange(q.Y, -Math.PI, Math.PI); });
        // Each time floor((a + pi) / 2 pi) changes along the unwrapped path, the path crosses an edge: one more piece.
        static int Cell(double a) => (int)Math.Floor((a + Math.PI) / (2 * Math.PI));
        var crossings = Math.Abs(Cell(path[^1].X) - Cell(path[0].X)) + Math.Abs(Cell(path[^1].Y) - Cell(path[0].Y));
        Assert.Equal(5, crossings);
        Assert.Equal(crossings + 1, pieces.Count);
        for (var i = 0; i + 1 < pieces.Count; i++)
        {
            var end = pieces[i][^1];
            Assert.True(Math.Abs(Math.Abs(end.X) - Math.PI) < 1e-12 || Math.Abs(Math.Abs(end.Y) - Math.PI) < 1e-12, $"piece {i} ends inside the square at {end}");
        }
        // A diagonal step through the corner is cut on both edges; a short step inside is one piece; NaN breaks a path.
        var corner = ManifoldFigures.SplitTorusPath([(3.1, 3.0), (-3.1, -3.0)]);
        Assert.Equal(3, corner.Count);
        Assert.Equal(Math.Sqrt((2 * Math.PI - 6.2) * (2 * Math.PI - 6.2) + (2 * Math.PI - 6.0) * (2 * Math.PI - 6.0)), corner.Sum(Length), 1e-12);
        Assert.Single(ManifoldFigures.SplitTorusPath([(0.0, 0.0), (0.5, -0.5), (1.0, 0.2)]));
        Assert.Equal(2, ManifoldFigures.SplitTorusPath([(0.0, 0.0), (0.5, 0.5), (double.NaN, 0), (1.0, 1.0), (1.2, 1.1)]).Count);
    }

    [Fact]
    public void A_sphere_path_across_the_seam_is_cut_there_and_nowhere_else()
    {
        static (double, double, double) Dir(double lonDeg, double latDeg) =>
            (Math.Cos(latDeg * Degree) * Math.Cos(lonDeg * Degree), Math.Cos(latDeg * Degree) * Math.Sin(lonDeg * Degree), Math.Sin(latDeg * Degree));
        var seam = ManifoldFigures.SplitSpherePath([Dir(179, 0), Dir(-179, 0)]);
        Assert.Equal(2, seam.Count);
        Assert.Equal(2 * Math.Sqrt(2), seam[0][^1].X, 1e-12); Assert.Equal(0, seam[0][^1].Y, 1e-12);
        Assert.Equal(-2 * Math.Sqrt(2), seam[1][0].X, 1e-12);
        Assert.All(seam, p => Assert.True(Math.Abs(p[^1].X - p[0].X) < 0.05, "a piece runs across the map"));

        // Crossing the central meridian is no seam; at latitude 40° the cut sits at the arc's own latitude.
        Assert.Single(ManifoldFigures.SplitSpherePath([Dir(-1, 0), Dir(1, 0)]));
        var high = ManifoldFigures.SplitSpherePath([Dir(170, 40), Dir(-170, 40)]);
        Assert.Equal(2, high.Count);
        var cut = HammerProjection.Inverse(high[0][^1].X, high[0][^1].Y)!.Value;
        Assert.Equal(0, cut.Y, 1e-9);
        Assert.True(cut.X < 0 && cut.Z > Math.Sin(40 * Degree)); // the great circle bulges poleward of the parallel

        // Long arcs follow the sphere: every drawn point is on the map and consecutive points are close.
        var around = Enumerable.Range(0, 13).Select(k => Dir(30 * k - 170, 60 * Math.Sin(k))).ToList();
        var pieces = ManifoldFigures.SplitSpherePath(around);
        Assert.All(pieces.SelectMany(p => p), q => Assert.True(q.X * q.X / 8 + q.Y * q.Y / 2 < 1 + 1e-12));
        Assert.All(pieces, p => { for (var i = 1; i < p.Length; i++) Assert.True(Math.Abs(p[i].X - p[i - 1].X) + Math.Abs(p[i].Y - p[i - 1].Y) < 0.3); });
    }

    private static double Length((double X, double Y)[] piece)
    {
        var l = 0.0;
        for (var i = 1; i < piece.Length; i++) l += Math.Sqrt((piece[i].X - piece[i - 1].X) * (piece[i].X - piece[i - 1].X) + (piece[i].Y - piece[i - 1].Y) * (piece[i].Y - piece[i - 1].Y));
        return l;
    }
}
