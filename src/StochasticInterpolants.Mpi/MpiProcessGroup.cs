using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using StochasticInterpolants.Distributed;
using static TorchSharp.torch;
using Native = MPI.Unsafe;

namespace StochasticInterpolants.Mpi;

/// <summary>Raised when this process was started by an MPI launcher but cannot join the job (no MPICH library, an
/// unsupported launcher) or when an MPI call fails.</summary>
public sealed class MpiException(string message) : Exception(message);

/// <summary>One rank's process: its rank, process id and host, as gathered when the job starts.</summary>
public readonly record struct RankProcess(int Rank, int ProcessId, string Host);

/// <summary>
/// An <see cref="IProcessGroup"/> over MPI (MPICH, through MPI.NET's bindings): MPI_COMM_WORLD, initialised with
/// MPI_THREAD_FUNNELED (only the main thread calls MPI). Every collective is watched: when one waits longer than
/// <see cref="CollectiveTimeout"/> for the other ranks (a hung peer, a host that stopped answering), a watchdog thread
/// reports where (the operation, the local peers that are stopped or gone) and ends this process with exit code 1, which
/// makes the launcher take the whole job down. Failures of MPI calls are returned (MPI_ERRORS_RETURN) and raised as
/// <see cref="MpiException"/>.
/// </summary>
public sealed class MpiProcessGroup : IProcessGroup, IDisposable
{
    private static int _bound;
    private readonly Action<string> _report;
    private readonly Thread _watchdog;
    private readonly CancellationTokenSource _stop = new();
    private long _enteredAt; // Stopwatch timestamp of the collective in progress; 0 when none
    private string _operation = "";
    private bool _finalized;

    private MpiProcessGroup(TimeSpan timeout, Action<string> report)
    {
        CollectiveTimeout = timeout;
        _report = report;
        Check(Native.MPI_Comm_rank(Native.MPI_COMM_WORLD, out var rank), "MPI_Comm_rank");
        Check(Native.MPI_Comm_size(Native.MPI_COMM_WORLD, out var size), "MPI_Comm_size");
        Rank = rank; Size = size;
        _watchdog = new Thread(Watch) { IsBackground = true, Name = "si MPI watchdog" };
        _watchdog.Start();
        var pids = AllGather(System.Environment.ProcessId, "the start-up exchange of process ids");
        var hosts = AllGatherText(System.Environment.MachineName, "the start-up exchange of host names");
        Processes = pids.Select((p, r) => new RankProcess(r, (int)p, hosts[r])).ToArray();
    }

    /// <inheritdoc />
    public int Rank { get; }
    /// <inheritdoc />
    public int Size { get; }
    /// <summary>How long a collective may wait for the other ranks before the job is stopped.</summary>
    public TimeSpan CollectiveTimeout { get; set; }
    /// <summary>Every rank's process id and host, in rank order.</summary>
    public IReadOnlyList<RankProcess> Processes { get; }
    /// <summary>Ranks on this process's host (this one included): the processes that share its cores.</summary>
    public int RanksOnThisHost => Processes.Count(p => p.Host == Processes[Rank].Host);

    /// <summary>
    /// Joins the MPI job this process was launched into: binds MPI.NET to MPICH's library, calls MPI_Init_thread and
    /// gathers every rank's process id and host. <paramref name="report"/> receives the watchdog's message (one line).
    /// </summary>
    public static MpiProcessGroup Initialize(TimeSpan collectiveTimeout, Action<string> report)
    {
        if (collectiveTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(collectiveTimeout), "the collective timeout must be positive");
        Bind();
        unsafe
        {
            int argc = 0; byte** argv = null;
            try { Check(Native.MPI_Init_thread(ref argc, ref argv, Native.MPI_THREAD_FUNNELED, out _), "MPI_Init_thread"); }
            catch (DllNotFoundException e) { throw new MpiException($"this process was started by an MPI launcher, but MPICH's library could not be loaded ({e.Message.Split('\n')[0]}); install Debian's mpich package (scripts/setup.sh does)"); }
        }
        Check(Native.MPI_Errhandler_set(Native.MPI_COMM_WORLD, Native.MPI_ERRORS_RETURN), "MPI_Errhandler_set");
        return new MpiProcessGroup(collectiveTimeout, report);
    }

