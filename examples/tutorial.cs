#:project ../src/StochasticInterpolants/StochasticInterpolants.csproj
#:project ../src/StochasticInterpolants.Visualization/StochasticInterpolants.Visualization.csproj
#:project ../src/StochasticInterpolants.Runs/StochasticInterpolants.Runs.csproj
#:package libtorch-cpu-linux-x64@2.10.0
#:property PublishAot=false

// The tutorial's figures (docs/tutorial/index.md), every one drawn by the library from fixed seeds.
//   dotnet run examples/tutorial.cs                  full size, into docs/tutorial/images
//   dotnet run examples/tutorial.cs -- --quick       a brief run with tiny sizes (the tests use it)
//   dotnet run examples/tutorial.cs -- --out DIR --threads 1
// The regions marked // <name> ... // </name> are shown in the tutorial page.

using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using StochasticInterpolants.Couplings;
using StochasticInterpolants.Data;
using StochasticInterpolants.Diffusion;
using StochasticInterpolants.Fields;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Likelihood;
using StochasticInterpolants.Models;
using StochasticInterpolants.Objectives;
using StochasticInterpolants.Runs;
using StochasticInterpolants.Runtime;
using StochasticInterpolants.Sampling;
using StochasticInterpolants.Training;
using StochasticInterpolants.Visualization;
using static TorchSharp.torch;

var quick = false;
string? outArg = null;
var threads = 1;
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--quick": quick = true; break;
        case "--out" when i + 1 < args.Length: outArg = args[++i]; break;
        case "--threads" when i + 1 < args.Length && int.TryParse(args[i + 1], out var n) && n >= 1: threads = n; i++; break;
        default:
            Console.Error.WriteLine($"tutorial: unknown or incomplete option '{args[i]}' (expected --quick, --out DIR, --threads N)");
            return 2;
    }
}
var images = Path.GetFullPath(outArg ?? Path.Combine(Source.Folder(), "..", "docs", "tutorial", "images"));
Directory.CreateDirectory(images);
string Out(string name) => Path.Combine(images, name);

NativeRuntime.ConfigureAllocator();
NativeRuntime.ConfigureThreads(threads); // the same threads, seeds and machine give the same figures
if (!PlotFonts.HasFonts) Console.Error.WriteLine("tutorial: warning: " + PlotFonts.MissingFontsWarning);

// Sizes: the full run is what the page shows; --quick only checks that every figure is still drawn.
var samples = quick ? 600 : 4_000;       // points per scatter panel
var frames = quick ? 4 : 20;             // frames per animation
var trainSteps = quick ? 60 : 7_000;     // optimiser steps on the checkerboard
var width = quick ? 32 : 256;            // MLP width
var clock = Stopwatch.StartNew();
void Done(string what) => Console.WriteLine($"{clock.Elapsed.TotalSeconds,7:F1} s  {what}");

// ---------------------------------------------------------------------------------------------------------------
// 1. The setting
// <setting>
var rho0 = new StandardGaussian(2);   // the base: N(0, I) in the plane
var rho1 = new Checkerboard();        // the target: uniform on 8 squares of a 4 x 4 board
using var g = new Generator(0);       // every random draw below comes from a seeded generator
using var x0 = rho0.Sample(samples, g);
using var x1 = rho1.Sample(samples, g);
SampleScatterPlot.SaveSideBySide(Out("setting.png"),
    [new ScatterPanel("rho0 = N(0, I)", x0), new ScatterPanel("rho1 = checkerboard", x1)], panelSize: 400, range: (-4.5, 4.5));
// </setting>
Done("setting.png");

// ---------------------------------------------------------------------------------------------------------------
// 2. Eulerian and Lagrangian, in one dimension: N(0, 1) to three Gaussians, with the exact velocity (and a learned one)
// <transport-1d>
var exact = ThreeGaussians.ExactField;                   // b, the score and log rho(t, x) in closed form
using var learned = quick ? null : ThreeGaussians.Train(seed: 0);  // a 64 x 3 MLP fitted to the same problem in seconds
var learnedField = learned is null ? null : new NetworkVelocityField(learned);
var learnedDensity = learnedField is null ? null : new FlowLikelihood(learnedField, new StandardGaussian(1), new Rk4Solver(20));
TransportAnimation.OneDimensional(Out("transport-1d.png"), exact.LogDensity, exact, (-5, 5),
    title: "N(0, 1) to three Gaussians: exact velocity (solid), learned (dashed)", frames: frames, width: 920, height: 360, frameMilliseconds: 130,
    learnedDensity: learnedDensity is null ? null : (t, x) => learnedDensity.LogDensity(x, t).LogDensity,
    learnedVelocity: learnedField);
// </transport-1d>
Done("transport-1d.png");

