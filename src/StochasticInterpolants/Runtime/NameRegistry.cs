using System.Collections.Concurrent;

namespace StochasticInterpolants.Runtime;

/// <summary>
/// A name -> builder table shared by the registries (interpolants, gamma schedules, networks, couplings, ODE solvers, SDE samplers): case-insensitive
/// names with aliases, thread-safe, listing its names in registration order. Registering a name replaces its builder and
/// takes the name over from an alias of the same spelling; an alias may not hide a registered name.
/// </summary>
internal sealed class NameRegistry<TBuilder>(string what) where TBuilder : class
{
    internal sealed record Entry(string Name, TBuilder Builder, long Order);

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, string> _aliases = new(StringComparer.OrdinalIgnoreCase);
    private readonly Lock _gate = new();
    private long _order;

    public IReadOnlyList<string> Names => _entries.Values.OrderBy(e => e.Order).Select(e => e.Name).ToList();

    public void Register(string name, TBuilder build, params string[] aliases)
    {
        ArgumentNullException.ThrowIfNull(build);
        var key = Key(name);
        var aliasKeys = (aliases ?? []).Select(Key).Where(a => !string.Equals(a, key, StringComparison.OrdinalIgnoreCase)).ToList();
        lock (_gate)
        {
            foreach (var a in aliasKeys)
                if (_entries.ContainsKey(a)) throw new ArgumentException($"'{a}' is already a registered {what}, so it cannot be an alias of '{key}'");
            var order = _entries.TryGetValue(key, out var old) ? old.Order : ++_order;
            _aliases.TryRemove(key, out _);
            _entries[key] = new Entry(key, build, order);
            foreach (var a in aliasKeys) _aliases[a] = key;
        }
    }

    /// <summary>The entry of <paramref name="name"/> or of the name it is an alias of; null when neither is registered.</summary>
    public Entry? Find(string? name)
    {
        var key = name?.Trim() ?? "";
        if (_entries.TryGetValue(key, out var e)) return e;
        return _aliases.TryGetValue(key, out var target) && _entries.TryGetValue(target, out e) ? e : null;
    }

    private string Key(string? name) =>
        string.IsNullOrWhiteSpace(name) ? throw new ArgumentException($"a {what} needs a non-empty name") : name.Trim();
}
