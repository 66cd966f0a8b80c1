using System.Runtime.CompilerServices;
using StochasticInterpolants.Runtime;

namespace StochasticInterpolants.Tests;

/// <summary>Process-wide test settings: one libtorch thread per test (tests run in parallel; STACK.md, "Threads").</summary>
internal static class TestRuntime
{
    [ModuleInitializer]
    internal static void Initialise()
    {
        NativeRuntime.ConfigureAllocator();
        TorchSharp.torch.set_num_threads(1);
    }
}
