using StochasticInterpolants.Couplings;
using StochasticInterpolants.Data;
using StochasticInterpolants.Files;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using StochasticInterpolants.Objectives;

namespace StochasticInterpolants.Runs;

/// <summary>
/// The pieces a <see cref="TrainingRunConfig"/> describes, built and validated before any work: the densities, the
/// interpolant, the coupling and one objective per learned field (<see cref="Build"/>), and the networks that learn them
/// (<see cref="CreateNetworks"/>).
/// </summary>
/// <param name="Base">rho0.</param>
/// <param name="Target">rho1.</param>
/// <param name="Interpolant">The interpolant.</param>
/// <param name="Coupling">Where batches come from.</param>
/// <param name="Objectives">One per learned field, in the order of <see cref="TrainingRunConfig.LearnedFields"/>.</param>
public sealed record RunPieces(IDistribution Base, IDistribution Target, IInterpolant Interpolant, ICoupling Coupling, IReadOnlyList<IObjective> Objectives)
{
    /// <summary>Validates <paramref name="config"/> and builds the pieces, without training (so errors surface before any work).</summary>
    public static RunPieces Build(TrainingRunConfig config)
    {
        config.TrainingOrDefault.Validate();
        config.ValidateRun();
        var target = DataSources.Parse(config.Target);
        var baseDistribution = DataSources.Parse(config.Base, target.Dimension);
        var interpolant = new InterpolantSpec(config.Interpolant, config.Gamma, config.GammaScale).Build();
        var coupling = Couplings.Couplings.For(interpolant, baseDistribution, target);
        var objectiveOptions = new ObjectiveOptions(config.Antithetic, config.TimeClip);
        var objectives = config.LearnedFields().Select(kind => Objective.For(kind, interpolant, objectiveOptions)).ToList();
        ModelConfig(config, target).Validate();
        return new RunPieces(baseDistribution, target, interpolant, coupling, objectives);
    }

    /// <summary>
    /// One network per learned field, of the configured architecture: the first keeps the run's seed, the others are offset
    /// from it, so adding a field never changes the velocity network's initialisation.
    /// </summary>
    public IReadOnlyList<MlpNetwork> CreateNetworks(TrainingRunConfig config)
    {
        var mlp = ModelConfig(config, Target);
        var seed = config.TrainingOrDefault.Seed;
        return Objectives.Select((_, i) => new MlpNetwork(mlp, seed + 7919L * i)).ToList();
    }

    private static MlpConfig ModelConfig(TrainingRunConfig config, IDistribution target)
    {
        var m = config.ModelOrDefault;
        return new MlpConfig(target.Dimension, m.Width, m.Depth, m.Activation, m.TimeFrequencies);
    }
}
