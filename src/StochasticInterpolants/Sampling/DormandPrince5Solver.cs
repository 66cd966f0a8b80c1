using StochasticInterpolants.Fields;
using StochasticInterpolants.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Sampling;

/// <summary>
/// Adaptive Dormand–Prince 5(4) (the method of MATLAB's ode45 and torchdiffeq's dopri5): a fifth-order solution with
/// an embedded fourth-order error estimate, first-same-as-last (6 new evaluations per accepted step). A step is accepted
/// when err = RMS_i( e_i / (atol + rtol max(|x_i|, |x_new,i|)) ) &lt;= 1; the next step is h * clamp(0.9 err^(-1/5), 0.2, 10).
/// Steps are shortened to land exactly on save times and the end time.
/// </summary>
public sealed class DormandPrince5Solver : IOdeSolver
{
    // Butcher tableau of Dormand & Prince (1980).
    private static readonly double[] C = [0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1, 1];
    private static readonly double[][] A =
    [
        [],
        [1.0 / 5],
        [3.0 / 40, 9.0 / 40],
        [44.0 / 45, -56.0 / 15, 32.0 / 9],
        [19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729],
        [9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656],
        [35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84],
    ];
    // b5 - b4: the embedded error weights.
    private static readonly double[] E = [71.0 / 57600, 0, -71.0 / 16695, 71.0 / 1920, -17253.0 / 339200, 22.0 / 525, -1.0 / 40];

    /// <summary>Creates the solver with relative and absolute tolerances and a cap on the number of steps.</summary>
    public DormandPrince5Solver(double rtol = 1e-5, double atol = 1e-5, int maxSteps = 100_000)
    {
        if (!(rtol > 0 && rtol < 1)) throw new InvalidSettingException("rtol", $"relative tolerance must be in (0, 1), got {rtol}");
        if (!(atol > 0 && atol < 1)) throw new InvalidSettingException("atol", $"absolute tolerance must be in (0, 1), got {atol}");
        if (maxSteps < 1) throw new ArgumentException($"max steps must be >= 1, got {maxSteps}");
        RelativeTolerance = rtol; AbsoluteTolerance = atol; MaxSteps = maxSteps;
    }

    /// <inheritdoc />
    public string Name => "dopri5";
    /// <summary>rtol.</summary>
    public double RelativeTolerance { get; }
    /// <summary>atol.</summary>
    public double AbsoluteTolerance { get; }
    /// <summary>Accepted plus rejected steps allowed before giving up.</summary>
    public int MaxSteps { get; }

