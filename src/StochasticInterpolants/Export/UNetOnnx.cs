using StochasticInterpolants.Files;
using StochasticInterpolants.Models;
using StochasticInterpolants.Runtime;
using static TorchSharp.torch;

namespace StochasticInterpolants.Export;

/// <summary>
/// The ONNX graph (opset <see cref="OnnxGraph.Opset"/>) of a <see cref="UNet"/>: the same function as its forward, op by op.
/// Inputs <c>x</c> [N, c h w] (a flattened image, reshaped to [N, c, h, w] inside), <c>t</c> [N], for a two-time (flow-map)
/// U-Net <c>t_end</c> [N], for a class-conditional one <c>class</c> [N] int64 (label &lt; 0: the "no class" row
/// <see cref="UNetConfig.Classes"/>); output <c>y</c> [N, c h w].
/// <list type="bullet">
/// <item>Time features sin(tau scale + phase) with the network's own float32 buffers (scale = (a, a), a_k = 1000 10000^(-k/K),
/// phase = (0, pi/2)), Mul then Add then Sin as the network computes them, so they round alike; a flow map's embedding reads
/// the features of s = t and of the gap t_end - t.</item>
/// <item>GroupNorm (an operator only from opset 18) decomposed: x reshaped to [N, G, -1], m = mean, v = mean((x - m)^2),
/// (x - m) / sqrt(v + 1e-5) (TorchSharp's eps), reshaped back, times the per-channel weight plus the bias.</item>
/// <item>SiLU as x sigmoid(x); convolutions as Conv with their pads and strides; nearest x2 upsampling exactly, as
/// Unsqueeze + Expand + Reshape (each pixel repeated 2 x 2), which needs no Resize and its string attributes.</item>
/// <item>Self-attention per head: [q; k; v] = 1x1 conv of GN(x) reshaped to [N, 3, heads, d, hw], softmax(q^T k / sqrt d)
/// over the keys (last axis), v weights^T, reshaped to [N, c, h, w], projected, plus x.</item>
/// </list>
/// Structure comes from <see cref="UNetConfig"/>, weights from the module's parameter names ("down.0.blocks.0.conv1.weight"):
/// the names are the network's stable, checkpointed description (they match the PyTorch twin one to one), so the exporter
/// needs no access to UNet's private modules; only the time features' scale and phase, non-persistent buffers in no state
/// dict, are read through internal accessors. Every parameter must be consumed exactly once: a structure the exporter does not
/// know (a parameter left over or missing) stops the export instead of writing a different function.
/// </summary>
public static class UNetOnnx
{
    /// <summary>GroupNorm's epsilon in TorchSharp (nn.GroupNorm's default), added to the group variance.</summary>
    public const float GroupNormEpsilon = 1e-5f;

    /// <summary>
    /// The graph of <paramref name="network"/>. Throws <see cref="InvalidSettingException"/> for a U-Net conditioned on an image
    /// (<see cref="UNetConfig.ConditionChannels"/> &gt; 0), which the exported contract has no input for.
    /// </summary>
    public static OnnxGraph Graph(UNet network)
    {
        var c = network.Config;
        if (c.ConditionChannels > 0)
            throw new InvalidSettingException("network",
                $"a U-Net conditioned on an observed image (ConditionChannels = {c.ConditionChannels}) is not exported: the exported graph takes x, t and a class, and has no input for the observation a data-dependent coupling (inpaint, superres, denoise) conditions on");
        return new Builder(network).Build();
    }

    private sealed class Builder
    {
        private readonly UNet _network;
        private readonly UNetConfig _c;
        private readonly OnnxGraph _g = new();
        private readonly Dictionary<string, Tensor> _parameters;
        private readonly HashSet<string> _used = [];

        public Builder(UNet network)
        {
            _network = network;
            _c = network.Config;
            _parameters = network.named_parameters().ToDictionary(p => p.name, p => p.parameter as Tensor);
        }

