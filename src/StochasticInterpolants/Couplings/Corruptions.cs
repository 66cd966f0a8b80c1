using StochasticInterpolants.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Couplings;

/// <summary>
/// A corrupted batch of images (docs/theory.md §12.4): the start x0 of the flow, the condition the network sees, and, for
/// in-painting, the mask of the observed pixels.
/// </summary>
/// <param name="X0">The flow's start [n, c, h, w].</param>
/// <param name="Condition">The network's image condition [n, c', h, w].</param>
/// <param name="Observed">1 on pixels that are observed exactly (x0 = x1 there), 0 on hidden ones, [n, 1, h, w]; null when
/// no pixel is observed exactly (super-resolution, denoising).</param>
public sealed record Corrupted(Tensor X0, Tensor Condition, Tensor? Observed) : IDisposable
{
    /// <summary>Disposes the three tensors.</summary>
    public void Dispose()
    {
        X0.Dispose(); Condition.Dispose(); Observed?.Dispose();
    }
}

/// <summary>
/// A corruption of an image batch x1 [n, c, h, w] in the flow's units [-1, 1] into the start x0 of a data-dependent coupling
/// and the condition passed to the network (docs/theory.md §12.4). All randomness comes from the caller's generator.
/// </summary>
public interface ICorruption
{
    /// <summary>The coupling's registered name (inpaint, superres, denoise).</summary>
    string Name { get; }

    /// <summary>Channels of the condition for images of <paramref name="channels"/> channels.</summary>
    int ConditionChannels(int channels);

    /// <summary>Corrupts <paramref name="x1"/> [n, c, h, w] (float); the result is float32 on x1's device.</summary>
    Corrupted Apply(Tensor x1, Generator generator);

    /// <summary>A short description with the settings, e.g. "in-painting, mask center".</summary>
    string Describe();
}

/// <summary>The data-dependent couplings' corruptions by name.</summary>
public static class Corruptions
{
    /// <summary>The names of the corruptions, which are also the names of their couplings.</summary>
    public static IReadOnlyList<string> Names { get; } = ["inpaint", "superres", "denoise"];

    /// <summary>True when <paramref name="couplingName"/> names a data-dependent coupling (case-insensitive).</summary>
    public static bool IsDataDependent(string? couplingName) =>
        couplingName is not null && Names.Contains(couplingName.Trim().ToLowerInvariant());

    /// <summary>
    /// The corruption <paramref name="name"/> with <paramref name="options"/> for images of <paramref name="shape"/> [c, h, w];
    /// throws <see cref="InvalidSettingException"/> for settings that do not fit (an unknown mask, a factor not dividing h and w).
    /// </summary>
    public static ICorruption Create(string name, CouplingOptions options, IReadOnlyList<long> shape)
    {
        if (shape.Count != 3 || shape.Any(s => s < 1))
            throw new InvalidSettingException("coupling", $"the '{name}' coupling corrupts images [c, h, w]; got a sample shape [{string.Join(",", shape)}]");
        return name.Trim().ToLowerInvariant() switch
        {
            "inpaint" => new InPainting(options.Mask, (int)shape[1], (int)shape[2]),
            "superres" => new SuperResolution(options.Factor, options.Noise, (int)shape[1], (int)shape[2]),
            "denoise" => new Denoising(options.Noise),
            _ => throw new InvalidSettingException("coupling", $"'{name}' is not a data-dependent coupling (expected {string.Join(", ", Names)})"),
        };
    }
}

/// <summary>
/// In-painting: a mask m (1 observed, 0 hidden; one channel, shared by the image's channels) hides a region, and
/// x0 = m * x1 + (1 - m) * zeta, zeta ~ N(0, I); condition = concat(m * x1, m) along channels (c + 1 channels). The
/// observed pixels of x0 are exactly x1's. Masks: <c>center</c> hides the central (h/2) x (w/2) block (rows
/// floor(h/4) .. floor(h/4) + h/2 - 1, likewise columns), <c>random</c> a block of the same size at a position drawn per
/// image uniformly among all positions inside the image, <c>left</c> the columns 0 .. w/2 - 1, <c>top</c> the rows 0 .. h/2 - 1
/// (integer halves, rounded down).
/// </summary>
public sealed class InPainting : ICorruption
{
    /// <summary>The mask names.</summary>
    public static IReadOnlyList<string> MaskNames { get; } = ["center", "random", "left", "top"];

