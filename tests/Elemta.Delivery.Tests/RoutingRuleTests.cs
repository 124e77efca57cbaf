using Elemta.Contracts;
using Elemta.Testing;
using Microsoft.Extensions.Time.Testing;
using static Elemta.Delivery.Tests.DeliveryTestKit;

namespace Elemta.Delivery.Tests;

/// <summary>Ordered routing rules by sender, recipient domain and time of day (<c>Elemta:Delivery:Rules</c>).</summary>
public sealed class RoutingRuleTests
{
    private static readonly DateTimeOffset Noon = new(2026, 3, 2, 12, 0, 0, TimeSpan.Zero);

    private static DeliveryOptions Options(params RoutingRule[] rules)
    {
        var options = new DeliveryOptions();
        options.Relays["night"] = new RelayOptions { Host = "night.relay.example", Port = 2525, TlsPolicy = Tls.TlsPolicy.Opportunistic };
        options.Relays["default"] = new RelayOptions { Host = "default.relay.example", TlsPolicy = Tls.TlsPolicy.Opportunistic };
        options.Rules.AddRange(rules);
        return options;
    }

    [Theory]
    [InlineData("night", "night.relay.example", 2525, "night")]
    [InlineData("NIGHT", "night.relay.example", 2525, "night")]
    [InlineData("mx.other.example:2526", "mx.other.example", 2526, null)]
    [InlineData("mx.other.example", "mx.other.example", 25, null)]
    [InlineData("[::1]:2527", "::1", 2527, null)]
    public void A_plugins_next_hop_is_a_relay_by_name_or_host_and_port(string hop, string host, int port, string? relay)
    {
        var target = new DeliveryRouting(Options()).NextHop(hop, out var error);
        Assert.Null(error);
        Assert.Equal(new RouteTarget(host, port, relay), target);
    }

    [Theory]
    [InlineData("no-such-relay:notaport")]
    [InlineData("host:0")]
    [InlineData("host:70000")]
    public void A_next_hop_that_is_neither_is_refused_with_the_reason(string hop)
    {
        Assert.Null(new DeliveryRouting(Options()).NextHop(hop, out var error));
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Theory]
    [InlineData("*", "anyone@example.org", true)]
    [InlineData("billing@shop.example", "Billing@Shop.example", true)]
    [InlineData("billing@shop.example", "other@shop.example", false)]
    [InlineData("@shop.example", "news@shop.example", true)]
    [InlineData("@shop.example", "news@myshop.example", false)]
    [InlineData("<>", "", true)]
    [InlineData("<>", "someone@shop.example", false)]
    public void Sender_matches_an_address_a_domain_the_null_sender_or_anyone(string pattern, string sender, bool matches)
    {
        var routing = new DeliveryRouting(Options(new RoutingRule { Sender = pattern, Route = "rule.example:26" }));

        var target = routing.Select(sender, "example.net", Noon);

        Assert.Equal(matches, target is { Host: "rule.example", Port: 26 });
    }

    [Theory]
    [InlineData("example.net", "example.net", true)]
    [InlineData("example.net", "EXAMPLE.NET.", true)]
    [InlineData("example.net", "sub.example.net", false)]
    [InlineData(".example.net", "sub.example.net", true)]
    [InlineData(".example.net", "a.b.example.net", true)]
    [InlineData(".example.net", "example.net", false)]
    [InlineData(".example.net", "badexample.net", false)]
    [InlineData("*", "anything.example", true)]
    public void RecipientDomain_matches_a_domain_its_subdomains_or_any(string pattern, string domain, bool matches)
    {
        var routing = new DeliveryRouting(Options(new RoutingRule { RecipientDomain = pattern, Relay = "night" }));

        Assert.Equal(matches, routing.Select("a@origin.example", domain, Noon)?.Relay == "night");
    }

    [Theory]
    [InlineData("22:00-06:00", 23, 0, true)]
    [InlineData("22:00-06:00", 5, 59, true)]
    [InlineData("22:00-06:00", 6, 0, false)]
    [InlineData("22:00-06:00", 12, 0, false)]
    [InlineData("22:00-06:00", 22, 0, true)]
    [InlineData("09:00-17:30", 17, 29, true)]
    [InlineData("09:00-17:30", 17, 30, false)]
    [InlineData("00:00-24:00", 23, 59, true)]
    public void Hours_are_a_daily_window_start_included_end_excluded_wrapping_past_midnight(string hours, int hour, int minute, bool matches)
    {
        var routing = new DeliveryRouting(Options(new RoutingRule { Hours = hours, Relay = "night" }));

        var target = routing.Select("a@origin.example", "example.net", new DateTimeOffset(2026, 3, 2, hour, minute, 0, TimeSpan.Zero));

        Assert.Equal(matches, target?.Relay == "night");
    }

