using System.Text.Json;
using StochasticInterpolants.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace StochasticInterpolants.Models;

/// <summary>Configuration of <see cref="PosteriorNetwork"/>, stored as JSON in <see cref="ModelSpec.Settings"/>.</summary>
/// <param name="Length">Positions L.</param>
/// <param name="Vocabulary">Data tokens K (the input also takes the id K = MASK).</param>
/// <param name="Architecture"><c>transformer</c> (pre-norm self-attention blocks over the positions) or <c>mlp</c> (an MLP over
/// the flattened sequence of embeddings).</param>
/// <param name="Width">Embedding width d (the transformer's model width).</param>
/// <param name="Layers">Transformer blocks, or the MLP's hidden layers.</param>
/// <param name="Heads">Attention heads (transformer; must divide <paramref name="Width"/>).</param>
/// <param name="Hidden">The MLP's hidden width (mlp), or the transformer's feed-forward width.</param>
/// <param name="TimeFrequencies">F in the time features [t, sin(pi k t), cos(pi k t)], k = 1..F.</param>
/// <param name="Classes">Number of classes of a class condition (0: no condition).</param>
public sealed record PosteriorConfig(int Length, int Vocabulary, string Architecture = "transformer", int Width = 64, int Layers = 2, int Heads = 4,
    int Hidden = 256, int TimeFrequencies = 8, int Classes = 0)
{
    /// <summary>The type name under which <see cref="NetworkRegistry"/> builds this network.</summary>
    public const string TypeName = "posterior";

    /// <summary>Throws with a one-line reason when a field is out of range.</summary>
    public void Validate()
    {
        if (Length < 1 || Length > 65536) throw new ArgumentException($"sequence length must be in 1..65536, got {Length}");
        if (Vocabulary < 2 || Vocabulary >= 1 << 24) throw new ArgumentException($"the vocabulary must hold 2..16777215 tokens, got {Vocabulary}");
        if (Architecture is not ("transformer" or "mlp")) throw new InvalidSettingException("architecture", $"unknown posterior architecture '{Architecture}' (expected transformer, mlp)");
        if (Width < 1 || Width > 4096) throw new InvalidSettingException("width", $"embedding width must be in 1..4096, got {Width}");
        if (Layers < 1 || Layers > 64) throw new InvalidSettingException("depth", $"layers must be in 1..64, got {Layers}");
        if (Hidden < 1 || Hidden > 65536) throw new InvalidSettingException("hidden", $"hidden width must be in 1..65536, got {Hidden}");
        if (Architecture == "transformer" && (Heads < 1 || Width % Heads != 0)) throw new InvalidSettingException("heads", $"attention heads must divide the width {Width}, got {Heads}");
        if (TimeFrequencies < 0 || TimeFrequencies > 256) throw new InvalidSettingException("time-frequencies", $"time frequencies must be in 0..256, got {TimeFrequencies}");
        if (Classes < 0 || Classes > 1_000_000) throw new ArgumentException($"class count must be in 0..1000000, got {Classes}");
    }

    /// <summary>This configuration as JSON (for <see cref="ModelSpec.Settings"/>).</summary>
    public string ToJson() => JsonSerializer.Serialize(this);

    /// <summary>The configuration written by <see cref="ToJson"/>; throws with a reason for malformed text.</summary>
    public static PosteriorConfig FromJson(string json)
    {
        var config = JsonSerializer.Deserialize<PosteriorConfig>(json) ?? throw new ArgumentException("a posterior network's settings are empty");
        config.Validate();
        return config;
    }
}