    /// <summary>The in-painting of <paramref name="height"/> x <paramref name="width"/> images with mask <paramref name="mask"/>.</summary>
    public InPainting(string mask, int height, int width)
    {
        Mask = mask.Trim().ToLowerInvariant() switch
        {
            "center" or "centre" => "center",
            var m when MaskNames.Contains(m) => m,
            _ => throw new InvalidSettingException("mask", $"unknown in-painting mask '{mask}' (expected {string.Join(", ", MaskNames)})"),
        };
        if (height < 2 || width < 2) throw new InvalidSettingException("mask", $"in-painting needs images of at least 2x2 pixels, got {height}x{width}");
        Height = height; Width = width;
    }

    /// <summary>The mask's name.</summary>
    public string Mask { get; }
    /// <summary>Image height h.</summary>
    public int Height { get; }
    /// <summary>Image width w.</summary>
    public int Width { get; }
    /// <inheritdoc />
    public string Name => "inpaint";
    /// <inheritdoc />
    public int ConditionChannels(int channels) => channels + 1;
    /// <inheritdoc />
    public string Describe() => $"in-painting, mask {Mask}";

    /// <summary>
    /// The observed-pixel mask of <paramref name="count"/> images, float32 [count, 1, h, w] (1 observed, 0 hidden); the
    /// random mask draws its block positions (rows, then columns, each uniform on 0 .. side - block) from
    /// <paramref name="generator"/>, the fixed masks draw nothing.
    /// </summary>
    public Tensor MaskFor(int count, Generator generator)
    {
        using var scope = NewDisposeScope();
        int h = Height, w = Width, bh = h / 2, bw = w / 2;
        var rows = arange(h, dtype: int64).view(1, 1, h, 1);
        var cols = arange(w, dtype: int64).view(1, 1, 1, w);
        Tensor hidden = Mask switch
        {
            "center" => Block(full([count, 1, 1, 1], (long)(h / 4), dtype: int64), full([count, 1, 1, 1], (long)(w / 4), dtype: int64)),
            "random" => Block(randint(0, h - bh + 1, [count, 1, 1, 1], dtype: int64, generator: generator),
                randint(0, w - bw + 1, [count, 1, 1, 1], dtype: int64, generator: generator)),
            "left" => cols.lt(bw).expand(count, 1, h, w),
            _ => rows.lt(bh).expand(count, 1, h, w), // top
        };
        return hidden.logical_not().to(float32).MoveToOuterDisposeScope();

        Tensor Block(Tensor top, Tensor left) =>
            rows.ge(top).logical_and(rows.lt(top + bh)).logical_and(cols.ge(left)).logical_and(cols.lt(left + bw));
    }

    /// <summary>x0 = m x1 + (1 - m) zeta, condition = concat(m x1, m); draws the mask (random masks only), then zeta.</summary>
    public Corrupted Apply(Tensor x1, Generator generator)
    {
        var (n, _) = Check(x1, Height, Width);
        using var scope = NewDisposeScope();
        var images = x1.to(float32);
        var m = MaskFor(n, generator).to(images.device);
        var zeta = randn(images.shape, dtype: float32, generator: generator).to(images.device);
        var observed = images * m;
        var x0 = observed + (1 - m) * zeta;
        var condition = cat([observed, m], 1);
        return new Corrupted(x0.MoveToOuterDisposeScope(), condition.MoveToOuterDisposeScope(), m.MoveToOuterDisposeScope());
    }

    /// <summary>Checks that <paramref name="x"/> is an image batch of the expected size; returns (n, c).</summary>
    internal static (int Count, int Channels) Check(Tensor x, int height, int width)
    {
        if (x.dim() != 4 || x.shape[2] != height || x.shape[3] != width)
            throw new ArgumentException($"expected images [n, c, {height}, {width}], got [{string.Join(",", x.shape)}]");
        if (!x.is_floating_point()) throw new ArgumentException($"images to corrupt must be floating point (the flow's units), got {x.dtype}");
        return ((int)x.shape[0], (int)x.shape[1]);
    }
}