    /// <inheritdoc />
    public OdeSolution Integrate(IVelocityField field, Tensor x, double tStart, double tEnd, OdeOptions? options = null)
    {
        OdeSolvers.Validate(x, tStart, tEnd, options?.SaveTimes);
        if (options?.Differentiable == true) throw new ArgumentException("dopri5 integrates without autograd: use a fixed-step solver for a differentiable integration");
        var saveTimes = options?.SaveTimes ?? [];
        var direction = tEnd >= tStart ? 1.0 : -1.0;
        var targets = saveTimes.Append(tEnd).Where(s => s != tStart).Distinct().OrderBy(s => direction * s).ToList();
        var saved = new Tensor?[saveTimes.Count];
        using var noGrad = no_grad();
        // Under no_grad a clone carries no graph; x.detach() would add a handle nobody disposes.
        var y = x.clone();
        Record(tStart, y);
        if (tStart == tEnd) return new OdeSolution(y, saveTimes.ToList(), saved.Select(s => s!).ToList(), 0, 0, 0);

        var k1 = field.Velocity(tStart, y);
        var nfe = 1;
        var h = InitialStep(field, tStart, y, k1, direction, ref nfe);
        int accepted = 0, rejected = 0, target = 0;
        var t = tStart;
        try
        {
            while (target < targets.Count)
            {
                if (accepted + rejected >= MaxSteps)
                    throw new IntegrationException($"dopri5 gave up after {MaxSteps} steps at t = {t:G6} (the field may be stiff or non-finite; loosen the tolerances or use a fixed-step solver)");
                var goal = targets[target];
                var landing = Math.Abs(h) >= Math.Abs(goal - t);
                var step = landing ? goal - t : h;
                Tensor yNew, kLast;
                double err;
                using (var scope = NewDisposeScope())
                {
                    var k = new Tensor[7];
                    k[0] = k1;
                    for (var s = 1; s < 6; s++) k[s] = field.Velocity(t + C[s] * step, Combine(y, step, A[s], k));
                    // Row 7 of the tableau is the fifth-order solution itself; its stage is the next step's k1 (FSAL).
                    var y5 = Combine(y, step, A[6], k);
                    k[6] = field.Velocity(t + step, y5);
                    nfe += 6;
                    var errVec = Combine(null, step, E, k);
                    var scale = AbsoluteTolerance + RelativeTolerance * maximum(y.abs(), y5.abs());
                    err = (errVec / scale).square().mean().sqrt().ToDouble();
                    yNew = y5.MoveToOuterDisposeScope();
                    kLast = k[6].MoveToOuterDisposeScope();
                }
                if (!double.IsFinite(err))
                {
                    yNew.Dispose(); kLast.Dispose();
                    throw new IntegrationException($"dopri5: the {field.Description} gave non-finite values near t = {t:G6}");
                }
                if (err <= 1)
                {
                    accepted++;
                    t = landing ? goal : t + step;
                    y.Dispose(); k1.Dispose();
                    y = yNew; k1 = kLast;
                    if (landing) { Record(goal, y); target++; }
                    options?.Progress?.Report(Math.Abs(t - tStart) / Math.Abs(tEnd - tStart));
                    var grow = err == 0 ? 10 : Math.Clamp(0.9 * Math.Pow(err, -0.2), 0.2, 10);
                    // A step shortened to land on a target says nothing about the natural step size: keep h then.
                    h = landing && Math.Abs(step) < Math.Abs(h) ? h : step * grow;
                }
                else
                {
                    rejected++;
                    yNew.Dispose(); kLast.Dispose();
                    h = step * Math.Clamp(0.9 * Math.Pow(err, -0.2), 0.2, 1);
                }
            }
        }
        catch
        {
            y.Dispose(); k1.Dispose();
            foreach (var s in saved) s?.Dispose();
            throw;
        }
        k1.Dispose();
        return new OdeSolution(y, saveTimes.ToList(), saved.Select(s => s!).ToList(), nfe, accepted, rejected);

        void Record(double time, Tensor value)
        {
            for (var i = 0; i < saveTimes.Count; i++)
                if (saveTimes[i] == time && saved[i] is null) saved[i] = value.clone();
        }
    }

    /// <summary>y + h sum_j w_j k_j (or h sum_j w_j k_j when y is null), built in one new tensor with fused in-place updates.</summary>
    private static Tensor Combine(Tensor? y, double h, double[] weights, Tensor[] k)
    {
        Tensor? acc = null;
        for (var j = 0; j < weights.Length; j++)
        {
            if (weights[j] == 0) continue;
            acc = acc is not null ? TensorOps.AxpyInPlace(acc, h * weights[j], k[j])
                : y is not null ? TensorOps.Axpy(y, h * weights[j], k[j])
                : TensorOps.Scale(h * weights[j], k[j]);
        }
        return acc ?? (y is null ? zeros_like(k[0]) : y.clone());
    }

    /// <summary>Hairer, Nørsett &amp; Wanner's starting step (Solving ODEs I, II.4): one extra evaluation.</summary>
    private double InitialStep(IVelocityField field, double t0, Tensor y0, Tensor f0, double direction, ref int nfe)
    {
        using var scope = NewDisposeScope();
        var scale = AbsoluteTolerance + RelativeTolerance * y0.abs();
        var d0 = (y0 / scale).square().mean().sqrt().ToDouble();
        var d1 = (f0 / scale).square().mean().sqrt().ToDouble();
        var h0 = d0 < 1e-5 || d1 < 1e-5 ? 1e-6 : 0.01 * d0 / d1;
        h0 = Math.Min(h0, 1.0);
        var t1 = Math.Clamp(t0 + direction * h0, 0, 1);
        var f1 = field.Velocity(t1, y0 + (direction * h0) * f0);
        nfe++;
        var d2 = ((f1 - f0) / scale).square().mean().sqrt().ToDouble() / h0;
        var h1 = Math.Max(d1, d2) <= 1e-15 ? Math.Max(1e-6, h0 * 1e-3) : Math.Pow(0.01 / Math.Max(d1, d2), 0.2);
        return direction * Math.Min(100 * h0, h1);
    }
}
