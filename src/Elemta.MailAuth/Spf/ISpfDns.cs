using System.Net;

namespace Elemta.MailAuth.Spf;

/// <summary>
/// The DNS lookups SPF evaluation needs (RFC 7208 §4.4, §5). Implementations follow CNAMEs as a resolver does and
/// report every answer as records, void, or a temporary error; they never throw for a DNS outcome.
/// </summary>
public interface ISpfDns
{
    /// <summary>TXT records of <paramref name="name"/>, each with its character-strings concatenated without separator (RFC 7208 §3.3).</summary>
    Task<SpfDnsAnswer<string>> TxtAsync(string name, CancellationToken cancellationToken);

    /// <summary>A records (IPv4 addresses) of <paramref name="name"/>.</summary>
    Task<SpfDnsAnswer<IPAddress>> AAsync(string name, CancellationToken cancellationToken);

    /// <summary>AAAA records (IPv6 addresses) of <paramref name="name"/>.</summary>
    Task<SpfDnsAnswer<IPAddress>> AaaaAsync(string name, CancellationToken cancellationToken);

    /// <summary>The exchange names of <paramref name="name"/>'s MX records (preference does not matter to SPF, RFC 7208 §5.4).</summary>
    Task<SpfDnsAnswer<string>> MxAsync(string name, CancellationToken cancellationToken);

    /// <summary>The names of the PTR records of <paramref name="address"/>'s reverse name (in-addr.arpa or ip6.arpa).</summary>
    Task<SpfDnsAnswer<string>> PtrAsync(IPAddress address, CancellationToken cancellationToken);
}

/// <summary>How a DNS query ended.</summary>
public enum SpfDnsStatus
{
    /// <summary>NOERROR with at least one record of the asked type.</summary>
    Records,

    /// <summary>NXDOMAIN, or NOERROR without a record of the asked type: a "void lookup" (RFC 7208 §4.6.4).</summary>
    Void,

    /// <summary>A timeout, SERVFAIL or another error that may go away: temperror where RFC 7208 says so (§5 ¶8).</summary>
    TemporaryError,
}

/// <summary>One DNS answer for SPF.</summary>
/// <typeparam name="T">The record data.</typeparam>
/// <param name="Status">How the query ended.</param>
/// <param name="Records">The records; empty unless <see cref="SpfDnsStatus.Records"/>.</param>
/// <param name="Error">For a temporary error: what happened.</param>
public readonly record struct SpfDnsAnswer<T>(SpfDnsStatus Status, IReadOnlyList<T> Records, string? Error = null);

/// <summary>Builds <see cref="SpfDnsAnswer{T}"/> values.</summary>
public static class SpfDnsAnswer
{
    /// <summary>An answer with records; no records at all is a void answer.</summary>
    /// <typeparam name="T">The record data.</typeparam>
    /// <param name="records">The records.</param>
    public static SpfDnsAnswer<T> Found<T>(IReadOnlyList<T> records)
    {
        ArgumentNullException.ThrowIfNull(records);
        return records.Count == 0 ? Void<T>() : new SpfDnsAnswer<T>(SpfDnsStatus.Records, records);
    }

    /// <summary>NXDOMAIN or no data.</summary>
    /// <typeparam name="T">The record data.</typeparam>
    public static SpfDnsAnswer<T> Void<T>() => new(SpfDnsStatus.Void, []);

    /// <summary>A temporary error.</summary>
    /// <typeparam name="T">The record data.</typeparam>
    /// <param name="error">What happened.</param>
    public static SpfDnsAnswer<T> Temporary<T>(string error) => new(SpfDnsStatus.TemporaryError, [], error);
}
