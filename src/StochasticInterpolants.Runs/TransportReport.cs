using System.Net;
using System.Text;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Couplings;
using StochasticInterpolants.Data;
using StochasticInterpolants.Fields;
using StochasticInterpolants.Files;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Likelihood;
using StochasticInterpolants.Models;
using StochasticInterpolants.Objectives;
using StochasticInterpolants.Sampling;
using StochasticInterpolants.Training;
using StochasticInterpolants.Visualization;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Runs;

/// <summary>Settings of <see cref="TransportReport.Write"/>.</summary>
/// <param name="Samples">Generated and target samples in the comparison figure (a table's figures use at most 5,000).</param>
/// <param name="Particles">Particles in the path figures and the 2-D animation (a table's projected paths use at most 150).</param>
/// <param name="Frames">Frames of each animation, and saved times of a table's projected particle paths.</param>
/// <param name="Seed">Seeds every random draw of the report.</param>
public sealed record ReportOptions(int Samples = 5000, int Particles = 400, int Frames = 30, long Seed = 0);

/// <summary>
/// A self-contained HTML report of a checkpoint (<c>report.html</c>, every image embedded as a data URI, so it opens
/// offline), each figure with a caption in the seed's terms (Eulerian, Lagrangian, interpolant), and the configuration.
/// For a built-in 2-D target: target vs generated samples, rho(t) from the interpolant and from the model, particle paths,
/// the velocity field, the loss curve, the 1-D and 2-D animations and the metrics of <c>si eval</c> when <c>eval.json</c>
/// exists. For a table (or any d != 2): each column's marginals (training, validation and generated rows), the correlation
/// matrices, a 2-D principal-component projection with the flow's particle paths, the training and validation curves, the
/// NLL against the Gaussian baseline from <c>eval.json</c>, and the 2-D figures in the encoded space for two columns — the
/// user's data only: the 1-D teaching animation (<see cref="HasTeachingFigure"/>) is left out. A missing or changed table
/// file skips the data's parts with a note; the generated parts are still drawn.
/// </summary>
public static partial class TransportReport
{
    /// <summary>Most generated rows in a table's figures.</summary>
    private const int TableSamples = 5000;

    /// <summary>Most particles in a table's projected paths.</summary>
    private const int TableParticles = 150;

    /// <summary>RK4 steps of a table's generated samples and paths.</summary>
    private const int TableSolverSteps = 50;

    private static readonly System.Globalization.CultureInfo Invariant = System.Globalization.CultureInfo.InvariantCulture;

    /// <summary>
    /// Whether the report of a checkpoint with manifest <paramref name="m"/> carries the 1-D teaching animation (so a caller
    /// knows whether to train its model): a built-in 2-D target's and an image checkpoint's do; a table's, which is about
    /// the user's data, does not (the animation alone would be most of the page).
    /// </summary>
    public static bool HasTeachingFigure(CheckpointManifest m) => m.Manifold is null && m.Sequences is null && (m.Images is not null || !IsTableReport(m));

    // A table (any number of columns) or a target that is not 2-D gets the table sections; the 2-D branch samples a built-in target by name.
    private static bool IsTableReport(CheckpointManifest m) => m.Images is null && (m.Table is not null || m.Dimension != 2);