// ---------------------------------------------------------------------------------------------------------------
// 4. Interpolants: rho(t) sampled at five times, no model and no equation solved
// <interpolants>
(string File, string Label, IInterpolant Interpolant)[] families =
[
    ("interpolant-linear.png", "linear", new LinearInterpolant()),
    ("interpolant-linear-gamma.png", "linear + gamma", new LinearInterpolant(GammaSchedule.Sqrt(1.0))),
    ("interpolant-trigonometric.png", "trigonometric", new TrigonometricInterpolant()),
    ("interpolant-encoder-decoder.png", "encoder-decoder", new EncoderDecoderInterpolant()),
    ("interpolant-one-sided-vp.png", "one-sided VP", new OneSidedVpInterpolant()),
];
double[] times = [0, 0.25, 0.5, 0.75, 1];
using var z = randn([samples, 2], generator: g);        // the latent noise z ~ N(0, I), independent of (x0, x1)
foreach (var (file, label, interpolant) in families)
{
    var path = InterpolantPath.For(interpolant);
    var panels = times.Select(t => new ScatterPanel($"{label}, t = {t:0.##}", path.SampleAt(x0, x1, z, t))).ToList();
    SampleScatterPlot.SaveSideBySide(Out(file), panels, panelSize: 260, range: (-4.5, 4.5));
    foreach (var p in panels) p.Points.Dispose();
}
// </interpolants>
Done("interpolant-*.png");

// ---------------------------------------------------------------------------------------------------------------
// 5. Learning b by regression on the checkerboard
// <train>
var oneSided = new OneSidedLinearInterpolant();          // x_t = (1 - t) z + t x1, with x0 = z ~ N(0, I)
var coupling = new IndependentCoupling(rho0, rho1);      // draws (x0, x1) independently, a fresh batch each step
var objective = new VelocityObjective(oneSided);         // E | b(t, x_t) - (x1 - x0) |^2, per element
using var net = new MlpNetwork(new MlpConfig(Dimension: 2, Width: width, Depth: 4), seed: 0);
var trainer = new Trainer(coupling, objective, net,
    new TrainingOptions(Steps: trainSteps, BatchSize: 1024, LearningRate: 3e-3, Seed: 0, LogEvery: quick ? 20 : 100));
var result = trainer.Run(out var ema);
using (ema) ema?.CopyTo(net);                            // sample with the moving average of the weights
LossCurvePlot.Save(Out("loss.png"), result.Log, title: "training loss: velocity regression on the checkerboard");
// </train>
Done($"loss.png ({result.StepsCompleted} steps in {result.Elapsed.TotalSeconds:F0} s)");

// <flow>
var b = new NetworkVelocityField(net);
using var starts = rho0.Sample(samples, g);
var frameTimes = Enumerable.Range(0, frames).Select(k => (double)k / (frames - 1)).ToArray();
using (no_grad())
{
    using var ode = new Rk4Solver(50).Integrate(b, starts, 0, 1, new OdeOptions(SaveTimes: frameTimes));
    SampleScatterPlot.SaveSideBySide(Out("samples.png"),
        [new ScatterPanel("target rho1", x1), new ScatterPanel($"generated: {Checkerboard.FractionInside(ode.Final):P1} in the squares", ode.Final)],
        panelSize: 400, range: (-4.5, 4.5));
    FlowFigures.SaveTrajectories(Out("paths.png"), [new TrajectoryPanel("ODE paths: dX/dt = b(t, X)", ode.Trajectory)], (-4.5, 4.5), maxParticles: 300);
    // The same particles over the density of x_t at each t: the Lagrangian picture in front of the Eulerian one.
    var interpolantPath = InterpolantPath.For(oneSided);
    var backgrounds = frameTimes.Select(t => interpolantPath.SampleAt(x0, x1, z, t)).ToList();
    var particles = ode.Trajectory.Select(s => s[..Math.Min(400, samples)]).ToList();
    PlaneAnimation.Write(Out("transport-2d.png"), frameTimes, particles, backgrounds, (-4.5, 4.5), size: 400, frameMilliseconds: 130);
    foreach (var t in backgrounds.Concat(particles)) t.Dispose();
}
// </flow>
Done("samples.png, paths.png, transport-2d.png");

// <density>
// The learned density rho(t, x) on a grid: integrate the flow back to t = 0 with its divergence (change of variables).
var likelihood = new FlowLikelihood(b, rho0, new Rk4Solver(20));
Tensor LogRho(double t, Tensor x) => likelihood.LogDensity(x, t).LogDensity;
DensityRowsFigure.Save(Out("rho-t.png"), oneSided, x0, x1, LogRho, (-4.5, 4.5), bins: quick ? 12 : 50, panelSize: 220, modelLabel: "learned rho(t, x)");
FlowFigures.SaveVelocityField(Out("velocity.png"), b.Velocity, LogRho, [0.25, 0.6, 0.9], (-4.5, 4.5), bins: quick ? 12 : 50, panelSize: 320);
// </density>
Done("rho-t.png, velocity.png");

