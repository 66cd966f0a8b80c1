using StochasticInterpolants.Interpolants;
using static TorchSharp.torch;

namespace StochasticInterpolants.Fields;

/// <summary>A Gaussian component with diagonal covariance: weight, mean and per-dimension variance.</summary>
/// <param name="Weight">Mixture weight (normalised by the field).</param>
/// <param name="Mean">Mean vector.</param>
/// <param name="Variance">Per-dimension variances (the diagonal of the covariance).</param>
public sealed record MixtureComponent(double Weight, double[] Mean, double[] Variance);

/// <summary>
/// The exact velocity, score and density of rho(t) for Gaussian-mixture base and target under any affine interpolant
/// with independent coupling (docs/theory.md §5): rho(t) = sum_ij p_i q_j N(m_ij, C_ij) with m_ij = alpha mu0_i + beta mu1_j,
/// C_ij = alpha^2 C0_i + beta^2 C1_j + gamma^2 I, and with weights w_ij(x) proportional to p_i q_j N(x; m_ij, C_ij):
/// b(t, x) = sum_ij w_ij [m'_ij + (1/2) C'_ij C_ij^{-1} (x - m_ij)], C'_ij = 2(alpha alpha' C0_i + beta beta' C1_j + gamma gamma' I),
/// s(t, x) = -sum_ij w_ij C_ij^{-1} (x - m_ij), E[x1 | x_t = x] = sum_ij w_ij [mu1_j + beta C1_j C_ij^{-1} (x - m_ij)].
/// Computed in float64; results take x's dtype. The oracle for solver, loss, score and likelihood tests.
/// </summary>
public sealed class GaussianMixtureField : IVelocityField
{
    private readonly MixtureComponent[] _base, _target;
    private readonly double _baseTotal, _targetTotal;

    /// <summary>Creates the field for <paramref name="interpolant"/> between the two mixtures.</summary>
    public GaussianMixtureField(IInterpolant interpolant, IReadOnlyList<MixtureComponent> baseComponents, IReadOnlyList<MixtureComponent> targetComponents)
    {
        if (baseComponents.Count == 0 || targetComponents.Count == 0) throw new ArgumentException("each mixture needs at least one component");
        Dimension = baseComponents[0].Mean.Length;
        foreach (var c in baseComponents.Concat(targetComponents))
        {
            if (c.Mean.Length != Dimension || c.Variance.Length != Dimension) throw new ArgumentException("all components must share one dimension");
            if (!(c.Weight >= 0) || c.Variance.Any(v => !(v >= 0))) throw new ArgumentException("weights and variances must be non-negative");
        }
        Interpolant = interpolant;
        _base = baseComponents.ToArray(); _target = targetComponents.ToArray();
        _baseTotal = _base.Sum(c => c.Weight); _targetTotal = _target.Sum(c => c.Weight);
    }

    /// <summary>The interpolant.</summary>
    public IInterpolant Interpolant { get; }
    /// <summary>Dimension d.</summary>
    public int Dimension { get; }

    /// <inheritdoc />
    public Tensor Velocity(double t, Tensor x) => Evaluate(t, x, Quantity.Velocity);

    /// <summary>The score s(t, x) = grad log rho(t, x).</summary>
    public Tensor Score(double t, Tensor x) => Evaluate(t, x, Quantity.Score);

    /// <summary>The target prediction E[x1 | x_t = x].</summary>
    public Tensor TargetPrediction(double t, Tensor x) => Evaluate(t, x, Quantity.TargetPrediction);

    /// <summary>log rho(t, x) for each row of x ([n, d] -> [n]).</summary>
    public Tensor LogDensity(double t, Tensor x) => Evaluate(t, x, Quantity.LogDensity);

    private enum Quantity { Velocity, Score, TargetPrediction, LogDensity }

    private Tensor Evaluate(double t, Tensor x, Quantity what)
    {
        if (x.dim() != 2 || x.shape[1] != Dimension) throw new ArgumentException($"expected [n, {Dimension}] points, got [{string.Join(",", x.shape)}]");
        var c = Interpolant.At(t);
        using var scope = NewDisposeScope();
        var xd = x.to(float64);
        var logWeights = new List<Tensor>();
        var terms = new List<Tensor>();
        foreach (var b in _base)
        foreach (var q in _target)
        {
            if (b.Weight == 0 || q.Weight == 0) continue;
            var m = new double[Dimension]; var mDot = new double[Dimension]; var cov = new double[Dimension]; var covDot = new double[Dimension];
            for (var k = 0; k < Dimension; k++)
            {
                m[k] = c.Alpha * b.Mean[k] + c.Beta * q.Mean[k];
                mDot[k] = c.AlphaDot * b.Mean[k] + c.BetaDot * q.Mean[k];
                cov[k] = c.Alpha * c.Alpha * b.Variance[k] + c.Beta * c.Beta * q.Variance[k] + c.Gamma * c.Gamma;
                covDot[k] = 2 * (c.Alpha * c.AlphaDot * b.Variance[k] + c.Beta * c.BetaDot * q.Variance[k] + c.GammaGammaDot);
                if (!(cov[k] > 0)) throw new ArgumentException($"the covariance of rho(t) is singular at t = {t} (a point mass); the field is undefined there");
            }
            var mt = tensor(m).to(xd.device); var covT = tensor(cov).to(xd.device);
            var diff = xd - mt;
            var logN = Math.Log(b.Weight / _baseTotal * q.Weight / _targetTotal) - 0.5 * (Dimension * Math.Log(2 * Math.PI) + cov.Sum(Math.Log))
                       - 0.5 * (diff.square() / covT).sum(1);
            logWeights.Add(logN);
            terms.Add(what switch
            {
                Quantity.Velocity => tensor(mDot).to(xd.device) + 0.5 * tensor(covDot).to(xd.device) / covT * diff,
                Quantity.Score => -diff / covT,
                Quantity.TargetPrediction => tensor(q.Mean).to(xd.device) + c.Beta * tensor(q.Variance).to(xd.device) / covT * diff,
                _ => logN,
            });
        }
        var logW = stack(logWeights, 1);                     // [n, K]
        var logRho = logW.logsumexp(1, keepdim: true);        // [n, 1]
        if (what == Quantity.LogDensity) return logRho.squeeze(1).to(x.dtype).MoveToOuterDisposeScope();
        var w = (logW - logRho).exp();                        // posterior weights w_ij(x)
        var result = (stack(terms, 1) * w.unsqueeze(2)).sum(1);
        return result.to(x.dtype).MoveToOuterDisposeScope();
    }
}
