using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Models;

/// <summary>Raised when saved weights do not fit a network (a missing parameter or a different shape).</summary>
public sealed class WeightsMismatchException(string message) : Exception(message);

/// <summary>Copies named weights into a module's parameters.</summary>
public static class ParameterCopy
{
    /// <summary>Copies <paramref name="weights"/> into the parameters of <paramref name="module"/>, checking names and shapes
    /// (<paramref name="source"/> names the weights in errors).</summary>
    public static void CopyInto(nn.Module module, IReadOnlyDictionary<string, Tensor> weights, string source)
    {
        var parameters = module.named_parameters().ToList();
        var missing = parameters.Where(p => !weights.ContainsKey(p.name)).Select(p => p.name).ToList();
        if (missing.Count > 0) throw new WeightsMismatchException($"weights '{source}' do not fit the model: missing {string.Join(", ", missing.Take(3))}");
        using var noGrad = no_grad();
        foreach (var (name, p) in parameters)
        {
            var w = weights[name];
            if (!w.shape.SequenceEqual(p.shape))
                throw new WeightsMismatchException($"weights '{source}' do not fit the model: '{name}' has shape [{string.Join(",", w.shape)}], expected [{string.Join(",", p.shape)}]");
            p.copy_(w);
        }
    }
}