/// <summary>
/// The posterior network of a discrete mixture path (docs/theory.md §16.2): x [n, L] float ids in 0..K (K = MASK), t [] or [n],
/// class labels [n] (int64; a label &lt; 0 or a null condition selects the learned "no class" entry) -> logits [n, L, K] of
/// p_{1|t}(x1^i = k | x_t = x). Each position is embedded as e_tok(x^i) + e_pos(i) + W_t phi(t) + e_class(c), with
/// phi(t) = [t, sin(pi k t), cos(pi k t)]_{k=1..F}; then either
/// <list type="bullet">
/// <item><c>transformer</c>: <see cref="PosteriorConfig.Layers"/> pre-norm blocks h += MHA(LN(h)), h += W2 GELU(W1 LN(h)) over
/// the positions (no causal mask: every position sees all), then LN and a linear read-out to K logits per position;</item>
/// <item><c>mlp</c>: the L embeddings flattened to one vector, <see cref="PosteriorConfig.Layers"/> Linear + SiLU layers of width
/// <see cref="PosteriorConfig.Hidden"/>, and a linear read-out to L K logits.</item>
/// </list>
/// Initialised from a seed through an explicit generator: embeddings N(0, 1), linear weights U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
/// biases 0, norms (1, 0), and the read-out 0, so an untrained network predicts the uniform posterior (loss log K).
/// </summary>
public sealed class PosteriorNetwork : nn.Module<Tensor, Tensor, Tensor>, ITimeConditionedNetwork
{
    private readonly Embedding _tokens;
    private readonly Parameter _positions;
    private readonly Linear _time;
    private readonly Embedding? _classes;
    private readonly ModuleList<Block> _blocks;
    private readonly LayerNorm? _norm;
    private readonly ModuleList<Linear> _hidden;
    private readonly Linear _readout;

    /// <summary>The configuration this network was built from.</summary>
    public PosteriorConfig Config { get; }

    /// <summary>Builds the network and initialises it from <paramref name="seed"/>.</summary>
    public PosteriorNetwork(PosteriorConfig config, long seed) : base("posterior")
    {
        config.Validate();
        Config = config;
        var d = config.Width;
        _tokens = nn.Embedding(config.Vocabulary + 1, d);
        _positions = new Parameter(zeros(config.Length, d));
        _time = nn.Linear(1 + 2 * config.TimeFrequencies, d);
        if (config.Classes > 0) _classes = nn.Embedding(config.Classes + 1, d);
        _blocks = new ModuleList<Block>();
        _hidden = new ModuleList<Linear>();
        if (config.Architecture == "transformer")
        {
            for (var i = 0; i < config.Layers; i++) _blocks.Add(new Block(d, config.Heads, config.Hidden));
            _norm = nn.LayerNorm(d);
            _readout = nn.Linear(d, config.Vocabulary);
        }
        else
        {
            var fanIn = config.Length * d;
            for (var i = 0; i < config.Layers; i++) { _hidden.Add(nn.Linear(fanIn, config.Hidden)); fanIn = config.Hidden; }
            _readout = nn.Linear(fanIn, (long)config.Length * config.Vocabulary);
        }
        RegisterComponents();
        Initialise(seed);
    }

    /// <inheritdoc />
    public nn.Module Module => this;
    /// <summary>Type <c>posterior</c> with <see cref="Config"/> as JSON settings.</summary>
    public ModelSpec Spec => new(PosteriorConfig.TypeName, null, Config.ToJson());
    ModelSpec? ITimeConditionedNetwork.Spec => Spec;

    /// <summary>Logits without a condition.</summary>
    public override Tensor forward(Tensor x, Tensor t) => forward(x, t, null);

    /// <summary>x [n, L] ids in 0..K, t [] or [n], class labels [n] or null -> logits [n, L, K] (float32).</summary>
    public Tensor forward(Tensor x, Tensor t, Tensor? condition)
    {
        if (x.dim() != 2 || x.shape[1] != Config.Length)
            throw new ArgumentException($"the posterior network expects tokens [n, {Config.Length}], got [{string.Join(",", x.shape)}]");
        if (condition is not null && _classes is null) throw new ArgumentException("this network was built without classes, but a condition was given");
        if (t.dim() > 1 || t.dim() == 1 && t.shape[0] != x.shape[0]) throw new ArgumentException($"times must be one value or one per row ([{x.shape[0]}]), got [{string.Join(",", t.shape)}]");
        using var scope = NewDisposeScope();
        var n = x.shape[0];
        var ids = x.to(int64);
        var h = _tokens.forward(ids) + _positions.unsqueeze(0);                        // [n, L, d]
        var perRow = _time.forward(TimeFeatures(t, n, x.device));                      // [n, d]
        if (_classes is not null) perRow = perRow + _classes.forward(ClassIndices(condition, n, x.device));
        h = h + perRow.unsqueeze(1);
        Tensor logits;
        if (_norm is not null)
        {
            foreach (var block in _blocks) h = block.forward(h);
            logits = _readout.forward(_norm.forward(h));
        }
        else
        {
            var v = h.flatten(1);
            foreach (var layer in _hidden) v = nn.functional.silu(layer.forward(v));
            logits = _readout.forward(v).view(n, Config.Length, Config.Vocabulary);
        }
        return logits.MoveToOuterDisposeScope();
    }

