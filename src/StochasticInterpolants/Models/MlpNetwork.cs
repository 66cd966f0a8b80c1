using StochasticInterpolants.Runtime;
using TorchSharp.Modules;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Models;

/// <summary>
/// Configuration of <see cref="MlpNetwork"/>.
/// </summary>
/// <param name="Dimension">Data dimension d (input and output width).</param>
/// <param name="Width">Hidden width.</param>
/// <param name="Depth">Number of hidden layers (each Linear + activation).</param>
/// <param name="Activation">silu, gelu, relu, tanh or softplus.</param>
/// <param name="TimeFrequencies">K in the Fourier time embedding [t, sin(pi k t), cos(pi k t)], k = 1..K.</param>
/// <param name="Classes">Number of classes of a class condition (0: the network takes no condition).</param>
/// <param name="ClassEmbedding">Width of the learned class embedding appended to the input (used when <paramref name="Classes"/> &gt; 0).</param>
/// <param name="TwoTimes">A flow-map network v(s, t, x) (docs/theory.md §14): the input also holds the time embedding of the gap
/// t - s; false: a network of one time.</param>
/// <param name="OutputDimension">Width of the output when it differs from the input's (a network on a manifold reads the
/// embedding of a point and returns a vector in its coordinates, <see cref="ManifoldNetwork"/>); 0: <paramref name="Dimension"/>.</param>
public sealed record MlpConfig(int Dimension, int Width = 256, int Depth = 4, string Activation = "silu", int TimeFrequencies = 8,
    int Classes = 0, int ClassEmbedding = 16, bool TwoTimes = false, int OutputDimension = 0)
{
    /// <summary>The width of the output: <see cref="OutputDimension"/>, or <see cref="Dimension"/> when it is 0.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public int Outputs => OutputDimension > 0 ? OutputDimension : Dimension;

    /// <summary>Throws <see cref="ArgumentException"/> with a one-line reason when a field is out of range.</summary>
    public void Validate()
    {
        if (Dimension < 1) throw new ArgumentException($"model dimension must be >= 1, got {Dimension}");
        if (OutputDimension < 0) throw new ArgumentException($"output dimension must be >= 0 (0: the input's), got {OutputDimension}");
        if (Width < 1 || Width > 65536) throw new InvalidSettingException("width", $"hidden width must be in 1..65536, got {Width}");
        if (Depth < 1 || Depth > 64) throw new InvalidSettingException("depth", $"hidden layers must be in 1..64, got {Depth}");
        if (TimeFrequencies < 0 || TimeFrequencies > 256) throw new InvalidSettingException("time-frequencies", $"time frequencies must be in 0..256, got {TimeFrequencies}");
        if (Classes < 0 || Classes > 1_000_000) throw new ArgumentException($"class count must be in 0..1000000, got {Classes}");
        if (Classes > 0 && (ClassEmbedding < 1 || ClassEmbedding > 4096)) throw new ArgumentException($"class embedding width must be in 1..4096, got {ClassEmbedding}");
        _ = MlpNetwork.MakeActivation(Activation);
    }
}

/// <summary>
/// A multilayer perceptron f(x, t, c) on R^d x [0, 1]: the input is x (flattened when it has more than one data axis)
/// concatenated with the Fourier time embedding e(t) = [t, sin(pi t), ..., sin(K pi t), cos(pi t), ..., cos(K pi t)] and,
/// for a two-time network (<see cref="MlpConfig.TwoTimes"/>, a flow map v(s, t, x)) the embedding e(t - s) of the gap after
/// e(s), and when configured with classes, a learned embedding of the class label c (entry <c>Classes</c> is the learned "no class",
/// used for a missing condition and for labels &lt; 0), followed by <c>Depth</c> Linear + activation layers of width
/// <c>Width</c> and a final Linear layer back to d. Without classes the condition must be null.
/// Weights and biases are initialised U(-1/sqrt(fan_in), 1/sqrt(fan_in)) from an explicit generator, so a
/// seed fixes the initial network without touching libtorch's global random state.
/// </summary>
public sealed class MlpNetwork : nn.Module<Tensor, Tensor, Tensor>, ITwoTimeNetwork
{
    private readonly Sequential _layers;
    // The same modules as in _layers, called directly: Sequential's per-call dispatch is measurable at small batches.
    private readonly Linear[] _linears;
    private readonly nn.Module<Tensor, Tensor>[] _activations;
    private readonly bool _siluActivation;
    // Time features as one multiply-add and one sine: [sin(pi k t), cos(pi k t)] = sin(t * scale + phase) with
    // scale = (pi k, pi k) and phase = (0, pi/2). Registered as non-persistent buffers (not part of checkpoints).
    private Tensor _featureScale;
    private Tensor _featurePhase;
    private readonly Scalar _one = 1.0.ToScalar(); // kept alive for addcmul (a temporary could be finalised mid-call)
    private readonly Embedding? _classes;

    /// <summary>The configuration this network was built from.</summary>
    public MlpConfig Config { get; }

