using StochasticInterpolants.Models;
using System.Globalization;

namespace StochasticInterpolants.Benchmarks;

/// <summary>What one run of the benchmark command measures (one mode per run).</summary>
public enum BenchMode
{
    /// <summary>Default: training alternated in short rounds between the library's step, a bare TorchSharp loop and PyTorch,
    /// with per-round ratios; then sampling and likelihood beside PyTorch.</summary>
    Compare,
    /// <summary>--profile: the training step taken apart per operation, ours beside PyTorch's.</summary>
    Profile,
    /// <summary>--throughput: this side only: training steps/s, sampling samples/s, a short memory soak.</summary>
    Throughput,
    /// <summary>--sde-table: sample quality against NFE for the ODE and SDE samplers.</summary>
    SdeTable,
    /// <summary>--nll-curve: held-out NLL against training time.</summary>
    NllCurve,
    /// <summary>--memory: a long training and sampling soak with resident memory.</summary>
    Memory,
    /// <summary>--fuzz N: N mutated inputs through every file reader.</summary>
    Fuzz,
    /// <summary>--tables [--seeds K]: scikit-learn's real tables, each trained with the defaults and scored on held-out rows beside a Gaussian.</summary>
    Tables,
    /// <summary>--unet [--preset NAME]: the U-Net's training step beside the same network in PyTorch (batches 64 and 128 of
    /// 1x28x28 images, 10 classes), after a forward-equality check; one thread each side unless --threads is given.</summary>
    UNet,
    /// <summary>--image-curve [--data NAME]: bits/dim on an image set's test images against training CPU time (default fashion-mnist).</summary>
    ImageCurve,
    /// <summary>--image-memory [--data NAME] [--preset NAME]: resident memory over a 20,000-step image run (default digits8, tiny U-Net).</summary>
    ImageMemory,
    /// <summary>--ot-solver: exact minibatch OT time per pairing against n, cold and warm, d = 2 and 784, beside the textbook solver.</summary>
    OtSolver,
    /// <summary>--coupling-speed [--couplings A,B]: training steps/s of each coupling on the checkerboard at batches 256, 1024 and
    /// 4096 through the library's training step, with its ratio to independent pairs and the pairing (Sample) time alone.</summary>
    CouplingSpeed,
    /// <summary>--coupling-quality [--couplings A,B]: each coupling trained on the checkerboard with one budget, then support
    /// fraction, energy distance and NLL for Euler and RK4 at 1-100 steps, and each flow's path straightness.</summary>
    CouplingQuality,
    /// <summary>--mpi: data-parallel training on this machine: si train and si sample as one process with every core against
    /// several processes under mpiexec; the training step's all-reduce timed from inside (MLP and U-Net); the all-reduce's
    /// latency and bandwidth over localhost; and a projection to 2, 8 and 64 processes.</summary>
    Mpi,
    /// <summary>--image-chunks --checkpoint DIR: s/image and peak resident memory of an image checkpoint's sampling at chunk
    /// sizes 8 to 512, plain and under guidance (how CheckpointSampler.ChunkRows was chosen).</summary>
    ImageChunks,
    /// <summary>--flow-map [--parts gmm,checkerboard,table,digits] [--steps N] [--map-objective lsd|psd]: issue 24's few-step targets: a flow map and a plain
    /// velocity model trained on the same wall-clock, scored at 1, 2, 4, 8 jumps beside Euler at the same N, RK4 and the metric's floor.</summary>
    FlowMap,
    Manifolds,
    Words,
    /// <summary>--onnx: sampling speed of an exported model in ONNX Runtime (OnnxGenerator) against si sample's sampler on the same
    /// checkpoint, count, solver, steps and threads, alternated (checkerboard MLP, digits U-Net).</summary>
    Onnx,
}