    // [n, 1 + 2F] = [t, sin(pi k t), cos(pi k t)] in float32 (t [] repeated per row).
    private Tensor TimeFeatures(Tensor t, long n, Device device)
    {
        var tc = (t.dim() == 0 ? t.expand(n) : t).to(float32, device).reshape(-1, 1);
        if (Config.TimeFrequencies == 0) return tc;
        var k = arange(1, Config.TimeFrequencies + 1, dtype: float32, device: device).unsqueeze(0) * Math.PI;
        var angle = tc * k;
        return cat([tc, angle.sin(), angle.cos()], 1);
    }

    // Labels 0..C-1 select their class; a missing condition or a label < 0 selects the learned "no class" entry C.
    private Tensor ClassIndices(Tensor? condition, long n, Device device)
    {
        var none = Config.Classes;
        if (condition is null) return full(n, none, dtype: int64, device: device);
        if (condition.dim() != 1 || condition.shape[0] != n) throw new ArgumentException($"class labels must be [n] = [{n}], got [{string.Join(",", condition.shape)}]");
        var labels = condition.to(int64, device);
        if (labels.max().ToInt64() >= none) throw new ArgumentException($"class labels must be below {none}, got {labels.max().ToInt64()}");
        return where(labels.lt(0), full_like(labels, none), labels);
    }

    private void Initialise(long seed)
    {
        using var generator = new Generator((ulong)seed);
        using var noGrad = no_grad();
        foreach (var (name, p) in named_parameters())
        {
            using var value = name switch
            {
                _ when name.StartsWith("_readout", StringComparison.Ordinal) => zeros_like(p),
                _ when name.EndsWith("bias", StringComparison.Ordinal) => zeros_like(p),
                _ when name.Contains("norm", StringComparison.Ordinal) => ones_like(p),
                _ when name.StartsWith("_tokens", StringComparison.Ordinal) || name.StartsWith("_classes", StringComparison.Ordinal) || name == "_positions"
                    => randn(p.shape, generator: generator),
                _ => Uniform(p.shape, generator),
            };
            p.copy_(value);
        }

        static Tensor Uniform(long[] shape, Generator generator)
        {
            var bound = 1.0 / Math.Sqrt(shape[^1]);
            using var u = rand(shape, generator: generator);
            return u * (2 * bound) - bound;
        }
    }

    /// <summary>A pre-norm transformer block: h + MHA(LN(h)), then + W2 GELU(W1 LN(h)).</summary>
    private sealed class Block : nn.Module<Tensor, Tensor>
    {
        private readonly LayerNorm norm1, norm2;
        private readonly Linear qkv, proj, up, down;
        private readonly int _heads;

        public Block(int width, int heads, int hidden) : base("block")
        {
            _heads = heads;
            norm1 = nn.LayerNorm(width); norm2 = nn.LayerNorm(width);
            qkv = nn.Linear(width, 3 * width); proj = nn.Linear(width, width);
            up = nn.Linear(width, hidden); down = nn.Linear(hidden, width);
            RegisterComponents();
        }

        public override Tensor forward(Tensor h)
        {
            var (n, l, d) = (h.shape[0], h.shape[1], h.shape[2]);
            var dh = d / _heads;
            var parts = qkv.forward(norm1.forward(h)).view(n, l, 3, _heads, dh).permute(2, 0, 3, 1, 4); // [3, n, H, L, dh]
            var (q, k, v) = (parts[0], parts[1], parts[2]);
            var weights = q.matmul(k.transpose(-2, -1)).mul(1 / Math.Sqrt(dh)).softmax(-1);                // [n, H, L, L]
            var attended = weights.matmul(v).transpose(1, 2).reshape(n, l, d);
            h = h + proj.forward(attended);
            return h + down.forward(nn.functional.gelu(up.forward(norm2.forward(h))));
        }
    }
}
