using System.Diagnostics.Metrics;
using System.Net;
using DnsClient;
using Elemta.Delivery.Dns;
using Elemta.Testing;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using static Elemta.Delivery.Tests.DeliveryTestKit;

namespace Elemta.Delivery.Tests;

/// <summary>The bounded DNS cache in front of a real loopback name server that counts the queries it gets.</summary>
public sealed class DnsCacheTests : IAsyncLifetime
{
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.Parse("2026-03-02T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
    private LoopbackDnsServer _dns = null!;

    public Task InitializeAsync()
    {
        _dns = LoopbackDnsServer.Start();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        Assert.Empty(_dns.Errors);
        await _dns.DisposeAsync();
    }

    private DnsLookup Lookup(int maxEntries = 100, TimeSpan? maxNegativeTtl = null)
    {
        var options = DnsOptionsFor(_dns);
        options.UseCache = true;
        options.CacheMaxEntries = maxEntries;
        options.CacheMaxNegativeTtl = maxNegativeTtl ?? TimeSpan.FromMinutes(15);
        return new DnsLookup(Options.Create(options), _clock);
    }

    private int QueriesFor(string name) => _dns.Queries.Count(q => q.Name == name);

    [Fact]
    public async Task A_second_resolution_within_the_TTL_asks_the_name_server_nothing()
    {
        _dns.AddMx("example.net", 10, "mx.example.net", ttl: 300);
        _dns.AddA("mx.example.net", IPAddress.Parse("127.0.0.5"), ttl: 300);
        _dns.SetSoa("example.net", minimum: 300);
        using var lookup = Lookup();
        var resolver = new MxResolver(Options.Create(DeliveryOptionsFor(25)), Options.Create(DnsOptionsFor(_dns)), lookup);

        var first = await resolver.ResolveAsync("example.net", Token());
        var queries = _dns.QueryCount;
        var second = await resolver.ResolveAsync("example.net", Token());

        Assert.Equal(first.Targets.Single().Addresses, second.Targets.Single().Addresses);
        Assert.Equal(queries, _dns.QueryCount);
        var statistics = lookup.Cache!.Statistics;
        Assert.Equal(3, statistics.Hits); // MX, A, and the empty AAAA answer (cacheable thanks to the SOA)
        Assert.Equal(3, statistics.Misses);
    }

    [Fact]
    public async Task An_answer_is_asked_again_once_its_smallest_TTL_has_passed()
    {
        _dns.AddA("host.example.net", IPAddress.Parse("127.0.0.5"), ttl: 60);
        _dns.AddA("host.example.net", IPAddress.Parse("127.0.0.6"), ttl: 30);
        using var lookup = Lookup();

        await lookup.QueryAsync("host.example.net", QueryType.A, Token());
        _clock.Advance(TimeSpan.FromSeconds(29));
        await lookup.QueryAsync("host.example.net", QueryType.A, Token());
        Assert.Equal(1, QueriesFor("host.example.net"));

        _clock.Advance(TimeSpan.FromSeconds(1));
        await lookup.QueryAsync("host.example.net", QueryType.A, Token());
        Assert.Equal(2, QueriesFor("host.example.net"));
    }

    [Fact]
    public async Task Zero_TTL_answers_are_not_cached()
    {
        _dns.AddA("volatile.example.net", IPAddress.Parse("127.0.0.5"), ttl: 0);
        using var lookup = Lookup();

        await lookup.QueryAsync("volatile.example.net", QueryType.A, Token());
        await lookup.QueryAsync("volatile.example.net", QueryType.A, Token());

        Assert.Equal(2, QueriesFor("volatile.example.net"));
        Assert.Equal(0, lookup.Cache!.Statistics.Count);
    }

    [Fact]
    public async Task The_least_recently_used_entry_is_evicted_when_the_cache_is_full()
    {
        foreach (var name in new[] { "a.example.net", "b.example.net", "c.example.net" })
        {
            _dns.AddA(name, IPAddress.Parse("127.0.0.5"));
        }

        using var lookup = Lookup(maxEntries: 2);
        await lookup.QueryAsync("a.example.net", QueryType.A, Token());
        await lookup.QueryAsync("b.example.net", QueryType.A, Token());
        await lookup.QueryAsync("a.example.net", QueryType.A, Token()); // a is now the most recently used
        await lookup.QueryAsync("c.example.net", QueryType.A, Token()); // evicts b

        await lookup.QueryAsync("a.example.net", QueryType.A, Token());
        await lookup.QueryAsync("b.example.net", QueryType.A, Token());

        Assert.Equal(1, QueriesFor("a.example.net"));
        Assert.Equal(2, QueriesFor("b.example.net"));
        var statistics = lookup.Cache!.Statistics;
        Assert.Equal(2, statistics.Count);
        Assert.Equal(2, statistics.Evictions); // b for c, then c for b
        Assert.Equal(2, statistics.Hits);
        Assert.Equal(4, statistics.Misses);
    }

    [Fact]
    public async Task NXDOMAIN_with_an_SOA_is_cached_for_the_smaller_of_its_TTL_and_MINIMUM()
    {
        _dns.SetSoa("example.net", minimum: 120, ttl: 3600);
        using var lookup = Lookup();

        var answer = await lookup.QueryAsync("gone.example.net", QueryType.MX, Token());
        Assert.Equal(DnsHeaderResponseCode.NotExistentDomain, answer.Header.ResponseCode);
        _clock.Advance(TimeSpan.FromSeconds(119));
        Assert.Equal(DnsHeaderResponseCode.NotExistentDomain, (await lookup.QueryAsync("gone.example.net", QueryType.MX, Token())).Header.ResponseCode);
        Assert.Equal(1, QueriesFor("gone.example.net"));

        _clock.Advance(TimeSpan.FromSeconds(1));
        await lookup.QueryAsync("gone.example.net", QueryType.MX, Token());
        Assert.Equal(2, QueriesFor("gone.example.net"));
    }

    [Fact]
    public async Task Negative_caching_is_capped_by_CacheMaxNegativeTtl()
    {
        _dns.SetSoa("example.net", minimum: 86400, ttl: 86400);
        using var lookup = Lookup(maxNegativeTtl: TimeSpan.FromSeconds(10));

        await lookup.QueryAsync("gone.example.net", QueryType.A, Token());
        _clock.Advance(TimeSpan.FromSeconds(10));
        await lookup.QueryAsync("gone.example.net", QueryType.A, Token());

        Assert.Equal(2, QueriesFor("gone.example.net"));
    }

    [Fact]
    public async Task NODATA_with_an_SOA_is_cached_but_negative_answers_without_one_are_not()
    {
        _dns.SetSoa("cached.test", minimum: 300);
        _dns.AddA("host.cached.test", IPAddress.Parse("127.0.0.5"));
        _dns.AddA("host.uncached.test", IPAddress.Parse("127.0.0.5"));
        using var lookup = Lookup();

        for (var i = 0; i < 2; i++)
        {
            await lookup.QueryAsync("host.cached.test", QueryType.AAAA, Token());
            await lookup.QueryAsync("host.uncached.test", QueryType.AAAA, Token());
            await lookup.QueryAsync("nothing.uncached.test", QueryType.A, Token());
        }

        Assert.Equal(1, QueriesFor("host.cached.test"));
        Assert.Equal(2, QueriesFor("host.uncached.test"));
        Assert.Equal(2, QueriesFor("nothing.uncached.test"));
    }

    [Fact]
    public async Task A_server_failure_is_not_cached()
    {
        _dns.SetSoa("example.net", minimum: 300);
        _dns.SetServerFailure("broken.example.net");
        using var lookup = Lookup();

        await lookup.QueryAsync("broken.example.net", QueryType.MX, Token());
        await lookup.QueryAsync("broken.example.net", QueryType.MX, Token());

        Assert.Equal(2, QueriesFor("broken.example.net"));
    }

    [Fact]
    public async Task Hits_misses_and_evictions_are_published_as_elemta_dns_cache_counters()
    {
        _dns.AddA("a.example.net", IPAddress.Parse("127.0.0.5"));
        _dns.AddA("b.example.net", IPAddress.Parse("127.0.0.5"));
        using var lookup = Lookup(maxEntries: 1);
        var totals = new Dictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            // Other tests' caches publish under the same names: listen to this cache's meter only.
            if (ReferenceEquals(instrument.Meter, lookup.Cache!.Meter) && instrument.Meter.Name == DnsCache.MeterName)
            {
                l.EnableMeasurementEvents(instrument, lookup);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, state) =>
        {
            if (ReferenceEquals(state, lookup))
            {
                lock (totals)
                {
                    totals[instrument.Name] = totals.GetValueOrDefault(instrument.Name) + value;
                }
            }
        });
        listener.Start();

        await lookup.QueryAsync("a.example.net", QueryType.A, Token());
        await lookup.QueryAsync("a.example.net", QueryType.A, Token());
        await lookup.QueryAsync("b.example.net", QueryType.A, Token());

        Assert.Equal(1, totals.GetValueOrDefault("elemta.dns.cache.hits"));
        Assert.Equal(2, totals.GetValueOrDefault("elemta.dns.cache.misses"));
        Assert.Equal(1, totals.GetValueOrDefault("elemta.dns.cache.evictions"));
    }
}
