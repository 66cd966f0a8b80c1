using System.Text.Json;
using System.Text.Json.Serialization;
using StochasticInterpolants.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace StochasticInterpolants.Models;

/// <summary>
/// Configuration of <see cref="UNet"/>. Level l (0-based, L = <see cref="ChannelMultipliers"/>.Count levels) works at
/// resolution (Height / 2^l) x (Width / 2^l) with BaseChannels x ChannelMultipliers[l] channels.
/// </summary>
/// <param name="Channels">Image channels c (input and output).</param>
/// <param name="Height">Image height h; divisible by 2^(L-1).</param>
/// <param name="Width">Image width w; divisible by 2^(L-1).</param>
/// <param name="BaseChannels">Channels of level 0; also the width of the sinusoidal time features (even). The time (and class)
/// embedding is 4 x BaseChannels wide.</param>
/// <param name="ChannelMultipliers">Channels of each level as multiples of <paramref name="BaseChannels"/> (default [1, 2, 2]).</param>
/// <param name="BlocksPerLevel">Residual blocks per encoder level (the decoder has one more per level, for the extra skip).</param>
/// <param name="AttentionBelow">Self-attention after the residual blocks of every level whose larger side is &lt;= this, and in
/// the middle when the lowest level qualifies; 0 = none.</param>
/// <param name="AttentionHeads">Heads of each self-attention; divides the channels of the levels that have attention.</param>
/// <param name="Groups">Groups of every GroupNorm; divides the channels of every level.</param>
/// <param name="Classes">Number of classes of a class condition (0: the network takes no class condition).</param>
/// <param name="ConditionChannels">Channels c' of an image condition [n, c', h, w] concatenated to x along channels at the
/// input (a data-dependent coupling's observation, docs/theory.md §12.4); 0: none. Excludes <paramref name="Classes"/>.</param>
/// <param name="TwoTimes">A flow-map network v(s, t, x) (docs/theory.md §14): the time embedding reads the sinusoidal features
/// of s and of the gap t - s; false: a network of one time.</param>
public sealed record UNetConfig(int Channels, int Height, int Width, int BaseChannels = 32, IReadOnlyList<int>? ChannelMultipliers = null,
    int BlocksPerLevel = 1, int AttentionBelow = 7, int AttentionHeads = 1, int Groups = 8, int Classes = 0, int ConditionChannels = 0,
    bool TwoTimes = false)
{
    /// <summary>Channels of each level as multiples of <see cref="BaseChannels"/>.</summary>
    // A read-only copy: a caller's array cannot change a built network's description afterwards.
    public IReadOnlyList<int> ChannelMultipliers { get; init; } = Array.AsReadOnly((ChannelMultipliers ?? [1, 2, 2]).ToArray());

    /// <summary>Levels L.</summary>
    [JsonIgnore]
    public int Levels => ChannelMultipliers.Count;

    /// <summary>Width of the time (and class) embedding: 4 x <see cref="BaseChannels"/>.</summary>
    [JsonIgnore]
    public int EmbeddingWidth => 4 * BaseChannels;

    /// <summary>Channels of level <paramref name="level"/>: BaseChannels x ChannelMultipliers[level].</summary>
    public int LevelChannels(int level) => BaseChannels * ChannelMultipliers[level];

    /// <summary>True when level <paramref name="level"/> (resolution max(h, w) / 2^level) has self-attention.</summary>
    public bool HasAttention(int level) => AttentionBelow > 0 && Math.Max(Height, Width) >> level <= AttentionBelow;

    /// <summary>Throws <see cref="ArgumentException"/> (<see cref="InvalidSettingException"/> for network settings) with a one-line reason when a field is out of range.</summary>
    public void Validate()
    {
        if (Channels < 1 || Channels > 4096) throw new ArgumentException($"unet image channels must be in 1..4096, got {Channels}");
        if (Height < 1 || Width < 1) throw new ArgumentException($"unet image size must be at least 1x1, got {Height}x{Width}");
        if (Classes < 0 || Classes > 1_000_000) throw new ArgumentException($"unet class count must be in 0..1000000, got {Classes}");
        if (ConditionChannels < 0 || ConditionChannels > 4096) throw new ArgumentException($"unet condition channels must be in 0..4096, got {ConditionChannels}");
        if (Classes > 0 && ConditionChannels > 0)
            throw new ArgumentException("a unet takes class labels or an image condition, not both");
        if (BaseChannels < 2 || BaseChannels > 4096 || BaseChannels % 2 != 0)
            throw new InvalidSettingException("base-channels", $"unet base channels must be even and in 2..4096 (they are also the sin/cos time features), got {BaseChannels}");
        if (ChannelMultipliers is null || ChannelMultipliers.Count < 1 || ChannelMultipliers.Count > 8)
            throw new InvalidSettingException("channel-multipliers", $"unet channel multipliers must list 1..8 levels, got {ChannelMultipliers?.Count ?? 0}");
        if (ChannelMultipliers.Any(m => m < 1 || m > 64))
            throw new InvalidSettingException("channel-multipliers", $"unet channel multipliers must be in 1..64, got [{string.Join(", ", ChannelMultipliers)}]");
        if (BlocksPerLevel < 1 || BlocksPerLevel > 16) throw new InvalidSettingException("blocks-per-level", $"unet blocks per level must be in 1..16, got {BlocksPerLevel}");
        if (AttentionBelow < 0) throw new InvalidSettingException("attention-below", $"unet attention resolution must be >= 0 (0 = no attention), got {AttentionBelow}");
        if (AttentionHeads < 1) throw new InvalidSettingException("attention-heads", $"unet attention heads must be >= 1, got {AttentionHeads}");
        if (Groups < 1) throw new InvalidSettingException("groups", $"unet normalisation groups must be >= 1, got {Groups}");
        var factor = 1 << (Levels - 1);
        if (Height % factor != 0 || Width % factor != 0)
            throw new InvalidSettingException("channel-multipliers", $"a {Levels}-level unet halves the image {Levels - 1} times, so height and width must be divisible by {factor}, got {Height}x{Width}");
        // Every GroupNorm normalises the input block's BaseChannels or a sum of level widths (multiples of the base): with the
        // base divisible by the groups, all are.
        if (BaseChannels % Groups != 0)
            throw new InvalidSettingException("base-channels", $"unet base channels ({BaseChannels}) must be divisible by the {Groups} normalisation groups: the first block normalises them");
        for (var l = 0; l < Levels; l++)
        {
            var ch = LevelChannels(l);
            if (HasAttention(l) && ch % AttentionHeads != 0)
                throw new InvalidSettingException("attention-heads", $"unet level {l} has {ch} channels, not divisible by {AttentionHeads} attention heads");
        }
    }

    /// <summary>The preset names of <see cref="Preset"/>.</summary>
    public static IReadOnlyList<string> PresetNames { get; } = ["tiny", "small", "medium"];

    /// <summary>
    /// A configuration sized for CPU training, by name, with one residual block per level; parameters at 1x28x28 with 10 classes:
    /// <c>tiny</c> (base 8, [1, 2], groups 4, attention at &lt;= 4; for tests: 40,841), <c>small</c> (base 16, [1, 1, 2],
    /// groups 8, attention at &lt;= 7: 205,153) and <c>medium</c> (base 24, [1, 2, 2], groups 8, attention at &lt;= 7: 628,489).
    /// Attention stays at 7x7 or lower: at 28x28 it costs ~3.4x the step (STACK.md).
    /// </summary>
    public static UNetConfig Preset(string name, int channels, int height, int width, int classes) => name.Trim().ToLowerInvariant() switch
    {
        "tiny" => new UNetConfig(channels, height, width, BaseChannels: 8, ChannelMultipliers: [1, 2], BlocksPerLevel: 1, AttentionBelow: 4, Groups: 4, Classes: classes),
        "small" => new UNetConfig(channels, height, width, BaseChannels: 16, ChannelMultipliers: [1, 1, 2], BlocksPerLevel: 1, AttentionBelow: 7, Groups: 8, Classes: classes),
        "medium" => new UNetConfig(channels, height, width, BaseChannels: 24, ChannelMultipliers: [1, 2, 2], BlocksPerLevel: 1, AttentionBelow: 7, Groups: 8, Classes: classes),
        _ => throw new InvalidSettingException("model preset", $"unknown unet preset '{name}' (expected {string.Join(", ", PresetNames)})"),
    };

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>This configuration as JSON (the <see cref="ModelSpec.Settings"/> of a U-Net).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Reads a configuration written by <see cref="ToJson"/>; throws <see cref="ArgumentException"/> with one line for malformed text.</summary>
    public static UNetConfig FromJson(string json)
    {
        try
        {
            return JsonSerializer.Deserialize<UNetConfig>(json, Json) ?? throw new ArgumentException("unet settings are empty (null)");
        }
        catch (JsonException e) { throw new ArgumentException($"unet settings are not a valid configuration: {e.Message.Split('\n')[0]}", e); }
    }

    /// <summary>Field by field, with the multipliers compared element by element (a record compares lists by reference).</summary>
    public bool Equals(UNetConfig? other) =>
        other is not null && Channels == other.Channels && Height == other.Height && Width == other.Width && BaseChannels == other.BaseChannels
        && ChannelMultipliers.SequenceEqual(other.ChannelMultipliers) && BlocksPerLevel == other.BlocksPerLevel && AttentionBelow == other.AttentionBelow
        && AttentionHeads == other.AttentionHeads && Groups == other.Groups && Classes == other.Classes && ConditionChannels == other.ConditionChannels
        && TwoTimes == other.TwoTimes;

    /// <inheritdoc />
    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(Channels); hash.Add(Height); hash.Add(Width); hash.Add(BaseChannels);
        foreach (var m in ChannelMultipliers) hash.Add(m);
        hash.Add(BlocksPerLevel); hash.Add(AttentionBelow); hash.Add(AttentionHeads); hash.Add(Groups); hash.Add(Classes); hash.Add(ConditionChannels); hash.Add(TwoTimes);
        return hash.ToHashCode();
    }

    private bool PrintMembers(System.Text.StringBuilder builder)
    {
        builder.Append($"Channels = {Channels}, Height = {Height}, Width = {Width}, BaseChannels = {BaseChannels}, ChannelMultipliers = [{string.Join(", ", ChannelMultipliers)}], ")
            .Append($"BlocksPerLevel = {BlocksPerLevel}, AttentionBelow = {AttentionBelow}, AttentionHeads = {AttentionHeads}, Groups = {Groups}, Classes = {Classes}, ConditionChannels = {ConditionChannels}, TwoTimes = {TwoTimes}");
        return true;
    }
}

