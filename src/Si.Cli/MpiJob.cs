using System.Collections;
using StochasticInterpolants.Distributed;
using StochasticInterpolants.Mpi;

namespace StochasticInterpolants.Cli;

/// <summary>
/// <c>si</c> as one rank of an MPI job (<c>mpiexec -n N ./si train ...</c>, or <c>srun</c> under Slurm): the launcher is
/// recognised from its environment; without one (or with N = 1), <c>si</c> runs as a plain process and never loads MPI.
/// In a job, rank 0 alone prints output and progress; another rank's failure is printed with its rank, and a failure on any
/// rank ends the whole job (MPI_Abort), so no rank is left waiting for a peer that has gone.
/// </summary>
internal static class MpiJob
{
    /// <summary>How long a rank waits in one exchange for the others before it stops the job (the default of --mpi-timeout).</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(300);

    /// <summary>
    /// The number of processes an MPI launcher started, from its environment (PMI_SIZE, set by MPICH's mpiexec and by
    /// Slurm's PMI); null when no launcher started this process. Open MPI's launcher is refused: si runs on MPICH.
    /// </summary>
    public static int? LaunchedSize(IDictionary environment)
    {
        if (environment["PMI_SIZE"] is string size)
            return int.TryParse(size, out var n) && n >= 1 ? n : throw new MpiException($"the MPI launcher set PMI_SIZE to '{size}', not a process count");
        if (environment["OMPI_COMM_WORLD_SIZE"] is string)
            throw new MpiException("si was started by Open MPI's mpirun, but it runs on MPICH: launch it with MPICH's mpiexec (Debian package mpich) or srun --mpi=pmi2");
        return null;
    }

    /// <summary>Runs the command line as a plain process or as this process's rank of an MPI job; returns the exit code.</summary>
    public static int Run(string[] args)
    {
        int? size;
        try { size = LaunchedSize(Environment.GetEnvironmentVariables()); }
        catch (MpiException e) { return SiApp.Fail(Console.Error, e.Message, ExitCodes.Failed); }
        if (size is not > 1) return SiApp.Run(args, Console.Out, Console.Error);

        MpiProcessGroup group;
        try { group = MpiProcessGroup.Initialize(DefaultTimeout, m => Console.Error.WriteLine($"si: error: {m}")); }
        catch (MpiException e) { return SiApp.Fail(Console.Error, e.Message, ExitCodes.Failed); }
        // The launcher names a failed process by its pid; this line maps pids to ranks.
        if (group.Rank == 0)
            Console.Error.WriteLine($"si: MPI job of {group.Size} processes: {string.Join(", ", group.Processes.Select(p => $"rank {p.Rank} = pid {p.ProcessId} on {p.Host}"))}");
        var errors = new StringWriter();
        int code;
        try { code = SiApp.Run(args, group.Rank == 0 ? Console.Out : TextWriter.Null, group.Rank == 0 ? Console.Error : errors, group); }
        catch (Exception e)
        {
            // SiApp.Run reports every failure of a command itself; this is a failure outside any command: keep its trace, end the job.
            Console.Error.WriteLine($"si: rank {group.Rank}: {e}");
            group.Abort(ExitCodes.Failed);
            return ExitCodes.Failed;
        }
        // A finished command, and Ctrl+C, which every rank agreed on at the same step (si train): every rank leaves MPI cleanly,
        // as in a finished run. (MPICH's mpiexec still reports 0 for about one Ctrl+C in eight although both ranks exit 130:
        // measured with each rank printing its code; the launcher's race, not ours.)
        if (code is ExitCodes.Ok or ExitCodes.Cancelled) { group.Dispose(); return code; }
        if (group.Rank != 0 && code != ExitCodes.Usage)
        {
            // When rank 0 failed too (the same data, the same divergence), its abort ends this process within this pause and
            // the failure is reported once; a failure of this rank alone is reported after it.
            Thread.Sleep(1500);
            foreach (var line in errors.ToString().Split('\n').Where(l => l.StartsWith("si: error: ", StringComparison.Ordinal)))
                Console.Error.WriteLine($"si: rank {group.Rank}: error: {line["si: error: ".Length..].TrimEnd()}");
        }
        if (code == ExitCodes.Failed)
        {
            // The abort tears the job down at once; the launcher forwards a rank's error line through its proxy, and a line
            // still in transit was lost about one time in four (rank 0 refusing an existing --out). A moment first.
            if (group.Rank == 0) Thread.Sleep(300);
            group.Abort(code);
        }
        return code; // a usage error (the same on every rank): exit; the launcher ends the job
    }
}
