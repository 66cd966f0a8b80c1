using StochasticInterpolants.Files;
using StochasticInterpolants.Models;
using StochasticInterpolants.Runtime;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace StochasticInterpolants.Export;

/// <summary>
/// Writes a trained network as an ONNX graph (opset <see cref="OnnxGraph.Opset"/>) that ONNX Runtime evaluates without
/// TorchSharp. Inputs: <c>x</c> [N, d] float32, <c>t</c> [N] float32 and, for a class-conditional network, <c>class</c> [N]
/// int64 (0..C-1, or -1 for the learned "no class" entry used by guidance); output <c>y</c> [N, d'] float32 — the same
/// function as the network's forward(x, t, c), to float32 rounding. Exporters are registered per network type; a network
/// without one is refused, naming its type.
/// </summary>
public static class OnnxExport
{
    /// <summary>The network types with an exporter.</summary>
    public static IReadOnlyList<string> Exportable { get; } = ["mlp", "unet"];

    /// <summary>
    /// The ONNX model of <paramref name="network"/> with <paramref name="metadata"/> as its metadata properties (what a sampler
    /// needs beside the weights: the field, the interpolant, the decoding, the classes). Throws
    /// <see cref="InvalidSettingException"/> for a network with no exporter.
    /// </summary>
    public static byte[] ToOnnx(ITimeConditionedNetwork network, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var graph = network switch
        {
            MlpNetwork mlp => Mlp(mlp),
            UNet unet => UNetOnnx.Graph(unet),
            _ => throw new InvalidSettingException("network", $"no ONNX exporter for the network '{network.Spec?.Type ?? network.GetType().Name}' (exportable: {string.Join(", ", Exportable)})"),
        };
        foreach (var (key, value) in metadata ?? new Dictionary<string, string>()) graph.Metadata(key, value);
        return graph.ToBytes(network.Spec?.Type ?? "network", typeof(OnnxExport).Assembly.GetName().Version?.ToString() ?? "0");
    }

    /// <summary>Metadata key of the checkpoint's manifest (checkpoint.json): interpolant, base, data decoding, classes, training.</summary>
    public const string ManifestKey = "si.manifest";
    /// <summary>Metadata key of the field the network represents (velocity, denoiser, ...).</summary>
    public const string FieldKey = "si.field";
    /// <summary>Metadata key of the weights exported: ema (the moving average, what the checkpoint samples with) or last.</summary>
    public const string WeightsKey = "si.weights";
    /// <summary>Metadata key of one sample's shape as a JSON array: an image's [c, h, w], else [d]. The graph's x is the
    /// sample flattened, [N, c h w].</summary>
    public const string ShapeKey = "si.shape";
    /// <summary>Metadata key of the class legend as a JSON array of names (index = class); absent for an unconditional network.</summary>
    public const string ClassesKey = "si.classes";
    /// <summary>Metadata key of how a sample is decoded into the data's units: <c>none</c> (the flow's own units),
    /// <c>image</c> (pixels k = clamp(floor(L (y + 1) / 2), 0, L - 1), with L in <see cref="ImageLevelsKey"/>) or <c>table</c>
    /// (the table encoding in the manifest's table.encoding).</summary>
    public const string DecodingKey = "si.decoding";
    /// <summary>Metadata key of an image model's pixel levels L (pixels are 0..L-1).</summary>
    public const string ImageLevelsKey = "si.image-levels";
    /// <summary>Metadata key of the base distribution X_0 is drawn from (gaussian: N(0, I)).</summary>
    public const string BaseKey = "si.base";
    /// <summary>Metadata key of the time interval [start, end] (JSON) the sampler integrates over, as <c>si sample</c> does:
    /// [0, 1] for an exported velocity network (finite at both ends), on the uniform grid t_k = start + k (end - start) / N.</summary>
    public const string IntervalKey = "si.interval";

    /// <summary>
    /// The ONNX model of the velocity network of <paramref name="checkpoint"/> (the weights it was loaded with), with its
    /// manifest (<see cref="ManifestKey"/>), field and weights in the metadata. A checkpoint without a velocity network, or
    /// with several networks (velocity and score), is refused: a sampler of the exported file integrates one velocity.
    /// </summary>
    public static byte[] FromCheckpoint(Checkpoints.Checkpoint checkpoint)
    {
        if (checkpoint.Networks.Count != 1 || checkpoint.Networks[0].Kind is not (Interpolants.FieldKind.Velocity or Interpolants.FieldKind.FlowMap))
            throw new InvalidSettingException("checkpoint", $"only a checkpoint of one velocity or flow-map network is exported so far; this one holds: {string.Join(", ", checkpoint.Networks.Select(n => Interpolants.InterpolantPath.Describe(n.Kind)))}");
        var m = checkpoint.Manifest;
        var (start, end) = checkpoint.Fields().VelocityInterval(m.TimeClip);
        var metadata = new Dictionary<string, string>
        {
            [ManifestKey] = System.Text.Json.JsonSerializer.Serialize(m, Checkpoints.Checkpoint.Json),
            [FieldKey] = checkpoint.Networks[0].Kind == Interpolants.FieldKind.FlowMap ? "flow-map" : "velocity",
            [WeightsKey] = checkpoint.UsesEmaWeights ? "ema" : "last",
            [ShapeKey] = System.Text.Json.JsonSerializer.Serialize(m.SampleShape()),
            [DecodingKey] = m.Images is not null ? "image" : m.Table is not null ? "table" : "none",
            [BaseKey] = m.Base,
            [IntervalKey] = System.Text.Json.JsonSerializer.Serialize(new[] { start, end }),
        };
        if (m.ConditionClasses() is { } classes) metadata[ClassesKey] = System.Text.Json.JsonSerializer.Serialize(classes);
        if (m.Images is { } images) metadata[ImageLevelsKey] = images.Levels.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return ToOnnx(checkpoint.Networks[0].Network, metadata);
    }

