using StochasticInterpolants.Data;
using StochasticInterpolants.Fields;
using StochasticInterpolants.Likelihood;
using StochasticInterpolants.Manifolds;
using StochasticInterpolants.Sampling;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Manifolds;

/// <summary>
/// The Riemannian divergence and the exact likelihood on the sphere through <see cref="TangentExtension"/> (docs/theory.md
/// §15.7), against the gradient flow of f(x) = kappa z on S^2, whose divergence and pushed-forward density are known.
/// </summary>
public class ManifoldLikelihoodTests
{
    private const double Kappa = 1.5;

    // b(x) = grad_S (kappa z) = kappa (e_z - z x): the field's ambient formula, also defined off the sphere.
    private static readonly IVelocityField Gradient = new VelocityFunction((_, x) =>
    {
        var z = x[.., 2..3];
        var ez = zeros_like(x);
        ez[.., 2] = ones(x.shape[0], dtype: x.dtype);
        return Kappa * (ez - z * x);
    }, "grad kappa z");

    [Fact]
    public void The_extension_gives_the_riemannian_divergence_where_the_ambient_one_is_wrong()
    {
        using var scope = NewDisposeScope();
        var sphere = new Sphere(3);
        var x = sphere.SampleUniform(200, new Generator(4), float64);
        var solver = ManifoldSolvers.Create("geodesic-rk4", new ProductManifold(sphere, new Euclidean(1)), 10);
        var onSphere = new FlowLikelihood(new TangentExtension(sphere, Gradient), new UniformSphere(3), solver).Divergence(0.5, x);
        var ambient = new FlowLikelihood(Gradient, new UniformSphere(3), solver).Divergence(0.5, x);
        // div_S grad_S f = Laplace-Beltrami of kappa z = -2 kappa z on S^2; the ambient divergence of the formula is -4 kappa z.
        var expected = -2 * Kappa * x[.., 2];
        var error = (onSphere - expected).abs().max().item<double>();
        Assert.True(error < 1e-12, $"Riemannian divergence off by {error}");
        Assert.True((ambient - expected).abs().max().item<double>() > 0.5, "the unextended field's divergence should differ (it has a normal part)");
    }

    [Fact]
    public void The_likelihood_of_the_gradient_flow_from_the_uniform_sphere_matches_its_closed_form()
    {
        using var scope = NewDisposeScope();
        var sphere = new Sphere(3);
        // Pushing the uniform law on S^2 through the flow of b for a unit of time: with z = cos(polar angle), tan(theta/2)
        // shrinks by e^-kappa, and the density is rho1 = (1 / 4 pi) 4 e^{2 kappa} / ((1 + z) + (1 - z) e^{2 kappa})^2.
        var x1 = sphere.SampleUniform(300, new Generator(5), float64);
        var z = x1[.., 2];
        var e2k = Math.Exp(2 * Kappa);
        var exact = Math.Log(4 * e2k / (4 * Math.PI)) - 2 * ((1 + z) + (1 - z) * e2k).log();
        var augmented = new ProductManifold(sphere, new Euclidean(1));    // [x, L]: the log-density rides along in R
        // Measured: 2.2e-7 at 20 steps; fourth order takes it 256 times lower at 80.
        foreach (var (steps, tolerance) in new[] { (20, 2e-6), (80, 1e-8) })
        {
            var likelihood = new FlowLikelihood(new TangentExtension(sphere, Gradient), new UniformSphere(3), ManifoldSolvers.Create("geodesic-rk4", augmented, steps));
            using var result = likelihood.LogDensity(x1);
            var error = (result.LogDensity - exact).abs().max().item<double>();
            Assert.True(error < tolerance, $"RK4 {steps} steps: log-density off by {error} (tolerance {tolerance})");
            Assert.True(sphere.MaxViolation(result.BasePoints).max().item<double>() < 1e-12, "the base points left the sphere");
        }
    }
}
