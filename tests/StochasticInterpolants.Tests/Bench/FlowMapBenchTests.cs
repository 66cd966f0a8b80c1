using StochasticInterpolants.Benchmarks;
using StochasticInterpolants.Fields;
using StochasticInterpolants.Interpolants;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Bench;

/// <summary>The --flow-map benchmark: its exact Gaussian-mixture flow map (the oracle of the gmm part) and its command line.</summary>
public class FlowMapBenchTests
{
    // One Gaussian N(m, s^2 I) as the target: the flow map of the linear interpolant from N(0, I) has the closed form
    // X_{0,1}(x) = m + s x (GaussianToGaussianVelocity.FlowMap), which dopri5 at 1e-8 must reproduce to 1e-6.
    private static readonly double[] Mean = [1.5, -0.75];
    private const double Std = 0.4;

    private static Tensor Points()
    {
        using var g = new Generator(7);
        return randn([64, 2], dtype: float64, generator: g);
    }

    [Fact]
    public void Exact_map_of_the_single_gaussian_velocity_matches_its_closed_form()
    {
        var field = new GaussianToGaussianVelocity(Mean, Std);
        using var x0 = Points();
        using var map = FlowMapBenchmark.ExactMap(field, x0, 0, 1, 1e-8);
        using var closed = field.FlowMap(0, 1, x0);
        var error = (map - closed).abs().max().item<double>();
        Assert.True(error < 1e-6, $"max |dopri5 - closed form| = {error:E2}");
    }

    [Fact]
    public void Exact_map_of_a_one_component_mixture_field_matches_the_gaussian_closed_form()
    {
        // The path the gmm part takes (GaussianMixtureField, the checkpoint's interpolant), checked where the answer is known.
        var mixture = new GaussianMixtureField(new LinearInterpolant(), [new MixtureComponent(1, [0, 0], [1, 1])],
            [new MixtureComponent(1, Mean, [Std * Std, Std * Std])]);
        using var x0 = Points();
        using var map = FlowMapBenchmark.ExactMap(mixture, x0, 0, 1, 1e-8);
        using var closed = new GaussianToGaussianVelocity(Mean, Std).FlowMap(0, 1, x0);
        var error = (map - closed).abs().max().item<double>();
        Assert.True(error < 1e-6, $"max |dopri5 - closed form| = {error:E2}");
        // And a half-way map X_{0,1/2} of the same field, against X_{s,t} of the closed form.
        using var half = FlowMapBenchmark.ExactMap(mixture, x0, 0, 0.5, 1e-8);
        using var halfClosed = new GaussianToGaussianVelocity(Mean, Std).FlowMap(0, 0.5, x0);
        Assert.True((half - halfClosed).abs().max().item<double>() < 1e-6);
    }

    [Theory]
    [InlineData(null, null, null, "--flow-map")]
    [InlineData("gmm,checkerboard,table,digits", null, null, "--flow-map", "--quick", "--parts", "gmm,checkerboard,table,digits", "--threads", "1")]
    [InlineData("table", 200, "psd", "--parts", "TABLE", "--flow-map", "--steps", "200", "--map-objective", "psd")]
    [InlineData("digits,gmm", null, null, "--flow-map", "--parts", "digits, gmm,digits")]
    public void Flow_map_mode_parses_its_parts_steps_and_objective(string? parts, int? steps, string? objective, params string[] args)
    {
        var o = BenchOptions.Parse(args);
        Assert.Equal(BenchMode.FlowMap, o.Mode);
        Assert.Equal("--flow-map", BenchOptions.Flag(o.Mode));
        Assert.Equal(parts, o.Parts is null ? null : string.Join(",", o.Parts));
        Assert.Equal(steps, o.Steps);
        Assert.Equal(objective, o.MapObjective);
    }

    [Theory]
    [InlineData("--parts: unknown part 'images' (expected gmm, checkerboard, table, digits)", "--flow-map", "--parts", "gmm,images")]
    [InlineData("--parts needs one or more of gmm,checkerboard,table,digits", "--flow-map", "--parts", ",")]
    [InlineData("--parts goes with --flow-map", "--tables", "--parts", "table")]
    [InlineData("--steps goes with --flow-map", "--steps", "10")]
    [InlineData("--steps needs a whole number >= 1, got '0'", "--flow-map", "--steps", "0")]
    [InlineData("--map-objective must be lsd or psd, got 'meanflow'", "--flow-map", "--map-objective", "meanflow")]
    [InlineData("--map-objective goes with --flow-map", "--throughput", "--map-objective", "psd")]
    [InlineData("give one mode, not both --flow-map and --tables", "--flow-map", "--tables")]
    public void Bad_flow_map_command_lines_are_refused_with_the_reason(string fragment, params string[] args) =>
        Assert.Contains(fragment, Assert.Throws<ArgumentException>(() => BenchOptions.Parse(args)).Message);
}
