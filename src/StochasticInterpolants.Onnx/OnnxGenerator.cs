using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace StochasticInterpolants.Onnx;

/// <summary>How a generated sample becomes data (metadata <c>si.decoding</c>).</summary>
public enum SampleDecoding
{
    /// <summary>None: the flow's own units are the data's (built-in targets).</summary>
    None,
    /// <summary>Image pixels k = clamp(floor(L (y + 1) / 2), 0, L - 1) (<see cref="OnnxGenerator.DecodeImages"/>).</summary>
    Image,
    /// <summary>A table's encoding undone (<see cref="OnnxGenerator.DecodeTable"/>, <see cref="TableDecoder"/>).</summary>
    Table,
}

/// <summary>
/// Generates samples from a model written by <c>si export</c>, with ONNX Runtime alone (no TorchSharp, no libtorch):
/// X_0 ~ N(0, I) (or given), then the probability-flow ODE dX/dt = b(t, X) from t = 0 to 1 by a fixed-step solver —
/// Euler, Heun, midpoint or RK4, the same steps as the library's, in float32 — with b the exported velocity network, guided
/// for a class-conditional model: b = b(x | none) + w (b(x | c) - b(x | none)), w = 1 the plain conditional model.
/// The samples are then decoded as the library's sampler decodes them: image pixels
/// k = clamp(floor(L (y + 1) / 2), 0, L - 1) (<see cref="DecodeImages"/>), or a table's rows in its units with the
/// encoding undone (<see cref="DecodeTable"/>). A sample of shape [c, h, w] is flattened row-major (c, h, w).
/// Manifold and sequence models, another base than N(0, I), the mirror interpolant (which starts from the data) and
/// completion models are refused when loaded.
/// </summary>
public sealed class OnnxGenerator : IDisposable
{
    private readonly InferenceSession _session;
    private readonly string[]? _classes;

    private OnnxGenerator(InferenceSession session, int dimension, bool flowMap, int[] shape, string[]? classes, SampleDecoding decoding,
        int levels, TableDecoder? table, string[]? columns)
    {
        _session = session; Dimension = dimension; IsFlowMap = flowMap; Shape = shape; _classes = classes; Decoding = decoding;
        ImageLevels = levels; Table = table; Columns = columns;
    }

    /// <summary>True when the model is a flow map v(s, t, x) (input <c>t_end</c>): it samples by <see cref="Jumps"/>, and its
    /// diagonal v(t, t, x) is the velocity that <see cref="Integrate"/> follows.</summary>
    public bool IsFlowMap { get; }

    /// <summary>The solvers: euler, heun, midpoint, rk4.</summary>
    public static IReadOnlyList<string> Solvers { get; } = ["euler", "heun", "midpoint", "rk4"];

    /// <summary>The width d of a sample (flattened: c h w for an image).</summary>
    public int Dimension { get; }

    /// <summary>One sample's shape: [c, h, w] for an image, else [d].</summary>
    public IReadOnlyList<int> Shape { get; }

    /// <summary>The class names (index = class) of a class-conditional model; null for an unconditional one.</summary>
    public IReadOnlyList<string>? ClassNames => _classes;

    /// <summary>How samples are decoded into data.</summary>
    public SampleDecoding Decoding { get; }

    /// <summary>L, the pixel levels of an image model (pixels 0..L-1); 0 for other models.</summary>
    public int ImageLevels { get; }

    /// <summary>A table model's way back to its units; null for other models.</summary>
    public TableDecoder? Table { get; }

    /// <summary>A table model's column names (in the order of a decoded row); null for other models.</summary>
    public IReadOnlyList<string>? Columns { get; }

