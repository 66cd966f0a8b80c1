using System.Globalization;

/// <summary>This process's resident memory, read from /proc/self/status, in MiB.</summary>
internal static class ProcessMemory
{
    /// <summary>Resident set size now (VmRSS).</summary>
    public static double RssMiB() => Status("VmRSS:");

    /// <summary>Peak resident set size since start or the last <see cref="ResetPeak"/> (VmHWM).</summary>
    public static double PeakMiB() => Status("VmHWM:");

    /// <summary>Writing 5 to clear_refs resets the peak-RSS counter (VmHWM), so each phase reports its own peak.</summary>
    public static void ResetPeak()
    {
        try { File.WriteAllText("/proc/self/clear_refs", "5"); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    private static double Status(string key)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(key, StringComparison.Ordinal))
                return double.Parse(line[key.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) / 1024.0;
        return double.NaN;
    }
}