    /// <summary>
    /// The graph of <see cref="MlpNetwork"/>: h = [x, e(t), e(t_end - t) for a flow map, e_class] with
    /// e(tau) = [tau, sin(tau s + p)] (s = (pi k, pi k), p = (0, pi/2), k = 1..K: the features [sin(pi k tau), cos(pi k tau)]),
    /// then Gemm + activation per hidden layer and a final Gemm. A flow map's graph has the extra input <c>t_end</c> [N]: its
    /// output is v(t, t_end, x), the jump x + (t_end - t) v (docs/theory.md §14).
    /// </summary>
    public static OnnxGraph Mlp(MlpNetwork network)
    {
        var c = network.Config;
        var g = new OnnxGraph();
        g.Input("x", OnnxGraph.ElementType.Float, null, c.Dimension);
        g.Input("t", OnnxGraph.ElementType.Float, [null]);
        var axes = g.Constant("axes_1", [1L], 1);
        var parts = new List<string> { "x" };
        string? scale = null, phase = null;
        if (c.TimeFrequencies > 0)
        {
            var k = c.TimeFrequencies;
            var frequencies = Enumerable.Range(1, k).Select(j => (float)(Math.PI * j)).ToArray();
            scale = g.Constant("time_scale", [.. frequencies, .. frequencies], 1, 2 * k);
            phase = g.Constant("time_phase", [.. Enumerable.Repeat(0f, k), .. Enumerable.Repeat((float)(Math.PI / 2), k)], 1, 2 * k);
        }
        // [tau, sin(pi k tau), cos(pi k tau)] of a time column tau [N, 1].
        void TimeFeatures(string tau)
        {
            parts.Add(tau);
            if (scale is not null) parts.Add(OnnxLayers.TimeFeatures(g, tau, scale, phase!));
        }
        TimeFeatures(g.Node("Unsqueeze", ["t", axes]));
        if (c.TwoTimes)
        {
            // A flow map v(s, t, x): t is its start s, t_end its end; the network sees e(s) and e(t_end - s).
            g.Input("t_end", OnnxGraph.ElementType.Float, [null]);
            TimeFeatures(g.Node("Unsqueeze", [g.Node("Sub", ["t_end", "t"]), axes]));
        }
        if (network.ClassEmbeddings is { } embedding)
        {
            g.Input("class", OnnxGraph.ElementType.Int64, [null]);
            parts.Add(OnnxLayers.ClassRows(g, OnnxLayers.Weights(g, "class_embedding", embedding.weight!), c.Classes));
        }
        var h = g.Node("Concat", [.. parts], ("axis", 1L));
        var linears = network.Linears;
        for (var i = 0; i < linears.Count; i++)
        {
            h = OnnxLayers.Gemm(g, h, OnnxLayers.Weights(g, $"linear{i}_weight", linears[i].weight!), OnnxLayers.Weights(g, $"linear{i}_bias", linears[i].bias!));
            if (i < linears.Count - 1) h = Activation(g, h, c.Activation);
        }
        g.Node("Identity", [h], ["y"]);
        g.Output("y", OnnxGraph.ElementType.Float, null, c.Outputs);
        return g;
    }

    private static string Activation(OnnxGraph g, string h, string name) => name.Trim().ToLowerInvariant() switch
    {
        "silu" or "swish" => OnnxLayers.Silu(g, h),
        // The exact GELU, as nn.GELU computes it: x (1 + erf(x / sqrt 2)) / 2.
        "gelu" => g.Node("Mul", [g.Node("Mul", [h, g.Constant(g.Fresh("half"), [0.5f], [])]),
            g.Node("Add", [g.Node("Erf", [g.Node("Div", [h, g.Constant(g.Fresh("sqrt2"), [(float)Math.Sqrt(2)], [])])]), g.Constant(g.Fresh("one"), [1f], [])])]),
        "relu" => g.Node("Relu", [h]),
        "tanh" => g.Node("Tanh", [h]),
        "softplus" => g.Node("Softplus", [h]),
        _ => throw new InvalidSettingException("activation", $"no ONNX form of the activation '{name}'"),
    };
}
