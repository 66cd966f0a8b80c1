// The benchmark command (scripts/bench.sh); see BenchCommand for the modes.
return StochasticInterpolants.Benchmarks.BenchCommand.Run(args);