/// <summary>
/// A U-Net f(x, t, c) on images [n, c, h, w] (DDPM-style; Ho et al. 2020), for CPU-sized models. The condition c is a class
/// label (through the embedding) or, with <see cref="UNetConfig.ConditionChannels"/> &gt; 0, an image [n, c', h, w] that is
/// concatenated to x along channels before the input conv (so the input conv sees c + c' channels):
/// <list type="bullet">
/// <item>Embedding: e = W2 SiLU(W1 s(t) + b1) + b2 + E[c], with the sinusoidal features of 1000 t,
/// s(t) = [sin(1000 t w_k), cos(1000 t w_k)], w_k = 10000^(-k/K), k = 0..K-1, K = BaseChannels / 2 (periods from 2 pi / 1000
/// to ~2 pi 10 in t, so [0, 1] is resolved finely near the data and coarsely overall), and E a learned class table whose row
/// <c>Classes</c> is the "no class" entry (null condition or label &lt; 0).</item>
/// <item>Residual block: h = Conv3(SiLU(GN(x))) + Linear(SiLU(e)) per channel; out = skip(x) + Conv3(SiLU(GN(h))), skip a 1x1 conv
/// when the channels change.</item>
/// <item>Self-attention (levels with resolution &lt;= <see cref="UNetConfig.AttentionBelow"/>): out = x + P softmax(q^T k / sqrt(d)) v,
/// q, k, v = 1x1 conv of GN(x), per head of d channels.</item>
/// <item>Encoder: input 3x3 conv, per level BlocksPerLevel blocks (+ attention), then a stride-2 3x3 conv (not after the last).
/// Middle: block, attention (when the lowest level has it), block. Decoder, from the lowest level up: BlocksPerLevel + 1 blocks
/// each on [h, skip] concatenated (skips popped in reverse order of the encoder's outputs), then nearest x2 + 3x3 conv (not at
/// level 0). Output: GN, SiLU, 3x3 conv to c channels.</item>
/// </list>
/// Initialisation from an explicit generator (never the global RNG): conv and linear weights and biases
/// U(-1/sqrt(fan_in), 1/sqrt(fan_in)), GroupNorm weight 1 and bias 0, class table N(0, 1). The output conv is not
/// zero-initialised: with it zero every other parameter gets no gradient on the first step and the network's initial output
/// is 0 for every input, which would make the forward comparison with another implementation vacuous.
/// </summary>
public sealed class UNet : nn.Module<Tensor, Tensor, Tensor?, Tensor>, ITwoTimeNetwork
{
    private readonly Linear _timeIn, _timeOut;
    private readonly Embedding? _classes;
    private readonly Conv2d _input;
    private readonly ModuleList<UNetLevel> _down, _up;
    private readonly ResidualBlock _middle1, _middle2;
    private readonly SelfAttention? _middleAttention;
    private readonly GroupNorm _outNorm;
    private readonly Conv2d _output;
    // Time features as one multiply and one add, then one sine: [sin(a_k t), cos(a_k t)] = sin(t * scale + phase) with
    // scale = (a, a), a_k = 1000 w_k, and phase = (0, pi/2). Non-persistent buffers (not part of checkpoints).
    private Tensor _featureScale, _featurePhase;

