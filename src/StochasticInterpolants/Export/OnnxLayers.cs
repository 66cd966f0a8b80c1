using StochasticInterpolants.Files;
using static TorchSharp.torch;

namespace StochasticInterpolants.Export;

/// <summary>
/// The pieces every network's exporter builds its graph from, each written once so that the MLP and the U-Net export the
/// same operation the same way: weights as float32 initializers (refused when not finite), y = x W^T + b, SiLU, the
/// sinusoidal time features and the class-embedding row with its "no class" entry.
/// </summary>
internal static class OnnxLayers
{
    /// <summary>
    /// <paramref name="weight"/> as a float32 initializer called <paramref name="name"/> (reshaped to <paramref name="dims"/>
    /// when given); returns its name. A non-finite value stops the export: the file would generate NaN.
    /// </summary>
    public static string Weights(OnnxGraph g, string name, Tensor weight, long[]? dims = null)
    {
        using var cpu = weight.detach().cpu().to(float32).contiguous();
        var values = cpu.data<float>().ToArray();
        foreach (var v in values)
            if (!float.IsFinite(v)) throw new InvalidOperationException($"the network's '{name}' holds a non-finite value ({v}): nothing to export");
        return g.Constant(name, values, dims ?? cpu.shape);
    }

    /// <summary>y = x W^T + b (Gemm with transB) of the initializers <paramref name="weight"/> and <paramref name="bias"/>.</summary>
    public static string Gemm(OnnxGraph g, string x, string weight, string bias) => g.Node("Gemm", [x, weight, bias], ("transB", 1L));

    /// <summary>SiLU(x) = x sigmoid(x).</summary>
    public static string Silu(OnnxGraph g, string x) => g.Node("Mul", [x, g.Node("Sigmoid", [x])]);

    /// <summary>
    /// sin(tau scale + phase) of a time column <paramref name="tau"/> [N, 1] with the feature constants [1, F]: Mul, then
    /// Add, then Sin, the order in which the networks compute them, so that the features round alike.
    /// </summary>
    public static string TimeFeatures(OnnxGraph g, string tau, string scale, string phase) =>
        g.Node("Sin", [g.Node("Add", [g.Node("Mul", [tau, scale]), phase])]);

    /// <summary>
    /// The rows of the class embedding <paramref name="table"/> (an initializer [C + 1, E]) for the graph input <c>class</c>:
    /// labels 0..C-1 select their row, labels &lt; 0 the learned "no class" row C, as the networks do.
    /// </summary>
    public static string ClassRows(OnnxGraph g, string table, int classes)
    {
        var none = g.Constant("no_class", [(long)classes], []);
        var zero = g.Constant("zero_class", [0L], []);
        var index = g.Node("Where", [g.Node("Less", ["class", zero]), none, "class"]);
        return g.Node("Gather", [table, index], ("axis", 0L));
    }
}
