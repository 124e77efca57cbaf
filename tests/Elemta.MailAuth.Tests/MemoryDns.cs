using System.Net;
using Elemta.MailAuth.Spf;

namespace Elemta.MailAuth.Tests;

/// <summary>A small in-memory <see cref="ISpfDns"/> that records every question, for tests of what the evaluator asks.</summary>
internal sealed class MemoryDns : ISpfDns
{
    private readonly Dictionary<(string Name, string Type), List<object>> _records = [];
    private readonly HashSet<string> _failing = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Questions in order, as "TYPE name".</summary>
    public List<string> Questions { get; } = [];

    public MemoryDns Add(string name, string type, object value)
    {
        var key = (name.ToLowerInvariant(), type);
        if (!_records.TryGetValue(key, out var list))
        {
            _records[key] = list = [];
        }

        list.Add(value);
        return this;
    }

    public MemoryDns Txt(string name, string text) => Add(name, "TXT", text);

    public MemoryDns A(string name, string address) => Add(name, IPAddress.Parse(address).AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? "A" : "AAAA", IPAddress.Parse(address));

    /// <summary>Every query for <paramref name="name"/> is a temporary error.</summary>
    public MemoryDns Fail(string name)
    {
        _failing.Add(name);
        return this;
    }

    public Task<SpfDnsAnswer<string>> TxtAsync(string name, CancellationToken cancellationToken) => Task.FromResult(Get<string>(name, "TXT"));

    public Task<SpfDnsAnswer<IPAddress>> AAsync(string name, CancellationToken cancellationToken) => Task.FromResult(Get<IPAddress>(name, "A"));

    public Task<SpfDnsAnswer<IPAddress>> AaaaAsync(string name, CancellationToken cancellationToken) => Task.FromResult(Get<IPAddress>(name, "AAAA"));

    public Task<SpfDnsAnswer<string>> MxAsync(string name, CancellationToken cancellationToken) => Task.FromResult(Get<string>(name, "MX"));

    public Task<SpfDnsAnswer<string>> PtrAsync(IPAddress address, CancellationToken cancellationToken) =>
        Task.FromResult(Get<string>(SpfEvaluator.ReverseName(address), "PTR"));

    private SpfDnsAnswer<T> Get<T>(string name, string type)
    {
        Questions.Add($"{type} {name}");
        if (_failing.Contains(name))
        {
            return SpfDnsAnswer.Temporary<T>("simulated SERVFAIL");
        }

        return _records.TryGetValue((name.ToLowerInvariant(), type), out var list)
            ? SpfDnsAnswer.Found<T>(list.Cast<T>().ToList())
            : SpfDnsAnswer.Void<T>();
    }
}
