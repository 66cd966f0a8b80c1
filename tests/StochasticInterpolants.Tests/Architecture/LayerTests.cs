using System.Reflection.Emit;
using System.Reflection;

namespace StochasticInterpolants.Tests.Architecture;

/// <summary>
/// The layers of the architecture section of docs/guides/library.md, enforced: core maths (no I/O, no plotting) &lt;- file formats and
/// checkpoints &lt;- runs (train, sample, eval, report) &lt;- CLI, with figures in their own assembly so the core does not pull
/// ScottPlot or SkiaSharp. Dependencies are read from the compiled code — signatures, fields, locals and every type, field
/// and method token in the method bodies — so a fully qualified name cannot slip past a check of <c>using</c> lines.
/// </summary>
public class LayerTests
{
    private static readonly string[] Maths =
        ["Interpolants", "Data", "Couplings", "Models", "Fields", "Objectives", "Sampling", "Likelihood", "Diffusion", "Metrics", "Training", "Validation", "Runtime", "Distributed", "Manifolds", "Discrete"];

    private static Assembly Core => typeof(global::StochasticInterpolants.Interpolants.IInterpolant).Assembly;
    private static Assembly Figures => typeof(global::StochasticInterpolants.Visualization.DensityHeatmap).Assembly;
    private static Assembly RunsAssembly => typeof(global::StochasticInterpolants.Runs.TrainingRun).Assembly;

    [Fact]
    public void Assemblies_reference_only_the_layers_below_them()
    {
        string[] Names(Assembly a) => a.GetReferencedAssemblies().Select(r => r.Name!).ToArray();
        var core = Names(Core);
        foreach (var banned in new[] { "ScottPlot", "SkiaSharp", "StochasticInterpolants.Visualization", "StochasticInterpolants.Runs", "si", "System.CommandLine", "Spectre.Console", "TorchSharp.PyBridge", "MPI", "StochasticInterpolants.Mpi" })
            Assert.DoesNotContain(banned, core);
        // The MPI engine sits beside the runs, under the CLI: the library sees only IProcessGroup.
        var mpi = Names(typeof(global::StochasticInterpolants.Mpi.MpiProcessGroup).Assembly);
        Assert.Contains("MPI", mpi);
        foreach (var banned in new[] { "StochasticInterpolants.Runs", "StochasticInterpolants.Visualization", "si", "System.CommandLine", "Spectre.Console" }) Assert.DoesNotContain(banned, mpi);
        foreach (var banned in new[] { "MPI", "StochasticInterpolants.Mpi" }) Assert.DoesNotContain(banned, Names(RunsAssembly));
        Assert.DoesNotContain("StochasticInterpolants.Runs", Names(Figures));
        Assert.DoesNotContain("si", Names(Figures));
        foreach (var banned in new[] { "si", "System.CommandLine", "Spectre.Console" }) Assert.DoesNotContain(banned, Names(RunsAssembly));
    }

    [Fact]
    public void Core_maths_uses_no_file_formats_and_file_formats_no_checkpoints()
    {
        var graph = NamespaceGraph(Core);
        var violations = new List<string>();
        foreach (var (from, targets) in graph)
        {
            var layer = Layer(from);
            foreach (var to in targets)
                if (Layer(to) > layer) violations.Add($"{from} -> {to}");
        }
        Assert.True(violations.Count == 0, "upward dependencies: " + string.Join("; ", violations));
    }

    /// <summary>
    /// "No I/O below the line" (docs/guides/library.md, Architecture): the maths namespaces touch no file, stream, console, network or
    /// process type of the runtime. Read from the compiled code like the layer checks, so a fully qualified name or a
    /// helper's return type is caught too.
    /// </summary>
    [Fact]
    public void Core_maths_does_no_input_or_output()
    {
        static bool IsIo(Type t) => t.Namespace is { } ns
            && (ns == "System.IO" || ns.StartsWith("System.IO.", StringComparison.Ordinal) || ns == "System.Net" || ns.StartsWith("System.Net.", StringComparison.Ordinal)
                || t == typeof(Console) || t == typeof(System.Diagnostics.Process) || t == typeof(System.Diagnostics.ProcessStartInfo));
        var violations = new SortedSet<string>();
        foreach (var type in Core.GetTypes())
        {
            var ns = Outer(type).Namespace;
            if (ns is null || !ns.StartsWith("StochasticInterpolants.", StringComparison.Ordinal) || Layer(ns) != 0) continue;
            foreach (var used in ReferencedTypes(type))
                foreach (var t in Expand(used))
                    if (IsIo(t)) violations.Add($"{Outer(type).FullName} -> {t.FullName}");
        }
        Assert.True(violations.Count == 0, "I/O in the maths: " + string.Join("; ", violations));
    }

    [Fact]
    public void Namespaces_of_the_core_form_no_cycle()
    {
        var graph = NamespaceGraph(Core);
        var cycles = new List<string>();
        foreach (var start in graph.Keys)
        {
            // Depth-first search for a path back to start.
            var stack = new Stack<List<string>>();
            stack.Push([start]);
            var seen = new HashSet<string>();
            while (stack.Count > 0 && cycles.Count == 0)
            {
                var path = stack.Pop();
                foreach (var next in graph.GetValueOrDefault(path[^1], []))
                {
                    if (next == start) { cycles.Add(string.Join(" -> ", path.Append(start))); break; }
                    if (seen.Add(next)) stack.Push([.. path, next]);
                }
            }
        }
        Assert.True(cycles.Count == 0, "namespace cycles: " + string.Join("; ", cycles.Distinct()));
    }

