using System.Text;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Fields;
using StochasticInterpolants.Sampling;
using StochasticInterpolants.Visualization;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Runs;

// The sections of a flow-map checkpoint (docs/theory.md §14): few-step samples by jumps beside the ODE on the map's diagonal,
// and the jumps as a Lagrangian picture. A velocity checkpoint gets none of them.
public static partial class TransportReport
{
    /// <summary>Jump counts of the 2-D samples figure.</summary>
    private static readonly int[] PlaneJumps = [1, 2, 4, 8];

    /// <summary>Jump counts of a table's marginals and of the image grids.</summary>
    private static readonly int[] FewJumps = [1, 2, 4];

    /// <summary>Jump counts of the Lagrangian jump figure, one panel each.</summary>
    internal static readonly int[] LagrangianJumpCounts = [4, 8];

    /// <summary>Most particles of the Lagrangian jump figure.</summary>
    private const int JumpParticles = 300;

    /// <summary>RK4 steps of the ODE in the 2-D jump figures (as in the samples figure).</summary>
    private const int PlaneSolverSteps = 25;

    /// <summary>Saved times of the ODE paths under the jumps.</summary>
    private const int JumpOdeFrames = 33;

    private static bool IsFlowMap(Checkpoint checkpoint) => checkpoint.FlowMap is not null;

    // A sentence for the page's introduction; null for a velocity checkpoint (its page is unchanged).
    private static string? FlowMapIntro(Checkpoint checkpoint) => !IsFlowMap(checkpoint) ? null
        : "This checkpoint learned a <b>flow map</b>: a two-time network v(s, t, x) with X_{s,t}(x) = x + (t - s) v(s, t, x), which jumps a particle from time s to time t in one evaluation (docs/theory.md §14). " +
          "Its diagonal v(t, t, x) is the velocity b(t, x): the ODE, likelihood and density figures below integrate that diagonal, and the jump figures sample with a few evaluations.";

    private static string? JoinIntro(string? a, string? b) => a is null ? b : b is null ? a : a + " " + b;

    private static string Count(int jumps) => jumps == 1 ? "1 jump" : $"{jumps} jumps";

    private static string Nfe(double nfe) => nfe.ToString("0.#", Invariant);

    /// <summary>
    /// The particles drawn in the Lagrangian jump figure: <see cref="Starts"/> X_0 from the base, and for each jump count N
    /// the grid times and every grid state of FlowMapSampler.Sample (N + 1 states, the start included); and the ODE on the
    /// map's diagonal from the same starts, saved at <see cref="OdeTimes"/>. All on the CPU, in the flow's space.
    /// </summary>
    internal sealed record JumpPicture(Tensor Starts, Tensor? Condition, IReadOnlyList<(int Jumps, double[] Times, IReadOnlyList<Tensor> States)> Jumps,
        double[] OdeTimes, IReadOnlyList<Tensor> OdePaths) : IDisposable
    {
        public void Dispose()
        {
            Starts.Dispose();
            Condition?.Dispose();
            foreach (var (_, _, states) in Jumps) foreach (var s in states) s.Dispose();
            foreach (var s in OdePaths) s.Dispose();
        }
    }

    /// <summary>
    /// The data of the Lagrangian jump figure: <paramref name="particles"/> starts drawn from the base with a generator seeded
    /// by <paramref name="seed"/> (a stream of its own), carried by <paramref name="jumpCounts"/> jumps of the checkpoint's
    /// flow map on the uniform grid of its velocity interval (every grid state kept), and by RK4 on its diagonal velocity.
    /// </summary>
    internal static JumpPicture LagrangianJumps(Checkpoint checkpoint, int particles, long seed, IReadOnlyList<int> jumpCounts)
    {
        var map = checkpoint.FlowMap ?? throw new InvalidOperationException("the Lagrangian jump figure needs a flow-map checkpoint");
        var m = checkpoint.Manifest;
        var fields = checkpoint.Fields();
        var (start, end) = fields.VelocityInterval(m.TimeClip);
        using var g = new Generator((ulong)seed ^ 0x4A554D50UL); // "JUMP": not the samples' stream
        var starts = CheckpointSampler.BaseOf(m).Sample(particles, g);
        var condition = CheckpointSampler.ClassesFor(m, particles, seed, null);
        var jumps = new List<(int, double[], IReadOnlyList<Tensor>)>();
        var odeTimes = Enumerable.Range(0, JumpOdeFrames).Select(k => k == JumpOdeFrames - 1 ? end : start + (end - start) * k / (JumpOdeFrames - 1)).ToArray();
        var ode = new List<Tensor>();
        try
        {
            using (no_grad())
            {
                foreach (var n in jumpCounts)
                {
                    var states = new List<Tensor>();
                    jumps.Add((n, Enumerable.Range(0, n + 1).Select(k => k == n ? end : start + (end - start) * k / n).ToArray(), states));
                    FlowMapSampler.Sample(map, starts, n, condition, start, end, states).Dispose();
                }
                using var solution = new Rk4Solver(JumpOdeFrames - 1).Integrate(fields.WithCondition(condition).Velocity(), starts, start, end, new OdeOptions(SaveTimes: odeTimes));
                foreach (var s in solution.Trajectory) ode.Add(s.detach().clone());
            }
            return new JumpPicture(starts, condition, jumps, odeTimes, ode);
        }
        catch
        {
            starts.Dispose();
            condition?.Dispose();
            foreach (var (_, _, states) in jumps) foreach (var s in states) s.Dispose();
            foreach (var s in ode) s.Dispose();
            throw;
        }
    }

