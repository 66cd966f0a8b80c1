using System.Security.Cryptography;
using System.Text;
using StochasticInterpolants.Data;
using StochasticInterpolants.Files;
using StochasticInterpolants.Manifolds;
using StochasticInterpolants.Runtime;
using static TorchSharp.torch;

namespace StochasticInterpolants.Runs;

/// <summary>
/// Backbone dihedral angles of real proteins as points of the torus T^2, with where they came from. Owns <see cref="Angles"/>.
/// </summary>
/// <param name="Angles">float32 [n, 2]: (phi, psi) per residue in radians, each in [-pi, pi) (<see cref="FlatTorus.ToFloat32Angles"/>).</param>
/// <param name="Residues">Per file read, in order: its name and how many residues it gave (rows of <see cref="Angles"/>).</param>
/// <param name="Source">What was read: the data set's name and folder.</param>
/// <param name="Sha256">Lower-case hex SHA-256 over the files read, per file in order: its name (UTF-8), a zero byte, its length (int64 little-endian) and its bytes.</param>
/// <param name="Groups">Per row, the residue it belongs to across identical chains: (file, residue number, insertion code)
/// as one number, so that the copies of a residue in a complex's identical chains share it (<see cref="RowSplit.ByGroup"/>).</param>
public sealed record ProteinAngleData(Tensor Angles, IReadOnlyList<(string File, int Residues)> Residues, string Source, string Sha256, IReadOnlyList<long> Groups) : IDisposable
{
    /// <summary>The number of points n (rows of <see cref="Angles"/>).</summary>
    public long Count => Angles.shape[0];

    /// <inheritdoc />
    public void Dispose() => Angles.Dispose();
}

/// <summary>
/// The Ramachandran set: (phi, psi) of every residue with both angles defined (<see cref="PdbBackbone"/>) in the protein
/// structures Debian's pymol-data package ships — 1TII, IL-2, 1HPV (HIV-1 protease) and 3AL1 — fetched with apt-get download
/// into <see cref="ImageDatasets.CacheFolder"/>/pymol on first use, nothing installed. Files the package holds twice
/// (demo/ and test/dat/) are read once; its synthetic and test-fixture structures (helix_amber, names, odd*, small02, tiny,
/// water, pept) are left out.
/// </summary>
public static class ProteinAngles
{
    /// <summary>The named data sets.</summary>
    public static IReadOnlyList<string> Names { get; } = ["ramachandran"];

    /// <summary>The PDB files read, by their cached names, in this order.</summary>
    public static IReadOnlyList<string> Files { get; } = ["1tii.pdb", "il2.pdb", "1hpv.pdb", "3al1.pdb"];

    private static readonly ImageDatasets.DebianSource PymolData = new("PyMOL's example protein structures", "pymol-data", "1.4 MB", "pymol",
        [new ImageDatasets.DebianFile("usr/share/pymol/data/demo/1tii.pdb", "1tii.pdb"),
         new ImageDatasets.DebianFile("usr/share/pymol/data/demo/il2.pdb", "il2.pdb"),
         new ImageDatasets.DebianFile("usr/share/pymol/data/tut/1hpv.pdb", "1hpv.pdb"),
         new ImageDatasets.DebianFile("usr/share/pymol/test/dat/3al1.pdb", "3al1.pdb")]);

    /// <summary>True when <paramref name="spec"/> names a data set of <see cref="Names"/> (case and surrounding blanks ignored).</summary>
    public static bool IsName(string spec) => Names.Contains(spec.Trim().ToLowerInvariant());

    /// <summary>Loads the data set named <paramref name="spec"/> (one of <see cref="Names"/>): <c>ramachandran</c> is <see cref="Load(Action{string}?)"/>.</summary>
    public static ProteinAngleData Load(string spec, Action<string>? message = null) =>
        IsName(spec) ? Load(message)
            : throw new InvalidSettingException("data", $"'{spec}' is not a protein angle data set: expected {string.Join(", ", Names)}");

    /// <summary>
    /// The Ramachandran set: the files of <see cref="Files"/> read in order (fetched first when missing, reporting through
    /// <paramref name="message"/>), their (phi, psi) pairs concatenated into float32 [n, 2] angles in [-pi, pi).
    /// </summary>
    public static ProteinAngleData Load(Action<string>? message = null)
    {
        var dir = ImageDatasets.Fetch(PymolData, message);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var values = new List<double>();
        var counts = new List<(string, int)>();
        var groups = new List<long>();
        foreach (var file in Files)
        {
            var path = Path.Combine(dir, file);
            var bytes = File.ReadAllBytes(path);
            hash.AppendData(Encoding.UTF8.GetBytes(file));
            hash.AppendData([0]);
            hash.AppendData(BitConverter.GetBytes((long)bytes.Length));
            hash.AppendData(bytes);
            using var reader = new StreamReader(new MemoryStream(bytes, writable: false));
            var residues = PdbBackbone.Read(reader, path).Where(r => r.Phi is not null && r.Psi is not null).ToList();
            var angles = PdbBackbone.Angles(residues);
            foreach (var (phi, psi) in angles) { values.Add(phi); values.Add(psi); }
            // The same residue number in another chain is (in these files) a copy of the same residue in an identical chain.
            var fileIndex = counts.Count;
            groups.AddRange(residues.Select(r => ((long)fileIndex << 40) | ((long)(r.Number + 100_000) << 8) | (byte)r.InsertionCode));
            counts.Add((file, angles.Count));
        }
        if (values.Count == 0) throw new DataFormatException($"the PDB files in {dir} gave no residue with both phi and psi");
        using var scope = NewDisposeScope();
        var angles64 = tensor(values.ToArray(), [values.Count / 2, 2], ScalarType.Float64);
        var result = FlatTorus.ToFloat32Angles(angles64).MoveToOuterDisposeScope();
        return new ProteinAngleData(result, counts, $"ramachandran ({dir})", Convert.ToHexStringLower(hash.GetCurrentHash()), groups);
    }
}
