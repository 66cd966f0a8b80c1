using System.Text;

namespace StochasticInterpolants.Files;

/// <summary>
/// Builds an ONNX model (opset <see cref="Opset"/>, IR version <see cref="IrVersion"/>) and writes it in the protobuf wire
/// format of onnx.proto, field by field: the few messages a feed-forward graph needs (ModelProto, GraphProto, NodeProto,
/// AttributeProto, TensorProto, ValueInfoProto, StringStringEntryProto). A writer of our own rather than Google.Protobuf
/// with generated code: it needs no code generator in the build, and what it writes is small enough to read here.
/// Repeated scalars are written unpacked (the proto2 default of onnx.proto; readers accept both forms).
/// </summary>
public sealed class OnnxGraph
{
    /// <summary>The operator set every node is taken from (the default domain): run by ONNX Runtime 1.32 and onnxruntime-web 1.30.</summary>
    public const long Opset = 17;
    /// <summary>The IR version written (8: the IR of opset 17).</summary>
    public const long IrVersion = 8;

    /// <summary>ONNX tensor element types used here.</summary>
    public enum ElementType
    {
        /// <summary>float32.</summary>
        Float = 1,
        /// <summary>int64.</summary>
        Int64 = 7,
    }

    private readonly List<byte[]> _nodes = [], _initializers = [], _inputs = [], _outputs = [];
    private readonly List<(string Key, string Value)> _metadata = [];
    private int _counter;

    /// <summary>A fresh name for an intermediate value, unique in this graph.</summary>
    public string Fresh(string stem) => $"{stem}_{_counter++}";

    /// <summary>Declares a graph input: <paramref name="shape"/> holds a dimension's size, or null for a named dynamic size ("N").</summary>
    public void Input(string name, ElementType type, params long?[] shape) => _inputs.Add(ValueInfo(name, type, shape));

    /// <summary>Declares a graph output.</summary>
    public void Output(string name, ElementType type, params long?[] shape) => _outputs.Add(ValueInfo(name, type, shape));

    /// <summary>A float32 constant tensor (an initializer) of <paramref name="dims"/>; returns its name.</summary>
    public string Constant(string name, float[] values, params long[] dims)
    {
        if (values.Length != dims.Aggregate(1L, (a, b) => a * b)) throw new ArgumentException($"constant '{name}': {values.Length} values for dims [{string.Join(",", dims)}]");
        var raw = new byte[values.Length * 4];
        Buffer.BlockCopy(values, 0, raw, 0, raw.Length);
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("ONNX raw data is little-endian");
        _initializers.Add(Tensor(name, ElementType.Float, dims, raw));
        return name;
    }

    /// <summary>An int64 constant tensor; returns its name.</summary>
    public string Constant(string name, long[] values, params long[] dims)
    {
        var raw = new byte[values.Length * 8];
        Buffer.BlockCopy(values, 0, raw, 0, raw.Length);
        _initializers.Add(Tensor(name, ElementType.Int64, dims, raw));
        return name;
    }

    /// <summary>Adds a node of <paramref name="op"/> from <paramref name="inputs"/> to one fresh output; returns the output's name.</summary>
    public string Node(string op, string[] inputs, params (string Name, object Value)[] attributes)
    {
        var output = Fresh(op.ToLowerInvariant());
        Node(op, inputs, [output], attributes);
        return output;
    }

    /// <summary>Adds a node with named outputs.</summary>
    public void Node(string op, string[] inputs, string[] outputs, params (string Name, object Value)[] attributes)
    {
        var w = new ProtoWriter();
        foreach (var i in inputs) w.String(1, i);
        foreach (var o in outputs) w.String(2, o);
        w.String(3, Fresh("node_" + op));
        w.String(4, op);
        foreach (var (name, value) in attributes) w.Message(5, Attribute(name, value));
        _nodes.Add(w.ToArray());
    }

    /// <summary>Adds a metadata entry (ModelProto.metadata_props).</summary>
    public void Metadata(string key, string value) => _metadata.Add((key, value));