    // The 2-D sections: samples at 1, 2, 4 and 8 jumps beside the ODE's (same X_0), then the jumps as particles.
    private static void FlowMapPlaneSections(string outFolder, Checkpoint checkpoint, Tensor reference, string referenceLabel, ReportOptions o,
        List<Section> sections, List<string> notes)
    {
        var range = SampleScatterPlot.SharedRange(reference.to(float64).data<double>().ToArray().ToList());
        var count = Math.Max(1, o.Samples);
        var drawn = new List<Tensor>();
        try
        {
            var panels = new List<ScatterPanel> { new(referenceLabel, reference) };
            var nfes = new List<string>();
            foreach (var n in PlaneJumps)
            {
                var (samples, nfe) = CheckpointSampler.SampleJumps(checkpoint, count, n, o.Seed);
                drawn.Add(samples);
                panels.Add(new ScatterPanel($"{Count(n)} (NFE {Nfe(nfe)})", samples));
                nfes.Add($"{Count(n)}: NFE {Nfe(nfe)}");
            }
            var (ode, odeNfe) = CheckpointSampler.Sample(checkpoint, count, new Rk4Solver(PlaneSolverSteps), o.Seed);
            drawn.Add(ode);
            panels.Add(new ScatterPanel($"ODE, RK4 {PlaneSolverSteps} steps (NFE {Nfe(odeNfe)})", ode));
            SampleScatterPlot.SaveSideBySide(Path.Combine(outFolder, "jump-samples.png"), panels, panelSize: 360, range: range);
            sections.Add(new Section("Few-step samples: jumps of the flow map beside the ODE", "jump-samples.png",
                $"Left, samples of the target rho1. Then the same {count} base draws X_0 (seed {o.Seed}) carried to t = 1 by N jumps of the learned flow map, " +
                "x_{k+1} = X_{t_k, t_{k+1}}(x_k) = x_k + (t_{k+1} - t_k) v(t_k, t_{k+1}, x_k) on the uniform grid t_k = k / N — " + string.Join("; ", nfes) +
                $" — and, right, the probability-flow ODE dX/dt = b(t, X) on the map's diagonal b(t, x) = v(t, t, x), RK4 with {PlaneSolverSteps} steps (NFE {Nfe(odeNfe)}). " +
                "NFE is the number of network evaluations per sample. A perfect map gives the ODE's end points for every N: where the panels differ, the off-diagonal of the map is not yet consistent with its own diagonal."));
        }
        catch (IntegrationException e) { notes.Add($"No few-step samples drawn: {FirstLine(e.Message)}."); }
        finally { foreach (var t in drawn) t.Dispose(); }

        var particles = Math.Max(1, Math.Min(o.Particles, JumpParticles));
        try
        {
            using var picture = LagrangianJumps(checkpoint, particles, o.Seed, LagrangianJumpCounts);
            var panels = picture.Jumps.Select(j => new JumpPanel($"{Count(j.Jumps)} (NFE {j.Jumps}) over the ODE's paths", j.Times, j.States, picture.OdePaths)).ToList();
            FlowMapFigures.SaveJumpPaths(Path.Combine(outFolder, "jump-paths.png"), panels, range, maxParticles: particles);
            sections.Add(new Section("The jumps as particles", "jump-paths.png",
                $"The Lagrangian picture of few-step sampling: {particles} particles X_0 from the base, and where each lands after every jump of a " +
                string.Join(" and of a ", picture.Jumps.Select(j => $"{j.Jumps}-jump sampling (NFE {j.Jumps})")) +
                ": dots at the grid times t_k (light at t = 0, dark at t = 1) joined by straight segments x_k -> x_{k+1}, one path per particle. " +
                $"Under them, in light grey, the curved paths of the ODE dX/dt = b(t, X) on the map's diagonal from the same starts (RK4, {JumpOdeFrames - 1} steps). " +
                "A jump is a chord of the flow: a learned map lands where the ODE's path is at the next grid time, without following the curve in between."));
        }
        catch (IntegrationException e) { notes.Add($"No jump paths drawn: {FirstLine(e.Message)}."); }
    }

