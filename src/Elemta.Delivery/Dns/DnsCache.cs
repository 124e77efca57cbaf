using System.Diagnostics.Metrics;
using DnsClient;
using DnsClient.Protocol;

namespace Elemta.Delivery.Dns;

/// <summary>What the DNS cache has done since start: for "is the cache working" and sizing <c>CacheMaxEntries</c>.</summary>
/// <param name="Hits">Lookups answered from the cache.</param>
/// <param name="Misses">Lookups that went to a name server.</param>
/// <param name="Evictions">Live entries dropped because the cache was full (expired entries dropped are not counted).</param>
/// <param name="Count">Entries held now.</param>
public sealed record DnsCacheStatistics(long Hits, long Misses, long Evictions, int Count);

/// <summary>
/// A bounded cache of DNS answers, least recently used out first, each kept for its TTL: positive answers for their
/// smallest record TTL, negative ones (NXDOMAIN, NODATA) for the SOA rule of RFC 2308 section 5, both capped. Answers
/// without a usable TTL (errors, timeouts, negative answers without SOA, TTL 0) are not kept.
/// </summary>
/// <remarks>
/// DnsClient has a cache of its own, but nothing bounds its size: every name ever looked up stays until its TTL runs
/// out, and a mail server looks up names chosen by strangers. It also has no counters. So it is turned off and this
/// one wraps the lookups instead.
/// </remarks>
public sealed class DnsCache : IDisposable
{
    /// <summary>The meter's name, for <c>dotnet-counters</c> and OpenTelemetry.</summary>
    public const string MeterName = "Elemta.Dns";

    private readonly Lock _gate = new();
    private readonly Dictionary<(string Name, QueryType Type), LinkedListNode<Entry>> _entries = [];

    // Most recently used first.
    private readonly LinkedList<Entry> _order = new();
    private readonly int _maxEntries;
    private readonly TimeSpan _maxTtl;
    private readonly TimeSpan _maxNegativeTtl;
    private readonly TimeProvider _timeProvider;
    private readonly Meter? _ownedMeter;
    private readonly Counter<long> _hitCounter;
    private readonly Counter<long> _missCounter;
    private readonly Counter<long> _evictionCounter;
    private long _hits;
    private long _misses;
    private long _evictions;

    /// <summary>Creates an empty cache.</summary>
    /// <param name="maxEntries">Answers kept at most; the least recently used goes first.</param>
    /// <param name="maxTtl">Longest any answer is kept, whatever its TTL says.</param>
    /// <param name="maxNegativeTtl">Longest a negative answer is kept (RFC 2308 section 5 suggests hours at most).</param>
    /// <param name="timeProvider">The clock TTLs run on.</param>
    /// <param name="meterFactory">Creates the <see cref="MeterName"/> meter; null creates one owned by the cache.</param>
    public DnsCache(int maxEntries, TimeSpan maxTtl, TimeSpan maxNegativeTtl, TimeProvider timeProvider, IMeterFactory? meterFactory = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxEntries, 1);
        _maxEntries = maxEntries;
        _maxTtl = maxTtl;
        _maxNegativeTtl = maxNegativeTtl;
        _timeProvider = timeProvider;
        Meter meter;
        if (meterFactory is null)
        {
            meter = _ownedMeter = new Meter(MeterName);
        }
        else
        {
            meter = meterFactory.Create(MeterName);
        }

