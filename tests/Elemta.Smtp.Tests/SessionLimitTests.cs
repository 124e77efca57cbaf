using System.Diagnostics;

namespace Elemta.Smtp.Tests;

/// <summary>Per-session limits: messages per connection, the pre-greeting pause (early talkers), and total session time.</summary>
public sealed class SessionLimitTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task MAIL_after_MaxMessagesPerConnection_messages_is_421_4_7_0_and_the_connection_closes()
    {
        await using var server = await SmtpTestServer.StartAsync(new Dictionary<string, string?> { ["MaxMessagesPerConnection"] = "2" });
        await using var client = await server.ConnectAndEhloAsync();

        (await client.SendMessageAsync("a@example.org", ["b@example.net"], "Subject: 1\r\n\r\nx\r\n")).AssertQueued();
        // Refused messages do not count: only accepted ones do.
        (await client.SendMessageAsync("a@example.org", ["b@example.net"], "Subject: bare\nLF\r\n")).AssertIs(554, "5.6.11");
        (await client.SendMessageAsync("a@example.org", ["b@example.net"], "Subject: 2\r\n\r\nx\r\n")).AssertQueued();
        // Commands that do not start a transaction are still fine.
        (await client.CommandAsync("NOOP")).AssertIs(250, "2.0.0");

        // The rest of a pipelined transaction is not executed: one reply, then the connection closes.
        await client.SendAsync("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n");
        (await client.ReadReplyAsync()).AssertIs(421, "4.7.0");
        await client.AssertClosedByServerAsync();
        Assert.Equal(2, server.Acceptor.Messages.Count);
        Assert.Contains(server.Logs, e => e.Message.Contains("limit of 2 messages per connection", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_new_connection_may_send_again_after_the_message_limit()
    {
        await using var server = await SmtpTestServer.StartAsync(new Dictionary<string, string?> { ["MaxMessagesPerConnection"] = "1" });
        await using (var first = await server.ConnectAndEhloAsync())
        {
            (await first.SendMessageAsync("a@example.org", ["b@example.net"], "Subject: 1\r\n\r\nx\r\n")).AssertQueued();
            (await first.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(421, "4.7.0");
        }

        await using var second = await server.ConnectAndEhloAsync();
        (await second.SendMessageAsync("a@example.org", ["b@example.net"], "Subject: 2\r\n\r\nx\r\n")).AssertQueued();
        Assert.Equal(2, server.Acceptor.Messages.Count);
    }

    [Fact]
    public async Task Client_talking_before_the_greeting_gets_554_5_5_0_instead_of_220_and_is_disconnected()
    {
        await using var server = await SmtpTestServer.StartAsync(new Dictionary<string, string?> { ["GreetingDelay"] = "00:00:00.5" });
        await using var client = await server.ConnectAsync();

        // Sent at once on connecting, as a bulk sender that does not wait for the 220 does.
        await client.SendAsync("EHLO eager.test\r\nMAIL FROM:<spam@example.org>\r\n");

        var reply = (await client.ReadReplyAsync(Bound)).AssertIs(554, "5.5.0");
        Assert.Equal("554 5.5.0 mx.test protocol error: client talks before greeting", Assert.Single(reply.Lines));
        await client.AssertClosedByServerAsync(Bound);
        Assert.Equal(0, server.Acceptor.Calls);
        Assert.Contains(server.Logs, e => e.Message.Contains("before the greeting", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Client_that_waits_gets_220_after_GreetingDelay_and_a_normal_session()
    {
        await using var server = await SmtpTestServer.StartAsync(new Dictionary<string, string?> { ["GreetingDelay"] = "00:00:00.5" });
        await using var client = await server.ConnectAsync();
        var clock = Stopwatch.StartNew();

        (await client.ReadReplyAsync(Bound)).AssertIs(220);

        // The pause is real: the greeting could not come before it (measured, not waited for).
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(400), $"220 after {clock.Elapsed}");
        (await client.CommandAsync("EHLO patient.test")).AssertIs(250);
        (await client.SendMessageAsync("a@example.org", ["b@example.net"], "Subject: patient\r\n\r\nx\r\n")).AssertQueued();
    }

    [Fact]
    public async Task Greeting_pause_on_an_implicit_TLS_port_leaves_the_TLS_session_usable()
    {
        // The pause is a read cancelled by a timer; on an implicit-TLS port that read is on the SslStream, which must
        // survive the cancellation.
        var certificates = Path.Combine(Path.GetTempPath(), "elemta-greeting-" + Guid.NewGuid().ToString("N"));
        try
        {
            await using var server = await SmtpTestServer.StartAsync(new Dictionary<string, string?>
            {
                ["GreetingDelay"] = "00:00:00.5",
                ["Tls:SelfSignedDirectory"] = certificates,
                ["ImplicitTlsPort"] = FreeTcpPort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            });
            await using var client = await RawSmtpClient.ConnectAsync(server.ImplicitTlsEndPoint);
            await client.UpgradeToTlsAsync();

            (await client.ReadReplyAsync(Bound)).AssertIs(220);
            (await client.CommandAsync("EHLO tls.test")).AssertIs(250);
            (await client.SendMessageAsync("a@example.org", ["b@example.net"], "Subject: tls\r\n\r\nx\r\n")).AssertQueued();
        }
        finally
        {
            if (Directory.Exists(certificates))
            {
                Directory.Delete(certificates, recursive: true);
            }
        }
    }

    [Fact]
    public async Task Client_hanging_up_during_the_greeting_pause_ends_the_session_quietly()
    {
        await using var server = await SmtpTestServer.StartAsync(new Dictionary<string, string?> { ["GreetingDelay"] = "00:00:05" });
        var client = await server.ConnectAsync();
        await client.DisposeAsync();

        // Stopping waits for every session to end, so afterwards the outcome is final.
        await server.StopAsync();
        Assert.Empty(server.SessionFailures);
        Assert.DoesNotContain(server.Logs, e => e.Message.Contains("before the greeting", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Busy_session_beyond_SessionTimeout_gets_421_4_4_2_and_is_closed()
    {
        // Every command is answered at once, so CommandTimeout never fires: only the total session time can end it.
        await using var server = await SmtpTestServer.StartAsync(new Dictionary<string, string?> { ["SessionTimeout"] = "00:00:01" });
        await using var client = await server.ConnectAndEhloAsync();
        var clock = Stopwatch.StartNew();

        SmtpReply reply;
        do
        {
            Assert.True(clock.Elapsed < Bound, "The session outlived its SessionTimeout.");
            reply = await client.CommandAsync("NOOP");
        }
        while (reply.Code == 250);

        reply.AssertIs(421, "4.4.2");
        Assert.Equal("421 4.4.2 mx.test session time limit reached, closing connection", Assert.Single(reply.Lines));
        await client.AssertClosedByServerAsync(Bound);
    }

    private static int FreeTcpPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    [Theory]
    [InlineData("SessionTimeout", "00:00:00")]
    [InlineData("GreetingDelay", "-00:00:01")]
    [InlineData("GreetingDelay", "00:01:01")]
    [InlineData("MaxMessagesPerConnection", "0")]
    public async Task Invalid_limit_stops_the_host_from_starting(string key, string value)
    {
        var error = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() =>
            SmtpTestServer.StartAsync(new Dictionary<string, string?> { [key] = value }));
        Assert.Contains(key, error.Message, StringComparison.Ordinal);
    }
}