    /// <summary>The configuration this network was built from.</summary>
    public UNetConfig Config { get; }

    // The time features' scale and phase [1, BaseChannels] as the forward uses them, for the ONNX exporter: non-persistent
    // buffers are in no state dict, and the exported graph must use these very float32 values to round as the forward does.
    internal Tensor FeatureScale => _featureScale;
    internal Tensor FeaturePhase => _featurePhase;

    /// <summary>Builds the network and initialises it from <paramref name="seed"/>.</summary>
    public UNet(UNetConfig config, long seed) : base("unet")
    {
        config.Validate();
        Config = config;
        int b = config.BaseChannels, e = config.EmbeddingWidth, levels = config.Levels, g = config.Groups;
        _timeIn = nn.Linear(config.TwoTimes ? 2 * b : b, e); // a flow map's embedding reads the features of s and of t - s
        _timeOut = nn.Linear(e, e);
        if (config.Classes > 0) _classes = nn.Embedding(config.Classes + 1, e);
        _input = nn.Conv2d(config.Channels + config.ConditionChannels, b, 3, padding: 1);
        var skips = new Stack<int>([b]);
        var channels = b;
        _down = new ModuleList<UNetLevel>();
        for (var l = 0; l < levels; l++)
        {
            var ch = config.LevelChannels(l);
            var blocks = new List<ResidualBlock>();
            for (var i = 0; i < config.BlocksPerLevel; i++)
            {
                blocks.Add(new ResidualBlock(channels, ch, e, g));
                channels = ch;
                skips.Push(ch);
            }
            var down = l < levels - 1 ? nn.Conv2d(ch, ch, 3, stride: 2, padding: 1) : null;
            if (down is not null) skips.Push(ch);
            _down.Add(new UNetLevel(blocks, config.HasAttention(l) ? blocks.Select(_ => new SelfAttention(ch, config.AttentionHeads, g)).ToList() : [], down));
        }
        _middle1 = new ResidualBlock(channels, channels, e, g);
        if (config.HasAttention(levels - 1)) _middleAttention = new SelfAttention(channels, config.AttentionHeads, g);
        _middle2 = new ResidualBlock(channels, channels, e, g);
        // Built from the lowest level up (the order data flows), stored by level index so that up.{l} is level l.
        var up = new UNetLevel[levels];
        for (var l = levels - 1; l >= 0; l--)
        {
            var ch = config.LevelChannels(l);
            var blocks = new List<ResidualBlock>();
            for (var i = 0; i <= config.BlocksPerLevel; i++)
            {
                blocks.Add(new ResidualBlock(channels + skips.Pop(), ch, e, g));
                channels = ch;
            }
            up[l] = new UNetLevel(blocks, config.HasAttention(l) ? blocks.Select(_ => new SelfAttention(ch, config.AttentionHeads, g)).ToList() : [],
                l > 0 ? nn.Conv2d(ch, ch, 3, padding: 1) : null);
        }
        _up = new ModuleList<UNetLevel>(up);
        _outNorm = nn.GroupNorm(g, channels);
        _output = nn.Conv2d(channels, config.Channels, 3, padding: 1);

        var k = b / 2;
        using (var frequencies = arange(k, dtype: float64).mul_(-Math.Log(10000.0) / k).exp_().mul_(1000.0).to(float32))
            _featureScale = cat([frequencies, frequencies]).unsqueeze(0).DetachFromDisposeScope();
        _featurePhase = cat([zeros(k, dtype: float32), full(k, Math.PI / 2, dtype: float32)]).unsqueeze(0).DetachFromDisposeScope();

        // Registered by hand (not RegisterComponents) so parameter names are short and match the PyTorch twin one to one.
        register_module("time_in", _timeIn);
        register_module("time_out", _timeOut);
        if (_classes is not null) register_module("classes", _classes);
        register_module("input", _input);
        register_module("down", _down);
        register_module("mid1", _middle1);
        if (_middleAttention is not null) register_module("mid_attention", _middleAttention);
        register_module("mid2", _middle2);
        register_module("up", _up);
        register_module("out_norm", _outNorm);
        register_module("output", _output);
        register_buffer("feature_scale", _featureScale, persistent: false);
        register_buffer("feature_phase", _featurePhase, persistent: false);
        Initialise(seed);
    }

