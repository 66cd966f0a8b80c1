using StochasticInterpolants.Cli;
using StochasticInterpolants.Runtime;

// Allocator settings must precede the first native allocation (STACK.md, "Memory").
NativeRuntime.ConfigureAllocator();
// Under mpiexec (or srun) this process is one rank of a data-parallel job; otherwise a plain run that never loads MPI.
return MpiJob.Run(args);
