using System.Net;
using Elemta.Delivery.Dns;
using Elemta.Testing;
using Microsoft.Extensions.Options;
using static Elemta.Delivery.Tests.DeliveryTestKit;

namespace Elemta.Delivery.Tests;

/// <summary>The resolver alone, against a real DNS server on loopback.</summary>
public sealed class MxResolverTests : IAsyncLifetime
{
    private const int SmtpPort = 2525;
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

    [Fact]
    public async Task Mx_hosts_are_returned_lowest_preference_first_with_the_configured_port()
    {
        // Added in the "wrong" order so that the answer order is not what is being tested.
        _dns.AddMx("example.net", 30, "mx3.example.net");
        _dns.AddMx("example.net", 10, "mx1.example.net");
        _dns.AddMx("example.net", 20, "mx2.example.net");
        _dns.AddA("mx1.example.net", IPAddress.Parse("127.0.0.11"));
        _dns.AddA("mx2.example.net", IPAddress.Parse("127.0.0.12"));
        _dns.AddA("mx3.example.net", IPAddress.Parse("127.0.0.13"));

        var resolution = await Resolver(_dns, SmtpPort).ResolveAsync("example.net", Token());

        Assert.Null(resolution.Failure);
        Assert.Equal(["mx1.example.net", "mx2.example.net", "mx3.example.net"], resolution.Targets.Select(t => t.Name));
        Assert.Equal([10, 20, 30], resolution.Targets.Select(t => t.Preference));
        Assert.All(resolution.Targets, t => Assert.Equal(SmtpPort, t.Port));
        Assert.Equal(IPAddress.Parse("127.0.0.11"), Assert.Single(resolution.Targets[0].Addresses));
    }

    [Fact]
    public async Task Mx_hosts_of_equal_preference_are_all_tried_before_higher_ones()
    {
        _dns.AddMx("example.net", 10, "a.example.net");
        _dns.AddMx("example.net", 10, "b.example.net");
        _dns.AddMx("example.net", 20, "backup.example.net");
        _dns.AddA("a.example.net", IPAddress.Parse("127.0.0.21"));
        _dns.AddA("b.example.net", IPAddress.Parse("127.0.0.22"));
        _dns.AddA("backup.example.net", IPAddress.Parse("127.0.0.23"));

        var resolution = await Resolver(_dns, SmtpPort).ResolveAsync("example.net", Token());

        Assert.Equal(3, resolution.Targets.Count);
        Assert.Equal(["a.example.net", "b.example.net"], resolution.Targets.Take(2).Select(t => t.Name).Order());
        Assert.Equal("backup.example.net", resolution.Targets[2].Name);
    }

    [Fact]
    public async Task Mx_host_without_address_is_left_out_and_the_next_one_kept()
    {
        _dns.AddMx("example.net", 10, "gone.example.net");
        _dns.AddMx("example.net", 20, "mx2.example.net");
        _dns.AddA("mx2.example.net", IPAddress.Parse("127.0.0.12"));

        var resolution = await Resolver(_dns, SmtpPort).ResolveAsync("example.net", Token());

        Assert.Equal("mx2.example.net", Assert.Single(resolution.Targets).Name);
    }

    [Fact]
    public async Task Mx_host_addresses_include_IPv4_and_IPv6()
    {
        _dns.AddMx("example.net", 10, "mx.example.net");
        _dns.AddA("mx.example.net", IPAddress.Parse("127.0.0.11"));
        _dns.AddAaaa("mx.example.net", IPAddress.IPv6Loopback);

        var resolution = await Resolver(_dns, SmtpPort).ResolveAsync("example.net", Token());

        var target = Assert.Single(resolution.Targets);
        Assert.Equal([IPAddress.Parse("127.0.0.11"), IPAddress.IPv6Loopback], target.Addresses);
    }

    [Fact]
    public async Task No_mx_host_with_an_address_is_a_transient_failure()
    {
        _dns.AddMx("example.net", 10, "gone1.example.net");
        _dns.AddMx("example.net", 20, "gone2.example.net");

        var resolution = await Resolver(_dns, SmtpPort).ResolveAsync("example.net", Token());

        Assert.Empty(resolution.Targets);
        Assert.StartsWith("451 4.4.4", resolution.Failure, StringComparison.Ordinal);
        Assert.False(resolution.FailureIsPermanent);
    }

    [Fact]
    public async Task Domain_without_mx_records_is_its_own_implicit_mx()
    {
        // NODATA for MX: the name exists (it has an A record) but has no MX.
        _dns.AddA("example.net", IPAddress.Parse("127.0.0.31"));

        var resolution = await Resolver(_dns, SmtpPort).ResolveAsync("example.net", Token());

        var target = Assert.Single(resolution.Targets);
        Assert.Equal("example.net", target.Name);
        Assert.Equal(IPAddress.Parse("127.0.0.31"), Assert.Single(target.Addresses));
        Assert.Equal(SmtpPort, target.Port);
    }