    /// <summary>Writes the figures and <c>report.html</c> into <paramref name="outFolder"/> (created if missing); returns the HTML path.</summary>
    /// <remarks><paramref name="oneDimensionalModel"/> is a velocity network trained on <see cref="ThreeGaussians"/> (see
    /// <see cref="ThreeGaussians.Train"/>), drawn dashed beside the exact field in the 1-D animation; null draws the exact one only.</remarks>
    public static string Write(string outFolder, string checkpointFolder, ReportOptions? options = null, IProgress<double>? progress = null,
        ITimeConditionedNetwork? oneDimensionalModel = null)
    {
        var o = options ?? new ReportOptions();
        Directory.CreateDirectory(outFolder);
        using var checkpoint = Checkpoint.Load(checkpointFolder);
        var m = checkpoint.Manifest;
        var sections = new List<Section>();
        var tableReport = IsTableReport(m);
        using var g = new Generator((ulong)o.Seed);

        // 1-D teaching animation: exact b for N(0, 1) -> three Gaussians, the seed's Eulerian and Lagrangian pictures in step;
        // beside it the learned field when the caller trained one (a report draws, it never trains). Drawn only where shown.
        Section? teaching = null;
        if (HasTeachingFigure(m))
        {
            var oneD = ThreeGaussians.ExactField;
            var learned1D = oneDimensionalModel is null ? null : new NetworkVelocityField(oneDimensionalModel);
            var likelihood1D = learned1D is null ? null : new FlowLikelihood(learned1D, new StandardGaussian(1), new Rk4Solver(20));
            TransportAnimation.OneDimensional(Path.Combine(outFolder, "transport-1d.png"), oneD.LogDensity, oneD, (-5, 5), frames: o.Frames,
                stillPath: Path.Combine(outFolder, "transport-1d-still.png"),
                learnedDensity: likelihood1D is null ? null : (t, x) => likelihood1D.LogDensity(x, t).LogDensity,
                learnedVelocity: learned1D);
            teaching = new Section("Eulerian and Lagrangian, in one dimension", "transport-1d.png",
                "N(0, 1) carried to a mixture of three Gaussians by the velocity of the linear interpolant: exact (closed form, solid) and, when shown, learned by a small network in a few seconds (dashed). Left, the Eulerian view: the density rho(t, x) changes in time, obeying the continuity equation. Right, the Lagrangian view: particles started at quantiles of N(0, 1) follow dX/dt = b(t, X); where their paths bunch up, the density on the left grows.");
        }
        progress?.Report(0.15);

        string html;
        if (m.Sequences is not null)
        {
            var notes = new List<string>();
            SequenceSections(outFolder, checkpointFolder, checkpoint, o, sections, notes);
            progress?.Report(0.95);
            html = Html(m, checkpointFolder, outFolder, sections, SequenceIntro(m), notes, metrics: true);
        }
        else if (m.Manifold is not null)
        {
            var notes = new List<string>();
            ManifoldSections(outFolder, checkpointFolder, checkpoint, o, g, sections, notes, progress);
            progress?.Report(0.95);
            html = Html(m, checkpointFolder, outFolder, sections, ManifoldIntro(m), notes, metrics: true);
        }
        else if (m.Images is not null)
        {
            var notes = new List<string>();
            if (CheckpointCompletion.IsCompletion(m)) CompletionSections(outFolder, checkpointFolder, checkpoint, o, sections, notes, progress);
            else ImageSections(outFolder, checkpointFolder, checkpoint, o, sections, notes, progress);
            sections.Add(teaching!);
            progress?.Report(0.95);
            html = Html(m, checkpointFolder, outFolder, sections, JoinIntro(ImageIntro(m), FlowMapIntro(checkpoint)), notes, metrics: true);
        }
        else if (!tableReport)
        {
            sections.Add(teaching!);
            var baseDistribution = CheckpointSampler.BaseOf(m);
            var target = DataSources.Parse(m.Target, m.Dimension);
            var notes = new List<string>();
            using (var reference = target.Sample(o.Samples, g))
            {
                PlaneSections(outFolder, checkpoint, baseDistribution, reference, $"target: {Path.GetFileName(m.Target)}", "", "", o, g, sections, progress);
                // A flow map adds its jumps (after the ODE's figures, from their own seeded streams: the figures above are as for a velocity).
                if (IsFlowMap(checkpoint)) FlowMapPlaneSections(outFolder, checkpoint, reference, $"target: {Path.GetFileName(m.Target)}", o, sections, notes);
            }
            if (CopyLoss(checkpointFolder, outFolder))
                sections.Add(new Section("Training loss", "loss.png", "Mean regression loss per log window. The loss does not go to zero: its minimum is the conditional variance of the target given x_t, not a fit error."));
            progress?.Report(0.95);
            html = Html(m, checkpointFolder, outFolder, sections, FlowMapIntro(checkpoint), notes, metrics: true);
        }
        else
        {
            var notes = new List<string>();
            TableSections(outFolder, checkpointFolder, checkpoint, o, g, sections, notes, progress);
            progress?.Report(0.95);
            html = Html(m, checkpointFolder, outFolder, sections, JoinIntro(TableIntro(m), FlowMapIntro(checkpoint)), notes, metrics: false);
        }
        var htmlPath = Path.Combine(outFolder, "report.html");
        AtomicFile.WriteText(htmlPath, html);
        progress?.Report(1.0);
        return htmlPath;
    }

