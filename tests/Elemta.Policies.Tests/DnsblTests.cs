using System.Net;
using Elemta.Delivery;
using Elemta.Delivery.Dns;
using Elemta.Smtp.Tests;
using Elemta.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Elemta.Policies.Tests;

/// <summary>DNS block lists at connect (RFC 5782), the built-in plugin, against a real DNS server on loopback serving a test zone.</summary>
public sealed class DnsblTests : IAsyncLifetime
{
    private LoopbackDnsServer _dns = null!;

    public Task InitializeAsync()
    {
        _dns = LoopbackDnsServer.Start();
        // 127.0.0.1 is listed in bl.test with code 127.0.0.2, and not in clean.test.
        _dns.AddA("1.0.0.127.bl.test", IPAddress.Parse("127.0.0.2"));
        _dns.SetSoa("bl.test", 60);
        _dns.SetSoa("clean.test", 60);
        _dns.SetNoResponse("1.0.0.127.silent.test");
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _dns.DisposeAsync();

    private Task<SmtpTestServer> StartAsync(Dictionary<string, string?> zones, bool trusted = false)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Elemta:Dns:Servers:0"] = $"127.0.0.1:{_dns.Port}",
            ["Elemta:Dns:Retries"] = "0",
            ["Elemta:Dns:Timeout"] = "00:00:01",
        };
        if (!trusted)
        {
            settings["Elemta:Smtp:TrustedNetworks:0"] = "192.0.2.0/24";
        }

        foreach (var (key, value) in zones)
        {
            settings["Elemta:Dnsbl:Zones:" + key] = value;
        }

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        return SmtpTestServer.StartAsync(settings, services: s =>
        {
            s.AddOptions<DnsOptions>().Bind(configuration.GetSection(DnsOptions.SectionName));
            s.AddSingleton<DnsLookup>();
            s.AddElemtaPolicies(configuration);
        });
    }

    [Fact]
    public async Task The_connection_limits_plugin_runs_before_the_access_list_and_the_DNSBL_so_a_client_over_its_rate_costs_no_query()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Elemta:Dns:Servers:0"] = $"127.0.0.1:{_dns.Port}",
            ["Elemta:Dns:Retries"] = "0",
            ["Elemta:Smtp:TrustedNetworks:0"] = "192.0.2.0/24",
            ["Elemta:Dnsbl:Zones:bl.test:ReturnCodes:0"] = "127.0.0.2",
        };
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        await using var server = await SmtpTestServer.StartAsync(settings, policy: new TestConnectionPolicy(allow: false), services: s =>
        {
            s.AddOptions<DnsOptions>().Bind(configuration.GetSection(DnsOptions.SectionName));
            s.AddSingleton<DnsLookup>();
            s.AddElemtaPolicies(configuration);
        });
        Assert.Equal(["connection-limits", "access-list", "dnsbl"],
            server.Services.GetRequiredService<Elemta.Plugins.PluginHost>().Current.For(outbound: false).Connect.Select(p => p.Name));

        // Listed in bl.test and over its rate: refused by the limits, as when they were part of the server, before any
        // DNS query.
        await using var client = await server.ConnectAsync();
        var refused = (await client.ReadReplyAsync()).AssertIs(421, "4.7.0");
        Assert.Equal("4.7.0 mx.test too many connection attempts from your address, try again later", refused.Text);
        Assert.Equal(0, _dns.QueryCount);
    }

    [Fact]
    public async Task A_listed_client_is_refused_before_the_greeting_with_554_5_7_1_naming_the_zone_and_the_answer_is_cached()
    {
        await using var server = await StartAsync(new() { ["clean.test:ReturnCodes:0"] = "127.0.0.2", ["bl.test:ReturnCodes:0"] = "127.0.0.2" });
        await using (var client = await server.ConnectAsync())
        {
            var greeting = await client.ReadReplyAsync();
            greeting.AssertIs(554, "5.7.1");
            Assert.Equal("5.7.1 Service unavailable; client host [127.0.0.1] blocked using bl.test (127.0.0.2)", greeting.Text);
        }

        var asked = _dns.QueryCount;
        await using (var again = await server.ConnectAsync())
        {
            (await again.ReadReplyAsync()).AssertIs(554);
        }

        Assert.Equal(asked, _dns.QueryCount);
    }

    [Fact]
    public async Task A_listing_with_a_code_the_zone_does_not_count_is_not_a_refusal()
    {
        await using var server = await StartAsync(new() { ["bl.test:ReturnCodes:0"] = "127.0.0.4" });
        await using var client = await server.ConnectAsync();
        (await client.ReadReplyAsync()).AssertIs(220);
    }

    [Fact]
    public async Task A_zone_that_does_not_answer_lets_the_client_in()
    {
        await using var server = await StartAsync(new() { ["silent.test:ReturnCodes:0"] = "127.0.0.2" });
        await using var client = await server.ConnectAsync();
        (await client.ReadReplyAsync()).AssertIs(220);
    }

    [Fact]
    public async Task Trusted_clients_are_not_looked_up()
    {
        await using var server = await StartAsync(new() { ["bl.test:ReturnCodes:0"] = "127.0.0.2" }, trusted: true);
        await using var client = await server.ConnectAsync();
        (await client.ReadReplyAsync()).AssertIs(220);
        Assert.Equal(0, _dns.QueryCount);
    }

    [Fact]
    public async Task A_return_code_outside_127_0_0_0_8_stops_the_start_naming_the_key()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => StartAsync(new() { ["bl.test:ReturnCodes:0"] = "10.0.0.2" }));
        Assert.Contains("Elemta:Dnsbl:Zones:bl.test:ReturnCodes entry '10.0.0.2' must be an address in 127.0.0.0/8", error.Message, StringComparison.Ordinal);
    }
}
