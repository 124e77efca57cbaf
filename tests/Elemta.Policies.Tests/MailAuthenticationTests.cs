using System.Net;
using System.Text;
using Elemta.Delivery;
using Elemta.Delivery.Dns;
using Elemta.Smtp.Tests;
using Elemta.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Elemta.Policies.Tests;

/// <summary>
/// Inbound mail authentication, the built-in plugin, in the real SMTP front-end: SPF at MAIL FROM and HELO against a
/// real DNS server on loopback, one Authentication-Results header, forged ones removed, and the refusals on a real
/// socket.
/// </summary>
public sealed class MailAuthenticationTests : IAsyncLifetime
{
    private LoopbackDnsServer _dns = null!;

    public Task InitializeAsync()
    {
        _dns = LoopbackDnsServer.Start();
        _dns.AddTxt("client.test", "v=spf1 ip4:127.0.0.1 -all");
        _dns.AddTxt("stranger.test", "v=spf1 ip4:192.0.2.1 -all");
        _dns.AddTxt("soft.test", "v=spf1 ~all");
        _dns.SetServerFailure("broken.test");
        // DMARC: a domain that rejects, one that quarantines, both with SPF records that never pass for 127.0.0.1.
        _dns.AddTxt("reject.test", "v=spf1 -all");
        _dns.AddTxt("_dmarc.reject.test", "v=DMARC1; p=reject");
        _dns.AddTxt("quarantine.test", "v=spf1 -all");
        _dns.AddTxt("_dmarc.quarantine.test", "v=DMARC1; p=quarantine");
        _dns.AddTxt("_dmarc.client.test", "v=DMARC1; p=reject; aspf=s");
        foreach (var zone in new[] { "client.test", "stranger.test", "soft.test", "nothing.test", "reject.test", "quarantine.test" })
        {
            // Negative answers carry the zone's SOA, so they are cached as a real server's would be (RFC 2308).
            _dns.SetSoa(zone, 300);
        }

        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _dns.DisposeAsync();

    /// <summary>A server whose client (127.0.0.1) is a stranger: not in the trusted networks, so its mail is inbound.</summary>
    private Task<SmtpTestServer> StartAsync(Dictionary<string, string?>? extra = null, bool trusted = false)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Elemta:Dns:Servers:0"] = $"127.0.0.1:{_dns.Port}",
            ["Elemta:Dns:Retries"] = "0",
            // The recipient's domain is ours, so a stranger may send to it.
            ["Elemta:Delivery:LocalDomains:mx.test:Transport"] = "Maildir",
        };
        if (!trusted)
        {
            settings["Elemta:Smtp:TrustedNetworks:0"] = "192.0.2.0/24";
        }

