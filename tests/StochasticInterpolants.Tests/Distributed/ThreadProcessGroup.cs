using System.Runtime.ExceptionServices;
using StochasticInterpolants.Distributed;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Distributed;

/// <summary>
/// An in-process stand-in for an MPI job: N "ranks" are N threads sharing one coordinator. Every collective is two
/// barrier phases — each rank deposits its part, then reads everyone's — and checks that all ranks entered the same
/// collective (the same operation name), so a rank that skips or adds an exchange fails the test instead of hanging.
/// The ranks take turns between collectives (one holds the compute turn at a time): libtorch calls never overlap across
/// ranks, as in the serial test run (TorchSharp's temporary Scalars can be freed by a collection another thread triggers,
/// see the test project file), and the results do not depend on the interleaving.
/// </summary>
internal sealed class ThreadProcessGroup : IProcessGroup
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);
    private readonly Coordinator _c;

    private ThreadProcessGroup(Coordinator coordinator, int rank) { _c = coordinator; Rank = rank; }

    public int Rank { get; }
    public int Size => _c.Size;

    /// <summary>
    /// Runs <paramref name="body"/> as each of <paramref name="n"/> ranks on its own thread and returns each rank's result
    /// in rank order. A rank's exception ends the others' collectives and is rethrown (the first rank's that failed on its own).
    /// </summary>
    public static T[] Run<T>(int n, Func<IProcessGroup, T> body)
    {
        if (n < 1) throw new ArgumentOutOfRangeException(nameof(n));
        var c = new Coordinator(n);
        var results = new T[n];
        var errors = new Exception?[n];
        var threads = Enumerable.Range(0, n).Select(r => new Thread(() =>
        {
            c.Turn.Wait();
            try { results[r] = body(new ThreadProcessGroup(c, r)); }
            catch (Exception e) { errors[r] = e; c.Broken = true; }
            finally
            {
                c.Turn.Release();
                c.Leave(r);
            }
        }, 16 * 1024 * 1024) { Name = $"rank {r} of {n}" }).ToList();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();
        var first = errors.FirstOrDefault(e => e is not null and not PeerFailedException) ?? errors.FirstOrDefault(e => e is not null);
        if (first is not null) ExceptionDispatchInfo.Capture(first).Throw();
        return results;
    }

    public void SumInPlace(Tensor buffer, string operation)
    {
        if (buffer.dtype is not (ScalarType.Float32 or ScalarType.Float64) || buffer.device.type != TorchSharp.DeviceType.CPU || !buffer.is_contiguous())
            throw new ArgumentException("only contiguous CPU float32 or float64 buffers can be summed");
        double[] mine;
        using (var d = buffer.to(float64)) mine = d.data<double>().ToArray();
        var parts = Exchange(operation, mine);
        var sum = new double[mine.Length];
        foreach (var p in parts.Cast<double[]>())
        {
            if (p.Length != sum.Length) throw new ArgumentException($"{operation}: buffers of {p.Length} and {sum.Length} elements");
            for (var i = 0; i < sum.Length; i++) sum[i] += p[i]; // in rank order, in float64
        }
        using var total = tensor(sum).reshape(buffer.shape);
        buffer.copy_(total); // cast back to the buffer's type
    }

    public long[] AllGather(long value, string operation) => Exchange(operation, value).Cast<long>().ToArray();

    public Tensor AllGatherRows(Tensor rows, string operation)
    {
        if (rows.device.type != TorchSharp.DeviceType.CPU || !rows.is_contiguous()) throw new ArgumentException("the rows to gather must be a contiguous CPU tensor");
        var parts = Exchange(operation, new Rows(rows.shape, rows.dtype, rows.bytes.ToArray())).Cast<Rows>().ToArray();
        foreach (var p in parts)
            if (p.Type != rows.dtype || !p.Shape[1..].SequenceEqual(rows.shape[1..]))
                throw new ArgumentException($"{operation}: rows [{string.Join(",", p.Shape)}] {p.Type} and [{string.Join(",", rows.shape)}] {rows.dtype} cannot be stacked");
        var result = empty([parts.Sum(p => p.Shape[0]), .. rows.shape[1..]], dtype: rows.dtype);
        var target = result.bytes;
        var at = 0;
        foreach (var p in parts) { p.Bytes.CopyTo(target[at..]); at += p.Bytes.Length; }
        return result;
    }

    private sealed record Rows(long[] Shape, ScalarType Type, byte[] Bytes);

    // One collective: deposit, wait for all, check they are in the same one, read all, wait until all have read.
    private object[] Exchange(string operation, object part)
    {
        _c.Slots[Rank] = (operation, part);
        _c.Turn.Release(); // another rank may compute while this one waits
        try
        {
            Wait();
            var slots = _c.Slots.ToArray();
            var missing = Enumerable.Range(0, Size).Where(r => slots[r] is null).ToList();
            if (missing.Count > 0) throw new InvalidOperationException($"rank {Rank} entered '{operation}', which rank {missing[0]} never entered (it finished)");
            var other = slots.FirstOrDefault(s => s!.Value.Operation != operation);
            if (other is { } o) throw new InvalidOperationException($"rank {Rank} entered '{operation}' while another rank entered '{o.Operation}'");
            Wait();
            _c.Slots[Rank] = null;
            return slots.Select(s => s!.Value.Part).ToArray();
        }
        catch
        {
            _c.Broken = true;
            throw;
        }
        finally
        {
            _c.Turn.Wait();
        }
    }

    private void Wait()
    {
        if (!_c.Barrier.SignalAndWait(Patience)) { _c.Broken = true; throw new TimeoutException($"rank {Rank} waited {Patience.TotalSeconds} s for the other ranks"); }
        if (_c.Broken) throw new PeerFailedException();
    }

    private sealed class Coordinator(int size)
    {
        public int Size { get; } = size;
        public Barrier Barrier { get; } = new(size);
        public SemaphoreSlim Turn { get; } = new(1, 1);
        public (string Operation, object Part)?[] Slots { get; } = new (string, object)?[size];
        public volatile bool Broken;

        // A rank that has finished (or failed) no longer holds up the others' barriers; any collective they make without
        // it then finds its slot empty (or the job broken) and fails.
        public void Leave(int rank)
        {
            Slots[rank] = null;
            try { Barrier.RemoveParticipant(); }
            catch (InvalidOperationException) { } // a rank that timed out is still counted as waiting
        }
    }

    /// <summary>Raised in a rank's collective when another rank has failed.</summary>
    private sealed class PeerFailedException() : Exception("another rank failed");
}
