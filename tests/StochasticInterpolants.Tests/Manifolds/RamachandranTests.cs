using System.Diagnostics;
using StochasticInterpolants.Data;
using StochasticInterpolants.Files;
using StochasticInterpolants.Manifolds;
using StochasticInterpolants.Runs;
using Xunit.Abstractions;

namespace StochasticInterpolants.Tests.Manifolds;

/// <summary>
/// Protein backbone dihedral angles as points of T^2: the dihedral formula on constructed points, a hand-written PDB text
/// (an ideal alpha helix with a chain break, an alternate location, a HETATM residue and a second model), malformed lines,
/// and the Ramachandran set of Debian's pymol-data package.
/// </summary>
public sealed class RamachandranTests(ITestOutputHelper output)
{
    private const double Degree = Math.PI / 180;

    /// <summary>a, b, c, d with dihedral theta about b -> c: a = (1, 0, 0), b = 0, c = (0, 0, 1), d = (cos theta, sin theta, 1),
    /// then moved by a rotation about (1, 2, 2)/3 by 0.7 rad, scaled by 1.5 and shifted by (3, -4, 5) (a dihedral is invariant under these).</summary>
    private static Point3[] Quadruple(double theta)
    {
        Point3[] p = [new(1, 0, 0), new(0, 0, 0), new(0, 0, 1), new(Math.Cos(theta), Math.Sin(theta), 1)];
        var (ux, uy, uz) = (1.0 / 3, 2.0 / 3, 2.0 / 3);
        var (c, s) = (Math.Cos(0.7), Math.Sin(0.7));
        Point3 Move(Point3 v)
        {
            // Rodrigues: v cos + (u x v) sin + u (u . v)(1 - cos).
            var u = new Point3(ux, uy, uz);
            var cross = Point3.Cross(u, v);
            var dot = Point3.Dot(u, v) * (1 - c);
            return new Point3(1.5 * (v.X * c + cross.X * s + ux * dot) + 3, 1.5 * (v.Y * c + cross.Y * s + uy * dot) - 4, 1.5 * (v.Z * c + cross.Z * s + uz * dot) + 5);
        }
        return [.. p.Select(Move)];
    }

    [Theory]
    [InlineData(60.0)]
    [InlineData(-120.0)]
    [InlineData(180.0)]
    [InlineData(-179.0)]
    [InlineData(5.0)]
    public void Dihedral_of_constructed_points_is_known_to_1e12(double degrees)
    {
        var p = Quadruple(degrees * Degree);
        var angle = PdbBackbone.Dihedral(p[0], p[1], p[2], p[3]);
        Assert.InRange(angle, -Math.PI, Math.PI);
        Assert.True(angle > -Math.PI);
        var error = Math.Abs(FlatTorus.Wrap(angle - degrees * Degree));
        output.WriteLine($"{degrees} deg: {angle / Degree:R} deg, error {error:E2} rad");
        Assert.True(error < 1e-12, $"error {error}");
    }

    [Fact]
    public void Dihedral_of_a_planar_trans_quadruple_is_pi_not_minus_pi()
    {
        Assert.Equal(Math.PI, PdbBackbone.Dihedral(new(1, 0, 0), new(0, 0, 0), new(0, 0, 1), new(-1, 0, 1)));
        Assert.Equal(Math.PI, PdbBackbone.Dihedral(new(1, 0, 0), new(0, 0, 0), new(0, 0, 1), new(-1, -0.0, 1)));
        Assert.Equal(0.0, PdbBackbone.Dihedral(new(1, 0, 0), new(0, 0, 0), new(0, 0, 1), new(1, 0, 1)));
        // The mirror image flips the sign: phi of a left-handed copy.
        Assert.Equal(-Math.PI / 2, PdbBackbone.Dihedral(new(1, 0, 0), new(0, 0, 0), new(0, 0, 1), new(0, -1, 1)), 1e-15);
    }