    /// <inheritdoc />
    public nn.Module Module => this;

    /// <summary>The description <see cref="NetworkRegistry"/> rebuilds this architecture from: type <c>unet</c>, settings <see cref="UNetConfig.ToJson"/>.</summary>
    public ModelSpec Spec => new("unet", null, Config.ToJson());
    ModelSpec? ITimeConditionedNetwork.Spec => Spec;

    /// <summary>Number of trainable values.</summary>
    public long ParameterCount => parameters().Sum(p => p.numel());

    /// <summary>
    /// x [n, c, h, w] or flat [n, c h w], t [] (one time for all rows) or [n] (any float dtype, cast to x's), and the condition:
    /// class labels [n] (int64; &lt; 0 selects "no class") or null ("no class"); with an image condition, the image
    /// [n, c', h, w] (required) -> x's shape.
    /// </summary>
    public override Tensor forward(Tensor x, Tensor t, Tensor? condition) => Forward(x, t, null, condition);

    /// <inheritdoc />
    public bool TakesTwoTimes => Config.TwoTimes;

    /// <summary>
    /// v(s, t, x; c) of a two-time U-Net (docs/theory.md §14): as <see cref="forward(Tensor, Tensor, Tensor?)"/> with the
    /// embedding reading the features of s and of the gap t - s (computed in float64).
    /// </summary>
    public Tensor forward(Tensor x, Tensor s, Tensor t, Tensor? condition)
    {
        if (!Config.TwoTimes) throw new ArgumentException("this unet takes one time (it was built without TwoTimes): it is not a flow map");
        using var gap = t.to(float64) - s.to(float64);
        return Forward(x, s, gap, condition);
    }

