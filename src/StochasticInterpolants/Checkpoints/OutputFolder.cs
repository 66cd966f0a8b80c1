namespace StochasticInterpolants.Checkpoints;

/// <summary>Raised when an output would replace something already written and overwriting was not asked for.</summary>
public sealed class OutputExistsException(string message) : IOException(message);

/// <summary>
/// Checks made before any work starts on where results will go, so a run never fails at the end for want of a
/// writable folder and never silently replaces an earlier result.
/// </summary>
public static class OutputFolder
{
    /// <summary>True when <paramref name="folder"/> holds (part of) a training run: a checkpoint, a snapshot or a loss log.</summary>
    public static bool HoldsTrainingRun(string folder) =>
        Directory.Exists(folder) && (File.Exists(Path.Combine(folder, Checkpoint.ManifestFileName)) || TrainingStateFolder.Exists(folder)
            || File.Exists(Path.Combine(folder, "loss.csv")) || File.Exists(Path.Combine(folder, "loss.csv.partial")));

    /// <summary>Name of the lock file a training process holds in its output folder.</summary>
    public const string LockFileName = ".si-train.lock";

    /// <summary>
    /// Takes the training lock of <paramref name="folder"/> (created if missing) for as long as the returned handle lives,
    /// so two processes never train, resume or overwrite into one folder at once. The lock is an exclusive open of
    /// <see cref="LockFileName"/>, which the operating system releases even when the process is killed.
    /// </summary>
    public static IDisposable LockForTraining(string folder)
    {
        EnsureWritable(folder);
        var path = Path.Combine(folder, LockFileName);
        try
        {
            return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
        }
        catch (IOException e)
        {
            throw new IOException($"'{folder}' is in use by another training process (it holds {LockFileName}); wait for it or stop it first", e);
        }
    }

    /// <summary>
    /// Checks, without changing anything in it, that a new training run may write into <paramref name="folder"/>: it can be
    /// created and written, no other process trains in it, and it holds no run unless <paramref name="overwrite"/>.
    /// Callers use it to fail before any work starts; <see cref="PrepareForRun"/> then acts under the lock.
    /// </summary>
    public static void CheckForRun(string folder, bool overwrite)
    {
        using (LockForTraining(folder)) RefuseExistingRun(folder, overwrite);
    }

    /// <summary>
    /// Makes <paramref name="folder"/>, whose training lock the caller holds, ready for a new run: refuses one that holds a
    /// run unless <paramref name="overwrite"/>, and then removes the old manifest and snapshot, so the folder never looks
    /// like a finished run while the new one trains.
    /// </summary>
    public static void PrepareForRun(string folder, bool overwrite)
    {
        RefuseExistingRun(folder, overwrite);
        if (!HoldsTrainingRun(folder)) return;
        TrainingStateFolder.Delete(folder);
        File.Delete(Path.Combine(folder, Checkpoint.ManifestFileName));
    }

    private static void RefuseExistingRun(string folder, bool overwrite)
    {
        if (overwrite || !HoldsTrainingRun(folder)) return;
        throw new OutputExistsException(TrainingStateFolder.Exists(folder)
            ? $"output folder '{folder}' holds an interrupted training run (continue it with 'si train --resume {folder}', or use --force to replace it)"
            : $"output folder '{folder}' already holds a training run (use --force to replace it)");
    }

    /// <summary>Creates <paramref name="folder"/> if needed and proves it writable with a probe file.</summary>
    public static void EnsureWritable(string folder)
    {
        if (File.Exists(folder)) throw new IOException($"output folder '{folder}' is a file");
        try
        {
            Directory.CreateDirectory(folder);
            var probe = Path.Combine(folder, $".si-write-test.{Environment.ProcessId}");
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"cannot write to output folder '{folder}': {e.Message.Split('\n')[0].TrimEnd()}", e);
        }
    }

    /// <summary>
    /// Checks that the file <paramref name="path"/> (given by <paramref name="option"/>) may be written: not a folder, not
    /// existing unless <paramref name="overwrite"/>, in a folder that exists or can be created and written.
    /// </summary>
    public static void CheckFile(string path, bool overwrite, string option)
    {
        if (Directory.Exists(path)) throw new IOException($"{option} '{path}' is a folder, not a file");
        if (File.Exists(path) && !overwrite) throw new OutputExistsException($"{option} '{path}' already exists (use --force to overwrite it)");
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) EnsureWritable(dir);
    }
}