    /// <summary>Builds the network and initialises it from <paramref name="seed"/>.</summary>
    public MlpNetwork(MlpConfig config, long seed) : base("mlp")
    {
        config.Validate();
        Config = config;
        var inputs = config.Dimension + (config.TwoTimes ? 2 : 1) * (1 + 2 * config.TimeFrequencies) + (config.Classes > 0 ? config.ClassEmbedding : 0);
        var modules = new List<(string, nn.Module<Tensor, Tensor>)>();
        var fanIn = inputs;
        for (var i = 0; i < config.Depth; i++)
        {
            modules.Add(($"linear{i}", nn.Linear(fanIn, config.Width)));
            modules.Add(($"act{i}", MakeActivation(config.Activation)));
            fanIn = config.Width;
        }
        modules.Add(("out", nn.Linear(fanIn, config.Outputs)));
        _layers = nn.Sequential(modules);
        _linears = modules.Select(m => m.Item2).OfType<Linear>().ToArray();
        _activations = modules.Where(m => m.Item1.StartsWith("act", StringComparison.Ordinal)).Select(m => m.Item2).ToArray();
        _siluActivation = _activations.Length > 0 && _activations[0] is SiLU;
        var k = config.TimeFrequencies;
        using (var frequencies = arange(1, k + 1, dtype: float32) * Math.PI)
            _featureScale = cat([frequencies, frequencies]).unsqueeze(0);
        _featurePhase = cat([zeros(k, dtype: float32), full(k, Math.PI / 2, dtype: float32)]).unsqueeze(0);
        register_buffer("feature_scale", _featureScale, persistent: false);
        register_buffer("feature_phase", _featurePhase, persistent: false);
        if (config.Classes > 0) _classes = nn.Embedding(config.Classes + 1, config.ClassEmbedding);
        RegisterComponents();
        Initialise(seed);
    }

    /// <inheritdoc />
    public nn.Module Module => this;

    /// <summary>The linear layers in order, the output layer last (for exporters, which read the weights).</summary>
    internal IReadOnlyList<Linear> Linears => _linears;
    /// <summary>The class embedding (Classes + 1 rows, the last the learned "no class"), or null.</summary>
    internal Embedding? ClassEmbeddings => _classes;

    /// <inheritdoc />
    public ModelSpec Spec => new("mlp", Config);
    ModelSpec? ITimeConditionedNetwork.Spec => Spec;

    /// <summary>x [n, d], t [n] (or [n, 1]) -> [n, d], without a condition.</summary>
    public override Tensor forward(Tensor x, Tensor t) => forward(x, t, null);

    /// <inheritdoc />
    public bool TakesTwoTimes => Config.TwoTimes;

    /// <summary>
    /// x [n, ...] with d elements per row, t [] or [n], class labels [n] (int64) or null -> x's shape. For a two-time network
    /// this is the diagonal v(t, t, x), the velocity.
    /// </summary>
    public Tensor forward(Tensor x, Tensor t, Tensor? condition) => Forward(x, t, null, condition);

    /// <summary>
    /// v(s, t, x; c) of a two-time network: x [n, ...], s and t [] or [n], class labels [n] or null -> x's shape. The network
    /// sees e(s) and e(t - s), with the gap computed in float64 before the cast to x's dtype.
    /// </summary>
    public Tensor forward(Tensor x, Tensor s, Tensor t, Tensor? condition)
    {
        if (!Config.TwoTimes) throw new ArgumentException("this MLP takes one time (it was built without TwoTimes): it is not a flow map");
        using var gap = t.to(float64) - s.to(float64);
        return Forward(x, s, gap, condition);
    }

    // The network at start time t (the only time of a one-time network) and, for a two-time one, the gap t_end - t (null: 0).
    private Tensor Forward(Tensor x, Tensor t, Tensor? gap, Tensor? condition)
    {
        if (x.dim() < 2 || x.shape.Skip(1).Aggregate(1L, (a, b) => a * b) != Config.Dimension)
            throw new ArgumentException($"the network expects points of shape [n, {Config.Dimension}] (or [n, ...] with {Config.Dimension} elements per row), got [{string.Join(",", x.shape)}]");
        if (condition is not null && _classes is null) throw new ArgumentException("this network was built without classes, but a condition was given");
        if (x.dim() > 2)
        {
            if (Config.Outputs != Config.Dimension) throw new ArgumentException("a network whose output width differs from its input's takes flat rows [n, d]");
            using var flat = x.flatten(1);
            using var y = Forward(flat, t, gap, condition);
            return y.reshape(x.shape);
        }
        if (t.dim() == 0 && (gap is null || gap.dim() == 0) && _classes is null) return ForwardAt(x, t.ToDouble(), gap?.ToDouble() ?? 0.0);
        using var scope = NewDisposeScope();
        var parts = new List<Tensor> { x };
        AddTimeFeatures(parts, t, x);
        if (Config.TwoTimes)
            AddTimeFeatures(parts, gap ?? zeros_like(t, dtype: float64), x);
        if (_classes is not null) parts.Add(_classes.forward(ClassIndices(condition, x)).to(x.dtype));
        return AfterFirstLayer(_linears[0].forward(cat(parts, 1))).MoveToOuterDisposeScope();
    }

