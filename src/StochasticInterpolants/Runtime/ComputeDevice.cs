using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Runtime;

/// <summary>Raised when a requested device is not available.</summary>
public sealed class DeviceUnavailableException(string message) : Exception(message);

/// <summary>Resolves device names (cpu, cuda, cuda:N) to TorchSharp devices, with a clear error when CUDA is absent.</summary>
public static class ComputeDevice
{
    /// <summary>Returns the device called <paramref name="name"/>; throws <see cref="DeviceUnavailableException"/> for CUDA without a CUDA device.</summary>
    public static Device Resolve(string name)
    {
        var n = name.Trim().ToLowerInvariant();
        if (n == "cpu") return CPU;
        if (n == "cuda" || n.StartsWith("cuda:", StringComparison.Ordinal))
        {
            var index = 0;
            if (n.Length > 5 && !int.TryParse(n.AsSpan(5), out index)) throw new ArgumentException($"bad device '{name}' (expected cpu, cuda or cuda:N)");
            bool available;
            try { available = cuda.is_available(); } catch (Exception) { available = false; }
            if (!available)
                throw new DeviceUnavailableException("device 'cuda': TorchSharp finds no CUDA device (no GPU, no driver, or this build carries the CPU libtorch; reference libtorch-cuda-12.8-linux-x64 to use a GPU)");
            var count = cuda.device_count();
            if (index >= count) throw new DeviceUnavailableException($"device '{name}': only {count} CUDA device(s) found");
            return new Device(DeviceType.CUDA, index);
        }
        throw new ArgumentException($"unknown device '{name}' (expected cpu, cuda or cuda:N)");
    }
}
