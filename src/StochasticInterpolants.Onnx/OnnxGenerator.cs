using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace StochasticInterpolants.Onnx;

/// <summary>
/// Generates samples from a model written by <c>si export</c>, with ONNX Runtime alone (no TorchSharp, no libtorch):
/// X_0 ~ N(0, I) (or given), then the probability-flow ODE dX/dt = b(t, X) from t = 0 to 1 by a fixed-step solver —
/// Euler, Heun, midpoint or RK4, the same steps as the library's, in float32 — with b the exported velocity network, guided
/// for a class-conditional model: b = b(x | none) + w (b(x | c) - b(x | none)), w = 1 the plain conditional model.
/// So far: a Gaussian base and rows in the flow's own units (built-in targets); a checkpoint whose samples need decoding
/// (a table's scaling, image pixels) or another base is refused when loaded.
/// </summary>
public sealed class OnnxGenerator : IDisposable
{
    private readonly InferenceSession _session;

    private OnnxGenerator(InferenceSession session, int dimension, bool flowMap)
    {
        _session = session; Dimension = dimension; IsFlowMap = flowMap;
    }

    /// <summary>True when the model is a flow map v(s, t, x) (input <c>t_end</c>): it samples by <see cref="Jumps"/>, and its
    /// diagonal v(t, t, x) is the velocity that <see cref="Integrate"/> follows.</summary>
    public bool IsFlowMap { get; }

    /// <summary>The solvers: euler, heun, midpoint, rk4.</summary>
    public static IReadOnlyList<string> Solvers { get; } = ["euler", "heun", "midpoint", "rk4"];

    /// <summary>The width d of a sample.</summary>
    public int Dimension { get; }

    /// <summary>
    /// Loads an exported model. Throws <see cref="InvalidDataException"/> with a one-line reason for a file that is not an
    /// export of a velocity, or whose samples this generator cannot produce yet.
    /// </summary>
    public static OnnxGenerator Load(string path)
    {
        var session = new InferenceSession(path);
        try
        {
            var metadata = session.ModelMetadata.CustomMetadataMap;
            if (!metadata.TryGetValue("si.field", out var field) || !metadata.TryGetValue("si.manifest", out var manifestJson))
                throw new InvalidDataException($"'{path}' was not written by si export (no si.field / si.manifest metadata)");
            if (field is not ("velocity" or "flow-map")) throw new InvalidDataException($"'{path}' holds a {field}, not a velocity or a flow map");
            using var manifest = JsonDocument.Parse(manifestJson);
            var root = manifest.RootElement;
            var baseName = root.GetProperty("base").GetString();
            if (baseName is not ("gaussian" or "normal"))
                throw new InvalidDataException($"'{path}' starts from the base '{baseName}'; this generator draws from N(0, I) only so far");
            foreach (var part in new[] { "table", "images", "manifold", "sequences" })
                if (root.TryGetProperty(part, out var value) && value.ValueKind != JsonValueKind.Null)
                    throw new InvalidDataException($"'{path}' is a {part} model, whose samples need decoding this generator does not do yet");
            return new OnnxGenerator(session, root.GetProperty("dimension").GetInt32(), field == "flow-map");
        }
        catch { session.Dispose(); throw; }
    }

    /// <summary>b(t, x) for <paramref name="n"/> rows <paramref name="x"/> (row-major [n, d]) at one time, with per-row classes or null.</summary>
    public float[] Velocity(float[] x, int n, double t, long[]? classes = null) => Evaluate(x, n, t, t, classes);

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
        if (x0.Length != n * Dimension) throw new ArgumentException($"x0 holds {x0.Length} numbers, not {n} rows of {Dimension}");
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), steps, "at least one step");
        var name = solver.Trim().ToLowerInvariant();
        if (!Solvers.Contains(name)) throw new ArgumentException($"unknown solver '{solver}' (expected {string.Join(", ", Solvers)})");
        float[] B(double t, float[] x) => guidance == 1 || classes is null ? Velocity(x, n, t, classes) : Guided(t, x);
        float[] Guided(double t, float[] x)
        {
            var conditional = Velocity(x, n, t, classes);
            var none = Velocity(x, n, t, Enumerable.Repeat(-1L, n).ToArray());
            var w = (float)guidance;
            for (var i = 0; i < none.Length; i++) none[i] += w * (conditional[i] - none[i]);
            return none;
        }
        var state = (float[])x0.Clone();
        for (var k = 0; k < steps; k++)
        {
            // The grid of the library's StepGrid: t_k = k / N, the last time exactly 1.
            var t = (double)k / steps;
            var h = (k == steps - 1 ? 1.0 : (double)(k + 1) / steps) - t;
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
    /// x_{k+1} = x_k + (t_{k+1} - t_k) v(t_k, t_{k+1}, x_k), one network evaluation per jump.
    /// </summary>
    public float[] Jumps(float[] x0, int n, int jumps, long[]? classes = null)
    {
        if (!IsFlowMap) throw new InvalidOperationException("this model is a velocity, not a flow map: sample it with Integrate");
        if (jumps < 1) throw new ArgumentOutOfRangeException(nameof(jumps), jumps, "at least one jump");
        var state = (float[])x0.Clone();
        for (var k = 0; k < jumps; k++)
        {
            var t = (double)k / jumps;
            var end = k == jumps - 1 ? 1.0 : (double)(k + 1) / jumps;
            state = Axpy(state, end - t, Evaluate(state, n, t, end, classes));
        }
        return state;
    }

    /// <summary>
    /// <paramref name="n"/> samples from X_0 ~ N(0, I) drawn by <paramref name="random"/> (Box–Muller in double, rounded to
    /// float32), carried by <see cref="Integrate"/>.
    /// </summary>
    public float[] Sample(int n, Random random, string solver = "rk4", int steps = 50, long[]? classes = null, double guidance = 1)
    {
        var x0 = new float[n * Dimension];
        for (var i = 0; i < x0.Length; i += 2)
        {
            var r = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble()));
            var a = 2 * Math.PI * random.NextDouble();
            x0[i] = (float)(r * Math.Cos(a));
            if (i + 1 < x0.Length) x0[i + 1] = (float)(r * Math.Sin(a));
        }
        return Integrate(x0, n, solver, steps, classes, guidance);
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