    // Appends [t, sin(pi k t), cos(pi k t)] per row (t [] or [n]) in x's dtype.
    private void AddTimeFeatures(List<Tensor> parts, Tensor t, Tensor x)
    {
        var tc = t.dim() == 0 ? t.expand(x.shape[0]).reshape(-1, 1) : t.dim() == 2 ? t : t.reshape(-1, 1);
        if (tc.dtype != x.dtype) tc = tc.to(x.dtype);
        if (tc.device != x.device) tc = tc.to(x.device);
        parts.Add(tc);
        if (Config.TimeFrequencies == 0) return;
        if (_featureScale.device != x.device || _featureScale.dtype != x.dtype)
        {
            _featureScale = _featureScale.to(x.dtype, x.device).DetachFromDisposeScope();
            _featurePhase = _featurePhase.to(x.dtype, x.device).DetachFromDisposeScope();
        }
        var features = addcmul(_featurePhase, tc, _featureScale, _one);
        var inPlace = !is_grad_enabled(); // without autograd the sine can overwrite its input
        parts.Add(inPlace ? features.sin_() : features.sin());
    }

    // Labels 0..Classes-1 select their class; a missing condition or a label < 0 selects the learned "no class" entry.
    private Tensor ClassIndices(Tensor? condition, Tensor x)
    {
        var none = Config.Classes;
        if (condition is null) return full(x.shape[0], none, dtype: int64, device: x.device);
        if (condition.dim() != 1 || condition.shape[0] != x.shape[0])
            throw new ArgumentException($"class labels must be [n] = [{x.shape[0]}], got [{string.Join(",", condition.shape)}]");
        var labels = condition.to(int64);
        if (labels.max().ToInt64() >= none) throw new ArgumentException($"class labels must be below {none}, got {labels.max().ToInt64()}");
        return where(labels < 0, full_like(labels, none), labels);
    }

    /// <summary>
    /// f(x, t) at one time t for the whole batch (and one gap t_end - t for a two-time network). The time embedding is then the
    /// same for every row, so its share of the first layer, W_t e + b, is a constant bias: the first layer becomes
    /// addmm(b + W_t e, x, W_x^T) — one call in place of repeating t, computing the features, concatenating and multiplying
    /// an [n, d + 1 + 2K] input. Equal to the per-row path up to float rounding (e is evaluated in double here). Used for a
    /// 0-dim t without classes.
    /// </summary>
    private Tensor ForwardAt(Tensor x, double t, double gap)
    {
        using var scope = NewDisposeScope();
        var k = Config.TimeFrequencies;
        var d = Config.Dimension;
        var width = 1 + 2 * k;
        var e = new float[(Config.TwoTimes ? 2 : 1) * width];
        Fill(0, t);
        if (Config.TwoTimes) Fill(width, gap);
        var first = _linears[0];
        var weight = first.weight!;
        var embedding = tensor(e, dtype: x.dtype, device: x.device);
        var bias = first.bias!.addmv(weight[.., d..], embedding);
        return AfterFirstLayer(bias.addmm(x, weight[.., ..d].t())).MoveToOuterDisposeScope();

        void Fill(int at, double time)
        {
            e[at] = (float)time;
            for (var j = 0; j < k; j++)
            {
                e[at + 1 + j] = (float)Math.Sin(Math.PI * (j + 1) * time);
                e[at + 1 + k + j] = (float)Math.Cos(Math.PI * (j + 1) * time);
            }
        }
    }

    // The layers after the first linear one: activation, linear, ..., activation, output layer.
    private Tensor AfterFirstLayer(Tensor h)
    {
        var inPlace = !is_grad_enabled(); // without autograd an activation can overwrite its input (one tensor less per layer)
        for (var i = 0; i < _activations.Length; i++)
        {
            h = inPlace && _siluActivation ? h.silu_() : _activations[i].forward(h);
            h = _linears[i + 1].forward(h);
        }
        return h;
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing) _one.Dispose();
        base.Dispose(disposing);
    }

    private void Initialise(long seed)
    {
        using var generator = new Generator((ulong)seed);
        using var noGrad = no_grad();
        if (_classes is not null)
            using (var e = randn(_classes.weight!.shape, generator: generator)) _classes.weight!.copy_(e);
        foreach (var module in _layers.children())
        {
            if (module is not Linear linear) continue;
            var bound = 1.0 / Math.Sqrt(linear.in_features);
            using (var w = rand(linear.weight!.shape, generator: generator) * (2 * bound) - bound) linear.weight!.copy_(w);
            using (var b = rand(linear.bias!.shape, generator: generator) * (2 * bound) - bound) linear.bias!.copy_(b);
        }
    }

    internal static nn.Module<Tensor, Tensor> MakeActivation(string name) => name.Trim().ToLowerInvariant() switch
    {
        "silu" or "swish" => nn.SiLU(),
        "gelu" => nn.GELU(),
        "relu" => nn.ReLU(),
        "tanh" => nn.Tanh(),
        "softplus" => nn.Softplus(),
        _ => throw new InvalidSettingException("activation", $"unknown activation '{name}' (expected silu, gelu, relu, tanh, softplus)"),
    };
}