        foreach (var (key, value) in extra ?? [])
        {
            settings[key] = value;
        }

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        return SmtpTestServer.StartAsync(settings, services: s =>
        {
            s.AddOptions<DnsOptions>().Bind(configuration.GetSection(DnsOptions.SectionName));
            s.AddSingleton<DnsLookup>();
            s.AddElemtaPolicies(configuration);
        });
    }

    private static async Task<(string Reply, RawSmtpClient Client)> TransactAsync(SmtpTestServer server, string helo, string sender, string? extraHeader = null, string? from = null)
    {
        var client = await server.ConnectAsync();
        (await client.ReadReplyAsync()).AssertIs(220);
        (await client.CommandAsync($"EHLO {helo}")).AssertIs(250);
        var mail = await client.CommandAsync($"MAIL FROM:<{sender}>");
        if (mail.Code != 250)
        {
            return (mail.Code + " " + mail.Text, client);
        }

        (await client.CommandAsync("RCPT TO:<bob@mx.test>")).AssertIs(250);
        (await client.CommandAsync("DATA")).AssertIs(354);
        var reply = await client.CommandAsync($"{extraHeader}Subject: spf\r\nFrom: <{from ?? sender}>\r\n\r\nbody\r\n.");
        return (reply.Code + " " + reply.Text, client);
    }

    private static string Header(SmtpTestServer server) =>
        Encoding.ASCII.GetString(Assert.Single(server.Acceptor.Messages).Content);

    [Fact]
    public async Task A_permitted_sender_gets_spf_pass_for_MAIL_FROM_and_HELO_in_one_header_at_the_top()
    {
        await using var server = await StartAsync();
        var (reply, client) = await TransactAsync(server, "client.test", "alice@client.test");
        await using (client)
        {
            Assert.StartsWith("250 ", reply, StringComparison.Ordinal);
        }

        var content = Header(server);
        Assert.StartsWith($"Authentication-Results: {SmtpTestServer.HostName}; spf=pass smtp.mailfrom=alice@client.test; spf=pass smtp.helo=client.test; dkim=none; dmarc=pass (p=reject dis=none) header.from=client.test\r\n", content, StringComparison.Ordinal);
        Assert.Single(content.Split("\r\n"), l => l.StartsWith("Authentication-Results:", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("bob@stranger.test", "fail")]
    [InlineData("carol@soft.test", "softfail")]
    [InlineData("dave@nothing.test", "none")]
    [InlineData("erin@broken.test", "temperror")]
    public async Task Each_SPF_result_is_recorded_and_by_default_only_recorded(string sender, string result)
    {
        await using var server = await StartAsync();
        var (reply, client) = await TransactAsync(server, "client.test", sender);
        await using (client)
        {
            Assert.StartsWith("250 ", reply, StringComparison.Ordinal);
        }

        Assert.Contains($"; spf={result} smtp.mailfrom={sender};", Header(server), StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_FailAction_Reject_an_SPF_fail_is_refused_at_MAIL_FROM_with_550_5_7_23_and_the_explanation()
    {
        await using var server = await StartAsync(new() { ["Elemta:MailAuth:Spf:FailAction"] = "Reject" });
        var (reply, client) = await TransactAsync(server, "client.test", "bob@stranger.test");
        await using (client)
        {
            Assert.Equal("550 5.7.23 stranger.test does not designate 127.0.0.1 as a permitted sender", reply);
        }

        Assert.Empty(server.Acceptor.Messages);
    }

    [Fact]
    public async Task With_TempErrorAction_Defer_a_DNS_failure_is_answered_451_4_4_3()
    {
        await using var server = await StartAsync(new() { ["Elemta:MailAuth:Spf:TempErrorAction"] = "Defer" });
        var (reply, client) = await TransactAsync(server, "client.test", "erin@broken.test");
        await using (client)
        {
            Assert.StartsWith("451 4.4.3 SPF check of broken.test failed temporarily", reply, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_header_claiming_this_servers_id_is_removed_and_one_from_elsewhere_kept()
    {
        await using var server = await StartAsync();
        var forged = $"Authentication-Results: {SmtpTestServer.HostName.ToUpperInvariant()}; spf=pass smtp.mailfrom=bob@stranger.test\r\n" +
            "Authentication-Results: other.example; dkim=pass header.d=client.test\r\n";
        var (_, client) = await TransactAsync(server, "client.test", "bob@stranger.test", forged);
        await using (client)
        {
        }

        var content = Header(server);
        var results = content.Split("\r\n").Where(l => l.StartsWith("Authentication-Results:", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, results.Count);
        Assert.Contains("spf=fail smtp.mailfrom=bob@stranger.test", results[0], StringComparison.Ordinal);
        Assert.Equal("Authentication-Results: other.example; dkim=pass header.d=client.test", results[1]);
    }

    [Fact]
    public async Task Mail_from_the_trusted_networks_is_not_checked_and_gets_no_header()
    {
        await using var server = await StartAsync(trusted: true);
        var (_, client) = await TransactAsync(server, "client.test", "bob@stranger.test");
        await using (client)
        {
        }

        Assert.DoesNotContain("Authentication-Results", Header(server), StringComparison.Ordinal);
        Assert.Equal(0, _dns.QueryCount);
    }

    [Fact]
    public async Task SPF_answers_are_cached_so_a_second_message_asks_DNS_nothing()
    {
        await using var server = await StartAsync();
        var (_, first) = await TransactAsync(server, "client.test", "alice@client.test");
        await using (first)
        {
        }

        var asked = _dns.QueryCount;
        Assert.True(asked > 0);
        var (_, second) = await TransactAsync(server, "client.test", "alice@client.test");
        await using (second)
        {
        }

        Assert.Equal(asked, _dns.QueryCount);
        Assert.Equal(2, server.Acceptor.Messages.Count);
    }

    [Fact]
    public async Task A_DMARC_reject_policy_refuses_unauthenticated_mail_at_the_end_of_DATA_with_550_5_7_1()
    {
        await using var server = await StartAsync();
        var (reply, client) = await TransactAsync(server, "client.test", "mallory@reject.test");
        await using (client)
        {
            Assert.Equal("550 5.7.1 Message refused: the DMARC policy of reject.test says reject mail that fails authentication", reply);
        }

        Assert.Empty(server.Acceptor.Messages);
    }

    [Fact]
    public async Task With_EnforceReject_off_a_DMARC_reject_is_accepted_and_recorded()
    {
        await using var server = await StartAsync(new() { ["Elemta:MailAuth:Dmarc:EnforceReject"] = "false" });
        var (reply, client) = await TransactAsync(server, "client.test", "mallory@reject.test");
        await using (client)
        {
            Assert.StartsWith("250 ", reply, StringComparison.Ordinal);
        }

        Assert.Contains("; dmarc=fail (p=reject dis=reject) header.from=reject.test\r\n", Header(server), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Header")]
    [InlineData("Hold")]
    public async Task A_DMARC_quarantine_marks_the_message_or_holds_it(string action)
    {
        await using var server = await StartAsync(new() { ["Elemta:MailAuth:Dmarc:QuarantineAction"] = action });
        var (reply, client) = await TransactAsync(server, "client.test", "mallory@quarantine.test");
        await using (client)
        {
            Assert.StartsWith("250 ", reply, StringComparison.Ordinal);
        }

        var accepted = Assert.Single(server.Acceptor.Messages);
        var content = Encoding.ASCII.GetString(accepted.Content);
        Assert.Contains("dmarc=fail (p=quarantine dis=quarantine) header.from=quarantine.test", content, StringComparison.Ordinal);
        if (action == "Hold")
        {
            Assert.Equal("DMARC quarantine for quarantine.test", accepted.Envelope.HoldReason);
            Assert.DoesNotContain("X-Spam:", content, StringComparison.Ordinal);
        }
        else
        {
            Assert.Null(accepted.Envelope.HoldReason);
            Assert.Contains("X-Spam: Yes\r\n", content, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Strict_SPF_alignment_fails_DMARC_for_a_subdomain_sender_that_passes_SPF()
    {
        _dns.AddTxt("sub.client.test", "v=spf1 ip4:127.0.0.1 -all");
        await using var server = await StartAsync();
        var (reply, client) = await TransactAsync(server, "client.test", "alice@sub.client.test", from: "alice@client.test");
        await using (client)
        {
            Assert.StartsWith("550 5.7.1 ", reply, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task An_AuthServId_that_is_not_a_host_name_stops_the_start_naming_the_key()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => StartAsync(new() { ["Elemta:MailAuth:AuthServId"] = "two words" }));
        Assert.Contains("Elemta:MailAuth:AuthServId = 'two words' must be a host name", error.Message, StringComparison.Ordinal);
    }
}