    [Fact]
    public async Task Domain_without_mx_or_address_records_is_a_transient_failure()
    {
        _dns.AddTxt("example.net", "v=spf1 -all");

        var resolution = await Resolver(_dns, SmtpPort).ResolveAsync("example.net", Token());

        Assert.StartsWith("451 4.4.4", resolution.Failure, StringComparison.Ordinal);
        Assert.False(resolution.FailureIsPermanent);
    }

    [Fact]
    public async Task Null_mx_is_a_permanent_556_failure()
    {
        _dns.AddMx("example.net", 0, ".");

        var resolution = await Resolver(_dns, SmtpPort).ResolveAsync("example.net", Token());

        Assert.Empty(resolution.Targets);
        Assert.StartsWith("556 5.1.10", resolution.Failure, StringComparison.Ordinal);
        Assert.True(resolution.FailureIsPermanent);
    }

    [Fact]
    public async Task Nxdomain_is_a_permanent_failure()
    {
        _dns.SetNxDomain("example.net");

        var resolution = await Resolver(_dns, SmtpPort).ResolveAsync("example.net", Token());

        Assert.StartsWith("550 5.1.2", resolution.Failure, StringComparison.Ordinal);
        Assert.True(resolution.FailureIsPermanent);
    }

    [Fact]
    public async Task Servfail_is_a_transient_failure()
    {
        _dns.SetServerFailure("example.net");

        var resolution = await Resolver(_dns, SmtpPort).ResolveAsync("example.net", Token());

        Assert.StartsWith("451 4.4.3", resolution.Failure, StringComparison.Ordinal);
        Assert.False(resolution.FailureIsPermanent);
    }

    [Fact]
    public async Task Dns_timeout_is_a_transient_failure()
    {
        _dns.SetNoResponse("example.net");

        var resolution = await Resolver(_dns, SmtpPort).ResolveAsync("example.net", Token());

        Assert.StartsWith("451 4.4.3", resolution.Failure, StringComparison.Ordinal);
        Assert.False(resolution.FailureIsPermanent);
        Assert.True(_dns.QueryCount >= 1);
    }

    [Fact]
    public async Task Route_to_an_address_bypasses_dns()
    {
        var resolver = Resolver(_dns, SmtpPort, new Dictionary<string, string> { ["example.net"] = "127.0.0.41:2600" });

        var resolution = await resolver.ResolveAsync("EXAMPLE.net", Token());

        var target = Assert.Single(resolution.Targets);
        Assert.Equal(IPAddress.Parse("127.0.0.41"), Assert.Single(target.Addresses));
        Assert.Equal(2600, target.Port);
        Assert.Equal(0, _dns.QueryCount);
    }

    [Fact]
    public async Task Route_without_a_port_uses_port_25_not_the_mx_port()
    {
        var resolver = Resolver(_dns, SmtpPort, new Dictionary<string, string> { ["example.net"] = "[::1]" });

        var resolution = await resolver.ResolveAsync("example.net", Token());

        var target = Assert.Single(resolution.Targets);
        Assert.Equal(IPAddress.IPv6Loopback, Assert.Single(target.Addresses));
        Assert.Equal(25, target.Port);
        Assert.Equal(0, _dns.QueryCount);
    }

    [Fact]
    public async Task Route_to_a_host_name_resolves_its_address_but_not_the_domain_mx()
    {
        _dns.AddA("smarthost.test", IPAddress.Parse("127.0.0.42"));
        var resolver = Resolver(_dns, SmtpPort, new Dictionary<string, string> { ["example.net"] = "smarthost.test:2601" });

        var resolution = await resolver.ResolveAsync("example.net", Token());

        var target = Assert.Single(resolution.Targets);
        Assert.Equal("smarthost.test", target.Name);
        Assert.Equal(IPAddress.Parse("127.0.0.42"), Assert.Single(target.Addresses));
        Assert.DoesNotContain(_dns.Queries, q => q.Name == "example.net");
    }

    [Fact]
    public async Task Route_to_a_host_without_address_is_a_transient_failure()
    {
        var resolver = Resolver(_dns, SmtpPort, new Dictionary<string, string> { ["example.net"] = "missing.test" });

        var resolution = await resolver.ResolveAsync("example.net", Token());

        Assert.StartsWith("451 4.4.4", resolution.Failure, StringComparison.Ordinal);
        Assert.False(resolution.FailureIsPermanent);
    }

    [Fact]
    public void Invalid_route_is_rejected_at_construction()
    {
        var delivery = DeliveryOptionsFor(SmtpPort, new Dictionary<string, string> { ["example.net"] = "::1:25" });

        var ex = Assert.Throws<OptionsValidationException>(() => new MxResolver(Options.Create(delivery), Options.Create(DnsOptionsFor(_dns))));
        Assert.Contains("Routes:example.net", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Name_server_given_by_name_is_rejected_at_construction()
    {
        var dns = new DnsOptions { Servers = ["ns1.example.net"] };

        var ex = Assert.Throws<OptionsValidationException>(() => new MxResolver(Options.Create(DeliveryOptionsFor(SmtpPort)), Options.Create(dns)));
        Assert.Contains("ns1.example.net", ex.Message, StringComparison.Ordinal);
    }
}
