using StochasticInterpolants.Sampling;
using static TorchSharp.torch;

namespace StochasticInterpolants.Diffusion;

/// <summary>
/// The variance-preserving (VP) SDE of score-based diffusion (Song et al. 2021) with a linear noise rate
/// beta(tau) = beta_min + tau (beta_max - beta_min) on diffusion time tau in [0, 1]. Diffusion time runs the other way
/// from ours: data at tau = 0, noise at tau = 1. Forward process: dx = -(1/2) beta x dtau + sqrt(beta) dW, so
/// x_tau | x_data ~ N(exp(-B/2) x_data, (1 - exp(-B)) I) with B(tau) = int_0^tau beta.
/// <para>The one-sided VP interpolant x_t = sqrt(1 - t^2) z + t x1 has the same marginal at interpolant time
/// t(tau) = exp(-B(tau) / 2): then t = exp(-B/2) is the mean coefficient and sqrt(1 - t^2) the standard deviation.</para>
/// <para>The reverse-time sampler dx = [-(1/2) beta x - beta s] dtau + sqrt(beta) dW (tau from 1 down to 0), rewritten in
/// interpolant time with dt = -(1/2) beta t dtau, is our forward SDE dX = [b + eps s] dt + sqrt(2 eps) dW for the
/// one-sided VP interpolant with eps(t) = 1/t (independent of the beta schedule): b = x/t + s/t there, so the drift is
/// x/t + 2 s/t and the noise variance 2/t per unit t, exactly the time-changed reverse SDE.</para>
/// </summary>
public sealed record VpSchedule(double BetaMin = 0.1, double BetaMax = 20.0)
{
    /// <summary>beta(tau).</summary>
    public double Beta(double tau) => BetaMin + tau * (BetaMax - BetaMin);

    /// <summary>B(tau) = int_0^tau beta = beta_min tau + (beta_max - beta_min) tau^2 / 2.</summary>
    public double IntegratedBeta(double tau) => BetaMin * tau + 0.5 * (BetaMax - BetaMin) * tau * tau;

    /// <summary>Interpolant time t(tau) = exp(-B(tau) / 2) at which the one-sided VP interpolant has the diffusion's marginal.</summary>
    public double InterpolantTime(double tau) => Math.Exp(-0.5 * IntegratedBeta(tau));

    /// <summary>The inverse map tau(t): solves B(tau) = -2 ln t (t in (0, 1]).</summary>
    public double DiffusionTime(double t)
    {
        if (!(t > 0 && t <= 1)) throw new ArgumentOutOfRangeException(nameof(t), t, "interpolant time must be in (0, 1]");
        var target = -2 * Math.Log(t);
        var a = 0.5 * (BetaMax - BetaMin);
        return a == 0 ? target / BetaMin : (-BetaMin + Math.Sqrt(BetaMin * BetaMin + 4 * a * target)) / (2 * a);
    }

    /// <summary>Mean coefficient exp(-B/2) of x_tau given the data.</summary>
    public double MeanCoefficient(double tau) => Math.Exp(-0.5 * IntegratedBeta(tau));

    /// <summary>Standard deviation sqrt(1 - exp(-B)) of x_tau given the data.</summary>
    public double StandardDeviation(double tau) => Math.Sqrt(1 - Math.Exp(-IntegratedBeta(tau)));

    /// <summary>The diffusion coefficient that makes our forward SDE the reverse VP sampler: eps(t) = 1/t.</summary>
    public static DiffusionCoefficient EquivalentEps { get; } = DiffusionCoefficient.Function(t => 1 / t, "eps = 1/t (reverse VP SDE)");

    /// <summary>
    /// Simulates the forward VP SDE by Euler–Maruyama in diffusion time from tau = 0 (the data <paramref name="x"/>) to
    /// <paramref name="tau"/> in <paramref name="steps"/> steps: x + (-(1/2) beta x) dtau + sqrt(beta dtau) xi.
    /// </summary>
    public Tensor SimulateForward(Tensor x, double tau, int steps, Generator generator)
    {
        using var scope = NewDisposeScope();
        var state = x.detach().clone();
        var h = tau / steps;
        for (var k = 0; k < steps; k++)
        {
            var b = Beta(k * h);
            state = state - 0.5 * b * h * state + Math.Sqrt(b * h) * randn(state.shape, dtype: state.dtype, generator: generator);
        }
        return state.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The score-SDE reverse sampler of Song et al., in its own time: Euler–Maruyama on
    /// dx = [-(1/2) beta x - beta s_tau(x)] dtau + sqrt(beta) dW from tau = 1 down to <paramref name="tauEnd"/>, where the score
    /// of the diffused density at tau is <paramref name="score"/> evaluated at interpolant time t(tau).
    /// </summary>
    public Tensor ReverseSample(Func<double, Tensor, Tensor> score, Tensor xAtTauOne, double tauEnd, int steps, Generator generator)
    {
        using var scope = NewDisposeScope();
        var state = xAtTauOne.detach().clone();
        var h = (1 - tauEnd) / steps;
        for (var k = 0; k < steps; k++)
        {
            var tau = 1 - k * h;
            var b = Beta(tau);
            var drift = -0.5 * b * state - b * score(InterpolantTime(tau), state);
            // Going backward in tau: x(tau - h) = x(tau) - drift h + sqrt(beta h) xi.
            state = state - h * drift + Math.Sqrt(b * h) * randn(state.shape, dtype: state.dtype, generator: generator);
        }
        return state.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// DDPM's discrete forward chain (Ho et al. 2020): x_k = sqrt(1 - beta_k) x_{k-1} + sqrt(beta_k) eps, k = 1..K, with linear
/// beta_k from <see cref="Beta1"/> to <see cref="BetaK"/>, so x_k | x_0 ~ N(sqrt(alphabar_k) x_0, (1 - alphabar_k) I) with
/// alphabar_k = prod_{i &lt;= k} (1 - beta_i). Its step k has the marginal of the one-sided VP interpolant at t_k = sqrt(alphabar_k).
/// </summary>
public sealed record DdpmSchedule(int Steps = 1000, double Beta1 = 1e-4, double BetaK = 0.02)
{
    /// <summary>beta_k for k = 1..K (index k - 1).</summary>
    public double[] Betas() => Enumerable.Range(0, Steps).Select(i => Beta1 + (BetaK - Beta1) * i / Math.Max(1, Steps - 1)).ToArray();

    /// <summary>Interpolant time t_k = sqrt(alphabar_k) of step k (0..K; t_0 = 1 is the data).</summary>
    public double InterpolantTime(int k)
    {
        if (k < 0 || k > Steps) throw new ArgumentOutOfRangeException(nameof(k), k, $"step must be in 0..{Steps}");
        var betas = Betas();
        var alphaBar = 1.0;
        for (var i = 0; i < k; i++) alphaBar *= 1 - betas[i];
        return Math.Sqrt(alphaBar);
    }

    /// <summary>Runs the chain from the data <paramref name="x"/> for <paramref name="k"/> steps.</summary>
    public Tensor SimulateForward(Tensor x, int k, Generator generator)
    {
        using var scope = NewDisposeScope();
        var betas = Betas();
        var state = x.detach().clone();
        for (var i = 0; i < k; i++)
            state = Math.Sqrt(1 - betas[i]) * state + Math.Sqrt(betas[i]) * randn(state.shape, dtype: state.dtype, generator: generator);
        return state.MoveToOuterDisposeScope();
    }
}
