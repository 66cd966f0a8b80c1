// class-conditional-images.cs — a class-conditional image model with classifier-free guidance: noise -> scikit-learn's
// 1,797 handwritten digits (8 x 8, 17 grey levels; Debian's python3-sklearn, fetched once with apt-get download when it
// is not installed), a small U-Net told the digit, labels dropped for 10 % of the rows so it also learns the
// unconditional field, then samples at guidance w = 1 (the plain conditional model) and w = 2 (sharper classes) drawn as
// one grid per weight with a row per digit. The printed figure is the share of generated digits whose nearest training
// image (in pixels) shows the digit asked for — a 1-nearest-neighbour classifier whose accuracy on the held-out test
// digits is printed beside it.
//
// Run (from the repository root):
//   dotnet run examples/class-conditional-images.cs                  # 2,000 steps of the small U-Net, about a minute on 2 cores
//   dotnet run examples/class-conditional-images.cs -- --quick       # the tiny U-Net for 60 steps, seconds (what the tests run)
//   dotnet run examples/class-conditional-images.cs -- --out DIR     # libtorch uses one thread per core; OMP_NUM_THREADS=1 for one
// Writes DIR/samples-w1.png and DIR/samples-w2.png (10 rows, one per digit); DIR defaults to out/examples/class-conditional-images.
#:project ../src/StochasticInterpolants/StochasticInterpolants.csproj
#:project ../src/StochasticInterpolants.Runs/StochasticInterpolants.Runs.csproj
#:project ../src/StochasticInterpolants.Visualization/StochasticInterpolants.Visualization.csproj
#:package libtorch-cpu-linux-x64@2.10.0
#:property PublishAot=false

using StochasticInterpolants.Couplings;
using StochasticInterpolants.Data;
using StochasticInterpolants.Fields;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Metrics;
using StochasticInterpolants.Models;
using StochasticInterpolants.Objectives;
using StochasticInterpolants.Runs;
using StochasticInterpolants.Runtime;
using StochasticInterpolants.Sampling;
using StochasticInterpolants.Training;
using StochasticInterpolants.Visualization;
using static TorchSharp.torch;

NativeRuntime.ConfigureAllocator();
var quick = args.Contains("--quick");
if (quick) NativeRuntime.ConfigureThreads(1);
var outDir = Option("--out") ?? "out/examples/class-conditional-images";
Directory.CreateDirectory(outDir);

// <train>
using var data = ImageDatasets.Load("digits8", Console.WriteLine);   // ImageData: Train (1,617) and Test (180) ImageSets
using var digits = new ImageDistribution(data.Train);                  // pixels k -> y = 2 (k + u) / 17 - 1, label = condition
var classes = data.Train.ClassNames!.Count;
var coupling = new IndependentCoupling(new StandardGaussian(digits.Dimension), digits);   // x0 ~ N(0, I), shaped like an image
var interpolant = new LinearInterpolant();
var unet = UNetConfig.Preset(quick ? "tiny" : "small", channels: 1, height: 8, width: 8, classes: classes);
using var net = new UNet(unet, seed: 0);                               // f(x, t, c); c = -1 (GuidedNetwork.NoClass) is "no class"
var options = new TrainingOptions(Steps: quick ? 60 : 2000, BatchSize: 64, LearningRate: 1e-3, WarmupSteps: quick ? 10 : 200,
    ConditionDropout: 0.1);                                            // a tenth of the labels dropped: the unconditional field too
var result = new Trainer(coupling, new VelocityObjective(interpolant), net, options).Run(out var ema);
ema?.CopyTo(net);
ema?.Dispose();
// </train>
Console.WriteLine($"trained {net.ParameterCount:N0} parameters for {result.StepsCompleted} steps in {result.Elapsed.TotalSeconds:F1} s (final loss {result.FinalLoss:F4})");

// A 1-nearest-neighbour classifier in pixel space, scored on the held-out test digits first.
using var trainPixels = digits.Scaling.PixelBrightness(data.Train.Pixels).flatten(1);
var trainLabels = data.Train.Labels!;
using (var testPixels = digits.Scaling.PixelBrightness(data.Test.Pixels).flatten(1))
{
    var testAccuracy = Accuracy(NearestNeighbours.Find(testPixels, trainPixels).Indices, data.Test.Labels!);
    Console.WriteLine($"nearest-neighbour classifier on the {data.Test.Count} test digits: {testAccuracy:F3}");
}

const int perClass = 10;
foreach (var w in new[] { 1.0, 2.0 })
{
    // <sample>
    using var scope = NewDisposeScope();
    var asked = arange(classes).repeat_interleave(perClass);             // 0,0,...,1,1,...: a row of the grid per digit
    using var g = new Generator(1);
    var x0 = randn([asked.shape[0], .. digits.Shape], generator: g);
    var guided = new NetworkField(new GuidedNetwork(net, w), FieldKind.Velocity, asked);   // b(x|none) + w (b(x|c) - b(x|none))
    Tensor images;
    using (no_grad())
    using (var path = new Rk4Solver(steps: 10).Integrate(guided.AsVelocity(), x0, 0.0, 1.0))
        images = digits.Scaling.Decode(path.Final);                      // back to pixels 0..16, uint8 [100, 1, 8, 8]
    // </sample>
    var brightness = digits.Scaling.PixelBrightness(images);
    var share = Accuracy(NearestNeighbours.Find(brightness.flatten(1), trainPixels).Indices, asked.data<long>().ToArray());
    var file = Path.Combine(outDir, $"samples-w{w:0}.png");
    ImageGrid.Save(file, brightness, columns: perClass, new ImageGridOptions
    {
        RowLabels = data.Train.ClassNames,
        Title = $"guidance w = {w:0}: {share:F2} classified as asked",
    });
    Console.WriteLine($"w = {w:0}: {share:F3} of {asked.shape[0]} generated digits classified as the digit asked for; wrote {file}");
}

double Accuracy(long[] neighbours, IReadOnlyList<long> intended) =>
    neighbours.Select((j, i) => trainLabels[j] == intended[i] ? 1.0 : 0.0).Average();

string? Option(string name) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;
