namespace Elemta.Smtp.Tests;

/// <summary>
/// The open-relay battery: from an untrusted address without AUTH, every way of naming a non-local destination gets
/// <c>554 5.7.1</c>, and nothing is accepted for it. local.test is the only relay domain; 127.0.0.1 is untrusted
/// because TrustedNetworks is TEST-NET-1.
/// </summary>
public sealed class OpenRelayTests
{
    private static readonly Dictionary<string, string?> Untrusted = new()
    {
        ["TrustedNetworks:0"] = "192.0.2.0/24",
        ["RelayDomains:0"] = "local.test",
    };

    [Theory]
    [InlineData("user@other.example")]
    [InlineData("user@OTHER.example")]
    [InlineData("user@[192.0.2.1]")]
    [InlineData("user@[IPv6:2001:db8::1]")]
    [InlineData("user%other.example@local.test")]
    [InlineData("user%other.example%local.test@local.test")]
    [InlineData("other.example!user@local.test")]
    [InlineData("\"user@other.example\"@local.test")]
    [InlineData("\"user%other.example\"@local.test")]
    [InlineData("\"user\\@other.example\"@local.test")]
    [InlineData("@local.test:user@other.example")]
    [InlineData("@local.test,@local.test:user@other.example")]
    [InlineData("user@local.test.other.example")]
    [InlineData("user@sub.local.test")]
    public async Task A_non_local_destination_is_refused_554_5_7_1(string recipient)
    {
        await using var server = await SmtpTestServer.StartAsync(Untrusted);
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250);
        (await client.CommandAsync($"RCPT TO:<{recipient}>")).AssertIs(554, "5.7.1");
        (await client.CommandAsync("DATA")).AssertIs(554, "5.5.1");
        Assert.Equal(0, server.Acceptor.Calls);
    }

    [Theory]
    [InlineData("user@local.test", "user@local.test")]
    [InlineData("User@LOCAL.test", "User@LOCAL.test")]
    [InlineData("user%other@local.test", null)]
    [InlineData("first.last+tag@local.test", "first.last+tag@local.test")]
    // RFC 5321 §4.1.2: a source route is accepted and ignored; the message goes to the final mailbox only.
    [InlineData("@other.example,@relay.example:user@local.test", "user@local.test")]
    public async Task Mail_for_the_local_domain_is_accepted_and_keeps_its_local_destination(string recipient, string? stored)
    {
        await using var server = await SmtpTestServer.StartAsync(Untrusted);
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250);
        var reply = await client.CommandAsync($"RCPT TO:<{recipient}>");
        if (stored is null)
        {
            // "user%other@local.test": "other" is no domain of ours either.
            reply.AssertIs(554, "5.7.1");
            return;
        }

        reply.AssertIs(250, "2.1.5");
        (await client.CommandAsync("DATA")).AssertIs(354);
        await client.SendAsync("Subject: local\r\n\r\nhi\r\n.\r\n");
        (await client.ReadReplyAsync()).AssertQueued();
        Assert.Equal<string>([stored], Assert.Single(server.Acceptor.Messages).Envelope.Recipients);
    }

    [Fact]
    public async Task A_percent_hack_naming_the_local_domain_itself_stays_local()
    {
        await using var server = await SmtpTestServer.StartAsync(Untrusted);
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250);
        (await client.CommandAsync("RCPT TO:<user%local.test@local.test>")).AssertIs(250, "2.1.5");
    }

    [Fact]
    public async Task A_trusted_network_may_relay_anywhere_without_AUTH()
    {
        await using var server = await SmtpTestServer.StartAsync(new Dictionary<string, string?> { ["TrustedNetworks:0"] = "127.0.0.0/8" });
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250);
        (await client.CommandAsync("RCPT TO:<user@other.example>")).AssertIs(250);
        (await client.CommandAsync("RCPT TO:<user%other.example@local.test>")).AssertIs(250);
    }

    [Fact]
    public async Task Setting_both_TrustedNetworks_and_its_former_name_RelayNetworks_stops_the_start()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => SmtpTestServer.StartAsync(new Dictionary<string, string?>
        {
            ["TrustedNetworks:0"] = "127.0.0.0/8",
            ["RelayNetworks:0"] = "192.0.2.0/24",
        }));

        Assert.Contains("RelayNetworks is the former name of TrustedNetworks", error.Message, StringComparison.Ordinal);
    }
}