        public OnnxGraph Build()
        {
            var (channels, height, width) = (_c.Channels, _c.Height, _c.Width);
            long size = (long)channels * height * width;
            _g.Input("x", OnnxGraph.ElementType.Float, null, size);
            _g.Input("t", OnnxGraph.ElementType.Float, [null]);
            if (_c.TwoTimes) _g.Input("t_end", OnnxGraph.ElementType.Float, [null]);
            if (_c.Classes > 0) _g.Input("class", OnnxGraph.ElementType.Int64, [null]);

            var activated = Silu(Embedding());
            var hidden = Conv(Reshape("x", channels, height, width), "input", padding: 1);
            var skips = new Stack<string>();
            skips.Push(hidden);
            int h = height, w = width;
            for (var l = 0; l < _c.Levels; l++)
            {
                for (var i = 0; i < _c.BlocksPerLevel; i++)
                {
                    hidden = Block(hidden, activated, $"down.{l}.blocks.{i}", h, w);
                    if (_c.HasAttention(l)) hidden = Attention(hidden, $"down.{l}.attentions.{i}", _c.LevelChannels(l), h, w);
                    skips.Push(hidden);
                }
                if (l < _c.Levels - 1)
                {
                    hidden = Conv(hidden, $"down.{l}.resample", padding: 1, stride: 2);
                    // A 3x3 stride-2 conv with padding 1 gives ceil(h / 2); h is divisible by 2 at every level but the last.
                    (h, w) = (h / 2, w / 2);
                    skips.Push(hidden);
                }
            }
            hidden = Block(hidden, activated, "mid1", h, w);
            if (_c.HasAttention(_c.Levels - 1)) hidden = Attention(hidden, "mid_attention", _c.LevelChannels(_c.Levels - 1), h, w);
            hidden = Block(hidden, activated, "mid2", h, w);
            for (var l = _c.Levels - 1; l >= 0; l--)
            {
                for (var i = 0; i <= _c.BlocksPerLevel; i++)
                {
                    hidden = Block(_g.Node("Concat", [hidden, skips.Pop()], ("axis", 1L)), activated, $"up.{l}.blocks.{i}", h, w);
                    if (_c.HasAttention(l)) hidden = Attention(hidden, $"up.{l}.attentions.{i}", _c.LevelChannels(l), h, w);
                }
                if (l > 0)
                {
                    hidden = Conv(Upsample(hidden, _c.LevelChannels(l), h, w), $"up.{l}.resample", padding: 1);
                    (h, w) = (2 * h, 2 * w);
                }
            }
            if (skips.Count != 0 || h != height || w != width)
                throw new InvalidOperationException($"the U-Net exporter's walk ended at {h}x{w} with {skips.Count} skips left: it does not match UNet's forward");
            hidden = Conv(Silu(GroupNorm(hidden, "out_norm", _c.LevelChannels(0), h, w)), "output", padding: 1);
            _g.Node("Reshape", [hidden, Shape(0, size)], ["y"]);
            _g.Output("y", OnnxGraph.ElementType.Float, null, size);

            var unused = _parameters.Keys.Where(k => !_used.Contains(k)).ToList();
            if (unused.Count > 0)
                throw new InvalidOperationException($"the U-Net exporter left parameters unused ({string.Join(", ", unused.Take(5))}): its graph does not match UNet's forward");
            return _g;
        }

        // e = W2 SiLU(W1 s + b1) + b2 (+ E[class]), s the sinusoidal features of t (and of t_end - t for a flow map): [N, 4 b].
        private string Embedding()
        {
            var scale = OnnxLayers.Weights(_g, "feature_scale", _network.FeatureScale);
            var phase = OnnxLayers.Weights(_g, "feature_phase", _network.FeaturePhase);
            var axis1 = _g.Constant("axes_1", [1L], 1);
            // [N, 1] * [1, b] + [1, b], then sin: the network's own order of operations (Mul, Add, Sin), so the features round alike.
            string Features(string tau) => OnnxLayers.TimeFeatures(_g, _g.Node("Unsqueeze", [tau, axis1]), scale, phase);
            var features = Features("t");
            // The network takes the gap in float64 and rounds it to float32; the float32 difference of two float32 times is
            // that same correctly rounded value.
            if (_c.TwoTimes) features = _g.Node("Concat", [features, Features(_g.Node("Sub", ["t_end", "t"]))], ("axis", 1L));
            var embedding = Gemm(Silu(Gemm(features, "time_in")), "time_out");
            if (_c.Classes > 0)
            {
                // Labels < 0 select the learned "no class" row, as UNet.ClassIndices does.
                embedding = _g.Node("Add", [embedding, OnnxLayers.ClassRows(_g, Weights("classes.weight"), _c.Classes)]);
            }
            return embedding;
        }

        // h = Conv3(SiLU(GN(x))) + Linear(a) per channel; out = skip(x) + Conv3(SiLU(GN(h))).
        private string Block(string x, string activated, string name, int h, int w)
        {
            var inChannels = (int)Parameter($"{name}.norm1.weight").shape[0];
            var outChannels = (int)Parameter($"{name}.conv1.weight").shape[0];
            var hidden = Conv(Silu(GroupNorm(x, $"{name}.norm1", inChannels, h, w)), $"{name}.conv1", padding: 1);
            var shift = _g.Node("Unsqueeze", [Gemm(activated, $"{name}.embedding"), Constant([2L, 3L], 2)]);
            hidden = _g.Node("Add", [hidden, shift]);
            var second = Conv(Silu(GroupNorm(hidden, $"{name}.norm2", outChannels, h, w)), $"{name}.conv2", padding: 1);
            var skip = _parameters.ContainsKey($"{name}.skip.weight") ? Conv(x, $"{name}.skip", padding: 0) : x;
            return _g.Node("Add", [second, skip]);
        }