    /// <summary>
    /// Residues 1-4 of chain A: an ideal alpha helix built from phi = -57, psi = -47, omega = 180 degrees and standard bond
    /// lengths and angles (N-CA 1.458, CA-C 1.525, C-N 1.329 A; 111.2, 116.2, 121.7 degrees), coordinates rounded to 0.001 A
    /// (which moves the angles by at most 0.04 degrees); residue 2 has an altLoc B CA far away listed before its altLoc A CA.
    /// Residue 5 of chain A lies 20 A away (a chain break); HETATM residue 6 is bonded to it but must be skipped. Model 2
    /// (chain B, the same helix) must be ignored.
    /// </summary>
    private const string Helix = """
        HEADER    TEST HELIX
        MODEL        1
        ATOM      1  N   ALA A   1       0.000   0.000   0.000  1.00 20.00           N
        ATOM      2  CA  ALA A   1       1.458   0.000   0.000  1.00 20.00           C
        ATOM      3  C   ALA A   1       2.009   1.422   0.000  1.00 20.00           C
        ATOM      4  O   ALA A   1       3.209   1.622   0.200  1.00 20.00           O
        ATOM      5  N   GLY A   2       1.463   2.263  -0.872  1.00 20.00           N
        ATOM      6  CA BGLY A   2       5.000   5.000   5.000  1.00 20.00           C
        ATOM      7  CA AGLY A   2       1.899   3.650  -0.974  1.00 20.00           C
        ATOM      8  C   GLY A   2       1.768   4.370   0.364  1.00 20.00           C
        ATOM      9  N   LEU A   3       0.618   4.205   1.008  1.00 20.00           N
        ATOM     10  CA  LEU A   3       0.364   4.838   2.297  1.00 20.00           C
        ATOM     11  C   LEU A   3       1.421   4.443   3.323  1.00 20.00           C
        ATOM     12  N   LYS A   4       1.711   3.149   3.398  1.00 20.00           N
        ATOM     13  CA  LYS A   4       2.704   2.639   4.337  1.00 20.00           C
        ATOM     14  C   LYS A   4       4.057   3.309   4.126  1.00 20.00           C
        ATOM     15  N   ALA A   5      20.000   0.000   0.000  1.00 20.00           N
        ATOM     16  CA  ALA A   5      21.458   0.000   0.000  1.00 20.00           C
        ATOM     17  C   ALA A   5      22.009   1.422   0.000  1.00 20.00           C
        HETATM   18  N   MSE A   6      22.500   2.300  -0.900  1.00 20.00           N
        HETATM   19  CA  MSE A   6      23.000   3.600  -1.000  1.00 20.00           C
        HETATM   20  C   MSE A   6      22.800   4.400   0.400  1.00 20.00           C
        ENDMDL
        MODEL        2
        ATOM      1  N   ALA B   1       0.000   0.000   0.000  1.00 20.00           N
        ATOM      2  CA  ALA B   1       1.458   0.000   0.000  1.00 20.00           C
        ATOM      3  C   ALA B   1       2.009   1.422   0.000  1.00 20.00           C
        ATOM      5  N   GLY B   2       1.463   2.263  -0.872  1.00 20.00           N
        ATOM      7  CA AGLY B   2       1.899   3.650  -0.974  1.00 20.00           C
        ATOM      8  C   GLY B   2       1.768   4.370   0.364  1.00 20.00           C
        ATOM      9  N   LEU B   3       0.618   4.205   1.008  1.00 20.00           N
        ATOM     10  CA  LEU B   3       0.364   4.838   2.297  1.00 20.00           C
        ATOM     11  C   LEU B   3       1.421   4.443   3.323  1.00 20.00           C
        ATOM     12  N   LYS B   4       1.711   3.149   3.398  1.00 20.00           N
        ATOM     13  CA  LYS B   4       2.704   2.639   4.337  1.00 20.00           C
        ATOM     14  C   LYS B   4       4.057   3.309   4.126  1.00 20.00           C
        ENDMDL
        END
        """;