    [Fact]
    public void Hours_are_read_in_the_configured_time_zone()
    {
        var options = Options(new RoutingRule { Hours = "22:00-06:00", Relay = "night" });
        options.RulesTimeZone = "Europe/Paris";
        var routing = new DeliveryRouting(options);

        // 21:30 UTC is 22:30 in Paris in March (UTC+1); 05:30 UTC is 06:30 there.
        Assert.Equal("night", routing.Select("a@origin.example", "example.net", new DateTimeOffset(2026, 3, 2, 21, 30, 0, TimeSpan.Zero))?.Relay);
        Assert.Null(routing.Select("a@origin.example", "example.net", new DateTimeOffset(2026, 3, 2, 5, 30, 0, TimeSpan.Zero)));
    }

    [Fact]
    public void The_first_matching_rule_wins_and_without_a_match_routes_then_the_default_relay_apply()
    {
        var options = Options(
            new RoutingRule { Sender = "@shop.example", RecipientDomain = ".example.net", Route = "first.example:25" },
            new RoutingRule { Sender = "@shop.example", Route = "second.example:25" });
        options.Routes["routed.example"] = "10.0.0.5:2525";
        options.DefaultRelay = "default";
        var routing = new DeliveryRouting(options);

        Assert.Equal("first.example", routing.Select("a@shop.example", "mx.example.net", Noon)?.Host);
        Assert.Equal("second.example", routing.Select("a@shop.example", "routed.example", Noon)?.Host);
        Assert.Equal(new RouteTarget("10.0.0.5", 2525), routing.Select("a@else.example", "routed.example", Noon));
        Assert.Equal("default", routing.Select("a@else.example", "other.example", Noon)?.Relay);
    }

    [Theory]
    [InlineData("Relay", "missing", "Elemta:Delivery:Rules:0:Relay 'missing' names no relay")]
    [InlineData("Hours", "22-06", "Elemta:Delivery:Rules:0:Hours")]
    [InlineData("Hours", "10:00-10:00", "Elemta:Delivery:Rules:0:Hours")]
    [InlineData("Sender", "nobody", "Elemta:Delivery:Rules:0:Sender")]
    [InlineData("RecipientDomain", "a@b", "Elemta:Delivery:Rules:0:RecipientDomain")]
    [InlineData("Route", "host:0", "Elemta:Delivery:Rules:0")]
    public void Bad_rules_are_refused_with_a_message_naming_the_key(string field, string value, string errorMentions)
    {
        var rule = new RoutingRule();
        switch (field)
        {
            case "Relay": rule.Relay = value; break;
            case "Route": rule.Route = value; break;
            default:
                rule.Relay = "night";
                typeof(RoutingRule).GetProperty(field)!.SetValue(rule, value);
                break;
        }

        var error = DeliveryRouting.Validate(Options(rule));

        Assert.NotNull(error);
        Assert.StartsWith(errorMentions, error, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error);
    }

    [Fact]
    public void Unknown_time_zone_and_a_rule_with_both_relay_and_route_are_refused()
    {
        var zone = Options();
        zone.RulesTimeZone = "Mars/Olympus_Mons";
        var both = Options(new RoutingRule { Relay = "night", Route = "h:25" });

        Assert.StartsWith("Elemta:Delivery:RulesTimeZone", DeliveryRouting.Validate(zone), StringComparison.Ordinal);
        Assert.Equal("Elemta:Delivery:Rules:0: set exactly one of Relay and Route.", DeliveryRouting.Validate(both));
    }

    [Fact]
    public async Task Rules_are_evaluated_per_delivery_with_the_agent_clock()
    {
        await using var dns = LoopbackDnsServer.Start();
        await using var mx = SmtpSink.Start(NextAddress());
        await using var night = SmtpSink.Start(NextAddress());
        dns.AddMx("example.net", 10, "mx.example.net");
        dns.AddA("mx.example.net", mx.EndPoint.Address);
        var options = DeliveryOptionsFor(mx.Port);
        options.Rules.Add(new RoutingRule { RecipientDomain = ".net", Hours = "22:00-06:00", Route = night.EndPoint.ToString() });
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 3, 2, 23, 0, 0, TimeSpan.Zero));
        await using var agent = DeliveryTestKit.Agent(dns, options, clock);

        var atNight = await agent.DeliverAsync(Work("example.net", "s@origin.test", "a@example.net"), SimpleMessage(), Token());
        clock.SetUtcNow(new DateTimeOffset(2026, 3, 3, 9, 0, 0, TimeSpan.Zero));
        var byDay = await agent.DeliverAsync(Work("example.net", "s@origin.test", "b@example.net"), SimpleMessage(), Token());

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(atNight.Results).Outcome);
        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(byDay.Results).Outcome);
        Assert.Equal(["a@example.net"], Assert.Single(night.Messages).Recipients);
        Assert.Equal(["b@example.net"], Assert.Single(mx.Messages).Recipients);
    }
}