    /// <summary>One part of the report: a figure (a PNG in the output folder) or, without one, an HTML body, with its caption.</summary>
    private sealed record Section(string Title, string? File, string Caption, string? Body = null);

    // The 2-D figures: target vs generated, rho(t) two ways, particle paths, the velocity field and the 2-D animation, all in
    // the flow's space. The built-in branch passes empty suffixes (its report is unchanged); a two-column table marks its figures
    // as drawn in the encoded space.
    private static void PlaneSections(string outFolder, Checkpoint checkpoint, IDistribution baseDistribution, Tensor reference, string referenceLabel,
        string titleSuffix, string captionSuffix, ReportOptions o, Generator g, List<Section> sections, IProgress<double>? progress)
    {
        var m = checkpoint.Manifest;
        var interpolant = checkpoint.Interpolant;
        var fields = checkpoint.Fields();
        var range = SampleScatterPlot.SharedRange(reference.to(float64).data<double>().ToArray().ToList());
        var velocity = fields.Velocity();
        var (t0, t1) = fields.VelocityInterval(m.TimeClip);
        using var x0 = baseDistribution.Sample(o.Samples, g);
        using var generated = new Rk4Solver(25).Integrate(velocity, x0, t0, t1);
        SampleScatterPlot.SaveSideBySide(Path.Combine(outFolder, "samples.png"),
            [new ScatterPanel(referenceLabel, reference), new ScatterPanel("generated (ODE, RK4 25 steps)", generated.Final)], range: range);
        sections.Add(new Section("Target and generated samples" + titleSuffix, "samples.png", "Left, samples of the target rho1. Right, base samples X_0 pushed through the learned flow to t = 1." + captionSuffix));
        progress?.Report(0.3);

        var likelihood = new FlowLikelihood(velocity, baseDistribution, new Rk4Solver(20), baseTime: t0);
        // Below t0 (a flow converted from a score starts there) the learned density is drawn at t0.
        Tensor LogDensity(double t, Tensor x) => likelihood.LogDensity(x, Math.Max(t, t0)).LogDensity;
        var (cx0, cx1) = (x0, reference);
        DensityRowsFigure.Save(Path.Combine(outFolder, "rho-t.png"), interpolant, cx0, cx1, LogDensity, range, bins: 50, seed: o.Seed, modelLabel: "learned rho(t, x)");
        sections.Add(new Section("rho(t) two ways" + titleSuffix, "rho-t.png",
            "Top: histograms of interpolant samples x_t = alpha(t) x0 + beta(t) x1 + gamma(t) z — no model is needed to sample rho(t) at any t. Bottom: the learned model's density rho(t, x) on a grid, computed by integrating the flow back to t = 0 with its divergence (the Eulerian picture). Where the rows agree, the model has learned the interpolant's path of densities." + captionSuffix));
        progress?.Report(0.55);

        var n = Math.Min(o.Particles, o.Samples);
        using var starts = x0[..n].clone();
        var times = Enumerable.Range(0, o.Frames).Select(k => t0 + (t1 - t0) * k / (o.Frames - 1)).ToArray();
        using var ode = new Rk4Solver(Math.Max(o.Frames - 1, 25)).Integrate(velocity, starts, t0, t1, new OdeOptions(SaveTimes: times));
        var panels = new List<TrajectoryPanel> { new("ODE paths: dX = b dt", ode.Trajectory) };
        OdeSolution? sde = null;
        var eps = DiffusionCoefficient.Constant(0.5);
        if (fields.CanProvide(FieldKind.Score) || fields.ScoreFollowsFromVelocity)
        {
            var (a, b) = CheckpointSampler.SdeInterval(fields, eps, m.TimeClip, denoiseLastStep: false);
            var sdeTimes = times.Select(t => Math.Clamp(t, a, b)).Distinct().ToArray();
            sde = new EulerMaruyamaSampler(200).Integrate(fields, eps, starts, a, b, g, new SdeOptions(SaveTimes: sdeTimes));
            panels.Add(new TrajectoryPanel("SDE paths: dX = [b + eps s] dt + sqrt(2 eps) dW, eps = 0.5", sde.Trajectory));
        }
        FlowFigures.SaveTrajectories(Path.Combine(outFolder, "paths.png"), panels, range);
        sde?.Dispose();
        sections.Add(new Section("Particle paths" + titleSuffix, "paths.png",
            "The Lagrangian picture: t -> X_t for individual particles (grey: start at t = 0, dark: end at t = 1). The ODE moves each particle along one deterministic flow line; the SDE (shown when the score is available) adds noise and a score correction, yet its particles have the same law rho(t) at every t." + captionSuffix));
        FlowFigures.SaveVelocityField(Path.Combine(outFolder, "velocity.png"), velocity.Velocity, LogDensity, [0.25, 0.6, 0.9], range);
        sections.Add(new Section("The velocity field" + titleSuffix, "velocity.png", "b(t, x) as arrows over the learned density rho(t, x): the field that carries mass from rho0 to rho1; the continuity equation d/dt rho + div(b rho) = 0 ties the arrows to the change of the density." + captionSuffix));
        progress?.Report(0.8);

        var zz = randn(x0.shape, generator: g);
        var path = InterpolantPath.For(interpolant);
        var backgrounds = times.Select(t => path.SampleAt(x0, reference, zz, t)).ToList();
        PlaneAnimation.Write(Path.Combine(outFolder, "transport-2d.png"), times, ode.Trajectory, backgrounds, range, stillPath: Path.Combine(outFolder, "transport-2d-still.png"));
        foreach (var bgd in backgrounds) bgd.Dispose();
        zz.Dispose();
        sections.Add(new Section("Particles flowing to the target" + titleSuffix, "transport-2d.png", "Particles of the learned ODE (white) over the density of interpolant samples at the same t (colour): the Lagrangian picture in front of the Eulerian one." + captionSuffix));
    }