    // The network at start time t and, for a two-time network, the gap (null: 0, the diagonal).
    private Tensor Forward(Tensor x, Tensor t, Tensor? gap, Tensor? condition)
    {
        var (c, h, w) = (Config.Channels, Config.Height, Config.Width);
        var flat = x.dim() == 2 && x.shape[1] == (long)c * h * w;
        if (!flat && !(x.dim() == 4 && x.shape[1] == c && x.shape[2] == h && x.shape[3] == w))
            throw new ArgumentException($"the unet expects images [n, {c}, {h}, {w}] or flat [n, {c * h * w}], got [{string.Join(",", x.shape)}]");
        var n = x.shape[0];
        if (t.dim() > 1 || (t.dim() == 1 && t.shape[0] != n))
            throw new ArgumentException($"times must be one value [] or one per image [{n}], got [{string.Join(",", t.shape)}]");
        var imageCondition = Config.ConditionChannels > 0;
        if (condition is not null && _classes is null && !imageCondition) throw new ArgumentException("this unet was built without classes, but a condition was given");

        using var scope = NewDisposeScope();
        var images = flat ? x.reshape(n, c, h, w) : x;
        if (gap is not null && (gap.dim() > 1 || (gap.dim() == 1 && gap.shape[0] != n)))
            throw new ArgumentException($"times must be one value [] or one per image [{n}], got [{string.Join(",", gap.shape)}]");
        var embedding = Embedding(t, gap, imageCondition ? null : condition, images);
        var inPlace = !is_grad_enabled();
        var act = inPlace ? embedding.silu_() : nn.functional.silu(embedding); // every block's embedding projection reads SiLU(e)

        var hidden = _input.forward(imageCondition ? cat([images, ConditionImage(condition, images)], 1) : images);
        var skips = new Stack<Tensor>();
        skips.Push(hidden);
        foreach (var level in _down)
        {
            for (var i = 0; i < level.Blocks.Count; i++)
            {
                hidden = level.Blocks[i].forward(hidden, act);
                if (level.Attentions.Count > 0) hidden = level.Attentions[i].forward(hidden);
                skips.Push(hidden);
            }
            if (level.Resample is { } down) { hidden = down.forward(hidden); skips.Push(hidden); }
        }
        hidden = _middle1.forward(hidden, act);
        if (_middleAttention is not null) hidden = _middleAttention.forward(hidden);
        hidden = _middle2.forward(hidden, act);
        for (var l = _up.Count - 1; l >= 0; l--)
        {
            var level = _up[l];
            for (var i = 0; i < level.Blocks.Count; i++)
            {
                hidden = level.Blocks[i].forward(cat([hidden, skips.Pop()], 1), act);
                if (level.Attentions.Count > 0) hidden = level.Attentions[i].forward(hidden);
            }
            if (level.Resample is { } upConv)
                hidden = upConv.forward(nn.functional.interpolate(hidden, scale_factor: [2.0, 2.0], mode: InterpolationMode.Nearest));
        }
        hidden = _outNorm.forward(hidden);
        hidden = inPlace ? hidden.silu_() : nn.functional.silu(hidden);
        var result = _output.forward(hidden);
        return (flat ? result.view(x.shape) : result).MoveToOuterDisposeScope();
    }