/// <summary>
/// Super-resolution by an integer factor f: down(x1) averages each f x f block (average pooling), up(y) repeats each
/// pixel into an f x f block (nearest upsampling), so up(down(x)) = x on images constant on blocks. x0 = up(down(x1)) + s zeta,
/// zeta ~ N(0, I), s the noise setting; condition = up(down(x1)) (c channels, without the noise).
/// </summary>
public sealed class SuperResolution : ICorruption
{
    /// <summary>Super-resolution of <paramref name="height"/> x <paramref name="width"/> images by <paramref name="factor"/>, noise s = <paramref name="noise"/>.</summary>
    public SuperResolution(int factor, double noise, int height, int width)
    {
        if (factor < 2) throw new InvalidSettingException("factor", $"the super-resolution factor must be >= 2, got {factor}");
        if (height % factor != 0 || width % factor != 0)
            throw new InvalidSettingException("factor", $"the super-resolution factor {factor} must divide the image's height and width ({height}x{width})");
        if (!(noise >= 0) || !double.IsFinite(noise)) throw new InvalidSettingException("corruption-noise", $"the corruption noise must be a finite number >= 0, got {noise}");
        Factor = factor; Noise = noise; Height = height; Width = width;
    }

    /// <summary>f.</summary>
    public int Factor { get; }
    /// <summary>s, the standard deviation of the noise on x0.</summary>
    public double Noise { get; }
    /// <summary>Image height h (of the high resolution).</summary>
    public int Height { get; }
    /// <summary>Image width w.</summary>
    public int Width { get; }
    /// <inheritdoc />
    public string Name => "superres";
    /// <inheritdoc />
    public int ConditionChannels(int channels) => channels;
    /// <inheritdoc />
    public string Describe() => $"super-resolution x{Factor}, noise {Noise:G3}";

    /// <summary>down(x): the mean of each f x f block, [n, c, h, w] -> [n, c, h/f, w/f].</summary>
    public Tensor Down(Tensor x)
    {
        var (n, c) = InPainting.Check(x, Height, Width);
        int f = Factor, h = Height / f, w = Width / f;
        using var blocks = x.reshape(n, c, h, f, w, f);
        return blocks.mean([3, 5]);
    }

    /// <summary>up(y): each pixel repeated into an f x f block, [n, c, h/f, w/f] -> [n, c, h, w].</summary>
    public Tensor Up(Tensor low)
    {
        var (n, c) = InPainting.Check(low, Height / Factor, Width / Factor);
        using var scope = NewDisposeScope();
        return low.repeat_interleave(Factor, 2).repeat_interleave(Factor, 3).reshape(n, c, Height, Width).MoveToOuterDisposeScope();
    }

    /// <summary>x0 = up(down(x1)) + s zeta, condition = up(down(x1)); draws zeta.</summary>
    public Corrupted Apply(Tensor x1, Generator generator)
    {
        using var low = Down(x1.to(float32));
        return FromLowResolution(low, generator);
    }

    /// <summary>The corruption of an already low-resolution observation y [n, c, h/f, w/f]: x0 = up(y) + s zeta, condition = up(y).</summary>
    public Corrupted FromLowResolution(Tensor low, Generator generator)
    {
        using var scope = NewDisposeScope();
        var condition = Up(low.to(float32));
        var zeta = randn(condition.shape, dtype: float32, generator: generator).to(condition.device);
        var x0 = condition + zeta.mul_(Noise);
        return new Corrupted(x0.MoveToOuterDisposeScope(), condition.MoveToOuterDisposeScope(), null);
    }
}

/// <summary>Denoising: x0 = x1 + s zeta, zeta ~ N(0, I), s &gt; 0 the noise setting; condition = x0 (c channels).</summary>
public sealed class Denoising : ICorruption
{
    /// <summary>Denoising of noise s = <paramref name="noise"/> (&gt; 0).</summary>
    public Denoising(double noise)
    {
        if (!(noise > 0) || !double.IsFinite(noise)) throw new InvalidSettingException("corruption-noise", $"the denoising noise must be a finite number > 0, got {noise}");
        Noise = noise;
    }

    /// <summary>s.</summary>
    public double Noise { get; }
    /// <inheritdoc />
    public string Name => "denoise";
    /// <inheritdoc />
    public int ConditionChannels(int channels) => channels;
    /// <inheritdoc />
    public string Describe() => $"denoising, noise {Noise:G3}";

    /// <summary>x0 = x1 + s zeta, condition = x0; draws zeta.</summary>
    public Corrupted Apply(Tensor x1, Generator generator)
    {
        if (x1.dim() != 4) throw new ArgumentException($"expected images [n, c, h, w], got [{string.Join(",", x1.shape)}]");
        using var scope = NewDisposeScope();
        var images = x1.to(float32);
        var zeta = randn(images.shape, dtype: float32, generator: generator).to(images.device);
        var x0 = images + zeta.mul_(Noise);
        return new Corrupted(x0.MoveToOuterDisposeScope(), x0.clone().MoveToOuterDisposeScope(), null);
    }
}