    // Copies the run's loss.png into the report folder (unless they are the same folder: si demo); false when there is none.
    private static bool CopyLoss(string checkpointFolder, string outFolder)
    {
        var loss = Path.Combine(checkpointFolder, "loss.png");
        if (!File.Exists(loss)) return false;
        var copy = Path.Combine(outFolder, "loss.png");
        if (!string.Equals(Path.GetFullPath(loss), Path.GetFullPath(copy), StringComparison.Ordinal)) // si demo reports into its own folder
            File.Copy(loss, copy, overwrite: true);
        return true;
    }

    private static string FirstLine(string message) => message.Split('\n')[0].TrimEnd().TrimEnd('.');

    private static string Html(CheckpointManifest m, string checkpointFolder, string outFolder, List<Section> sections, string? intro, IReadOnlyList<string> notes, bool metrics)
    {
        var s = new StringBuilder();
        s.Append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Stochastic interpolant report</title><style>")
         .Append("body{font-family:'DejaVu Sans',Arial,sans-serif;max-width:1100px;margin:2em auto;color:#222;line-height:1.45}img{max-width:100%;border:1px solid #ddd}")
         .Append("figure{margin:2em 0}figcaption{color:#444;font-size:.95em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}pre{background:#f6f6f6;padding:1em;overflow:auto}")
         .Append("</style></head><body>");
        s.Append("<h1>Transport from ").Append(E(m.Base)).Append(" to ").Append(E(Path.GetFileName(m.Target))).Append("</h1>");
        if (m.Sequences is not null)
            s.Append("<p>A posterior p(x1 | x_t) was learned by cross-entropy on the <b>").Append(E(m.Interpolant.Family)).Append("</b> discrete path (")
             .Append(m.StepsCompleted).Append(" optimiser steps), so that its Markov chain carries the source at t = 0 to the data at t = 1.</p>");
        else s.Append("<p>A velocity field b(t, x) was learned by regression on the <b>").Append(E(m.Interpolant.Family)).Append("</b> stochastic interpolant (gamma: ")
         .Append(E(m.Interpolant.Gamma)).Append("), so that its flow carries the base rho0 at t = 0 to the target rho1 at t = 1 (")
         .Append(m.StepsCompleted).Append(" optimiser steps). ").Append(E(CouplingSentence(m))).Append(" The <i>Eulerian</i> view follows the density rho(t, x); the <i>Lagrangian</i> view follows particles along the flow.</p>");
        if (intro is not null) s.Append("<p>").Append(intro).Append("</p>");
        foreach (var note in notes)
            s.Append("<p class=\"note\" style=\"background:#fff4e5;border-left:4px solid #e69500;padding:.5em 1em\">").Append(E(note)).Append("</p>");
        var eval = Path.Combine(checkpointFolder, "eval.json");
        if (metrics && File.Exists(eval))
        {
            s.Append("<h2>Metrics (si eval)</h2><table>");
            using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(eval));
            foreach (var p in doc.RootElement.EnumerateObject())
                if (p.Value.ValueKind is System.Text.Json.JsonValueKind.Number or System.Text.Json.JsonValueKind.String)
                    s.Append("<tr><th>").Append(E(p.Name)).Append("</th><td>").Append(E(p.Value.ToString())).Append("</td></tr>");
            s.Append("</table>");
        }
        foreach (var (title, file, caption, body) in sections)
        {
            if (file is null)
            {
                s.Append("<section><h2>").Append(E(title)).Append("</h2>").Append(body)
                 .Append("<p style=\"color:#444;font-size:.95em\">").Append(E(caption)).Append("</p></section>");
                continue;
            }
            var data = Convert.ToBase64String(File.ReadAllBytes(Path.Combine(outFolder, file)));
            s.Append("<figure><h2>").Append(E(title)).Append("</h2><img alt=\"").Append(E(title)).Append("\" src=\"data:image/png;base64,").Append(data).Append("\">")
             .Append("<figcaption>").Append(E(caption)).Append("</figcaption></figure>");
        }
        var config = Path.Combine(checkpointFolder, "config.json");
        s.Append("<h2>Configuration</h2><pre>").Append(E(ConfigurationText(File.Exists(config) ? File.ReadAllText(config) : File.ReadAllText(Path.Combine(checkpointFolder, Checkpoint.ManifestFileName))))).Append("</pre>");
        // Records, once the page has loaded, how many images decoded (read by the headless-browser test).
        s.Append("<script>window.addEventListener('load',function(){var im=document.images,ok=0;for(var i=0;i<im.length;i++){if(im[i].complete&&im[i].naturalWidth>0)ok++;}document.body.setAttribute('data-images',ok+'/'+im.length);});</script>");
        s.Append("<p style=\"color:#777\">Animations are APNG: they play in any current browser; the first frame is a still PNG (and *-still.png files hold the last frame, for print).</p></body></html>");
        return s.ToString();
    }

    /// <summary>
    /// The configuration as shown: each setting once. A config written before the derived <c>*OrDefault</c> properties were
    /// kept out of the JSON lists <c>model</c> and <c>modelOrDefault</c> (and <c>training</c>/<c>trainingOrDefault</c>);
    /// the derived key is dropped and its value, the setting in force, stands in for a null base key. Text without such keys
    /// (or that is not JSON) is returned unchanged.
    /// </summary>
    internal static string ConfigurationText(string json)
    {
        System.Text.Json.Nodes.JsonNode? root;
        try { root = System.Text.Json.Nodes.JsonNode.Parse(json); }
        catch (System.Text.Json.JsonException) { return json; }
        if (root is not System.Text.Json.Nodes.JsonObject o || !MergeDerived(o)) return json;
        return o.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
    }

    // Folds every "xOrDefault" key of o (and of the objects inside it) into "x"; true when one was found.
    private static bool MergeDerived(System.Text.Json.Nodes.JsonObject o)
    {
        const string suffix = "OrDefault";
        var changed = false;
        foreach (var child in o.Select(p => p.Value).OfType<System.Text.Json.Nodes.JsonObject>().ToList()) changed |= MergeDerived(child);
        foreach (var key in o.Select(p => p.Key).Where(k => k.Length > suffix.Length && k.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)).ToList())
        {
            var value = o[key]?.DeepClone();
            o.Remove(key);
            var name = key[..^suffix.Length];
            var existing = o.Select(p => p.Key).FirstOrDefault(k => string.Equals(k, name, StringComparison.OrdinalIgnoreCase));
            if (existing is null) o[name] = value;
            else if (o[existing] is null) o[existing] = value;
            changed = true;
        }
        return changed;
    }

    private static string E(string text) => WebUtility.HtmlEncode(text);
    // One sentence on how training paired x0 with x1 (docs/theory.md §12).
    private static string CouplingSentence(CheckpointManifest m)
    {
        var c = m.CouplingOrDefault();
        var within = m.ConditionClasses() is not null ? " within each class" : "";
        return c.Name switch
        {
            "independent" => "Training paired x0 and x1 independently.",
            "mirror" => "Training used the mirror coupling (x0 = x1).",
            "ot" => $"Training paired x0 and x1 by exact minibatch optimal transport{within}{(c.Options.OtBlock > 0 ? $" on blocks of {c.Options.OtBlock} rows" : "")} (coupling ot).",
            "sinkhorn" => $"Training paired x0 and x1 by entropic optimal transport{within}, eps = {c.Options.Epsilon.ToString("G4", System.Globalization.CultureInfo.InvariantCulture)} (coupling sinkhorn).",
            var name => $"Training used the '{name}' coupling: x0 is a corruption of x1 and the network sees the observation.",
        };
    }
}