    // e = time MLP of the sinusoidal features (+ class row): [n, EmbeddingWidth].
    private Tensor Embedding(Tensor t, Tensor? gap, Tensor? condition, Tensor images)
    {
        var n = images.shape[0];
        if (_featureScale.device != images.device || _featureScale.dtype != images.dtype)
        {
            // Converted once and kept (the buffers follow the network's dtype and device).
            _featureScale = _featureScale.to(images.dtype, images.device).DetachFromDisposeScope();
            _featurePhase = _featurePhase.to(images.dtype, images.device).DetachFromDisposeScope();
        }
        var features = Features(t);
        if (Config.TwoTimes) features = cat([features, Features(gap ?? zeros_like(t, dtype: float64))], 1);
        var embedding = _timeOut.forward(nn.functional.silu(_timeIn.forward(features)));
        if (_classes is not null) embedding = embedding.add_(_classes.forward(ClassIndices(condition, n, images.device)));
        return embedding;

        Tensor Features(Tensor time)
        {
            var times = time.to(images.dtype, images.device);
            times = time.dim() == 0 ? times.expand(n, 1) : times.view(n, 1);
            var f = times * _featureScale + _featurePhase;
            // In place unless autograd tracks t (sin's backward needs its input): the features need no gradient in training.
            return f.requires_grad ? f.sin() : f.sin_();
        }
    }

