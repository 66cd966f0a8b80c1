using StochasticInterpolants.Benchmarks;
using StochasticInterpolants.Files;
using FsCheck.Xunit;
using FsCheck;

namespace StochasticInterpolants.Tests.Fuzzing;

/// <summary>
/// Fuzzing of every reader of user files (CSV, safetensors, checkpoint manifest, training snapshot, config, .npy/.npz,
/// IDX, image folders): each input is parsed or refused with the reader's one-line error, never a crash. Long runs: <c>scripts/bench.sh --fuzz 200000</c>.
/// </summary>
public sealed class ReaderFuzzTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-fuzz-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void Mutated_files_are_parsed_or_refused_never_a_crash()
    {
        var report = ReaderFuzzer.Run(3000, seed: 20261128, _dir);
        Assert.Equal(3000, report.Total);
        foreach (var (reader, (tried, parsed, refused)) in report.Readers)
        {
            Assert.Equal(tried, parsed + refused);
            Assert.True(refused > 0, $"{reader}: no input was refused, so the mutations reach nothing");
        }
        // Some mutations leave a file readable (e.g. a changed number): the fuzzer exercises both outcomes.
        Assert.Contains(report.Readers.Values, r => r.Parsed > 0);
        Assert.True(report.SlowestInput < TimeSpan.FromSeconds(5), $"slowest input took {report.SlowestInput.TotalSeconds:F1} s");
    }

    [Property(MaxTest = 500)]
    public void Arbitrary_bytes_are_never_a_crash_for_the_weights_reader(byte[]? bytes)
    {
        var path = Path.Combine(_dir, $"{Guid.NewGuid():N}.safetensors");
        File.WriteAllBytes(path, bytes ?? []);
        try { foreach (var t in SafeTensors.Load(path).Values) t.Dispose(); }
        catch (CheckpointException e) { Assert.DoesNotContain('\n', e.Message); }
    }

    [Property(MaxTest = 500)]
    public void Arbitrary_headers_with_a_valid_digest_are_never_a_crash(int seed)
    {
        var path = Path.Combine(_dir, $"{Guid.NewGuid():N}.safetensors");
        File.WriteAllBytes(path, ReaderFuzzer.RandomHeaderFile(new Random(seed)));
        try { foreach (var t in SafeTensors.Load(path).Values) t.Dispose(); }
        catch (CheckpointException e) { Assert.DoesNotContain('\n', e.Message); }
    }
}