        // out = x + P (softmax(q^T k / sqrt d) v per head), [q; k; v] = W GN(x).
        private string Attention(string x, string name, int channels, int h, int w)
        {
            var heads = _c.AttentionHeads;
            var d = channels / heads;
            long hw = (long)h * w;
            var qkv = _g.Node("Reshape", [Conv(GroupNorm(x, $"{name}.norm", channels, h, w), $"{name}.qkv", padding: 0), Shape(0, 3, heads, d, hw)]);
            string Part(long i) => _g.Node("Gather", [qkv, Constant([i])], ("axis", 1L)); // [N, heads, d, hw]
            var (q, k, v) = (Part(0), Part(1), Part(2));
            long[] swap = [0, 1, 3, 2];
            // The scale as a float32 constant: TorchSharp multiplies a float32 tensor by the double scalar in float32.
            var scores = _g.Node("Mul", [_g.Node("MatMul", [_g.Node("Transpose", [q], ("perm", swap)), k]),
                _g.Constant(_g.Fresh("attention_scale"), [(float)(1.0 / Math.Sqrt(d))], [])]);
            var weights = _g.Node("Softmax", [scores], ("axis", -1L)); // [N, heads, hw (query), hw (key)]
            var attended = _g.Node("MatMul", [v, _g.Node("Transpose", [weights], ("perm", swap))]); // [N, heads, d, hw (query)]
            return _g.Node("Add", [Conv(Reshape(attended, channels, h, w), $"{name}.projection", padding: 0), x]);
        }

        // GN(x) = (x - m) / sqrt(v + eps) per group of channels, then weight * . + bias per channel.
        private string GroupNorm(string x, string name, int channels, int h, int w)
        {
            var groups = _c.Groups;
            var grouped = _g.Node("Reshape", [x, Shape(0, groups, -1)]);
            long[] axes = [2];
            var mean = _g.Node("ReduceMean", [grouped], ("axes", axes), ("keepdims", 1L));
            var centred = _g.Node("Sub", [grouped, mean]);
            var variance = _g.Node("ReduceMean", [_g.Node("Mul", [centred, centred])], ("axes", axes), ("keepdims", 1L));
            var epsilon = _g.Constant(_g.Fresh("epsilon"), [GroupNormEpsilon], []);
            var normalised = _g.Node("Div", [centred, _g.Node("Sqrt", [_g.Node("Add", [variance, epsilon])])]);
            var weight = Weights($"{name}.weight", dims: [channels, 1, 1]);
            var bias = Weights($"{name}.bias", dims: [channels, 1, 1]);
            return _g.Node("Add", [_g.Node("Mul", [Reshape(normalised, channels, h, w), weight]), bias]);
        }

        // Nearest x2: [N, C, h, w] -> [N, C, h, 1, w, 1] -> expand [N, C, h, 2, w, 2] -> [N, C, 2h, 2w]; pixel (i, j) of the
        // result is (i / 2, j / 2) of the input, as interpolate(scale_factor 2, nearest) takes floor(i * 0.5).
        private string Upsample(string x, int channels, int h, int w)
        {
            var expanded = _g.Node("Expand", [_g.Node("Unsqueeze", [x, Constant([3L, 5L], 2)]), Constant([1L, 1, 1, 2, 1, 2], 6)]);
            return Reshape(expanded, channels, 2 * h, 2 * w);
        }

        private string Conv(string x, string name, int padding, int stride = 1)
        {
            var weight = Parameter($"{name}.weight");
            long kh = weight.shape[2], kw = weight.shape[3];
            return _g.Node("Conv", [x, Weights($"{name}.weight"), Weights($"{name}.bias")],
                ("kernel_shape", new[] { kh, kw }), ("pads", new long[] { padding, padding, padding, padding }), ("strides", new long[] { stride, stride }));
        }

        // y = x W^T + b.
        private string Gemm(string x, string name) => OnnxLayers.Gemm(_g, x, Weights($"{name}.weight"), Weights($"{name}.bias"));

        private string Silu(string x) => OnnxLayers.Silu(_g, x);

        // [N, ...] -> [N, c, h, w] (0 copies the dynamic N).
        private string Reshape(string x, int channels, int h, int w) => _g.Node("Reshape", [x, Shape(0, channels, h, w)]);

        private string Shape(params long[] dims) => Constant(dims, dims.Length);

        private string Constant(long[] values, params long[] dims) => _g.Constant(_g.Fresh("const"), values, dims);

        private Tensor Parameter(string name) =>
            _parameters.TryGetValue(name, out var p) ? p : throw new InvalidOperationException($"the U-Net has no parameter '{name}': the exporter does not match its structure");

        // A parameter as an initializer named after it, in float32 (reshaped to dims when given), marked as used.
        private string Weights(string name, long[]? dims = null)
        {
            var p = Parameter(name);
            if (!_used.Add(name)) throw new InvalidOperationException($"the U-Net exporter read the parameter '{name}' twice");
            return OnnxLayers.Weights(_g, name, p, dims);
        }
    }
}