    // The image condition [n, c', h, w] in the images' dtype and device; a missing or misshapen one is an error, since the
    // network was trained only with one and has no "no condition" entry.
    private Tensor ConditionImage(Tensor? condition, Tensor images)
    {
        var (n, cc, h, w) = (images.shape[0], Config.ConditionChannels, Config.Height, Config.Width);
        if (condition is null) throw new ArgumentException($"this unet is conditioned on an image of {cc} channels (a data-dependent coupling's observation), but none was given");
        if (!condition.is_floating_point()) throw new ArgumentException($"this unet's condition is an image (floating point [n, {cc}, {h}, {w}]), got {condition.dtype} [{string.Join(",", condition.shape)}]");
        var shaped = condition.dim() == 2 && condition.shape[0] == n && condition.shape[1] == cc * h * w ? condition.reshape(n, cc, h, w) : condition;
        if (shaped.dim() != 4 || shaped.shape[0] != n || shaped.shape[1] != cc || shaped.shape[2] != h || shaped.shape[3] != w)
            throw new ArgumentException($"this unet's condition must be [{n}, {cc}, {h}, {w}], got [{string.Join(",", condition.shape)}]");
        return shaped.to(images.dtype, images.device);
    }

    // Labels 0..Classes-1 select their class; a missing condition or a label < 0 selects the learned "no class" row.
    private Tensor ClassIndices(Tensor? condition, long n, Device device)
    {
        var none = Config.Classes;
        if (condition is null) return full(n, none, dtype: int64, device: device);
        if (condition.dim() != 1 || condition.shape[0] != n)
            throw new ArgumentException($"class labels must be [n] = [{n}], got [{string.Join(",", condition.shape)}]");
        if (condition.is_floating_point() || condition.is_complex()) throw new ArgumentException($"class labels must be integers, got {condition.dtype}");
        var labels = condition.to(int64, device);
        var max = labels.max().ToInt64();
        if (max >= none) throw new ArgumentException($"class labels must be below {none} (or < 0 for no class), got {max}");
        return where(labels < 0, full_like(labels, none), labels);
    }

    private void Initialise(long seed)
    {
        using var generator = new Generator((ulong)seed);
        using var noGrad = no_grad();
        foreach (var (_, module) in named_modules())
        {
            switch (module)
            {
                case Conv2d conv:
                    Uniform(conv.weight!, conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]);
                    Uniform(conv.bias!, conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]);
                    break;
                case Linear linear:
                    Uniform(linear.weight!, linear.in_features);
                    Uniform(linear.bias!, linear.in_features);
                    break;
                case GroupNorm norm: // TorchSharp leaves these uninitialised (STACK.md)
                    norm.weight!.fill_(1.0);
                    norm.bias!.fill_(0.0);
                    break;
                case Embedding table:
                    using (var r = randn(table.weight!.shape, generator: generator)) table.weight!.copy_(r);
                    break;
            }
        }

        void Uniform(Tensor p, long fanIn)
        {
            var bound = 1.0 / Math.Sqrt(fanIn);
            using var r = rand(p.shape, generator: generator);
            p.copy_(r.mul_(2 * bound).sub_(bound));
        }
    }
}

/// <summary>One level of the encoder or decoder: residual blocks, optional attention after each, optional down- or up-sampling conv.</summary>
internal sealed class UNetLevel : nn.Module
{
    public UNetLevel(IList<ResidualBlock> blocks, IList<SelfAttention> attentions, Conv2d? resample) : base("level")
    {
        Blocks = new ModuleList<ResidualBlock>(blocks.ToArray());
        Attentions = new ModuleList<SelfAttention>(attentions.ToArray());
        Resample = resample;
        register_module("blocks", Blocks);
        if (Attentions.Count > 0) register_module("attentions", Attentions);
        if (resample is not null) register_module("resample", resample);
    }