/// <summary>
/// The report's one-dimensional teaching problem: N(0, 1) to a mixture of three Gaussians under the linear interpolant,
/// with its exact field (docs/theory.md §5) and a small network trained on it in a few seconds.
/// </summary>
public static class ThreeGaussians
{
    /// <summary>The exact velocity, score and density of rho(t).</summary>
    public static GaussianMixtureField ExactField { get; } = new(new LinearInterpolant(), [new MixtureComponent(1, [0.0], [1.0])],
        [new MixtureComponent(0.3, [-2.5], [0.15]), new MixtureComponent(0.45, [0.5], [0.1]), new MixtureComponent(0.25, [3.0], [0.3])]);

    /// <summary>Trains an MLP 64 x 3 for 2,000 steps on the problem (same library, same loss) and returns it with its averaged weights.</summary>
    public static MlpNetwork Train(long seed)
    {
        var target = new GaussianMixture([0.3, 0.45, 0.25], [[-2.5], [0.5], [3.0]], [[0.15], [0.1], [0.3]]);
        var net = new MlpNetwork(new MlpConfig(1, Width: 64, Depth: 3), seed);
        var trainer = new Trainer(new IndependentCoupling(new StandardGaussian(1), target), new VelocityObjective(new LinearInterpolant()), net,
            new TrainingOptions(Steps: 2000, BatchSize: 256, LearningRate: 3e-3, EmaDecay: 0.99, Seed: seed));
        trainer.Run(out var ema);
        using (ema) ema?.CopyTo(net);
        return net;
    }

}
