using TorchSharp;
using TorchSharp.Modules;
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
public sealed record MlpConfig(int Dimension, int Width = 256, int Depth = 4, string Activation = "silu", int TimeFrequencies = 8)
{
    /// <summary>Throws <see cref="ArgumentException"/> with a one-line reason when a field is out of range.</summary>
    public void Validate()
    {
        if (Dimension < 1) throw new ArgumentException($"model dimension must be >= 1, got {Dimension}");
        if (Width < 1 || Width > 65536) throw new ArgumentException($"--width must be in 1..65536, got {Width}");
        if (Depth < 1 || Depth > 64) throw new ArgumentException($"--depth must be in 1..64, got {Depth}");
        if (TimeFrequencies < 0 || TimeFrequencies > 256) throw new ArgumentException($"time frequencies must be in 0..256, got {TimeFrequencies}");
        _ = MlpNetwork.MakeActivation(Activation);
    }
}

/// <summary>
/// A multilayer perceptron f(x, t) on R^d x [0, 1]: the input is x concatenated with the Fourier time
/// embedding e(t) = [t, sin(pi t), cos(pi t), ..., sin(K pi t), cos(K pi t)], followed by <c>Depth</c>
/// Linear + activation layers of width <c>Width</c> and a final Linear layer back to d.
/// Weights and biases are initialised U(-1/sqrt(fan_in), 1/sqrt(fan_in)) from an explicit generator, so a
/// seed fixes the initial network without touching libtorch's global random state.
/// </summary>
public sealed class MlpNetwork : nn.Module<Tensor, Tensor, Tensor>, ITimeConditionedNetwork
{
    private readonly Sequential _layers;
    private readonly Tensor _frequencies;

    /// <summary>The configuration this network was built from.</summary>
    public MlpConfig Config { get; }

    /// <summary>Builds the network and initialises it from <paramref name="seed"/>.</summary>
    public MlpNetwork(MlpConfig config, long seed) : base("mlp")
    {
        config.Validate();
        Config = config;
        var inputs = config.Dimension + 1 + 2 * config.TimeFrequencies;
        var modules = new List<(string, nn.Module<Tensor, Tensor>)>();
        var fanIn = inputs;
        for (var i = 0; i < config.Depth; i++)
        {
            modules.Add(($"linear{i}", nn.Linear(fanIn, config.Width)));
            modules.Add(($"act{i}", MakeActivation(config.Activation)));
            fanIn = config.Width;
        }
        modules.Add(("out", nn.Linear(fanIn, config.Dimension)));
        _layers = nn.Sequential(modules);
        // pi k for k = 1..K, a buffer so it follows the module to its device.
        _frequencies = (arange(1, config.TimeFrequencies + 1, dtype: float32) * Math.PI);
        register_buffer("frequencies", _frequencies, persistent: false);
        RegisterComponents();
        Initialise(seed);
    }

    /// <inheritdoc />
    public nn.Module Module => this;

    /// <inheritdoc />
    public ModelSpec Spec => new("mlp", Config);
    ModelSpec? ITimeConditionedNetwork.Spec => Spec;

    /// <summary>x [n, d], t [n] (or [n, 1]) -> [n, d].</summary>
    public override Tensor forward(Tensor x, Tensor t)
    {
        using var scope = NewDisposeScope();
        var tc = t.reshape(-1, 1).to(x.dtype);
        Tensor input;
        if (Config.TimeFrequencies > 0)
        {
            var angles = tc * _frequencies.to(x.dtype).unsqueeze(0);
            input = cat([x, tc, angles.sin(), angles.cos()], 1);
        }
        else input = cat([x, tc], 1);
        return _layers.forward(input).MoveToOuterDisposeScope();
    }

    private void Initialise(long seed)
    {
        using var generator = new Generator((ulong)seed);
        using var noGrad = no_grad();
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
        _ => throw new ArgumentException($"unknown activation '{name}' (expected silu, gelu, relu, tanh, softplus)"),
    };
}