    public ModuleList<ResidualBlock> Blocks { get; }
    public ModuleList<SelfAttention> Attentions { get; }
    public Conv2d? Resample { get; }
}

/// <summary>h = Conv3(SiLU(GN(x))) + Linear(a) per channel (a = SiLU(e)); out = skip(x) + Conv3(SiLU(GN(h))).</summary>
internal sealed class ResidualBlock : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly GroupNorm _norm1, _norm2;
    private readonly Conv2d _conv1, _conv2;
    private readonly Linear _embedding;
    private readonly Conv2d? _skip;

    public ResidualBlock(int inChannels, int outChannels, int embeddingWidth, int groups) : base("block")
    {
        _norm1 = nn.GroupNorm(groups, inChannels);
        _conv1 = nn.Conv2d(inChannels, outChannels, 3, padding: 1);
        _embedding = nn.Linear(embeddingWidth, outChannels);
        _norm2 = nn.GroupNorm(groups, outChannels);
        _conv2 = nn.Conv2d(outChannels, outChannels, 3, padding: 1);
        if (inChannels != outChannels) _skip = nn.Conv2d(inChannels, outChannels, 1);
        register_module("norm1", _norm1);
        register_module("conv1", _conv1);
        register_module("embedding", _embedding);
        register_module("norm2", _norm2);
        register_module("conv2", _conv2);
        if (_skip is not null) register_module("skip", _skip);
    }

    public override Tensor forward(Tensor x, Tensor activatedEmbedding)
    {
        var inPlace = !is_grad_enabled();
        var h = _norm1.forward(x);
        h = _conv1.forward(inPlace ? h.silu_() : nn.functional.silu(h));
        var shift = _embedding.forward(activatedEmbedding);
        // In place is safe with autograd too: a convolution's backward needs its input and weight, not its output.
        h = h.add_(shift.view(shift.shape[0], shift.shape[1], 1, 1));
        var h2 = _norm2.forward(h);
        h2 = _conv2.forward(inPlace ? h2.silu_() : nn.functional.silu(h2));
        return h2.add_(_skip is null ? x : _skip.forward(x));
    }
}

/// <summary>out = x + P (softmax(q^T k / sqrt(d)) v per head), [q; k; v] = W GN(x) (1x1 convs), d = channels / heads.</summary>
internal sealed class SelfAttention : nn.Module<Tensor, Tensor>
{
    private readonly GroupNorm _norm;
    private readonly Conv2d _qkv, _projection;
    private readonly int _heads;
    private readonly Scalar _scale; // held for the module's life: a temporary Scalar can be finalised mid-call (see AdamOptimizer)

    public SelfAttention(int channels, int heads, int groups) : base("attention")
    {
        _heads = heads;
        _scale = (1.0 / Math.Sqrt(channels / heads)).ToScalar();
        _norm = nn.GroupNorm(groups, channels);
        _qkv = nn.Conv2d(channels, 3 * channels, 1);
        _projection = nn.Conv2d(channels, channels, 1);
        register_module("norm", _norm);
        register_module("qkv", _qkv);
        register_module("projection", _projection);
    }

    public override Tensor forward(Tensor x)
    {
        long n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3];
        var d = c / _heads;
        var qkv = _qkv.forward(_norm.forward(x)).view(n, 3, _heads, d, h * w);
        var (q, k, v) = (qkv.select(1, 0), qkv.select(1, 1), qkv.select(1, 2)); // each [n, heads, d, hw]
        var scores = q.transpose(2, 3).matmul(k).mul_(_scale); // [n, heads, hw (query), hw (key)]
        var weights = scores.softmax(-1);
        var attended = v.matmul(weights.transpose(2, 3)); // [n, heads, d, hw (query)]
        return _projection.forward(attended.reshape(n, c, h, w)).add_(x);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _scale.Dispose();
        base.Dispose(disposing);
    }
}