    /// <summary>
    /// Loads an exported model. Throws <see cref="InvalidDataException"/> with a one-line reason for a file that is not an
    /// export of a velocity or flow map, or whose samples this generator cannot produce (see the class summary).
    /// <paramref name="threads"/> sets ONNX Runtime's threads within an evaluation (0: its default, one per core).
    /// </summary>
    public static OnnxGenerator Load(string path, int threads = 0)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"model file '{path}' does not exist", path);
        if (threads < 0) throw new ArgumentOutOfRangeException(nameof(threads), threads, "threads must be >= 0 (0: ONNX Runtime's default)");
        InferenceSession session;
        // The session keeps what it needs of the options: they are released once it is made.
        using var options = new SessionOptions { IntraOpNumThreads = threads };
        try { session = new InferenceSession(path, options); }
        catch (OnnxRuntimeException e) { throw new InvalidDataException($"'{path}' is not an ONNX model ONNX Runtime can load: {e.Message.Split('\n')[0]}", e); }
        try
        {
            var metadata = session.ModelMetadata.CustomMetadataMap;
            if (!metadata.TryGetValue("si.field", out var field) || !metadata.TryGetValue("si.manifest", out var manifestJson))
                throw new InvalidDataException($"'{path}' was not written by si export (no si.field / si.manifest metadata)");
            if (field is not ("velocity" or "flow-map")) throw new InvalidDataException($"'{path}' holds a {field}, not a velocity or a flow map");
            using var manifest = JsonDocument.Parse(manifestJson);
            var root = manifest.RootElement;
            // Refusals first, each in one line: what this generator cannot sample, and why.
            if (Present(root, "manifold"))
                throw new InvalidDataException($"'{path}' is a manifold model: its samples need the manifold's geodesic steps, which this generator does not take (sample it with si sample)");
            if (Present(root, "sequences"))
                throw new InvalidDataException($"'{path}' is a sequence model: its tokens are sampled by a discrete chain, not by an ODE (sample it with si sample)");
            var baseName = metadata.TryGetValue("si.base", out var b) ? b : root.GetProperty("base").GetString();
            if (baseName is not ("gaussian" or "normal"))
                throw new InvalidDataException($"'{path}' starts from the base '{baseName}'; this generator draws from N(0, I) only");
            if (root.TryGetProperty("interpolant", out var interpolant) && interpolant.TryGetProperty("family", out var family) && family.GetString() == "mirror")
                throw new InvalidDataException($"'{path}' uses the mirror interpolant, which starts from the training data: this generator starts from N(0, I)");
            if (root.TryGetProperty("coupling", out var coupling) && coupling.ValueKind == JsonValueKind.Object && coupling.TryGetProperty("name", out var couplingName)
                && couplingName.GetString() is "inpaint" or "superres" or "denoise")
                throw new InvalidDataException($"'{path}' was trained with the '{couplingName.GetString()}' coupling: it completes observed images, which this generator does not do");

            // Every exported network is a velocity (or flow map) finite on [0, 1], so si sample integrates it over [0, 1]; a file
            // stating another interval would need another grid, which this generator does not build.
            if (metadata.TryGetValue("si.interval", out var interval) && JsonArray(interval, e => e.GetDouble()) is not [0.0, 1.0])
                throw new InvalidDataException($"'{path}' is sampled over the times {interval}; this generator integrates from t = 0 to t = 1 only");
            var dimension = root.GetProperty("dimension").GetInt32();
            if (!metadata.TryGetValue("si.shape", out var shapeJson) || !metadata.TryGetValue("si.decoding", out var decodingName))
                throw new InvalidDataException($"'{path}' lacks the si.shape / si.decoding metadata (an export older than this generator): export it again with si export");
            var shape = JsonArray(shapeJson, e => e.GetInt32()) ?? [];
            if (shape.Length == 0 || shape.Any(s => s < 1) || shape.Aggregate(1L, (a, s) => a * s) != dimension)
                throw new InvalidDataException($"'{path}': its sample shape {shapeJson} does not hold its {dimension} numbers");
            var classes = metadata.TryGetValue("si.classes", out var classesJson) ? JsonArray(classesJson, e => e.GetString() ?? "") : null;
            if (classes is { Length: 0 }) throw new InvalidDataException($"'{path}' lists no classes in si.classes");
            var hasClassInput = session.InputMetadata.ContainsKey("class");
            if (hasClassInput != classes is not null)
                throw new InvalidDataException($"'{path}': its graph {(hasClassInput ? "takes" : "does not take")} a class input but its metadata {(classes is null ? "lists no" : "lists")} classes");

            var levels = 0;
            TableDecoder? table = null;
            string[]? columns = null;
            var decoding = decodingName switch
            {
                "none" => SampleDecoding.None,
                "image" => SampleDecoding.Image,
                "table" => SampleDecoding.Table,
                _ => throw new InvalidDataException($"'{path}' decodes its samples as '{decodingName}', which this generator does not know (none, image, table)"),
            };
            if (decoding == SampleDecoding.Image)
            {
                if (!metadata.TryGetValue("si.image-levels", out var l) || !int.TryParse(l, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out levels) || levels is < 2 or > 256)
                    throw new InvalidDataException($"'{path}' is an image model without pixel levels in 2..256 (si.image-levels)");
                if (shape.Length != 3) throw new InvalidDataException($"'{path}' is an image model whose shape {shapeJson} is not [c, h, w]");
            }
            if (decoding == SampleDecoding.Table)
            {
                if (!root.TryGetProperty("table", out var record) || record.ValueKind != JsonValueKind.Object || !record.TryGetProperty("encoding", out var encoding))
                    throw new InvalidDataException($"'{path}' is a table model without table.encoding in its manifest");
                try { table = TableDecoder.Parse(encoding); }
                catch (InvalidDataException e) { throw new InvalidDataException($"'{path}': {e.Message}", e); }
                if (table.Dimension != dimension) throw new InvalidDataException($"'{path}': its table encoding has {table.Dimension} columns, the model {dimension}");
                if (record.TryGetProperty("columns", out var names) && names.ValueKind == JsonValueKind.Array)
                    columns = [.. names.EnumerateArray().Select(n => n.GetString() ?? "")];
            }
            return new OnnxGenerator(session, dimension, field == "flow-map", shape, classes, decoding, levels, table, columns);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            session.Dispose();
            throw new InvalidDataException($"'{path}': its si.manifest metadata cannot be read ({e.Message.Split('\n')[0]})", e);
        }
        catch { session.Dispose(); throw; }
    }

    // The elements of a JSON array (null for JSON null), read through JsonDocument: no reflection, so the package trims.
    private static T[]? JsonArray<T>(string json, Func<JsonElement, T> read)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.ValueKind == JsonValueKind.Null ? null : [.. document.RootElement.EnumerateArray().Select(read)];
    }

    private static bool Present(JsonElement root, string name) => root.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null;

    /// <summary>The index of the class named <paramref name="name"/> (exact match); throws <see cref="ArgumentException"/>
    /// naming the classes for an unknown name, <see cref="InvalidOperationException"/> for an unconditional model.</summary>
    public long ClassIndex(string name)
    {
        var names = _classes ?? throw new InvalidOperationException("this model is unconditional: it has no classes");
        var index = Array.IndexOf(names, name);
        return index >= 0 ? index : throw new ArgumentException($"no class named '{name}' (the classes: {string.Join(", ", names)})", nameof(name));
    }

    /// <summary>One class index per name, for <see cref="Integrate"/> and <see cref="Sample"/> (see <see cref="ClassIndex"/>).</summary>
    public long[] ClassIndices(params IEnumerable<string> names) => [.. names.Select(ClassIndex)];

    /// <summary>
    /// <paramref name="perClass"/> rows of each class in turn (0, 0, ..., 1, 1, ...): the rows of a grid with one row per
    /// class, as <c>si sample --per-class</c> orders them.
    /// </summary>
    public long[] EveryClass(int perClass)
    {
        var names = _classes ?? throw new InvalidOperationException("this model is unconditional: it has no classes");
        if (perClass < 1) throw new ArgumentOutOfRangeException(nameof(perClass), perClass, "at least one sample per class");
        return [.. Enumerable.Range(0, names.Length).SelectMany(c => Enumerable.Repeat((long)c, perClass))];
    }

    /// <summary>
    /// Image pixels of <paramref name="n"/> generated rows <paramref name="y"/> (row-major [n, c h w]):
    /// k = clamp(floor(L (y + 1) / 2), 0, L - 1), computed in float32 as the library's <c>ImageScaling.Decode</c> does
    /// ((y + 1) then times L / 2, each rounded to float32). Returns n c h w bytes, each image row-major c, h, w.
    /// Throws <see cref="InvalidOperationException"/> for a model that is not an image model, or at a non-finite value.
    /// </summary>
    public byte[] DecodeImages(float[] y, int n)
    {
        if (Decoding != SampleDecoding.Image) throw new InvalidOperationException($"this model's samples are not images (decoding: {Decoding.ToString().ToLowerInvariant()})");
        if (y.Length != (long)n * Dimension) throw new ArgumentException($"y holds {y.Length} numbers, not {n} rows of {Dimension}");
        var half = (float)(ImageLevels / 2.0);
        var pixels = new byte[y.Length];
        for (var i = 0; i < y.Length; i++)
        {
            if (!float.IsFinite(y[i])) throw new InvalidOperationException($"generated image {i / Dimension} is not finite at element {i % Dimension}");
            var k = MathF.Floor((y[i] + 1f) * half);
            pixels[i] = (byte)Math.Clamp(k, 0f, ImageLevels - 1);
        }
        return pixels;
    }

    /// <summary>
    /// A table model's <paramref name="n"/> generated rows <paramref name="y"/> (row-major [n, d]) in the table's units, one
    /// double[d] per row, in the order of <see cref="Columns"/> (see <see cref="TableDecoder"/> for the steps). Throws
    /// <see cref="InvalidOperationException"/> for a model that is not a table model.
    /// </summary>
    public double[][] DecodeTable(float[] y, int n) =>
        (Table ?? throw new InvalidOperationException($"this model's samples are not table rows (decoding: {Decoding.ToString().ToLowerInvariant()})")).Decode(y, n);

    /// <summary>b(t, x) for <paramref name="n"/> rows <paramref name="x"/> (row-major [n, d]) at one time, with per-row classes or null.</summary>
    public float[] Velocity(float[] x, int n, double t, long[]? classes = null)
    {
        if (x.Length != (long)n * Dimension) throw new ArgumentException($"x holds {x.Length} numbers, not {n} rows of {Dimension}");
        CheckClasses(classes, n);
        return Evaluate(x, n, t, t, classes);
    }

    // The network at (t, tEnd): the velocity, or a flow map's v(t, tEnd, x) (its diagonal when tEnd = t).
    private float[] Evaluate(float[] x, int n, double t, double tEnd, long[]? classes)
    {
        var inputs = new List<NamedOnnxValue>
        {
            NamedOnnxValue.CreateFromTensor("x", new DenseTensor<float>(x, [n, Dimension])),
            NamedOnnxValue.CreateFromTensor("t", new DenseTensor<float>(Enumerable.Repeat((float)t, n).ToArray(), [n])),
        };
        if (IsFlowMap) inputs.Add(NamedOnnxValue.CreateFromTensor("t_end", new DenseTensor<float>(Enumerable.Repeat((float)tEnd, n).ToArray(), [n])));
        if (classes is not null) inputs.Add(NamedOnnxValue.CreateFromTensor("class", new DenseTensor<long>(classes, [n])));
        using var results = _session.Run(inputs);
        var y = results.First().AsEnumerable<float>().ToArray();
        foreach (var v in y) if (!float.IsFinite(v)) throw new InvalidOperationException($"the exported velocity is not finite at t = {t:G6}");
        return y;
    }

    /// <summary>
    /// Carries <paramref name="n"/> rows <paramref name="x0"/> (row-major [n, d]) from t = 0 to t = 1 by <paramref name="steps"/>
    /// steps of <paramref name="solver"/> (euler, heun, midpoint, rk4); returns the samples, row-major.
    /// </summary>
    public float[] Integrate(float[] x0, int n, string solver = "rk4", int steps = 50, long[]? classes = null, double guidance = 1)
    {
        if (x0.Length != (long)n * Dimension) throw new ArgumentException($"x0 holds {x0.Length} numbers, not {n} rows of {Dimension}");
        CheckClasses(classes, n);
        if (!double.IsFinite(guidance)) throw new ArgumentOutOfRangeException(nameof(guidance), guidance, "the guidance weight must be finite");
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), steps, "at least one step");
        var name = solver.Trim().ToLowerInvariant();
        if (!Solvers.Contains(name)) throw new ArgumentException($"unknown solver '{solver}' (expected {string.Join(", ", Solvers)})");
        float[] B(double t, float[] x) => Guided(x, n, t, t, classes, guidance);
        var state = (float[])x0.Clone();
        for (var k = 0; k < steps; k++)
        {
            var (t, end) = Step(k, steps);
            var h = end - t;
            state = name switch
            {
                "euler" => Axpy(state, h, B(t, state)),
                "heun" => Heun(t, h, state),
                "midpoint" => Axpy(state, h, B(t + h / 2, Axpy(state, h / 2, B(t, state)))),
                _ => Rk4(t, h, state),
            };
        }
        return state;

        float[] Heun(double t, double h, float[] x)
        {
            var k1 = B(t, x);
            var k2 = B(t + h, Axpy(x, h, k1));
            var y = Axpy(x, h / 2, k1);
            return Axpy(y, h / 2, k2);
        }

        float[] Rk4(double t, double h, float[] x)
        {
            var k1 = B(t, x);
            var k2 = B(t + h / 2, Axpy(x, h / 2, k1));
            var k3 = B(t + h / 2, Axpy(x, h / 2, k2));
            var k4 = B(t + h, Axpy(x, h, k3));
            var sum = Axpy(k1, 2, k2);
            sum = Axpy(sum, 2, k3);
            sum = Axpy(sum, 1, k4);
            return Axpy(x, h / 6, sum);
        }
    }

    /// <summary>
    /// A flow map's samples in <paramref name="jumps"/> jumps on the uniform grid of [0, 1] (docs/theory.md §14):
    /// x_{k+1} = x_k + (t_{k+1} - t_k) v(t_k, t_{k+1}, x_k), one network evaluation per jump (of 2n rows under guidance, which
    /// blends the conditional and no-class maps as <see cref="Integrate"/> blends velocities, and as <c>si sample</c> does).
    /// </summary>
    public float[] Jumps(float[] x0, int n, int jumps, long[]? classes = null, double guidance = 1)
    {
        if (!IsFlowMap) throw new InvalidOperationException("this model is a velocity, not a flow map: sample it with Integrate");
        if (jumps < 1) throw new ArgumentOutOfRangeException(nameof(jumps), jumps, "at least one jump");
        if (x0.Length != (long)n * Dimension) throw new ArgumentException($"x0 holds {x0.Length} numbers, not {n} rows of {Dimension}");
        CheckClasses(classes, n);
        if (!double.IsFinite(guidance)) throw new ArgumentOutOfRangeException(nameof(guidance), guidance, "the guidance weight must be finite");
        var state = (float[])x0.Clone();
        for (var k = 0; k < jumps; k++)
        {
            var (t, end) = Step(k, jumps);
            state = Axpy(state, end - t, Guided(state, n, t, end, classes, guidance));
        }
        return state;
    }

    // Step k of N on the library's grid (StepGrid): from t_k = k / N to t_{k+1}, the last end exactly 1.
    private static (double Start, double End) Step(int k, int steps) => ((double)k / steps, k == steps - 1 ? 1.0 : (double)(k + 1) / steps);

    // The network at (t, tEnd) under guidance w: f(none) + w (f(c) - f(none)) in float32, from ONE run of 2n rows
    // ([x; x] with [c; none]), as the library's GuidedNetwork evaluates it; w = 0 needs only the no-class rows, w = 1 (or no
    // classes) only the conditional ones.
    private float[] Guided(float[] x, int n, double t, double tEnd, long[]? classes, double guidance)
    {
        if (classes is null || guidance == 1) return Evaluate(x, n, t, tEnd, classes);
        var none = new long[n];
        Array.Fill(none, -1L);
        if (guidance == 0) return Evaluate(x, n, t, tEnd, none);
        var both = Evaluate([.. x, .. x], 2 * n, t, tEnd, [.. classes, .. none]);
        var w = (float)guidance;
        var d = x.Length;
        var result = new float[d];
        for (var i = 0; i < d; i++) result[i] = both[d + i] + w * (both[i] - both[d + i]);
        return result;
    }

    /// <summary>
    /// <paramref name="n"/> samples from X_0 ~ N(0, I) drawn by <paramref name="random"/> (<see cref="Noise"/>), carried by
    /// <see cref="Integrate"/>; decode them with <see cref="DecodeImages"/> or <see cref="DecodeTable"/>.
    /// </summary>
    public float[] Sample(int n, Random random, string solver = "rk4", int steps = 50, long[]? classes = null, double guidance = 1)
        => Integrate(Noise(n, random), n, solver, steps, classes, guidance);

    /// <summary>
    /// <paramref name="n"/> rows of X_0 ~ N(0, I) (row-major [n, d]) drawn by <paramref name="random"/>: Box–Muller in double,
    /// rounded to float32. (Not the library's generator: the same seed gives other numbers than <c>si sample</c>'s.)
    /// </summary>
    public float[] Noise(int n, Random random)
    {
        if (n < 1) throw new ArgumentOutOfRangeException(nameof(n), n, "at least one row");
        var x0 = new float[checked(n * Dimension)];
        for (var i = 0; i < x0.Length; i += 2)
        {
            var r = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble()));
            var a = 2 * Math.PI * random.NextDouble();
            x0[i] = (float)(r * Math.Cos(a));
            if (i + 1 < x0.Length) x0[i + 1] = (float)(r * Math.Sin(a));
        }
        return x0;
    }

    // A class-conditional graph needs a class per row (0..C-1, or -1 for "no class"); an unconditional one takes none.
    private void CheckClasses(long[]? classes, int n)
    {
        if (_classes is null)
        {
            if (classes is not null) throw new ArgumentException("this model is unconditional: it takes no classes", nameof(classes));
            return;
        }
        if (classes is null)
            throw new ArgumentException($"this model is class-conditional: give one class per row (ClassIndex, EveryClass; -1 for its no-class entry), of {string.Join(", ", _classes)}", nameof(classes));
        if (classes.Length != n) throw new ArgumentException($"{classes.Length} classes for {n} rows", nameof(classes));
        foreach (var c in classes)
            if (c < -1 || c >= _classes.Length) throw new ArgumentOutOfRangeException(nameof(classes), c, $"a class index is in 0..{_classes.Length - 1} (or -1: no class)");
    }

    // x + a y elementwise in float32 (as the library's tensors compute it: the scale rounded to float32 first).
    private static float[] Axpy(float[] x, double a, float[] y)
    {
        var s = (float)a;
        var r = new float[x.Length];
        for (var i = 0; i < x.Length; i++) r[i] = x[i] + s * y[i];
        return r;
    }

    /// <summary>Releases the ONNX Runtime session.</summary>
    public void Dispose() => _session.Dispose();
}
