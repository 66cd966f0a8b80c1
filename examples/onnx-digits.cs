// onnx-digits.cs — generates images from a model exported by si export, with ONNX Runtime alone (the package
// StochasticInterpolants.Onnx: no TorchSharp, no libtorch): X_0 ~ N(0, I), the probability-flow ODE integrated by a
// fixed-step solver (classifier-free guidance for a class-conditional model), the samples decoded to pixels and written as
// one PNG grid — one row per class (K of each), or a K x K grid for an unconditional model. It prints the time it took.
//
// Run (from the repository root), on a model trained and exported by si, for example scikit-learn's 8 x 8 digits:
//   ./si train --target digits8 --model mlp --steps 3000 --out out/digits8 && ./si export --checkpoint out/digits8 --out out/digits8/model.onnx
//   dotnet run examples/onnx-digits.cs -- --model out/digits8/model.onnx --out DIR   # 10 per class, RK4 in 50 steps
//   dotnet run examples/onnx-digits.cs -- --quick --model FILE.onnx --out DIR         # 4 per class, 8 steps (what the tests run)
//   options: --steps N  --solver heun|rk4|euler|midpoint  --guidance W (1: the plain conditional model)  --per-class K  --seed S
//            --threads T (ONNX Runtime's threads; default one per core, 1 with --quick)
// Writes DIR/digits.png; DIR defaults to out/examples/onnx-digits. Published as a program of its own (docs/guides/export.md):
//   dotnet publish examples/onnx-digits.cs -c Release -r linux-x64
#:project ../src/StochasticInterpolants.Onnx/StochasticInterpolants.Onnx.csproj
#:property PublishAot=false

using System.Diagnostics;
using System.Globalization;
using StochasticInterpolants.Onnx;

var quick = args.Contains("--quick");
string? modelPath = Option("--model");
var outDir = Option("--out") ?? "out/examples/onnx-digits";
var solver = Option("--solver") ?? "rk4";
int steps, perClass, seed, threads;
double guidance;
try
{
    steps = int.Parse(Option("--steps") ?? (quick ? "8" : "50"), CultureInfo.InvariantCulture);
    perClass = int.Parse(Option("--per-class") ?? (quick ? "4" : "10"), CultureInfo.InvariantCulture);
    seed = int.Parse(Option("--seed") ?? "0", CultureInfo.InvariantCulture);
    threads = int.Parse(Option("--threads") ?? (quick ? "1" : "0"), CultureInfo.InvariantCulture);
    guidance = double.Parse(Option("--guidance") ?? "1", CultureInfo.InvariantCulture);
}
catch (FormatException e) { return Fail(2, $"a number option is not a number: {e.Message}"); }
if (modelPath is null) return Fail(2, "give the exported model: --model FILE.onnx (written by si export)");
if (steps < 1 || perClass < 1 || perClass > 100 || threads < 0) return Fail(2, "--steps must be >= 1, --per-class in 1..100 and --threads >= 0");
if (!OnnxGenerator.Solvers.Contains(solver)) return Fail(2, $"unknown solver '{solver}' (expected {string.Join(", ", OnnxGenerator.Solvers)})");
if (!double.IsFinite(guidance)) return Fail(2, "--guidance must be a finite number");

var clock = Stopwatch.StartNew();
OnnxGenerator loaded;
try { loaded = OnnxGenerator.Load(modelPath, threads); }
catch (Exception e) when (e is InvalidDataException or FileNotFoundException) { return Fail(1, e.Message); }
using var generator = loaded;
if (generator.Decoding != SampleDecoding.Image) return Fail(1, $"'{modelPath}' is not an image model (its samples decode as: {generator.Decoding.ToString().ToLowerInvariant()})");
if (generator.ClassNames is null && guidance != 1) return Fail(2, "--guidance needs a class-conditional model");
Console.WriteLine($"loaded {modelPath} in {clock.Elapsed.TotalSeconds:F2} s: images of {string.Join(" x ", generator.Shape)}, {generator.ImageLevels} levels, " +
    (generator.ClassNames is { } names ? $"{names.Count} classes ({string.Join(", ", names)})" : "unconditional"));

Directory.CreateDirectory(outDir);
clock.Restart();
// <generate>
// K samples of each class in turn (one row of the grid per class), or K x K samples of an unconditional model.
var classes = generator.ClassNames is null ? null : generator.EveryClass(perClass);
var n = classes?.Length ?? perClass * perClass;
var y = generator.Sample(n, new Random(seed), solver, steps, classes, guidance);
var pixels = generator.DecodeImages(y, n); // pixel k = clamp(floor(L (y + 1) / 2), 0, L - 1)
var png = Path.Combine(outDir, "digits.png");
var scale = Math.Max(1, (int)Math.Ceiling(48.0 / Math.Max(generator.Shape[1], generator.Shape[2]))); // about 48 pixels a side
PngImage.SaveGrid(png, pixels, n, generator.Shape, generator.ImageLevels, columns: perClass, scale: scale, padding: 2);
// </generate>
var seconds = clock.Elapsed.TotalSeconds;
var evaluations = steps * (solver switch { "euler" => 1, "heun" or "midpoint" => 2, _ => 4 }) * (classes is not null && guidance != 1 ? 2 : 1);
Console.WriteLine($"generated {n} images in {seconds:F2} s ({solver}, {steps} steps, guidance {guidance.ToString(CultureInfo.InvariantCulture)}: " +
    $"{evaluations} network evaluations per image, {1000 * seconds / n:F2} ms per image)");
Console.WriteLine($"wrote {png}");
Console.WriteLine($"program folder: {AppContext.BaseDirectory}");
return 0;

string? Option(string name)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}

static int Fail(int code, string message)
{
    Console.Error.WriteLine($"onnx-digits: {message}");
    return code;
}
