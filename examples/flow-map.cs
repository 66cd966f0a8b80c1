// flow-map.cs — few-step sampling with a flow map (docs/theory.md §14): a network of two times v(s, t, x) whose jump
// X_{s,t}(x) = x + (t - s) v(s, t, x) lands where the flow started at x at time s is at time t. Trained on N(0, I) ->
// checkerboard by Lagrangian self-distillation (3/4 of each batch trains the diagonal v(t, t, x) = b(t, x) by the usual
// interpolant regression, the rest the jumps), it samples in 1, 2, 4 or 8 jumps — one network evaluation each — and its
// diagonal is an ordinary velocity for the ODE solvers. Prints the fraction of 10,000 samples inside the squares for each
// number of jumps and for RK4 on the diagonal (25 steps, 100 evaluations).
//
// Run (from the repository root):
//   dotnet run examples/flow-map.cs                       # 5,000 steps, about 1.5 minutes on 2 cores
//   dotnet run examples/flow-map.cs -- --quick            # 600 steps, seconds (what the tests run)
//   dotnet run examples/flow-map.cs -- --out DIR          # libtorch uses one thread per core; OMP_NUM_THREADS=1 for one
// Writes DIR/jumps-2.csv (the 2-jump samples) and DIR/jumps.png (1, 2, 4 jumps and RK4); DIR defaults to out/examples/flow-map.
#:project ../src/StochasticInterpolants/StochasticInterpolants.csproj
#:project ../src/StochasticInterpolants.Visualization/StochasticInterpolants.Visualization.csproj
#:package libtorch-cpu-linux-x64@2.10.0
#:property PublishAot=false

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
using StochasticInterpolants.Visualization;
using static TorchSharp.torch;

NativeRuntime.ConfigureAllocator();
var quick = args.Contains("--quick");
if (quick) NativeRuntime.ConfigureThreads(1);
var outDir = Option("--out") ?? "out/examples/flow-map";
Directory.CreateDirectory(outDir);

var target = new Checkerboard();
var interpolant = new LinearInterpolant(GammaSchedule.None);
var coupling = new IndependentCoupling(new StandardGaussian(2), target);
var options = new TrainingOptions(Steps: quick ? 600 : 5000, BatchSize: quick ? 256 : 1024, LearningRate: 3e-3, WarmupSteps: quick ? 20 : 100);
using var g = new Generator(1);
using var x0 = new StandardGaussian(2).Sample(10_000, g);

// <flow-map>
using var map = new MlpNetwork(new MlpConfig(Dimension: 2, Width: 256, Depth: 4, TwoTimes: true), seed: 0);
var mapObjective = new FlowMapObjective(interpolant, new FlowMapOptions(FlowMapMethod.Lagrangian));   // 3/4 of rows on the diagonal
var mapTrainer = new Trainer(coupling, mapObjective, map, options);
var result = mapTrainer.Run(out var mapEma);
mapEma?.CopyTo(map);
using var twoJumps = FlowMapSampler.Sample(map, x0, jumps: 2);                  // X_{1/2,1}(X_{0,1/2}(x0)): two evaluations
Console.WriteLine(Checkerboard.FractionInside(twoJumps));
var diagonal = new FieldSet(interpolant, [new NetworkField(map, FieldKind.FlowMap)]).Velocity();   // b(t, x) = v(t, t, x)
// </flow-map>
mapEma?.Dispose();
using var ode = new Rk4Solver(steps: 25).Integrate(diagonal, x0, 0.0, 1.0);
Console.WriteLine($"trained {result.StepsCompleted} steps in {result.Elapsed.TotalSeconds:F1} s, final loss {result.FinalLoss:F4}");

var panels = new List<ScatterPanel>();
foreach (var jumps in new[] { 1, 2, 4, 8 })
{
    var samples = FlowMapSampler.Sample(map, x0, jumps);
    var inside = Checkerboard.FractionInside(samples);
    Console.WriteLine($"{jumps} jump{(jumps == 1 ? "" : "s")} ({jumps} evaluation{(jumps == 1 ? "" : "s")} per sample): {inside:F3} inside the squares");
    if (jumps <= 4) panels.Add(new ScatterPanel($"{jumps} jump{(jumps == 1 ? "" : "s")}: {inside:F3} inside", samples));
    else samples.Dispose();
}
var odeInside = Checkerboard.FractionInside(ode.Final);
Console.WriteLine($"RK4 on the diagonal, 25 steps (100 evaluations per sample): {odeInside:F3} inside the squares");
panels.Add(new ScatterPanel($"RK4 25 steps: {odeInside:F3} inside", ode.Final));
CsvMatrix.Write(Path.Combine(outDir, "jumps-2.csv"), twoJumps);
SampleScatterPlot.SaveSideBySide(Path.Combine(outDir, "jumps.png"), panels, panelSize: 400, range: (-4.5, 4.5));
foreach (var p in panels.Take(panels.Count - 1)) p.Points.Dispose();
Console.WriteLine($"wrote {Path.Combine(outDir, "jumps-2.csv")} and jumps.png");

string? Option(string name) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;