        Meter = meter;
        _hitCounter = meter.CreateCounter<long>("elemta.dns.cache.hits", "{lookup}", "DNS lookups answered from the cache");
        _missCounter = meter.CreateCounter<long>("elemta.dns.cache.misses", "{lookup}", "DNS lookups sent to a name server");
        _evictionCounter = meter.CreateCounter<long>("elemta.dns.cache.evictions", "{entry}", "DNS cache entries dropped because the cache was full");
        meter.CreateObservableGauge("elemta.dns.cache.entries", () => Statistics.Count, "{entry}", "DNS answers held in the cache");
    }

    /// <summary>Adds 0 to each counter, once an exporter listens, so the series exist before the first lookup.</summary>
    public void InitializeSeries()
    {
        _hitCounter.Add(0);
        _missCounter.Add(0);
        _evictionCounter.Add(0);
    }

    /// <summary>The meter the counters are on (tests tell caches apart by it).</summary>
    internal Meter Meter { get; }

    /// <summary>Counters since start and the current size.</summary>
    public DnsCacheStatistics Statistics
    {
        get
        {
            lock (_gate)
            {
                return new DnsCacheStatistics(_hits, _misses, _evictions, _entries.Count);
            }
        }
    }

    /// <summary>The cached answer to (<paramref name="name"/>, <paramref name="type"/>) if one is still fresh; counts a hit or a miss.</summary>
    public bool TryGet(string name, QueryType type, out IDnsQueryResponse? response)
    {
        var key = (Normalize(name), type);
        var now = _timeProvider.GetUtcNow();
        lock (_gate)
        {
            if (_entries.TryGetValue(key, out var node))
            {
                if (node.Value.Expires > now)
                {
                    _order.Remove(node);
                    _order.AddFirst(node);
                    _hits++;
                    _hitCounter.Add(1);
                    response = node.Value.Response;
                    return true;
                }

                _order.Remove(node);
                _entries.Remove(key);
            }

            _misses++;
            _missCounter.Add(1);
        }

        response = null;
        return false;
    }

    /// <summary>Keeps <paramref name="response"/> for as long as its TTL allows, or not at all (see the class remarks).</summary>
    public void Add(string name, QueryType type, IDnsQueryResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        if (TimeToLive(response) is not { } ttl || ttl <= TimeSpan.Zero)
        {
            return;
        }

        var key = (Normalize(name), type);
        var now = _timeProvider.GetUtcNow();
        var entry = new Entry(key, response, now + ttl);
        lock (_gate)
        {
            if (_entries.TryGetValue(key, out var existing))
            {
                _order.Remove(existing);
            }

            _entries[key] = _order.AddFirst(entry);
            while (_entries.Count > _maxEntries)
            {
                var oldest = _order.Last!;
                _order.RemoveLast();
                _entries.Remove(oldest.Value.Key);
                if (oldest.Value.Expires > now)
                {
                    _evictions++;
                    _evictionCounter.Add(1);
                }
            }
        }
    }

    /// <summary>How long <paramref name="response"/> may be kept; null when it must not be.</summary>
    internal TimeSpan? TimeToLive(IDnsQueryResponse response)
    {
        var code = response.Header.ResponseCode;
        if (code == DnsHeaderResponseCode.NoError && response.Answers.Count > 0)
        {
            var seconds = response.Answers.Min(r => r.InitialTimeToLive);
            return Min(TimeSpan.FromSeconds(seconds), _maxTtl);
        }

        if (code is DnsHeaderResponseCode.NoError or DnsHeaderResponseCode.NotExistentDomain)
        {
            // RFC 2308 section 5: the negative TTL is the smaller of the SOA's own TTL and its MINIMUM field; without
            // an SOA the answer is not cached.
            var soa = response.Authorities.OfType<SoaRecord>().FirstOrDefault();
            return soa is null ? null : Min(Min(TimeSpan.FromSeconds(soa.InitialTimeToLive), TimeSpan.FromSeconds(soa.Minimum)), Min(_maxNegativeTtl, _maxTtl));
        }

        // SERVFAIL, REFUSED and the like: the next lookup should ask again.
        return null;
    }

    /// <summary>Releases the meter when the cache created it.</summary>
    public void Dispose() => _ownedMeter?.Dispose();

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private static string Normalize(string name) => name.TrimEnd('.').ToLowerInvariant();

    private sealed record Entry((string Name, QueryType Type) Key, IDnsQueryResponse Response, DateTimeOffset Expires);
}
