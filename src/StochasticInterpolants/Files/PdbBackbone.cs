using System.Globalization;
using StochasticInterpolants.Data;
using StochasticInterpolants.Manifolds;

namespace StochasticInterpolants.Files;

/// <summary>A point of R^3 in angstrom, in float64.</summary>
/// <param name="X">The x coordinate.</param>
/// <param name="Y">The y coordinate.</param>
/// <param name="Z">The z coordinate.</param>
public readonly record struct Point3(double X, double Y, double Z)
{
    /// <summary>a - b, coordinate by coordinate.</summary>
    public static Point3 operator -(Point3 a, Point3 b) => new(a.X - b.X, a.Y - b.Y, a.Z - b.Z);

    /// <summary>The cross product a x b = (a_y b_z - a_z b_y, a_z b_x - a_x b_z, a_x b_y - a_y b_x).</summary>
    public static Point3 Cross(Point3 a, Point3 b) => new(a.Y * b.Z - a.Z * b.Y, a.Z * b.X - a.X * b.Z, a.X * b.Y - a.Y * b.X);

    /// <summary>The dot product a . b = a_x b_x + a_y b_y + a_z b_z.</summary>
    public static double Dot(Point3 a, Point3 b) => a.X * b.X + a.Y * b.Y + a.Z * b.Z;

    /// <summary>The Euclidean norm |a| = sqrt(a . a).</summary>
    public double Norm => Math.Sqrt(Dot(this, this));
}

/// <summary>
/// One amino-acid residue of a protein chain with its backbone dihedral angles in radians, wrapped into [-pi, pi)
/// (<see cref="FlatTorus.Wrap(double)"/>); an angle is null where a neighbour is missing or not bonded (a chain break).
/// </summary>
/// <param name="Chain">The chain identifier (PDB column 22).</param>
/// <param name="Number">The residue sequence number (columns 23-26).</param>
/// <param name="InsertionCode">The insertion code (column 27; a space when blank).</param>
/// <param name="Name">The residue name (columns 18-20), e.g. ALA.</param>
/// <param name="Phi">phi(i) = dihedral(C(i-1), N(i), CA(i), C(i)), or null.</param>
/// <param name="Psi">psi(i) = dihedral(N(i), CA(i), C(i), N(i+1)), or null.</param>
public sealed record BackboneResidue(char Chain, int Number, char InsertionCode, string Name, double? Phi, double? Psi);

/// <summary>
/// Backbone dihedral angles (phi, psi) of the proteins in a PDB file — the points of the Ramachandran plot on the torus T^2.
/// Read: ATOM records only (HETATM and others are skipped), the first MODEL only (reading stops at the first ENDMDL),
/// alternate locations blank or 'A' only, and per residue (chain, number, insertion code) the first N, CA and C atom.
/// Columns per the PDB format: atom name 13-16, altLoc 17, residue name 18-20, chain 22, number 23-26, insertion code 27,
/// x, y, z 31-38, 39-46, 47-54. Neighbouring residues count as bonded when they are consecutive in the file, in the same
/// chain, and |C(i-1) - N(i)| &lt; <see cref="MaxPeptideBond"/>.
/// </summary>
public static class PdbBackbone
{
    /// <summary>The longest C(i-1)-N(i) distance taken as a peptide bond, in angstrom (the bond is about 1.33 A).</summary>
    public const double MaxPeptideBond = 2.0;

    /// <summary>
    /// The dihedral angle of the points a, b, c, d about the axis b -> c, in radians in (-pi, pi] (IUPAC sign: positive when,
    /// looking from b to c, a must turn clockwise to eclipse d): with b1 = b - a, b2 = c - b, b3 = d - c,
    /// atan2(|b2| b1 . (b2 x b3), (b1 x b2) . (b2 x b3)), and -pi mapped to pi. Computed in float64.
    /// </summary>
    public static double Dihedral(Point3 a, Point3 b, Point3 c, Point3 d)
    {
        var b1 = b - a;
        var b2 = c - b;
        var b3 = d - c;
        var n2 = Point3.Cross(b2, b3);
        var angle = Math.Atan2(b2.Norm * Point3.Dot(b1, n2), Point3.Dot(Point3.Cross(b1, b2), n2));
        return angle <= -Math.PI ? Math.PI : angle;
    }

