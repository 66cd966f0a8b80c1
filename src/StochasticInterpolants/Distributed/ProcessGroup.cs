using System.Numerics;
using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace StochasticInterpolants.Distributed;

/// <summary>
/// The processes of one data-parallel job, rank r of N (docs/theory.md §13). Every collective is entered by every rank
/// in the same order; each names what it exchanges (<c>operation</c>) so a timeout or failure can say where it arose.
/// The library sees only this interface: one process is <see cref="SingleProcess"/>; an MPI job is provided above it.
/// </summary>
public interface IProcessGroup
{
    /// <summary>This process's rank, 0..Size-1; rank 0 is the one that writes files.</summary>
    int Rank { get; }

    /// <summary>Number of processes N.</summary>
    int Size { get; }

    /// <summary>Replaces a contiguous CPU float32 or float64 <paramref name="buffer"/> by its elementwise sum over all ranks (every rank receives the sum).</summary>
    void SumInPlace(Tensor buffer, string operation);

    /// <summary>Every rank's <paramref name="value"/>, in rank order, on every rank.</summary>
    long[] AllGather(long value, string operation);

    /// <summary>
    /// Every rank's <paramref name="rows"/> (a contiguous CPU tensor [n_r, ...] with the same trailing shape and dtype on every
    /// rank; n_r may differ and may be 0) concatenated along dimension 0 in rank order, on every rank.
    /// </summary>
    Tensor AllGatherRows(Tensor rows, string operation);
}

/// <summary>A job of one process: every collective is the identity.</summary>
public sealed class SingleProcess : IProcessGroup
{
    /// <summary>The one instance.</summary>
    public static SingleProcess Instance { get; } = new();
    private SingleProcess() { }
    /// <inheritdoc />
    public int Rank => 0;
    /// <inheritdoc />
    public int Size => 1;
    /// <inheritdoc />
    public void SumInPlace(Tensor buffer, string operation) { }
    /// <inheritdoc />
    public long[] AllGather(long value, string operation) => [value];
    /// <inheritdoc />
    public Tensor AllGatherRows(Tensor rows, string operation) => rows.alias();
}

/// <summary>
/// The rows [Start, Start + Count) of a batch of <see cref="Total"/> rows that one rank works on: the ranks' shares are
/// contiguous, in rank order, and differ in size by at most one row (rank r of N: from floor(r T / N) to floor((r+1) T / N)).
/// Random draws are made at the full batch's shape by every rank and then cut to the share (<see cref="Of(Tensor)"/>),
/// which is what makes an N-process result equal the one-process result for the same seed.
/// </summary>
/// <param name="Start">First row of the share.</param>
/// <param name="Count">Rows in the share (0 when there are more ranks than rows).</param>
/// <param name="Total">Rows of the whole batch.</param>
public readonly record struct RowShare(long Start, long Count, long Total)
{
    /// <summary>The whole batch (one process).</summary>
    public static RowShare All(long total) => new(0, total, total);

    /// <summary>Rank <paramref name="rank"/>'s share of <paramref name="total"/> rows among <paramref name="size"/> ranks.</summary>
    public static RowShare For(long total, int rank, int size)
    {
        if (size < 1 || rank < 0 || rank >= size) throw new ArgumentOutOfRangeException(nameof(rank), $"rank {rank} of {size} processes");
        var start = total * rank / size;
        return new RowShare(start, total * (rank + 1) / size - start, total);
    }

    /// <summary>This process's share of <paramref name="total"/> rows in <paramref name="group"/>.</summary>
    public static RowShare For(long total, IProcessGroup group) => For(total, group.Rank, group.Size);

    /// <summary>True when the share is the whole batch.</summary>
    public bool IsAll => Start == 0 && Count == Total;

    /// <summary>The share's fraction of the batch, n_r / T: the weight of this rank's mean loss in the batch mean.</summary>
    public double Fraction => Total == 0 ? 0 : (double)Count / Total;

    /// <summary>The share's rows of <paramref name="full"/> (a view; <paramref name="full"/> itself when the share is all of it).</summary>
    public Tensor Of(Tensor full)
    {
        if (full.shape[0] != Total) throw new ArgumentException($"the tensor has {full.shape[0]} rows, the share is of {Total}");
        return IsAll ? full : full.narrow(0, Start, Count);
    }
}

/// <summary>A 64-bit checksum of tensors' bytes: equal weights on two ranks give equal checksums; one flipped bit changes it.</summary>
public static class TensorChecksum
{
    /// <summary>Folds the bytes of each contiguous CPU tensor into one 64-bit value (a multiply-rotate hash over 8-byte words).</summary>
    public static long Of(params Tensor[] tensors)
    {
        var h = 0x9E37_79B9_7F4A_7C15UL;
        foreach (var t in tensors)
        {
            using var c = t.device.type == TorchSharp.DeviceType.CPU && t.is_contiguous() ? t.alias() : t.contiguous().cpu();
            var bytes = c.bytes;
            var words = MemoryMarshal.Cast<byte, ulong>(bytes);
            foreach (var w in words) h = BitOperations.RotateLeft((h ^ w) * 0xFF51_AFD7_ED55_8CCDUL, 29);
            foreach (var b in bytes[(words.Length * 8)..]) h = BitOperations.RotateLeft((h ^ b) * 0xFF51_AFD7_ED55_8CCDUL, 29);
            h ^= (ulong)bytes.Length;
        }
        return (long)h;
    }
}

/// <summary>Raised when the ranks of a data-parallel job disagree (weights that should be identical differ, a share is empty).</summary>
public sealed class DataParallelException(string message) : Exception(message);
