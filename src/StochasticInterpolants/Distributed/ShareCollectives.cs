using static TorchSharp.torch;

namespace StochasticInterpolants.Distributed;

/// <summary>
/// The collectives of data-parallel sampling and evaluation (docs/theory.md §13.4): every rank works on its
/// <see cref="RowShare"/> of a batch, then the shares are put back together in rank order, which is the batch's row order.
/// </summary>
public static class ShareCollectives
{
    /// <summary>
    /// The whole batch of <paramref name="share"/>.Total rows on every rank: each rank's <paramref name="rows"/> (its share's
    /// rows, [share.Count, ...], on any device) concatenated in rank order, on the CPU. With one process it is
    /// <paramref name="rows"/> on the CPU (an alias when they are already there). Throws
    /// <see cref="DataParallelException"/> when the gathered rows are not the batch (the ranks disagree on its size).
    /// </summary>
    public static Tensor GatherShares(this IProcessGroup group, RowShare share, Tensor rows, string operation)
    {
        if (rows.dim() < 1 || rows.shape[0] != share.Count)
            throw new ArgumentException($"the share has {share.Count} rows, the tensor to gather has shape [{string.Join(",", rows.shape)}]");
        // MPI reads the bytes of a contiguous CPU tensor; one process hands them back as they are.
        using var local = rows.device.type == TorchSharp.DeviceType.CPU && rows.is_contiguous() ? rows.alias() : rows.cpu().contiguous();
        var all = group.AllGatherRows(local, operation);
        if (all.shape[0] != share.Total)
        {
            var gathered = all.shape[0];
            all.Dispose();
            throw new DataParallelException($"{operation}: the ranks' shares add up to {gathered} rows, not the batch's {share.Total}");
        }
        return all;
    }

    /// <summary>
    /// The mean over the batch's rows of a per-rank count (e.g. the network evaluations each rank's trajectories took):
    /// sum_r n_r v_r / T over the ranks' shares n_r of the T rows (ranks without rows weigh nothing); <paramref name="value"/>
    /// itself with one process. Equal on every rank.
    /// </summary>
    public static double MeanPerRow(this IProcessGroup group, RowShare share, long value, string operation)
    {
        var values = group.AllGather(value, operation);
        if (group.Size == 1) return value;
        double sum = 0;
        for (var r = 0; r < group.Size; r++) sum += (double)RowShare.For(share.Total, r, group.Size).Count * values[r];
        return share.Total == 0 ? 0 : sum / share.Total;
    }
}
