// own-table.cs — your own table: read a CSV of numbers (header optional; any number of columns), scale it the way
// `si train --target FILE.csv` does (whole-number columns dequantised with u ~ U[0, 1), then each column standardised to
// mean 0 and standard deviation 1), learn the flow from N(0, I) to the scaled rows, sample, and map the samples back to
// the data's units (whole-number columns rounded down to integers again). Prints, per column, the mean and standard
// deviation of the data and of as many generated rows, and writes the generated rows as a CSV with the table's header.
// (`si train` also holds a tenth of the rows out for model selection and writes a checkpoint; see docs/guides/tables.md.)
//
// Without a file it first writes a small table of its own, DIR/measurements.csv: 2,000 rows of the two moons in data
// units (length_mm around 300, mass_g around 5,000, two columns of very different scales) and a whole-number column.
//
// Run (from the repository root):
//   dotnet run examples/own-table.cs                                      # the built-in table, 3,000 steps, about 40 s on 2 cores
//   dotnet run examples/own-table.cs -- my-data.csv                       # your CSV
//   dotnet run examples/own-table.cs -- /usr/lib/python3/dist-packages/sklearn/datasets/data/iris.csv --columns drop:last
//   dotnet run examples/own-table.cs -- --quick                           # 300 steps, seconds (what the tests run)
//   dotnet run examples/own-table.cs -- --out DIR                         # libtorch uses one thread per core; OMP_NUM_THREADS=1 for one
// Writes DIR/generated.csv (and DIR/measurements.csv without a file); DIR defaults to out/examples/own-table.
#:project ../src/StochasticInterpolants/StochasticInterpolants.csproj
#:package libtorch-cpu-linux-x64@2.10.0
#:property PublishAot=false

using System.Globalization;
using StochasticInterpolants.Couplings;
using StochasticInterpolants.Data;
using StochasticInterpolants.Fields;
using StochasticInterpolants.Files;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using StochasticInterpolants.Objectives;
using StochasticInterpolants.Runtime;
using StochasticInterpolants.Sampling;
using StochasticInterpolants.Training;
using static TorchSharp.torch;

NativeRuntime.ConfigureAllocator();
var quick = args.Contains("--quick");
if (quick) NativeRuntime.ConfigureThreads(1);
var outDir = Option("--out") ?? "out/examples/own-table";
Directory.CreateDirectory(outDir);
var file = args.FirstOrDefault(a => !a.StartsWith("--", StringComparison.Ordinal) && !IsOptionValue(a)) ?? WriteBuiltInTable(outDir);

// <table>
// Read the numbers (a header is recognised; --columns picks or drops columns: "1-4", "drop:last", names).
using var table = CsvTable.Read(file, new TableReadOptions(Columns: Option("--columns")));
Console.WriteLine($"{file}: {table.Count} rows, columns {string.Join(", ", table.ColumnNames)}" +
                  (table.IntegerColumns.Count > 0 ? $" (whole numbers: {string.Join(", ", table.IntegerColumns.Select(j => table.ColumnNames[j]))})" : ""));
foreach (var note in table.Notes) Console.WriteLine($"note: {note}");
var d = table.ColumnNames.Count;

// The scaling si train fits: whole-number columns dequantised (one fixed draw to fit on), then standardised per column.
using var fitNoise = new Generator(7);
using var fitted = TableEncoding.Identity(d, table.IntegerColumns).Dequantize(table.Rows, fitNoise);
var encoding = TableEncoding.Fit(fitted, Normalization.Standard, table.IntegerColumns);
using var rows = new EncodedTable(table.Rows, null, encoding, Path.GetFileName(file));   // draws rows, dequantised and scaled

var interpolant = new LinearInterpolant();
var coupling = new IndependentCoupling(new StandardGaussian(d), rows);
using var net = new MlpNetwork(new MlpConfig(Dimension: d), seed: 0);                     // 256 x 4, as si train
var options = new TrainingOptions(Steps: quick ? 300 : 3000, WarmupSteps: quick ? 20 : 100);   // si train's defaults otherwise
var result = new Trainer(coupling, new VelocityObjective(interpolant), net, options).Run(out var ema);
ema?.CopyTo(net);
ema?.Dispose();

using var g = new Generator(1);
using var x0 = new StandardGaussian(d).Sample((int)table.Count, g);
using var path = new Rk4Solver(steps: 50).Integrate(new NetworkVelocityField(net), x0, 0.0, 1.0);
using var generated = encoding.Decode(path.Final);                      // float64 [n, d] in the data's units
// </table>
Console.WriteLine($"trained {result.StepsCompleted} steps in {result.Elapsed.TotalSeconds:F1} s, final loss {result.FinalLoss:F4}");

var output = Path.Combine(outDir, "generated.csv");
WriteCsv(output, table.ColumnNames, generated);
Console.WriteLine($"wrote {generated.shape[0]} generated rows to {output}");
Console.WriteLine($"{"column",-16} {"data mean",12} {"generated",12} {"data std",12} {"generated",12}");
var (dataMean, dataStd) = (Column(table.Rows.mean([0])), Column(table.Rows.std([0])));
var (genMean, genStd) = (Column(generated.mean([0])), Column(generated.std([0])));
for (var j = 0; j < d; j++)
    Console.WriteLine($"{table.ColumnNames[j],-16} {dataMean[j],12:G5} {genMean[j],12:G5} {dataStd[j],12:G5} {genStd[j],12:G5}");

static double[] Column(Tensor values) { using (values) return values.to(float64).data<double>().ToArray(); }

bool IsOptionValue(string a) => Array.IndexOf(args, a) is var i and > 0 && args[i - 1] is "--out" or "--columns";

string? Option(string name) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;

// The built-in table: the two moons in data units, with a whole-number column.
static string WriteBuiltInTable(string folder)
{
    using var g = new Generator(0);
    using var moons = new TwoMoons().Sample(2000, g);
    using var scope = NewDisposeScope();
    var x = moons[.., 0].to(float64); var y = moons[.., 1].to(float64);
    var length = 300 + 40 * x;                                          // mm
    var mass = 5000 + 800 * y;                                          // g
    var pieces = (3 + x + y).round().clamp_min(0);                      // a count
    var file = Path.Combine(folder, "measurements.csv");
    WriteCsv(file, ["length_mm", "mass_g", "pieces"], stack([length, mass, pieces], 1));
    return file;
}

static void WriteCsv(string file, IReadOnlyList<string> header, Tensor rows)
{
    var values = rows.to(float64).data<double>().ToArray();
    var d = header.Count;
    using var writer = new StreamWriter(file);
    writer.WriteLine(string.Join(",", header));
    for (var i = 0; i < values.Length / d; i++)
        writer.WriteLine(string.Join(",", Enumerable.Range(0, d).Select(j => values[i * d + j].ToString("R", CultureInfo.InvariantCulture))));
}
