using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Data;
using StochasticInterpolants.Files;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Likelihood;
using StochasticInterpolants.Manifolds;
using StochasticInterpolants.Sampling;
using StochasticInterpolants.Visualization;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Runs;

public static partial class TransportReport
{
    /// <summary>Cells per side of a density drawn on a manifold in the report (the model's costs one likelihood per cell).</summary>
    private const int ManifoldBins = 60;

    /// <summary>Geodesic RK4 steps of the report's samples, paths and densities on a manifold.</summary>
    private const int ManifoldSolverSteps = 40;

    // A checkpoint on T^2 or S^2 (docs/theory.md §15.8, §15.9): data beside samples and densities, rho(t) two ways on the
    // manifold, the particles' flow as an animation, the loss.
    private static void ManifoldSections(string outFolder, string checkpointFolder, Checkpoint checkpoint, ReportOptions o, Generator g, List<Section> sections,
        List<string> notes, IProgress<double>? progress)
    {
        var m = checkpoint.Manifest;
        var record = m.Manifold!;
        var manifold = Manifold.Parse(record.Manifold);
        if (!ManifoldFigures.CanDraw(manifold))
        {
            notes.Add($"no pictures of {manifold.Name}: the report draws torus:2 and sphere:3");
            return;
        }
        var ramachandran = record.Source is { } src && ProteinAngles.IsName(src);
        var options = new ManifoldFigureOptions { Bins = ManifoldBins, TorusAxes = ramachandran ? TorusAxes.Ramachandran : new TorusAxes() };
        var baseDistribution = CheckpointSampler.BaseOf(m);
        var fields = checkpoint.Fields();
        var solver = new Rk4Solver(ManifoldSolverSteps);
        var likelihood = FlowLikelihood.For(checkpoint.Interpolant, fields.Velocity(), baseDistribution, solver);
        // The model's log-density at time t on a batch of cells (the likelihood from the base to t), in the drawing's float64.
        Tensor ModelLogDensity(double t, Tensor x)
        {
            if (t <= 0) return baseDistribution.LogDensity(x.to(float32)).to(float64);
            using var result = likelihood.LogDensity(x.to(float32), t);
            return result.LogDensity.to(float64).clone();
        }

        // The data: a named target's samples (and exact density), or the observed training and held-out points.
        IDistribution? exact = record.Source is null ? Distributions.TryParse(m.Target) : null;
        Tensor data; string dataTitle;
        Tensor? heldOut = null;
        if (exact is not null) { data = exact.Sample(o.Samples, g); dataTitle = $"target: {m.Target}"; }
        else
        {
            try
            {
                var (training, validation) = ManifoldPieces.Reload(record);
                using (training) data = training.Rows.clone();
                heldOut = validation;
                dataTitle = $"training points ({data.shape[0]})";
            }
            catch (Exception e) when (e is IOException or DataFormatException or CheckpointException)
            {
                notes.Add($"the observed points are not drawn: {FirstLine(e.Message)}");
                data = zeros(0, manifold.CoordinateDimension); dataTitle = "training points (unavailable)";
            }
        }
        var (samples, _) = CheckpointSampler.Sample(checkpoint, o.Samples, solver, o.Seed + 1);
        progress?.Report(0.35);
        var panels = new List<ManifoldPanel> { new(dataTitle, data), new("generated samples", samples), new("learned density rho1", LogDensity: x => ModelLogDensity(1, x)) };
        if (exact is { HasLogDensity: true }) panels.Add(new ManifoldPanel("exact density", LogDensity: x => exact.LogDensity(x.to(float32)).to(float64)));
        if (heldOut is { shape: [> 0, _] }) panels.Insert(1, new ManifoldPanel($"held-out points ({heldOut.shape[0]})", heldOut));
        ManifoldFigures.Save(Path.Combine(outFolder, "manifold-samples.png"), manifold, panels, options with { SharedColourScale = true });
        var picture = manifold is FlatTorus ? "the torus drawn as its square, whose opposite edges are the same points" : "the whole sphere on the Hammer equal-area map (north up, x = (1, 0, 0) at the centre)";
        sections.Add(new Section("Data, generated samples and the learned density", "manifold-samples.png",
            $"On {picture}. Points: the data and base samples pushed through the learned flow (geodesic RK4, {ManifoldSolverSteps} steps); colour: the density the flow assigns, exp of the Riemannian log-likelihood of §15.7 at each cell" +
            (exact is not null ? ", beside the target's exact density on the same scale." : ".") + (ramachandran ? " The Ramachandran plot: (phi, psi) backbone angles of the residues of four proteins; the alpha-helix basin near (-60°, -45°), the beta-sheet region near (-120°, 130°)." : "")));
        progress?.Report(0.6);

        // rho(t) two ways: colour from the learned flow's likelihood at t, points from the geodesic interpolant at t.
        var times = new[] { 0.0, 0.25, 0.5, 0.75, 1.0 };
        var count = Math.Min(o.Samples, 1500);
        var x0 = baseDistribution.Sample(count, g);
        var x1 = exact?.Sample(count, g) ?? (data.shape[0] > 0 ? data[randint(0, data.shape[0], [count], dtype: int64, generator: g)] : baseDistribution.Sample(count, g));
        var path = InterpolantPath.For(checkpoint.Interpolant);
        var particles = times.Select(t => path.SampleAt(x0, x1, zeros_like(x0), t)).ToList();
        ManifoldFigures.SaveDensityRow(Path.Combine(outFolder, "manifold-rho-t.png"), manifold, ModelLogDensity, times, particles, options with { PanelSize = 240, Bins = 48 });
        sections.Add(new Section("rho(t) two ways", "manifold-rho-t.png",
            "The Eulerian picture on the manifold at five times. Colour: the density of the learned flow's X_t; points: samples of the geodesic interpolant x_t = exp_x0(t log_x0 x1) at the same t. Where the two agree, the network learned the velocity whose flow has the interpolant's marginals."));
        progress?.Report(0.8);

        // The Lagrangian picture: base particles carried along the learned flow.
        var frames = Math.Max(2, o.Frames);
        var saveTimes = Enumerable.Range(0, frames).Select(i => (double)i / (frames - 1)).ToList();
        var starts = baseDistribution.Sample(Math.Min(o.Particles, 300), g);
        using (var solution = ManifoldSolvers.Matching(solver, manifold).Integrate(fields.Velocity(), starts, 0, 1, new OdeOptions(SaveTimes: saveTimes)))
        {
            ManifoldFigures.SaveAnimation(Path.Combine(outFolder, "manifold-flow.png"), manifold, solution.Trajectory, solution.Times,
                new ManifoldAnimationOptions { Title = "particles X_t of the learned flow", TorusAxes = options.TorusAxes, StillPath = Path.Combine(outFolder, "manifold-flow-still.png") });
        }
        sections.Add(new Section("Particles flowing on the manifold", "manifold-flow.png",
            $"The Lagrangian picture: {starts.shape[0]} base samples follow dX/dt = b(t, X) by geodesic steps, with short trails; on the torus a trail that leaves one edge comes back at the opposite one."));
        if (CopyLoss(checkpointFolder, outFolder))
            sections.Add(new Section("Training loss", "loss.png", "Mean regression loss per log window: the squared error between the network's tangent vector and the geodesic velocity. Its minimum is the conditional variance of the target given x_t, not a fit error."));
    }

    private static string ManifoldIntro(CheckpointManifest m) =>
        $"The data live on the manifold {m.Manifold!.Manifold}: the interpolant runs along geodesics, the network returns tangent vectors, and samples and likelihoods are computed by steps through the exponential map (docs/theory.md §15).";
}
