using StochasticInterpolants.Cli;
using StochasticInterpolants.Runtime;

// Allocator settings must precede the first native allocation (STACK.md, "Memory").
NativeRuntime.ConfigureAllocator();
return SiApp.Run(args, Console.Out, Console.Error);