    // MPI.NET P/Invokes "msmpi" (Microsoft MPI, whose handles and constants are MPICH's): resolve it to MPICH's libmpich.
    private static void Bind()
    {
        if (Interlocked.Exchange(ref _bound, 1) == 1) return;
        NativeLibrary.SetDllImportResolver(typeof(MPI.Communicator).Assembly, (name, _, _) =>
        {
            if (!name.StartsWith("msmpi", StringComparison.OrdinalIgnoreCase)) return IntPtr.Zero;
            foreach (var candidate in new[] { "libmpich.so.12", "libmpi.so.12", "libmpich.so" })
                if (NativeLibrary.TryLoad(candidate, out var handle)) return handle;
            throw new DllNotFoundException("libmpich.so.12 was not found");
        });
    }

    /// <inheritdoc />
    public unsafe void SumInPlace(Tensor buffer, string operation)
    {
        var type = buffer.dtype == ScalarType.Float32 ? Native.MPI_FLOAT : buffer.dtype == ScalarType.Float64 ? Native.MPI_DOUBLE
            : throw new ArgumentException($"only float32 and float64 buffers can be summed across ranks, not {buffer.dtype}");
        if (buffer.device.type != TorchSharp.DeviceType.CPU || !buffer.is_contiguous()) throw new ArgumentException("the buffer to sum across ranks must be a contiguous CPU tensor");
        if (buffer.numel() > int.MaxValue) throw new ArgumentException($"the buffer has {buffer.numel()} elements; an MPI count holds at most {int.MaxValue}");
        Collective(operation, () => Native.MPI_Allreduce(new IntPtr(-1) /* MPI_IN_PLACE */, Address(buffer), (int)buffer.numel(), type, Native.MPI_SUM, Native.MPI_COMM_WORLD));
    }

    /// <inheritdoc />
    public unsafe long[] AllGather(long value, string operation)
    {
        var all = new long[Size];
        var mine = new[] { value };
        fixed (long* p = all)
        fixed (long* v = mine)
        {
            var (source, target) = ((IntPtr)v, (IntPtr)p);
            Collective(operation, () => Native.MPI_Allgather(source, 1, Native.MPI_LONG_LONG, target, 1, Native.MPI_LONG_LONG, Native.MPI_COMM_WORLD));
        }
        return all;
    }

    /// <inheritdoc />
    public Tensor AllGatherRows(Tensor rows, string operation) => GatherRows(rows, operation).All;

    // The rows of every rank in rank order, and how many came from each (one count exchange, one MPI_Allgatherv of bytes).
    private (Tensor All, long[] Counts) GatherRows(Tensor rows, string operation)
    {
        if (rows.device.type != TorchSharp.DeviceType.CPU || !rows.is_contiguous()) throw new ArgumentException("the rows to gather must be a contiguous CPU tensor");
        var trailing = rows.shape[1..];
        var counts = AllGather(rows.shape[0], operation + " (row counts)");
        var rowBytes = rows.element_size() * trailing.Aggregate(1L, (a, b) => a * b);
        var bytes = counts.Select(c => c * rowBytes).ToArray();
        if (bytes.Sum() > int.MaxValue) throw new ArgumentException($"gathering {bytes.Sum()} bytes across ranks exceeds MPI's {int.MaxValue}-byte count");
        var sizes = bytes.Select(b => (int)b).ToArray();
        var offsets = new int[Size];
        for (var r = 1; r < Size; r++) offsets[r] = offsets[r - 1] + sizes[r - 1];
        var result = empty([counts.Sum(), .. trailing], dtype: rows.dtype);
        var send = rows.numel() == 0 ? IntPtr.Zero : Address(rows);
        var receive = result.numel() == 0 ? IntPtr.Zero : Address(result);
        Collective(operation, () => Native.MPI_Allgatherv(send, sizes[Rank], Native.MPI_BYTE, receive, sizes, offsets, Native.MPI_BYTE, Native.MPI_COMM_WORLD));
        return (result, counts);
    }