    /// <summary>The serialised ModelProto.</summary>
    public byte[] ToBytes(string graphName, string producerVersion)
    {
        var graph = new ProtoWriter();
        foreach (var n in _nodes) graph.Message(1, n);
        graph.String(2, graphName);
        foreach (var t in _initializers) graph.Message(5, t);
        foreach (var i in _inputs) graph.Message(11, i);
        foreach (var o in _outputs) graph.Message(12, o);
        var model = new ProtoWriter();
        model.Varint(1, IrVersion);
        model.String(2, "StochasticInterpolants");
        model.String(3, producerVersion);
        model.Message(7, graph.ToArray());
        var opset = new ProtoWriter();
        opset.String(1, "");
        opset.Varint(2, Opset);
        model.Message(8, opset.ToArray());
        foreach (var (key, value) in _metadata)
        {
            var entry = new ProtoWriter();
            entry.String(1, key);
            entry.String(2, value);
            model.Message(14, entry.ToArray());
        }
        return model.ToArray();
    }

    private static byte[] Tensor(string name, ElementType type, long[] dims, byte[] raw)
    {
        var w = new ProtoWriter();
        foreach (var d in dims) w.Varint(1, d);
        w.Varint(2, (long)type);
        w.String(8, name);
        w.Bytes(9, raw);
        return w.ToArray();
    }

    private static byte[] ValueInfo(string name, ElementType type, long?[] shape)
    {
        var dims = new ProtoWriter();
        foreach (var d in shape)
        {
            var dim = new ProtoWriter();
            if (d is { } size) dim.Varint(1, size); else dim.String(2, "N");
            dims.Message(1, dim.ToArray());
        }
        var tensor = new ProtoWriter();
        tensor.Varint(1, (long)type);
        tensor.Message(2, dims.ToArray());
        var typeProto = new ProtoWriter();
        typeProto.Message(1, tensor.ToArray());
        var w = new ProtoWriter();
        w.String(1, name);
        w.Message(2, typeProto.ToArray());
        return w.ToArray();
    }

    // AttributeProto: float (type 1), int (2), ints (7).
    private static byte[] Attribute(string name, object value)
    {
        var w = new ProtoWriter();
        w.String(1, name);
        switch (value)
        {
            case float f: w.Fixed32(2, BitConverter.SingleToInt32Bits(f)); w.Varint(20, 1); break;
            case double d: w.Fixed32(2, BitConverter.SingleToInt32Bits((float)d)); w.Varint(20, 1); break;
            case int i: w.Varint(3, i); w.Varint(20, 2); break;
            case long l: w.Varint(3, l); w.Varint(20, 2); break;
            case long[] ls: foreach (var l in ls) w.Varint(8, l); w.Varint(20, 7); break;
            default: throw new ArgumentException($"attribute '{name}': unsupported type {value.GetType().Name}");
        }
        return w.ToArray();
    }

    /// <summary>The protobuf wire format: varints (wire type 0), fixed32 (5) and length-delimited fields (2).</summary>
    private sealed class ProtoWriter
    {
        private readonly MemoryStream _stream = new();

        public void Varint(int field, long value) { Key(field, 0); Raw((ulong)value); }
        public void Fixed32(int field, int value) { Key(field, 5); Span<byte> b = stackalloc byte[4]; BitConverter.TryWriteBytes(b, value); _stream.Write(b); }
        public void Bytes(int field, byte[] value) { Key(field, 2); Raw((ulong)value.Length); _stream.Write(value); }
        public void String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));
        public void Message(int field, byte[] message) => Bytes(field, message);
        public byte[] ToArray() => _stream.ToArray();

        private void Key(int field, int wireType) => Raw((ulong)((field << 3) | wireType));

        private void Raw(ulong value)
        {
            while (value >= 0x80) { _stream.WriteByte((byte)(value | 0x80)); value >>= 7; }
            _stream.WriteByte((byte)value);
        }
    }
}
