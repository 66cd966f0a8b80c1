// checkerboard.cs — the library's checkerboard, end to end: learn the velocity b(t, x) that carries N(0, I) to the
// 2-D checkerboard with the linear interpolant x_t = (1 - t) x0 + t x1, an MLP, the Trainer (Adam, cosine decay, EMA of
// the weights) and RK4 sampling; print the fraction of 10,000 samples inside the checkerboard's squares (the target is
// uniform on them, so 1.0 is perfect) and write the samples as CSV and a scatter plot beside the target.
//
// Run (from the repository root):
//   dotnet run examples/checkerboard.cs                       # 7,000 steps, under 2 minutes on 2 cores
//   dotnet run examples/checkerboard.cs -- --quick            # 600 steps at batch 256 on one thread, seconds (what the tests run)
//   dotnet run examples/checkerboard.cs -- --out DIR          # libtorch uses one thread per core; OMP_NUM_THREADS=1 for one
// Writes DIR/samples.csv (10,000 rows x, y) and DIR/samples.png; DIR defaults to out/examples/checkerboard.
// <directives>
#:project ../src/StochasticInterpolants/StochasticInterpolants.csproj
#:project ../src/StochasticInterpolants.Visualization/StochasticInterpolants.Visualization.csproj
#:package libtorch-cpu-linux-x64@2.10.0
#:property PublishAot=false
// </directives>

using StochasticInterpolants.Files;
using StochasticInterpolants.Visualization;
// <library>
using StochasticInterpolants.Couplings;
using StochasticInterpolants.Data;
using StochasticInterpolants.Fields;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using StochasticInterpolants.Objectives;
using StochasticInterpolants.Runtime;
using StochasticInterpolants.Sampling;
using StochasticInterpolants.Training;
using static TorchSharp.torch;

NativeRuntime.ConfigureAllocator();                                  // flat native memory: call before the first tensor
var quick = args.Contains("--quick");                                // --quick: a brief run (what the tests run)
if (quick) NativeRuntime.ConfigureThreads(1);

var target = new Checkerboard();
var interpolant = new LinearInterpolant(GammaSchedule.None);        // x_t = (1 - t) x0 + t x1
var coupling = new IndependentCoupling(new StandardGaussian(2), target);
var objective = new VelocityObjective(interpolant);                  // E |b(t, x_t) - (x1 - x0)|^2 / d
using var net = new MlpNetwork(new MlpConfig(Dimension: 2, Width: 256, Depth: 4), seed: 0);
var options = new TrainingOptions(Steps: 7000, BatchSize: 1024, LearningRate: 3e-3);
if (quick) options = options with { Steps = 600, BatchSize = 256, WarmupSteps = 20 };
var result = new Trainer(coupling, objective, net, options).Run(out var ema);
ema?.CopyTo(net);                                                    // sample with the averaged weights
ema?.Dispose();

using var g = new Generator(1);
using var x0 = new StandardGaussian(2).Sample(10_000, g);
using var solution = new Rk4Solver(steps: 25).Integrate(new NetworkVelocityField(net), x0, 0.0, 1.0);
Console.WriteLine(Checkerboard.FractionInside(solution.Final));     // inside the squares: 1.0 is perfect, N(0, I) 0.50
// </library>

var inside = Checkerboard.FractionInside(solution.Final);
Console.WriteLine($"fraction inside the squares: {inside:F3}");

var outDir = Option("--out") ?? "out/examples/checkerboard";
Directory.CreateDirectory(outDir);
Console.WriteLine($"training: {result.StepsCompleted} steps, final loss {result.FinalLoss:F4}, {result.Elapsed.TotalSeconds:F1} s");
CsvMatrix.Write(Path.Combine(outDir, "samples.csv"), solution.Final);
using var truth = target.Sample(10_000, g);
SampleScatterPlot.SaveSideBySide(Path.Combine(outDir, "samples.png"),
    [new ScatterPanel("target (checkerboard)", truth), new ScatterPanel($"generated: {inside:F3} inside", solution.Final)],
    range: (-4.5, 4.5));
Console.WriteLine($"wrote {Path.Combine(outDir, "samples.csv")} and samples.png");

string? Option(string name) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;