// ---------------------------------------------------------------------------------------------------------------
// 6. The score and SDEs: the same network, with the score from the velocity (one-sided path)
// <sde>
var fields = new FieldSet(oneSided, [new NetworkField(net, FieldKind.Velocity)]);   // b given; s, eta, E[x1 | x_t] follow
double[] noiseLevels = [0, 0.5, 2];                    // eps(t) = c sigma(t): c = 0 is the ODE
var sdePanels = new List<ScatterPanel>();
var pathPanels = new List<TrajectoryPanel>();
var sdeSeries = new List<OdeSolution>();
foreach (var c in noiseLevels)
{
    var eps = DiffusionCoefficient.ProportionalToNoise(c, oneSided);
    using var noise = new Generator(1);                 // the same X_0 and Brownian draws for every c
    using var start = rho0.Sample(samples, noise);
    using var _ = no_grad();
    var run = new EulerMaruyamaSampler(quick ? 20 : 200).Integrate(fields, eps, start, 0, 1, noise, new SdeOptions(SaveTimes: frameTimes));
    sdeSeries.Add(run);
    sdePanels.Add(new ScatterPanel($"eps = {c} sigma(t): {Checkerboard.FractionInside(run.Final):P1} in", run.Final));
    pathPanels.Add(new TrajectoryPanel(c == 0 ? "ODE (eps = 0)" : $"SDE, eps(t) = {c} sigma(t)", run.Trajectory));
}
SampleScatterPlot.SaveSideBySide(Out("sde-samples.png"), sdePanels, panelSize: 330, range: (-4.5, 4.5));
FlowFigures.SaveTrajectories(Out("sde-paths.png"), pathPanels, (-4.5, 4.5), maxParticles: 120, panelSize: 330);
foreach (var run in sdeSeries) run.Dispose();
// </sde>
Done("sde-samples.png, sde-paths.png");

// <diffusion>
// Score-based diffusion and DDPM run their own clocks, data at tau = 0; on the one-sided VP interpolant
// x_t = sqrt(1 - t^2) z + t x1 they are a change of time. Simulate each forward process and compare with x_t.
var vp = new VpSchedule();                              // beta(tau) from 0.1 to 20 (Song et al.)
var ddpm = new DdpmSchedule();                          // 1,000 steps, beta_k from 1e-4 to 0.02 (Ho et al.)
var vpPath = InterpolantPath.For(new OneSidedVpInterpolant());
const double tau = 0.2;
const int k = 300;
using var sdeAtTau = vp.SimulateForward(x1, tau, quick ? 50 : 1000, g);
using var chainAtK = ddpm.SimulateForward(x1, k, g);
using var noiseVp = randn([samples, 2], generator: g);
using var xtTau = vpPath.SampleAt(noiseVp, x1, z, vp.InterpolantTime(tau));
using var xtK = vpPath.SampleAt(noiseVp, x1, z, ddpm.InterpolantTime(k));
SampleScatterPlot.SaveSideBySide(Out("diffusion.png"),
[
    new ScatterPanel($"VP SDE at tau = {tau}", sdeAtTau),
    new ScatterPanel($"VP interpolant at t = {vp.InterpolantTime(tau):0.00}", xtTau),
    new ScatterPanel($"DDPM chain at k = {k}", chainAtK),
    new ScatterPanel($"VP interpolant at t = {ddpm.InterpolantTime(k):0.00}", xtK),
], panelSize: 300, range: (-4.5, 4.5));
// </diffusion>
Done("diffusion.png");

// ---------------------------------------------------------------------------------------------------------------
// 7. The likelihood of held-out points under the learned flow, against the best possible: the entropy ln 32
// <likelihood>
using var heldOut = rho1.Sample(quick ? 200 : 2_000, new Generator(7));
using var logRho1 = likelihood.LogDensity(heldOut);
using var nll = -logRho1.LogDensity.mean();
Console.WriteLine($"held-out NLL {nll.item<double>():F3} nats (the entropy of the checkerboard: ln 32 = {Math.Log(Checkerboard.SupportArea):F3})");
// </likelihood>

Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"tutorial: {Directory.GetFiles(images, "*.png").Length} figures in {images}, {clock.Elapsed.TotalSeconds:F0} s"));
return 0;

/// <summary>Where this file lives, so the default output folder does not depend on the current directory.</summary>
static class Source
{
    /// <summary>The folder of tutorial.cs (filled in by the compiler).</summary>
    public static string Folder([CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;
}
