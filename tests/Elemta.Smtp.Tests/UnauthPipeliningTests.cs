namespace Elemta.Smtp.Tests;

/// <summary>
/// Commands sent after the end of DATA before its reply, by a client that is neither authenticated nor trusted, are
/// a protocol synchronisation error (Postfix 3.9's smtpd_forbid_unauth_pipelining, on by default): 554 5.5.0, the
/// message is not queued and the connection closes. Clients that wait for replies, trusted clients and BDAT are
/// unaffected. RelayNetworks is TEST-NET-1 here, so 127.0.0.1 is an outsider.
/// </summary>
public sealed class UnauthPipeliningTests
{
    private static Dictionary<string, string?> Outsider(bool forbid = true) => new()
    {
        ["RelayNetworks:0"] = "192.0.2.0/24",
        ["RelayDomains:0"] = "example.net",
        ["ForbidUnauthPipelining"] = forbid ? "true" : "false",
    };

    [Fact]
    public async Task An_outsider_that_sends_commands_after_the_final_dot_gets_554_5_5_0_nothing_queued_and_is_disconnected()
    {
        await using var server = await SmtpTestServer.StartAsync(Outsider());
        await using var client = await server.ConnectAndEhloAsync();
        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<b@example.net>")).AssertIs(250, "2.1.5");
        (await client.CommandAsync("DATA")).AssertIs(354);

        await client.SendAsync("Subject: hi\r\n\r\nbody\r\n.\r\nMAIL FROM:<x@example.org>\r\nRCPT TO:<y@example.net>\r\nDATA\r\n");

        (await client.ReadReplyAsync()).AssertIs(554, "5.5.0");
        await client.AssertClosedByServerAsync();
        Assert.Equal(0, server.Acceptor.Calls);
        Assert.Contains(server.Logs, l => l.Message.Contains("sent commands after the end of DATA", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_outsider_that_waits_for_each_reply_is_served_and_may_pipeline_its_envelope()
    {
        await using var server = await SmtpTestServer.StartAsync(Outsider());
        await using var client = await server.ConnectAndEhloAsync();

        // RFC 2920: MAIL, RCPT and DATA in one group is allowed; the content then ends the group.
        await client.SendAsync("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n");
        var replies = await client.ReadRepliesAsync(3);
        replies[2].AssertIs(354);
        await client.SendAsync("Subject: one\r\n\r\nbody\r\n.\r\n");
        (await client.ReadReplyAsync()).AssertQueued();
        (await client.SendMessageAsync("a@example.org", ["b@example.net"], "Subject: two\r\n\r\nbody\r\n")).AssertQueued();
        (await client.CommandAsync("QUIT")).AssertIs(221, "2.0.0");
        Assert.Equal(2, server.Acceptor.Calls);
    }

    [Fact]
    public async Task With_the_option_off_an_outsiders_commands_after_the_dot_are_read_as_commands()
    {
        await using var server = await SmtpTestServer.StartAsync(Outsider(forbid: false));
        await using var client = await server.ConnectAndEhloAsync();
        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<b@example.net>")).AssertIs(250, "2.1.5");
        (await client.CommandAsync("DATA")).AssertIs(354);

        await client.SendAsync("Subject: hi\r\n\r\nbody\r\n.\r\nQUIT\r\n");

        (await client.ReadReplyAsync()).AssertQueued();
        (await client.ReadReplyAsync()).AssertIs(221, "2.0.0");
        Assert.Equal(1, server.Acceptor.Calls);
    }

    [Fact]
    public async Task A_trusted_client_may_pipeline_after_the_dot()
    {
        // Loopback is trusted by default: local applications that pipeline QUIT keep working.
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();
        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<b@example.org>")).AssertIs(250, "2.1.5");
        (await client.CommandAsync("DATA")).AssertIs(354);

        await client.SendAsync("Subject: hi\r\n\r\nbody\r\n.\r\nQUIT\r\n");

        (await client.ReadReplyAsync()).AssertQueued();
        (await client.ReadReplyAsync()).AssertIs(221, "2.0.0");
    }
}