/// <summary>The benchmark's command line, parsed once: exactly one mode (default <see cref="BenchMode.Compare"/>) and its settings.</summary>
public sealed record BenchOptions(BenchMode Mode, bool Quick = false, int? Threads = null, string? Checkpoint = null, int FuzzInputs = 0,
    int? Rounds = null, bool WithPyTorch = true, bool PyTorchGlibc = true, int Seeds = 1, string? Preset = null, string? Data = null,
    IReadOnlyList<string>? Couplings = null, IReadOnlyList<string>? Parts = null, int? Steps = null, string? MapObjective = null)
{
    /// <summary>The couplings the coupling modes measure when --couplings is not given.</summary>
    public static IReadOnlyList<string> DefaultCouplings { get; } = ["independent", "ot", "sinkhorn"];

    /// <summary>The usage line printed with an error.</summary>
    public const string Usage = "expected one of --throughput, --profile, --sde-table [--checkpoint DIR], --nll-curve, --memory, --fuzz N, --tables [--seeds K], --unet [--preset tiny|small|medium] [--rounds R] [--no-pytorch], --image-curve [--data NAME], --image-memory [--data NAME] [--preset P], --image-chunks --checkpoint DIR, --coupling-speed [--couplings A,B,...], --coupling-quality [--couplings A,B,...], --ot-solver, --mpi, --flow-map [--parts gmm,checkerboard,table,digits] [--steps N] [--map-objective lsd|psd], --manifolds, --words, --onnx [--rounds R], or none (the comparison: [--rounds R] [--no-pytorch] [--no-glibc-pytorch]); and --quick, --threads N";

    /// <summary>Parses <paramref name="args"/>; throws <see cref="ArgumentException"/> with one line for an unknown, malformed or second mode flag.</summary>
    public static BenchOptions Parse(IReadOnlyList<string> args)
    {
        BenchMode? mode = null;
        var seeds = false;
        var preset = false;
        var o = new BenchOptions(BenchMode.Compare);
        for (var i = 0; i < args.Count; i++)
        {
            var a = args[i];
            switch (a)
            {
                case "--quick": o = o with { Quick = true }; break;
                case "--threads": o = o with { Threads = Count(a, Value()) }; break;
                case "--rounds": o = o with { Rounds = Count(a, Value()) }; break;
                case "--no-pytorch": o = o with { WithPyTorch = false }; break;
                case "--no-glibc-pytorch": o = o with { PyTorchGlibc = false }; break;
                case "--checkpoint": o = o with { Checkpoint = Value() }; break;
                case "--compare": Set(BenchMode.Compare); break;
                case "--profile": Set(BenchMode.Profile); break;
                case "--throughput": Set(BenchMode.Throughput); break;
                case "--sde-table": Set(BenchMode.SdeTable); break;
                case "--image-chunks": Set(BenchMode.ImageChunks); break;
                case "--nll-curve": Set(BenchMode.NllCurve); break;
                case "--memory": Set(BenchMode.Memory); break;
                case "--fuzz": Set(BenchMode.Fuzz); o = o with { FuzzInputs = Count(a, Value()) }; break;
                case "--tables": Set(BenchMode.Tables); break;
                case "--seeds": o = o with { Seeds = Count(a, Value()) }; seeds = true; break;
                case "--unet": Set(BenchMode.UNet); break;
                case "--preset": o = o with { Preset = Value() }; preset = true; break;
                case "--image-curve": Set(BenchMode.ImageCurve); break;
                case "--image-memory": Set(BenchMode.ImageMemory); break;
                case "--data": o = o with { Data = Value() }; break;
                case "--ot-solver": Set(BenchMode.OtSolver); break;
                case "--coupling-speed": Set(BenchMode.CouplingSpeed); break;
                case "--coupling-quality": Set(BenchMode.CouplingQuality); break;
                case "--mpi": Set(BenchMode.Mpi); break;
                case "--couplings": o = o with { Couplings = Names(a, Value()) }; break;
                case "--flow-map": Set(BenchMode.FlowMap); break;
                case "--manifolds": Set(BenchMode.Manifolds); break;
                case "--words": Set(BenchMode.Words); break;
                case "--onnx": Set(BenchMode.Onnx); break;
                case "--parts": o = o with { Parts = PartList(a, Value()) }; break;
                case "--steps": o = o with { Steps = Count(a, Value()) }; break;
                case "--map-objective": o = o with { MapObjective = Objective(a, Value()) }; break;
                default: throw new ArgumentException($"unknown argument '{a}' ({Usage})");
            }

            string Value() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{a} needs a value ({Usage})");
        }
        if (o.Checkpoint is not null && mode is not (BenchMode.SdeTable or BenchMode.ImageChunks)) throw new ArgumentException("--checkpoint goes with --sde-table or --image-chunks");
        if (o.Checkpoint is null && mode == BenchMode.ImageChunks) throw new ArgumentException("--image-chunks needs --checkpoint DIR (an image checkpoint)");
        if (seeds && mode != BenchMode.Tables) throw new ArgumentException("--seeds goes with --tables");
        if (preset && mode is not (BenchMode.UNet or BenchMode.ImageMemory)) throw new ArgumentException("--preset goes with --unet or --image-memory");
        if (o.Data is not null && mode is not (BenchMode.ImageCurve or BenchMode.ImageMemory)) throw new ArgumentException("--data goes with --image-curve or --image-memory");
        if (o.Couplings is not null && mode is not (BenchMode.CouplingSpeed or BenchMode.CouplingQuality))
            throw new ArgumentException("--couplings goes with --coupling-speed or --coupling-quality");
        if (o.Parts is not null && mode != BenchMode.FlowMap) throw new ArgumentException("--parts goes with --flow-map");
        if (o.Steps is not null && mode != BenchMode.FlowMap) throw new ArgumentException("--steps goes with --flow-map (the digits part's flow-map training steps)");
        if (o.MapObjective is not null && mode != BenchMode.FlowMap) throw new ArgumentException("--map-objective goes with --flow-map");
        if (preset && !UNetConfig.PresetNames.Contains(o.Preset!.Trim().ToLowerInvariant()))
            throw new ArgumentException($"--preset must be one of {string.Join(", ", UNetConfig.PresetNames)}, got '{o.Preset}'");
        return o with { Mode = mode ?? BenchMode.Compare };

        void Set(BenchMode m)
        {
            if (mode is { } earlier && earlier != m) throw new ArgumentException($"give one mode, not both {Flag(earlier)} and {Flag(m)} ({Usage})");
            mode = m;
        }
    }

    /// <summary>The flag that selects <paramref name="mode"/>.</summary>
    public static string Flag(BenchMode mode) => mode switch
    {
        BenchMode.Compare => "--compare", BenchMode.Profile => "--profile", BenchMode.Throughput => "--throughput", BenchMode.SdeTable => "--sde-table",
        BenchMode.NllCurve => "--nll-curve", BenchMode.Memory => "--memory", BenchMode.Tables => "--tables", BenchMode.UNet => "--unet",
        BenchMode.ImageCurve => "--image-curve", BenchMode.ImageMemory => "--image-memory", BenchMode.ImageChunks => "--image-chunks",
        BenchMode.CouplingSpeed => "--coupling-speed", BenchMode.CouplingQuality => "--coupling-quality", BenchMode.OtSolver => "--ot-solver", BenchMode.Mpi => "--mpi", BenchMode.FlowMap => "--flow-map", BenchMode.Manifolds => "--manifolds", BenchMode.Words => "--words", BenchMode.Onnx => "--onnx", _ => "--fuzz",
    };

    // A comma-separated list of coupling names, trimmed and lower-cased, each once (whether they are registered is the mode's business).
    private static IReadOnlyList<string> Names(string flag, string value)
    {
        var names = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(n => n.ToLowerInvariant()).Distinct().ToList();
        return names.Count > 0 ? names : throw new ArgumentException($"{flag} needs one or more coupling names separated by commas, got '{value}'");
    }

    // A comma-separated list of --flow-map parts, each known, each once, in the order given.
    private static IReadOnlyList<string> PartList(string flag, string value)
    {
        var parts = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(n => n.ToLowerInvariant()).Distinct().ToList();
        if (parts.Count == 0) throw new ArgumentException($"{flag} needs one or more of {string.Join(",", FlowMapBenchmark.PartNames)} separated by commas, got '{value}'");
        foreach (var p in parts)
            if (!FlowMapBenchmark.PartNames.Contains(p)) throw new ArgumentException($"{flag}: unknown part '{p}' (expected {string.Join(", ", FlowMapBenchmark.PartNames)})");
        return parts;
    }

    private static string Objective(string flag, string value) => value.Trim().ToLowerInvariant() is "lsd" or "psd" ? value.Trim().ToLowerInvariant()
        : throw new ArgumentException($"{flag} must be lsd or psd, got '{value}'");

    private static int Count(string flag, string value) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n >= 1 ? n : throw new ArgumentException($"{flag} needs a whole number >= 1, got '{value}'");
}
