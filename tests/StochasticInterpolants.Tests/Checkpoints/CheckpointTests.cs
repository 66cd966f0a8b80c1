using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Files;
using StochasticInterpolants.Interpolants;
using StochasticInterpolants.Models;
using StochasticInterpolants.Training;
using static TorchSharp.torch;

namespace StochasticInterpolants.Tests.Checkpoints;

public sealed class CheckpointTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("si-ckpt-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private static CheckpointManifest Manifest(MlpNetwork net, bool ema) => new(
        CheckpointManifest.CurrentFormat, new InterpolantSpec("linear", "sqrt", 0.5),
        [new NetworkEntry(FieldKind.Velocity, net.Spec, Checkpoint.WeightsFileName(FieldKind.Velocity), ema ? Checkpoint.EmaWeightsFileName(FieldKind.Velocity) : null)],
        "gaussian", "checkerboard", 2, 1e-3, false, new TrainingOptions(), 10, 1.5, DateTime.UtcNow);

    private string SaveOne(out MlpNetwork net, out Dictionary<string, Tensor> emaWeights)
    {
        net = new MlpNetwork(new MlpConfig(2, Width: 16, Depth: 2), seed: 4);
        using var other = new MlpNetwork(new MlpConfig(2, Width: 16, Depth: 2), seed: 5);
        emaWeights = other.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter.detach().clone());
        var folder = Path.Combine(_dir, "run");
        Checkpoint.Save(folder, Manifest(net, true), [(net, emaWeights)]);
        return folder;
    }

    [Fact]
    public void Round_trip_rebuilds_the_network_with_ema_or_raw_weights()
    {
        var folder = SaveOne(out var net, out var ema);
        using (net)
        {
            using var x = randn(7, 2);
            using var t = rand(7);
            using var raw = Checkpoint.Load(folder, preferEma: false);
            using (var a = net.forward(x, t)) using (var b = raw.Networks[0].Network.forward(x, t, null)) Assert.True(a.allclose(b, 0, 0));
            using var averaged = Checkpoint.Load(folder);
            Assert.True(averaged.UsesEmaWeights);
            using var emaNet = new MlpNetwork(new MlpConfig(2, Width: 16, Depth: 2), seed: 5);
            using (var a = emaNet.forward(x, t)) using (var b = averaged.Networks[0].Network.forward(x, t, null)) Assert.True(a.allclose(b, 0, 0));
            Assert.Equal("linear", averaged.Interpolant.Name);
            Assert.Equal(0.5, averaged.Manifest.Interpolant.GammaScale);
            Assert.Equal(FieldKind.Velocity, Assert.Single(averaged.Manifest.Networks).Represents);
        }
        foreach (var w in ema.Values) w.Dispose();
        Assert.Empty(Directory.GetFiles(folder, "*.tmp"));
    }

    [Fact]
    public void Corrupt_truncated_or_missing_files_are_rejected_with_a_clear_message()
    {
        var folder = SaveOne(out var net, out var ema);
        net.Dispose(); foreach (var w in ema.Values) w.Dispose();
        var weights = Path.Combine(folder, Checkpoint.EmaWeightsFileName(FieldKind.Velocity));
        var bytes = File.ReadAllBytes(weights);
        bytes[^5] ^= 0x40;
        File.WriteAllBytes(weights, bytes);
        Assert.Contains("checksum mismatch", Assert.Throws<CheckpointException>(() => Checkpoint.Load(folder)).Message);
        File.WriteAllBytes(weights, bytes[..20]);
        Assert.Contains("truncated", Assert.Throws<CheckpointException>(() => Checkpoint.Load(folder)).Message);
        File.Delete(weights);
        Assert.Contains("lacks its weights file", Assert.Throws<CheckpointException>(() => Checkpoint.Load(folder)).Message);
        var manifest = Path.Combine(folder, Checkpoint.ManifestFileName);
        File.WriteAllText(manifest, "{ \"format\": ");
        Assert.Contains("is corrupt", Assert.Throws<CheckpointException>(() => Checkpoint.Load(folder)).Message);
        File.WriteAllText(manifest, "{ \"format\": \"si-checkpoint/99\", \"interpolant\": {\"family\":\"linear\"}, \"networks\": [{\"represents\": \"velocity\", \"model\": {\"type\":\"mlp\"}, \"weightsFile\": \"w\"}] }");
        Assert.Contains("si-checkpoint/99", Assert.Throws<CheckpointException>(() => Checkpoint.Load(folder)).Message);
        Assert.Contains("does not exist", Assert.Throws<CheckpointException>(() => Checkpoint.Load(Path.Combine(_dir, "nope"))).Message);
        Assert.Contains("holds no checkpoint.json", Assert.Throws<CheckpointException>(() => Checkpoint.Load(_dir)).Message);
    }

    [Fact]
    public void Weights_of_another_architecture_do_not_load()
    {
        using var small = new MlpNetwork(new MlpConfig(2, Width: 8, Depth: 2), seed: 0);
        var path = Path.Combine(_dir, "w.safetensors");
        SafeTensors.Save(path, small.named_parameters().Select(p => new KeyValuePair<string, Tensor>(p.name, p.parameter)));
        using var big = new MlpNetwork(new MlpConfig(2, Width: 16, Depth: 2), seed: 0);
        var loaded = SafeTensors.Load(path);
        var e = Assert.Throws<CheckpointException>(() => Checkpoint.LoadInto(big, loaded, path));
        Assert.Contains("do not fit the model", e.Message);
        foreach (var w in loaded.Values) w.Dispose();
    }

    [Fact]
    public void Safetensors_header_is_standard_json_with_f32_entries()
    {
        using var x = arange(6, dtype: float32).reshape(2, 3);
        var path = Path.Combine(_dir, "x.safetensors");
        SafeTensors.Save(path, [new("x", x)]);
        var bytes = File.ReadAllBytes(path);
        var n = (int)BitConverter.ToUInt64(bytes, 0);
        var header = System.Text.Encoding.UTF8.GetString(bytes, 8, n);
        Assert.Contains("\"x\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}", header);
        Assert.Equal(8 + n + 24, bytes.Length);
        var back = SafeTensors.Load(path);
        Assert.True(back["x"].allclose(x, 0, 0));
        back["x"].Dispose();
    }
}