    private string[] AllGatherText(string text, string operation)
    {
        using var local = tensor(Encoding.UTF8.GetBytes(text), dtype: ScalarType.Byte);
        var (all, counts) = GatherRows(local, operation);
        using (all)
        {
            var data = all.data<byte>().ToArray();
            var result = new string[Size];
            for (int r = 0, at = 0; r < Size; at += (int)counts[r], r++) result[r] = Encoding.UTF8.GetString(data, at, (int)counts[r]);
            return result;
        }
    }

    /// <summary>
    /// Ends the whole job from this rank (MPI_Abort on MPI_COMM_WORLD): the launcher stops every other rank and exits with
    /// <paramref name="exitCode"/>. Does not return.
    /// </summary>
    public void Abort(int exitCode)
    {
        Native.MPI_Abort(Native.MPI_COMM_WORLD, exitCode);
        System.Environment.Exit(exitCode); // MPI_Abort does not return; this is for an MPI that does
    }

    /// <summary>Leaves the job (MPI_Finalize) and stops the watchdog.</summary>
    public void Dispose()
    {
        if (_finalized) return;
        _finalized = true;
        _stop.Cancel();
        Native.MPI_Finalize();
    }

    private void Collective(string operation, Func<int> call)
    {
        _operation = operation;
        Volatile.Write(ref _enteredAt, Stopwatch.GetTimestamp());
        int code;
        try { code = call(); }
        finally { Volatile.Write(ref _enteredAt, 0); }
        Check(code, operation);
    }

    private static void Check(int code, string what)
    {
        if (code == 0) return;
        var text = new byte[512];
        var length = 0;
        var message = Native.MPI_Error_string(code, text, ref length) == 0 ? Encoding.ASCII.GetString(text, 0, Math.Clamp(length, 0, text.Length)).Trim() : $"MPI error {code}";
        throw new MpiException($"MPI failed in {what}: {message}");
    }

    // Checks twice a second whether the collective in progress has waited too long; if so, reports and exits (exit code 1):
    // the launcher then stops the other ranks. It calls no MPI function (only the main thread may).
    private void Watch()
    {
        while (!_stop.Token.WaitHandle.WaitOne(500))
        {
            var entered = Volatile.Read(ref _enteredAt);
            if (entered == 0 || Stopwatch.GetElapsedTime(entered) < CollectiveTimeout) continue;
            // The start-up exchanges themselves are watched, before the table of processes exists.
            var known = Processes ?? [];
            var peers = known.Where(p => p.Rank != Rank && p.Host == known[Rank].Host)
                .Select(p => (p, State: ProcessState(p.ProcessId))).Where(x => x.State is not null)
                .Select(x => $"rank {x.p.Rank} (pid {x.p.ProcessId}) is {x.State}").ToList();
            var where = peers.Count > 0 ? $": {string.Join(", ", peers)}" : ": a rank hung or its host stopped answering";
            _report($"rank {Rank} of {Size} waited {CollectiveTimeout.TotalSeconds:0.#} s in {_operation} for the other ranks{where}; stopping the job");
            Console.Out.Flush(); Console.Error.Flush();
            Exit(1);
        }
    }

    // A local process's state when it cannot take part ("stopped", "gone", ...), or null when it is running or sleeping.
    private static string? ProcessState(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..].FirstOrDefault();
            return state switch { 'T' or 't' => "stopped", 'Z' or 'X' => "gone (exited)", 'D' => "blocked in the kernel", _ => null };
        }
        catch (IOException) { return "gone"; }
        catch (UnauthorizedAccessException) { return null; }
    }

    // The address of a CPU tensor's first byte (its storage is native memory, which does not move).
    private static unsafe IntPtr Address(Tensor t) =>
        (IntPtr)System.Runtime.CompilerServices.Unsafe.AsPointer(ref MemoryMarshal.GetReference(t.bytes));

    [DllImport("libc", EntryPoint = "_exit")]
    private static extern void Exit(int code);
}
