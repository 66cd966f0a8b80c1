using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using System.Text.Json;
using System.Text;
using static TorchSharp.torch;

namespace StochasticInterpolants.Files;

/// <summary>Raised when a checkpoint or weight file is missing, truncated, corrupt or does not fit the model.</summary>
public sealed class CheckpointException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Reads and writes float32 tensors in the safetensors format (8-byte little-endian header length, a JSON header
/// of name -> {dtype, shape, data_offsets}, then the raw little-endian bytes), which PyTorch users can open with
/// <c>safetensors.torch.load_file</c>. A SHA-256 of the data block is stored in the header's <c>__metadata__</c>
/// so a truncated or altered file is rejected on load instead of producing a silently wrong model.
/// </summary>
public static class SafeTensors
{
    private const string DigestKey = "si.sha256";

    /// <summary>Writes <paramref name="tensors"/> (any device; float32) atomically to <paramref name="path"/>.</summary>
    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        using var scope = NewDisposeScope(); // the detached CPU copies made below
        var header = new JsonObject();
        using var data = new MemoryStream();
        foreach (var (name, tensorValue) in tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            var cpu = tensorValue.detach().to(float32).cpu().contiguous();
            var values = cpu.data<float>().ToArray();
            var bytes = new byte[values.Length * 4];
            for (var i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), values[i]);
            var begin = data.Position;
            data.Write(bytes);
            header[name] = new JsonObject
            {
                ["dtype"] = "F32",
                ["shape"] = new JsonArray(cpu.shape.Select(s => (JsonNode)JsonValue.Create(s)!).ToArray()),
                ["data_offsets"] = new JsonArray(JsonValue.Create(begin), JsonValue.Create(data.Position)),
            };
        }
        var meta = new JsonObject();
        if (metadata is not null) foreach (var (k, v) in metadata) meta[k] = v;
        meta[DigestKey] = Convert.ToHexString(SHA256.HashData(data.GetBuffer().AsSpan(0, (int)data.Length))).ToLowerInvariant();
        header["__metadata__"] = meta;
        var headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
        var pad = (8 - headerBytes.Length % 8) % 8; // the format allows trailing spaces; aligned data is friendlier to mmap readers
        var headerPadded = new byte[headerBytes.Length + pad];
        headerBytes.CopyTo(headerPadded, 0);
        for (var i = headerBytes.Length; i < headerPadded.Length; i++) headerPadded[i] = (byte)' ';
        AtomicFile.Write(path, stream =>
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)headerPadded.Length);
            stream.Write(len);
            stream.Write(headerPadded);
            data.Position = 0;
            data.CopyTo(stream);
        });
    }

    private static long[] Longs(JsonNode? node, string path, string tensorName, string field)
    {
        if (node is not JsonArray array || array.Count > 64) throw new CheckpointException($"weights '{path}': tensor '{tensorName}': '{field}' is not a short array of integers");
        return array.Select(v => v is JsonValue value && value.GetValueKind() == JsonValueKind.Number && value.TryGetValue<long>(out var l) ? l
            : throw new CheckpointException($"weights '{path}': tensor '{tensorName}': '{field}' holds a value that is not an integer")).ToArray();
    }

    /// <summary>Loads every tensor of a file written by <see cref="Save"/> (or any F32 safetensors file) as CPU tensors.</summary>
    public static Dictionary<string, Tensor> Load(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new CheckpointException($"cannot read weights '{path}': {e.Message.Split('\n')[0].TrimEnd()}", e); }
        if (bytes.Length < 8) throw new CheckpointException($"weights '{path}' are truncated ({bytes.Length} bytes)");
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (headerLength > (ulong)(bytes.Length - 8)) throw new CheckpointException($"weights '{path}' are truncated or not a safetensors file (header length {headerLength})");
        JsonObject header;
        try { header = JsonNode.Parse(Encoding.UTF8.GetString(bytes, 8, (int)headerLength))!.AsObject(); }
        catch (Exception e) when (e is JsonException or InvalidOperationException or NullReferenceException) { throw new CheckpointException($"weights '{path}' have a corrupt header: {e.Message.Split('\n')[0]}", e); }
        var dataStart = 8 + (int)headerLength;
        var dataBlock = bytes.AsSpan(dataStart);
        var result = new Dictionary<string, Tensor>();
        try
        {
            var digestNode = header["__metadata__"]?[DigestKey];
            if (digestNode is not null)
            {
                if (digestNode.GetValueKind() != JsonValueKind.String) throw new CheckpointException($"weights '{path}' have a corrupt header: the checksum is not a string");
                if (!string.Equals(digestNode.GetValue<string>(), Convert.ToHexString(SHA256.HashData(dataBlock)), StringComparison.OrdinalIgnoreCase))
                    throw new CheckpointException($"weights '{path}' are corrupt: checksum mismatch");
            }
            foreach (var (name, node) in header)
            {
                if (name == "__metadata__") continue;
                if (node is not JsonObject entry) throw new CheckpointException($"weights '{path}': entry '{name}' is not an object");
                if (entry["dtype"] is not JsonValue dtype || dtype.GetValueKind() != JsonValueKind.String || dtype.GetValue<string>() != "F32")
                    throw new CheckpointException($"weights '{path}': tensor '{name}' is not F32");
                var shape = Longs(entry["shape"], path, name, "shape");
                var offsets = Longs(entry["data_offsets"], path, name, "data_offsets");
                if (shape.Any(s => s < 0)) throw new CheckpointException($"weights '{path}': tensor '{name}' has a negative dimension");
                long count = 1;
                foreach (var dim in shape)
                {
                    count = dim == 0 ? 0 : count > dataBlock.Length / 4 / dim ? long.MaxValue : count * dim;
                    if (count == long.MaxValue) break;
                }
                if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0] || offsets[1] > dataBlock.Length || count > dataBlock.Length / 4
                    || offsets[1] - offsets[0] != 4 * count)
                    throw new CheckpointException($"weights '{path}': tensor '{name}' has inconsistent offsets");
                var values = new float[count];
                var src = dataBlock.Slice((int)offsets[0], (int)(4 * count));
                for (var i = 0; i < count; i++) values[i] = BinaryPrimitives.ReadSingleLittleEndian(src.Slice(4 * i));
                result[name] = tensor(values, shape);
            }
        }
        catch (Exception e)
        {
            foreach (var t in result.Values) t.Dispose();
            if (e is CheckpointException) throw;
            if (e is InvalidOperationException or FormatException or OverflowException or JsonException or ArgumentException)
                throw new CheckpointException($"weights '{path}' have a corrupt header: {e.Message.Split('\n')[0]}", e);
            throw;
        }
        return result;
    }
}