    // A table's few-step samples: the marginals at 1, 2 and 4 jumps beside the ODE's (same X_0, same classes) and the rows.
    private static void FlowMapTableSection(string outFolder, Checkpoint checkpoint, IReadOnlyList<string> names, ReportRows rows, Tensor ode, double odeNfe,
        ReportOptions o, List<Section> sections, List<string> notes)
    {
        var count = (int)ode.shape[0];
        var drawn = new List<Tensor>();
        try
        {
            var series = new List<TableSeries>();
            if (rows.Training is { } training) series.Add(new TableSeries(rows.TrainingLabel, training));
            series.Add(new TableSeries($"ODE, RK4 {TableSolverSteps} steps (NFE {Nfe(odeNfe)})", ode));
            var nfes = new List<string>();
            long dropped = 0;
            foreach (var n in FewJumps)
            {
                var (samples, nfe) = CheckpointSampler.SampleJumps(checkpoint, Math.Max(2, Math.Min(o.Samples, TableSamples)), n, o.Seed);
                drawn.Add(samples);
                var (finite, lost) = FiniteRows(samples);
                dropped += lost;
                if (finite is null) { nfes.Add($"{Count(n)}: NFE {Nfe(nfe)}, every sample non-finite"); continue; }
                if (!ReferenceEquals(finite, samples)) drawn.Add(finite);
                series.Add(new TableSeries($"{Count(n)} (NFE {Nfe(nfe)})", finite));
                nfes.Add($"{Count(n)}: NFE {Nfe(nfe)}");
            }
            TableFigures.SaveMarginals(Path.Combine(outFolder, "marginals-jumps.png"), names, series);
            var s = new StringBuilder("Few-step samples of the learned flow map, one panel per column in the data's units: ");
            if (rows.Training is not null) s.Append("the ").Append(rows.TrainingLabel).Append(" (grey, filled), ");
            s.Append($"the ODE dX/dt = b(t, X) on the map's diagonal b(t, x) = v(t, t, x) (RK4, {TableSolverSteps} steps, NFE {Nfe(odeNfe)}; the generated samples above), and the same base draws X_0 (seed {o.Seed}")
             .Append(checkpoint.Manifest.ConditionClasses() is not null ? ", the same classes" : "")
             .Append(") carried to t = 1 by N jumps x_{k+1} = x_k + (t_{k+1} - t_k) v(t_k, t_{k+1}, x_k) on the uniform grid t_k = k / N — ")
             .Append(string.Join("; ", nfes))
             .Append(". NFE is the number of network evaluations per sample. Where the jumps' densities lie on the ODE's, a few evaluations do the work of many.");
            if (dropped > 0) s.Append(' ').Append(dropped).Append(" jump samples with non-finite values are left out.");
            sections.Add(new Section("Columns at a few jumps of the flow map", "marginals-jumps.png", s.ToString()));
        }
        catch (IntegrationException e) { notes.Add($"No few-step samples drawn: {FirstLine(e.Message)}."); }
        finally { foreach (var t in drawn) t.Dispose(); }
    }

    // The image grids at 1, 2 and 4 jumps (w = 1, one row per class) beside the ODE's grid from the same noise.
    private static void FlowMapImageSection(string outFolder, Checkpoint checkpoint, ReportOptions o, string odeFile, double odeNfe,
        List<Section> sections, List<string> notes)
    {
        var m = checkpoint.Manifest;
        var record = m.Images!;
        var classes = m.ConditionClasses();
        var (count, columns) = ImageGridLayout(classes);
        var grids = new List<byte[]> { File.ReadAllBytes(Path.Combine(outFolder, odeFile)) };
        var nfes = new List<string>();
        try
        {
            foreach (var n in FewJumps)
            {
                var (pixels, nfe) = CheckpointSampler.SampleJumps(checkpoint, count, n, o.Seed + 11, classes: classes is null ? null : new SampleClasses(Guidance: 1, PerClass: true));
                using (pixels)
                using (var brightness = record.Scaling().PixelBrightness(pixels))
                    grids.Add(ImageGrid.Encode(brightness, columns, new ImageGridOptions { RowLabels = classes, Title = $"{Count(n)} (NFE {Nfe(nfe)})" }));
                nfes.Add($"{Count(n)}: NFE {Nfe(nfe)}");
            }
        }
        catch (IntegrationException e)
        {
            notes.Add($"No few-step images drawn: {FirstLine(e.Message)}.");
            return;
        }
        FlowMapFigures.SaveSideBySide(Path.Combine(outFolder, "jump-images.png"), grids);
        sections.Add(new Section("Few-step images: jumps of the flow map beside the ODE", "jump-images.png",
            $"Left, the ODE's grid (dX/dt = b(t, X) on the map's diagonal b(t, x) = v(t, t, x), RK4, NFE {Nfe(odeNfe)}{(classes is null ? "" : ", w = 1")}). " +
            "Then the same noise X_0 carried to t = 1 by N jumps of the learned flow map, x_{k+1} = x_k + (t_{k+1} - t_k) v(t_k, t_{k+1}, x_k) on the uniform grid t_k = k / N — " +
            string.Join("; ", nfes) + (classes is null ? "" : "; one row per class, the plain conditional map (w = 1)") +
            ". NFE is the number of network evaluations per image. Image by image, a well-trained map's jumps land near the ODE's image from the same noise; a blurred 1-jump grid is the average the map falls back on where it has not learned the flow's long jumps."));
    }
}
