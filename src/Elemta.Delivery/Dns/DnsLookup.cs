using System.Diagnostics.Metrics;
using DnsClient;
using Microsoft.Extensions.Options;

namespace Elemta.Delivery.Dns;

/// <summary>
/// Every DNS query of outbound delivery (MX, A/AAAA, MTA-STS TXT) goes through here: the configured name servers,
/// behind one bounded <see cref="DnsCache"/> shared by all lookups.
/// </summary>
public sealed class DnsLookup : IDisposable
{
    private readonly ILookupClient _client;

    /// <summary>Creates the lookup from <c>Elemta:Dns</c>.</summary>
    /// <param name="options">Name servers, timeouts and cache settings.</param>
    /// <param name="timeProvider">The clock of cache TTLs; null is the system clock.</param>
    /// <param name="meterFactory">Creates the cache's meter (<see cref="DnsCache.MeterName"/>); null: a meter of its own.</param>
    public DnsLookup(IOptions<DnsOptions> options, TimeProvider? timeProvider = null, IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var dns = options.Value;
        _client = MxResolver.CreateLookupClient(dns);
        if (dns.UseCache)
        {
            Cache = new DnsCache(dns.CacheMaxEntries, dns.CacheMaxTtl, dns.CacheMaxNegativeTtl, timeProvider ?? TimeProvider.System, meterFactory);
        }
    }

    /// <summary>The cache; null when <see cref="DnsOptions.UseCache"/> is off.</summary>
    public DnsCache? Cache { get; }

    /// <summary>
    /// Answers (<paramref name="name"/>, <paramref name="type"/>) from the cache or the name servers. DNS errors are
    /// answers (see <see cref="IDnsQueryResponse.HasError"/>); only a transport failure throws
    /// <see cref="DnsResponseException"/>.
    /// </summary>
    public async Task<IDnsQueryResponse> QueryAsync(string name, QueryType type, CancellationToken cancellationToken)
    {
        if (Cache is { } cache && cache.TryGet(name, type, out var cached))
        {
            return cached!;
        }

        var response = await _client.QueryAsync(name, type, QueryClass.IN, cancellationToken).ConfigureAwait(false);
        Cache?.Add(name, type, response);
        return response;
    }

    /// <inheritdoc />
    public void Dispose() => Cache?.Dispose();
}
