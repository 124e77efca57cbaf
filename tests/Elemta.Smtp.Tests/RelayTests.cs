namespace Elemta.Smtp.Tests;

/// <summary>
/// No open relay: a client outside <c>RelayNetworks</c> may only send to <c>RelayDomains</c>. The tests set
/// RelayNetworks to 192.0.2.0/24 (TEST-NET-1; configuration only, no traffic goes there) so 127.0.0.1 is an outsider.
/// </summary>
public sealed class RelayTests
{
    private static readonly Dictionary<string, string?> OutsiderSettings = new()
    {
        ["RelayNetworks:0"] = "192.0.2.0/24",
    };

    private static readonly Dictionary<string, string?> OutsiderWithRelayDomainSettings = new()
    {
        ["RelayNetworks:0"] = "192.0.2.0/24",
        ["RelayDomains:0"] = "example.net",
    };

    [Fact]
    public async Task Client_outside_RelayNetworks_is_denied_554_5_7_1_for_another_domain()
    {
        await using var server = await SmtpTestServer.StartAsync(OutsiderSettings);
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<user@example.org>")).AssertIs(554, "5.7.1");
        (await client.CommandAsync("RCPT TO:<user@[192.0.2.1]>")).AssertIs(554, "5.7.1");
        (await client.CommandAsync("DATA")).AssertIs(554, "5.5.1");
        Assert.Equal(0, server.Acceptor.Calls);
    }

    [Fact]
    public async Task RelayDomains_accept_mail_from_any_client_case_insensitively()
    {
        await using var server = await SmtpTestServer.StartAsync(OutsiderWithRelayDomainSettings);
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<user@example.net>")).AssertIs(250, "2.1.5");
        (await client.CommandAsync("RCPT TO:<Other@EXAMPLE.NET>")).AssertIs(250, "2.1.5");
        // A trailing dot is not RFC 5321 Domain syntax (isemail ISEMAIL_ERR_DOT_END): refused before any relay check.
        (await client.CommandAsync("RCPT TO:<third@example.net.>")).AssertIs(501, "5.1.3");
        (await client.CommandAsync("RCPT TO:<user@example.org>")).AssertIs(554, "5.7.1");
        (await client.CommandAsync("RCPT TO:<user@sub.example.net>")).AssertIs(554, "5.7.1");
        (await client.CommandAsync("DATA")).AssertIs(354);
        await client.SendAsync("Subject: inbound\r\n\r\nhello\r\n.\r\n");
        (await client.ReadReplyAsync()).AssertQueued();

        Assert.Equal<string>(["user@example.net", "Other@EXAMPLE.NET"], Assert.Single(server.Acceptor.Messages).Envelope.Recipients);
    }

    [Fact]
    public async Task A_domain_delivered_locally_takes_mail_from_any_client_without_being_listed_in_RelayDomains()
    {
        // Issue 15: a newcomer who set up a Maildir domain received nothing from the internet.
        await using var server = await SmtpTestServer.StartAsync(new Dictionary<string, string?>
        {
            ["RelayNetworks:0"] = "192.0.2.0/24",
            ["Elemta:Delivery:LocalDomains:mail.example.com:Maildir"] = "/var/mail/{domain}/{user}",
        });
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<alice@Mail.Example.com>")).AssertIs(250, "2.1.5");
        (await client.CommandAsync("RCPT TO:<user@example.org>")).AssertIs(554, "5.7.1");
        (await client.CommandAsync("RCPT TO:<user@sub.mail.example.com>")).AssertIs(554, "5.7.1");
        (await client.CommandAsync("DATA")).AssertIs(354);
        await client.SendAsync("Subject: inbound\r\n\r\nhello\r\n.\r\n");
        (await client.ReadReplyAsync()).AssertQueued();
        Assert.Equal<string>(["alice@Mail.Example.com"], Assert.Single(server.Acceptor.Messages).Envelope.Recipients);
    }

    [Fact]
    public async Task Pipelined_batch_with_a_denied_recipient_delivers_to_the_accepted_one()
    {
        await using var server = await SmtpTestServer.StartAsync(OutsiderWithRelayDomainSettings);
        await using var client = await server.ConnectAndEhloAsync();

        await client.SendAsync(
            "MAIL FROM:<a@example.org>\r\n" +
            "RCPT TO:<user@example.net>\r\n" +
            "RCPT TO:<user@elsewhere.example>\r\n" +
            "DATA\r\n");
        var replies = await client.ReadRepliesAsync(4);
        replies[0].AssertIs(250, "2.1.0");
        replies[1].AssertIs(250, "2.1.5");
        replies[2].AssertIs(554, "5.7.1");
        replies[3].AssertIs(354);
        await client.SendAsync("Subject: x\r\n\r\nx\r\n.\r\n");
        (await client.ReadReplyAsync()).AssertQueued();

        Assert.Equal<string>(["user@example.net"], Assert.Single(server.Acceptor.Messages).Envelope.Recipients);
    }

    [Fact]
    public async Task Loopback_is_a_relay_client_by_default()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<anyone@anywhere.example>")).AssertIs(250, "2.1.5");
    }
}