    [Fact]
    public void An_ideal_alpha_helix_gives_phi_minus_57_and_psi_minus_47_and_breaks_give_no_angle()
    {
        var residues = PdbBackbone.Read(new StringReader(Helix), "helix.pdb");
        Assert.Equal(new[] { "ALA", "GLY", "LEU", "LYS", "ALA" }, residues.Select(r => r.Name));
        Assert.All(residues, r => Assert.Equal('A', r.Chain));
        Assert.Equal(new[] { 1, 2, 3, 4, 5 }, residues.Select(r => r.Number));
        const double tolerance = 0.1 * Degree;
        void Near(double expectedDegrees, double? actual)
        {
            Assert.NotNull(actual);
            output.WriteLine($"expected {expectedDegrees} deg, got {actual!.Value / Degree:F4} deg");
            Assert.InRange(actual.Value, expectedDegrees * Degree - tolerance, expectedDegrees * Degree + tolerance);
        }
        Assert.Null(residues[0].Phi); // first residue of the chain
        Near(-47, residues[0].Psi);
        for (var i = 1; i <= 2; i++) { Near(-57, residues[i].Phi); Near(-47, residues[i].Psi); }
        Near(-57, residues[3].Phi);
        Assert.Null(residues[3].Psi); // N of residue 5 is 20 A away: a chain break
        Assert.Null(residues[4].Phi);
        Assert.Null(residues[4].Psi); // the bonded MSE after it is a HETATM record
        var angles = PdbBackbone.Angles(residues);
        Assert.Equal(2, angles.Count); // residues 2 and 3; model 2 ignored
        Assert.All(angles, a => { Assert.InRange(a.Phi, -Math.PI, Math.PI - 1e-15); Assert.InRange(a.Psi, -Math.PI, Math.PI - 1e-15); });
    }

    [Fact]
    public void The_altLoc_B_atom_would_change_phi_were_it_read()
    {
        // Guards the test above: dropping the altLoc A line leaves the B atom, which must then also be ignored (no CA: no angles).
        var withoutA = string.Join('\n', Helix.Split('\n').Where(l => !l.Contains("CA AGLY A", StringComparison.Ordinal)));
        var residues = PdbBackbone.Read(new StringReader(withoutA), "helix.pdb");
        Assert.Null(residues[1].Phi);
        Assert.Null(residues[1].Psi);
        Assert.Equal(-57 * Degree, residues[2].Phi!.Value, 0.1 * Degree);
        Assert.Single(PdbBackbone.Angles(residues));
    }

