using static TorchSharp.torch;

namespace StochasticInterpolants.Data;

/// <summary>
/// The empirical distribution of a table of samples: <see cref="Sample"/> draws rows uniformly with replacement.
/// No density (an empirical measure has none).
/// </summary>
public sealed class EmpiricalDistribution : SampledDistribution, IDisposable
{
    private readonly Tensor _rows;

    /// <summary>Wraps a [n, d] table (copied to float32 on the CPU).</summary>
    public EmpiricalDistribution(Tensor rows, string name)
    {
        if (rows.dim() != 2 || rows.shape[0] < 1 || rows.shape[1] < 1)
            throw new ArgumentException($"'{name}': a data table must be [n, d] with n, d >= 1, got [{string.Join(",", rows.shape)}]");
        if (rows.shape[0] < 2)
            throw new DataFormatException($"'{name}' has only one data row; at least 2 are needed to train on or score against");
        _rows = rows.detach().to(float32).cpu().clone();
        if (!_rows.isfinite().all().item<bool>()) throw new DataFormatException($"'{name}' contains NaN or infinite values");
        Name = name;
        Dimension = (int)rows.shape[1];
    }

    /// <inheritdoc />
    public override string Name { get; }
    /// <inheritdoc />
    public override int Dimension { get; }
    /// <summary>The table itself ([n, d], float32, CPU), owned by this distribution: clone it to keep it.</summary>
    public Tensor Rows => _rows;

    /// <summary>Number of rows in the table.</summary>
    public long Count => _rows.shape[0];

    /// <inheritdoc />
    public override Tensor Sample(int count, Generator generator)
    {
        CheckCount(count);
        using var index = randint(0, _rows.shape[0], [count], generator: generator);
        return _rows.index_select(0, index);
    }

    /// <inheritdoc />
    public void Dispose() => _rows.Dispose();
}