    /// <summary>Reads the PDB file at <paramref name="path"/> as <see cref="Read(TextReader, string)"/> does.</summary>
    public static IReadOnlyList<BackboneResidue> Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"PDB file '{path}' does not exist");
        using var reader = new StreamReader(path);
        return Read(reader, path);
    }

    /// <summary>
    /// The residues of the first model of the PDB text in <paramref name="reader"/>, in file order, with phi and psi as in
    /// <see cref="BackboneResidue"/> (wrapped into [-pi, pi)). A malformed ATOM line (shorter than 54 columns, or a number or
    /// coordinate that does not parse) throws a <see cref="DataFormatException"/> naming <paramref name="name"/> and the line number.
    /// </summary>
    public static IReadOnlyList<BackboneResidue> Read(TextReader reader, string name)
    {
        var residues = new List<Atoms>();
        var lineNumber = 0;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            if (line.StartsWith("ENDMDL", StringComparison.Ordinal)) break;
            if (!line.StartsWith("ATOM  ", StringComparison.Ordinal)) continue;
            if (line.Length < 54) throw new DataFormatException($"'{name}' line {lineNumber}: an ATOM record needs 54 columns (to the z coordinate), this one has {line.Length}");
            var altLoc = line[16];
            if (altLoc is not (' ' or 'A')) continue;
            var atom = line.Substring(12, 4).Trim();
            if (atom is not ("N" or "CA" or "C")) continue;
            var chain = line[21];
            var number = Integer(line.Substring(22, 4), "residue number (columns 23-26)", name, lineNumber);
            var insertion = line[26];
            var position = new Point3(
                Real(line.Substring(30, 8), "x (columns 31-38)", name, lineNumber),
                Real(line.Substring(38, 8), "y (columns 39-46)", name, lineNumber),
                Real(line.Substring(46, 8), "z (columns 47-54)", name, lineNumber));
            var last = residues.Count > 0 ? residues[^1] : null;
            if (last is null || last.Chain != chain || last.Number != number || last.InsertionCode != insertion)
            {
                // A residue seen earlier and resumed later (rare) starts a new entry, which has no bonded neighbour by position.
                last = new Atoms(chain, number, insertion, line.Substring(17, 3).Trim());
                residues.Add(last);
            }
            switch (atom)
            {
                case "N": last.N ??= position; break;
                case "CA": last.CA ??= position; break;
                default: last.C ??= position; break;
            }
        }
        var result = new List<BackboneResidue>(residues.Count);
        for (var i = 0; i < residues.Count; i++)
        {
            var r = residues[i];
            double? phi = null, psi = null;
            if (r is { N: { } n, CA: { } ca, C: { } c })
            {
                if (i > 0 && Bonded(residues[i - 1], r) is { } previousC) phi = FlatTorus.Wrap(Dihedral(previousC, n, ca, c));
                if (i + 1 < residues.Count && Bonded(r, residues[i + 1]) is not null && residues[i + 1].N is { } nextN) psi = FlatTorus.Wrap(Dihedral(n, ca, c, nextN));
            }
            result.Add(new BackboneResidue(r.Chain, r.Number, r.InsertionCode, r.Name, phi, psi));
        }
        return result;
    }

    /// <summary>The (phi, psi) pairs of the residues where both are defined, in order: points of T^2 in [-pi, pi)^2.</summary>
    public static IReadOnlyList<(double Phi, double Psi)> Angles(IEnumerable<BackboneResidue> residues) =>
        [.. residues.Where(r => r.Phi is not null && r.Psi is not null).Select(r => (r.Phi!.Value, r.Psi!.Value))];

    /// <summary>C(i-1) when residues <paramref name="previous"/> and <paramref name="next"/> are in one chain and joined by a peptide bond, else null.</summary>
    private static Point3? Bonded(Atoms previous, Atoms next) =>
        previous.Chain == next.Chain && previous.C is { } c && next.N is { } n && (n - c).Norm < MaxPeptideBond ? c : null;

    private static int Integer(string text, string what, string name, int line) =>
        int.TryParse(text, NumberStyles.AllowLeadingWhite | NumberStyles.AllowTrailingWhite | NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v)
            ? v : throw new DataFormatException($"'{name}' line {line}: the {what} '{text}' is not an integer");

    private static double Real(string text, string what, string name, int line) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v)
            ? v : throw new DataFormatException($"'{name}' line {line}: the {what} '{text}' is not a number");

    private sealed class Atoms(char chain, int number, char insertionCode, string name)
    {
        public char Chain { get; } = chain;
        public int Number { get; } = number;
        public char InsertionCode { get; } = insertionCode;
        public string Name { get; } = name;
        public Point3? N { get; set; }
        public Point3? CA { get; set; }
        public Point3? C { get; set; }
    }
}