    [Theory]
    [InlineData("ATOM      5  N   GLY A   2       1.463   2.263", "needs 54 columns")]
    [InlineData("ATOM      5  N   GLY A   2       1.463   abcde  -0.872  1.00 20.00           N", "y (columns 39-46)")]
    [InlineData("ATOM      5  N   GLY A  x2       1.463   2.263  -0.872  1.00 20.00           N", "residue number")]
    public void A_malformed_ATOM_line_is_named_by_its_number(string bad, string expected)
    {
        var lines = Helix.Split('\n').ToList();
        var at = lines.FindIndex(l => l.StartsWith("ATOM      5", StringComparison.Ordinal));
        lines[at] = bad;
        var e = Assert.Throws<DataFormatException>(() => PdbBackbone.Read(new StringReader(string.Join('\n', lines)), "bad.pdb"));
        Assert.Contains("'bad.pdb' line 7", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void The_Ramachandran_set_of_pymol_data_lies_mostly_at_negative_phi_with_a_sizable_helix_basin()
    {
        // Fetches pymol-data (~1.4 MB) with apt-get download the first time on this machine, as the image data set tests do.
        var clock = Stopwatch.StartNew();
        using var data = ProteinAngles.Load("ramachandran", m => output.WriteLine(m));
        var seconds = clock.Elapsed.TotalSeconds;
        var start = 0;
        var all = data.Angles.data<float>().ToArray();
        foreach (var (file, n) in data.Residues)
        {
            var negative = Enumerable.Range(start, n).Count(i => all[2 * i] < 0);
            output.WriteLine($"{file}: {n} residues, phi < 0 for {negative}");
            start += n;
        }
        var count = data.Count;
        Assert.Equal(data.Residues.Sum(r => r.Residues), count);
        // 3AL1 holds two chains of a 12-residue designed helical peptide: 20 residues with both angles.
        Assert.All(data.Residues, r => Assert.True(r.Residues >= 20, $"{r.File}: {r.Residues} residues"));
        Assert.InRange(count, 500, 5000);
        Assert.Equal(TorchSharp.torch.ScalarType.Float32, data.Angles.dtype);
        Assert.Equal(new long[] { count, 2 }, data.Angles.shape);
        var values = data.Angles.data<float>().ToArray();
        Assert.All(values, v => Assert.True(v >= -Math.PI && v < Math.PI, $"angle {v}"));
        var phi = values.Where((_, i) => i % 2 == 0).ToArray();
        var psi = values.Where((_, i) => i % 2 == 1).ToArray();
        var negativePhi = phi.Count(p => p < 0) / (double)count;
        var helix = phi.Zip(psi).Count(a => a.First >= -100 * Degree && a.First <= -30 * Degree && a.Second >= -80 * Degree && a.Second <= -10 * Degree) / (double)count;
        var sheet = phi.Zip(psi).Count(a => a.First >= -180 * Degree && a.First <= -45 * Degree && (a.Second >= 90 * Degree || a.Second <= -170 * Degree)) / (double)count;
        output.WriteLine($"n = {count}; phi < 0: {negativePhi:P1}; alpha basin: {helix:P1}; beta region: {sheet:P1}; fetch and parse {seconds:F2} s; {data.Source}; SHA-256 {data.Sha256}");
        Assert.True(negativePhi > 0.8, $"phi < 0 for {negativePhi:P1}");
        Assert.True(helix > 0.2, $"alpha-helix basin holds {helix:P1}");
        Assert.Matches("^[0-9a-f]{64}$", data.Sha256);
    }

    [Fact]
    public void A_fitted_von_Mises_product_beats_the_uniform_torus_on_held_out_residues()
    {
        // The baseline of issue 26's real-data figure: fitted on the even rows, scored on the odd ones (nats per residue).
        using var data = ProteinAngles.Load("ramachandran", m => output.WriteLine(m));
        using var scope = TorchSharp.torch.NewDisposeScope();
        var rows = data.Angles.shape[0];
        var train = data.Angles.index_select(0, TorchSharp.torch.arange(0, rows, 2));
        var test = data.Angles.index_select(0, TorchSharp.torch.arange(1, rows, 2));
        var fit = VonMisesProduct.Fit(train);
        var nll = -fit.LogDensity(test).mean().item<double>();
        var uniform = 2 * Math.Log(2 * Math.PI);
        output.WriteLine($"held-out NLL: von Mises product {nll:F3} nats (mu {fit.Mean[0] / Degree:F1}, {fit.Mean[1] / Degree:F1} deg; kappa {fit.Kappa[0]:F2}, {fit.Kappa[1]:F2}), uniform {uniform:F3}");
        Assert.True(nll < uniform - 0.3, $"von Mises product NLL {nll} vs uniform {uniform}");
    }

    [Fact]
    public void An_unknown_name_is_refused()
    {
        Assert.True(ProteinAngles.IsName(" Ramachandran "));
        Assert.Throws<StochasticInterpolants.Runtime.InvalidSettingException>(() => ProteinAngles.Load("proteins"));
    }
}