    [Fact]
    public void Figures_draw_from_the_maths_and_files_only()
    {
        var graph = NamespaceGraph(Figures);
        var bad = graph.SelectMany(kv => kv.Value.Where(to => to.EndsWith(".Checkpoints") || to.EndsWith(".Runs")).Select(to => $"{kv.Key} -> {to}")).ToList();
        Assert.True(bad.Count == 0, string.Join("; ", bad));
    }

    // 0: maths, 1: file formats, 2: checkpoints (a file format that knows training state), 3: export (a trained network to
    // another runtime's format).
    private static int Layer(string ns)
    {
        var leaf = ns["StochasticInterpolants.".Length..].Split('.')[0];
        return leaf switch { "Files" => 1, "Checkpoints" => 2, "Export" => 3, _ when Maths.Contains(leaf) => 0, _ => throw new InvalidOperationException($"namespace {ns} has no layer: add it to the architecture") };
    }

    /// <summary>Namespace -> the other StochasticInterpolants namespaces its compiled code refers to.</summary>
    private static Dictionary<string, HashSet<string>> NamespaceGraph(Assembly assembly)
    {
        var graph = new Dictionary<string, HashSet<string>>();
        foreach (var type in assembly.GetTypes())
        {
            var from = Outer(type).Namespace;
            if (from is null || !from.StartsWith("StochasticInterpolants.", StringComparison.Ordinal)) continue;
            var targets = graph.TryGetValue(from, out var set) ? set : graph[from] = [];
            foreach (var used in ReferencedTypes(type))
                foreach (var t in Expand(used))
                    if (Outer(t).Namespace is { } ns && ns.StartsWith("StochasticInterpolants.", StringComparison.Ordinal) && ns != from) targets.Add(ns);
        }
        return graph;
    }

    private static Type Outer(Type t) { while (t.DeclaringType is not null) t = t.DeclaringType; return t; }

    private static IEnumerable<Type> Expand(Type t)
    {
        if (t.HasElementType) { foreach (var e in Expand(t.GetElementType()!)) yield return e; yield break; }
        if (t.IsGenericParameter) yield break;
        yield return t.IsGenericType ? t.GetGenericTypeDefinition() : t;
        if (t.IsGenericType) foreach (var a in t.GetGenericArguments()) foreach (var e in Expand(a)) yield return e;
    }

    private const BindingFlags All = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    private static IEnumerable<Type> ReferencedTypes(Type type)
    {
        if (type.BaseType is { } b) yield return b;
        foreach (var i in type.GetInterfaces()) yield return i;
        foreach (var f in type.GetFields(All)) yield return f.FieldType;
        foreach (var p in type.GetProperties(All)) yield return p.PropertyType;
        foreach (var m in type.GetMethods(All).Cast<MethodBase>().Concat(type.GetConstructors(All)))
        {
            if (m is MethodInfo mi) yield return mi.ReturnType;
            foreach (var p in m.GetParameters()) yield return p.ParameterType;
            MethodBody? body;
            try { body = m.GetMethodBody(); } catch (Exception) { body = null; }
            if (body is null) continue;
            foreach (var l in body.LocalVariables) yield return l.LocalType;
            foreach (var t in TokenTypes(m, body.GetILAsByteArray() ?? [])) yield return t;
        }
    }

    private static readonly Dictionary<short, OpCode> OpCodesByValue =
        typeof(OpCodes).GetFields(BindingFlags.Public | BindingFlags.Static).Select(f => (OpCode)f.GetValue(null)!).ToDictionary(o => o.Value);

    /// <summary>The types behind every type, field and method token of an IL body.</summary>
    private static IEnumerable<Type> TokenTypes(MethodBase method, byte[] il)
    {
        var module = method.Module;
        var typeArgs = method.DeclaringType is { IsGenericType: true } d ? d.GetGenericArguments() : null;
        var methodArgs = method.IsGenericMethod ? method.GetGenericArguments() : null;
        for (var i = 0; i < il.Length;)
        {
            short value = il[i++];
            if (value == 0xFE) value = unchecked((short)(0xFE00 | il[i++]));
            if (!OpCodesByValue.TryGetValue(value, out var op)) yield break; // unknown opcode: stop rather than misread
            var size = op.OperandType switch
            {
                OperandType.InlineNone => 0,
                OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
                OperandType.InlineVar => 2,
                OperandType.InlineI8 or OperandType.InlineR => 8,
                OperandType.InlineSwitch => 4 + 4 * BitConverter.ToInt32(il, i),
                _ => 4,
            };
            if (op.OperandType is OperandType.InlineType or OperandType.InlineField or OperandType.InlineMethod or OperandType.InlineTok)
            {
                var token = BitConverter.ToInt32(il, i);
                MemberInfo? member;
                try { member = module.ResolveMember(token, typeArgs, methodArgs); } catch (Exception) { member = null; }
                switch (member)
                {
                    case Type t: yield return t; break;
                    case FieldInfo f: yield return f.DeclaringType!; yield return f.FieldType; break;
                    case MethodBase mb:
                        if (mb.DeclaringType is { } dt) yield return dt;
                        if (mb is MethodInfo mi2) { yield return mi2.ReturnType; if (mi2.IsGenericMethod) foreach (var a in mi2.GetGenericArguments()) yield return a; }
                        break;
                }
            }
            i += size;
        }
    }
}
