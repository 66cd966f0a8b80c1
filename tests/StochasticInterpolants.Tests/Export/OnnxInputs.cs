using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace StochasticInterpolants.Tests.Export;

/// <summary>The inputs of an exported graph from the tensors a network's forward takes: x [n, d], t [n], t_end [n] for a
/// flow map, class [n] for a class-conditional network.</summary>
internal static class OnnxInputs
{
    public static List<NamedOnnxValue> Of(Tensor x, Tensor t, Tensor? endTimes = null, Tensor? classes = null)
    {
        var (n, d) = ((int)x.shape[0], (int)x.shape[1]);
        var inputs = new List<NamedOnnxValue>
        {
            NamedOnnxValue.CreateFromTensor("x", new DenseTensor<float>(x.to(float32).data<float>().ToArray(), [n, d])),
            NamedOnnxValue.CreateFromTensor("t", new DenseTensor<float>(t.to(float32).data<float>().ToArray(), [n])),
        };
        if (endTimes is not null) inputs.Add(NamedOnnxValue.CreateFromTensor("t_end", new DenseTensor<float>(endTimes.to(float32).data<float>().ToArray(), [n])));
        if (classes is not null) inputs.Add(NamedOnnxValue.CreateFromTensor("class", new DenseTensor<long>(classes.data<long>().ToArray(), [n])));
        return inputs;
    }
}
