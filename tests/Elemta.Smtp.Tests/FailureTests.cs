using System.Diagnostics;
using System.Net;

namespace Elemta.Smtp.Tests;

/// <summary>What the client sees when the server cannot or will not go on: 451, 421 and closing (RFC 5321 §3.8, §4.5.3.2).</summary>
public sealed class FailureTests
{
    private static readonly TimeSpan TimeoutBound = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Acceptor_failure_is_451_4_3_0_and_the_next_transaction_works()
    {
        await using var server = await SmtpTestServer.StartAsync();
        server.Acceptor.FailNext(1);
        await using var client = await server.ConnectAndEhloAsync();

        (await client.SendMessageAsync("a@example.org", ["b@example.net"], "Subject: first\r\n\r\nx\r\n")).AssertIs(451, "4.3.0");
        Assert.Empty(server.Acceptor.Messages);
        Assert.Contains(server.Logs, e => e.Exception is InvalidOperationException && e.Message.StartsWith("Could not accept", StringComparison.Ordinal));

        // The failed transaction is gone (the client keeps responsibility); a new one starts from MAIL.
        (await client.CommandAsync("RCPT TO:<b@example.net>")).AssertIs(503, "5.5.1");
        (await client.SendMessageAsync("a@example.org", ["b@example.net"], "Subject: retry\r\n\r\nx\r\n")).AssertQueued();
        Assert.Equal(2, server.Acceptor.Calls);
        SmtpTestHelpers.AssertReceivedHeaderThenBody(Assert.Single(server.Acceptor.Messages), SmtpTestHelpers.Ascii("Subject: retry\r\n\r\nx\r\n"));
    }

    [Fact]
    public async Task Denied_connection_gets_421_4_7_0_and_is_closed()
    {
        await using var server = await SmtpTestServer.StartAsync(policy: new TestConnectionPolicy(allow: false));
        await using var client = await server.ConnectAsync();

        var reply = (await client.ReadReplyAsync()).AssertIs(421, "4.7.0");
        Assert.StartsWith("4.7.0 mx.test ", reply.Text, StringComparison.Ordinal);
        await client.AssertClosedByServerAsync();
        Assert.Equal([IPAddress.Loopback], server.Policy.Clients);
    }

    [Fact]
    public async Task A_failing_connection_policy_gets_421_4_3_0_instead_of_a_silent_close()
    {
        await using var server = await SmtpTestServer.StartAsync(policy: new TestConnectionPolicy(allow: true, fail: true));
        await using var client = await server.ConnectAsync();

        (await client.ReadReplyAsync()).AssertIs(421, "4.3.0");
        await client.AssertClosedByServerAsync();
    }

    [Fact]
    public async Task Silence_after_the_greeting_beyond_CommandTimeout_gets_421_4_4_2_and_close()
    {
        await using var server = await SmtpTestServer.StartAsync(new Dictionary<string, string?> { ["CommandTimeout"] = "00:00:00.5" });
        var stopwatch = Stopwatch.StartNew();
        await using var client = await server.ConnectAsync();
        (await client.ReadReplyAsync()).AssertIs(220);

        (await client.ReadReplyAsync(TimeoutBound)).AssertIs(421, "4.4.2");
        await client.AssertClosedByServerAsync(TimeoutBound);
        // It was the timeout, not an immediate error: at least (about) the configured half second passed.
        Assert.True(stopwatch.Elapsed >= TimeSpan.FromMilliseconds(400), $"421 after only {stopwatch.Elapsed}");
        Assert.Empty(server.SessionFailures);
    }

    [Fact]
    public async Task Silence_during_DATA_beyond_DataTimeout_gets_421_4_4_2_close_and_nothing_accepted()
    {
        await using var server = await SmtpTestServer.StartAsync(new Dictionary<string, string?> { ["DataTimeout"] = "00:00:00.5" });
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<b@example.net>")).AssertIs(250, "2.1.5");
        (await client.CommandAsync("DATA")).AssertIs(354);
        await client.SendAsync("Subject: unfinished\r\n\r\nand then nothing more");

        (await client.ReadReplyAsync(TimeoutBound)).AssertIs(421, "4.4.2");
        await client.AssertClosedByServerAsync(TimeoutBound);
        Assert.Equal(0, server.Acceptor.Calls);
        Assert.Empty(server.SessionFailures);
    }

    [Fact]
    public async Task Client_that_pipelines_but_never_reads_replies_is_dropped_after_CommandTimeout()
    {
        // Without a bound on writing replies, a session whose client never reads would wait forever once the
        // socket buffers are full: the read timeouts never start, because the server is stuck flushing.
        await using var server = await SmtpTestServer.StartAsync(new Dictionary<string, string?> { ["CommandTimeout"] = "00:00:00.5" });
        await using var client = await server.ConnectAndEhloAsync();

        var batch = System.Text.Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("NOOP\r\n", 10_000)));
        Assert.True(await client.FloodUntilDroppedAsync(batch, TimeSpan.FromSeconds(30)), "The server kept the connection of a client that never reads.");
        Assert.Empty(server.SessionFailures);
    }

    [Fact]
    public async Task Reaching_MaxErrors_gets_421_4_7_0_after_the_last_error_reply_and_close()
    {
        await using var server = await SmtpTestServer.StartAsync(new Dictionary<string, string?> { ["MaxErrors"] = "3" });
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("FOO")).AssertIs(500, "5.5.2");
        (await client.CommandAsync("RCPT TO:<b@example.net>")).AssertIs(503, "5.5.1");
        (await client.CommandAsync("BAR")).AssertIs(500, "5.5.2");
        (await client.ReadReplyAsync()).AssertIs(421, "4.7.0");
        await client.AssertClosedByServerAsync();
    }

    [Fact]
    public async Task Successful_commands_do_not_count_toward_MaxErrors()
    {
        await using var server = await SmtpTestServer.StartAsync(new Dictionary<string, string?> { ["MaxErrors"] = "3", ["MaxRecipients"] = "1" });
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("FOO")).AssertIs(500, "5.5.2");
        (await client.CommandAsync("BAR")).AssertIs(500, "5.5.2");
        for (var i = 0; i < 5; i++)
        {
            (await client.CommandAsync("NOOP")).AssertIs(250, "2.0.0");
        }

        // 452 for too many recipients is not a client error either (RFC 5321 §4.5.3.1.10).
        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<b@example.net>")).AssertIs(250, "2.1.5");
        (await client.CommandAsync("RCPT TO:<c@example.net>")).AssertIs(452, "4.5.3");
        (await client.CommandAsync("RCPT TO:<d@example.net>")).AssertIs(452, "4.5.3");
        (await client.CommandAsync("NOOP")).AssertIs(250, "2.0.0");
    }

    [Fact]
    public async Task Host_shutdown_tells_an_idle_session_421_4_3_2_and_closes_it()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        await server.StopAsync();

        (await client.ReadReplyAsync()).AssertIs(421, "4.3.2");
        await client.AssertClosedByServerAsync();
    }

    [Fact]
    public async Task Client_vanishing_in_the_middle_of_DATA_accepts_nothing_and_fails_no_session()
    {
        await using var server = await SmtpTestServer.StartAsync();
        var client = await server.ConnectAndEhloAsync();
        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<b@example.net>")).AssertIs(250, "2.1.5");
        (await client.CommandAsync("DATA")).AssertIs(354);
        await client.SendAsync("Subject: cut off\r\n\r\npartial");
        await client.DisposeAsync();

        // Stopping waits for every session to end, so afterwards the outcome is final.
        await server.StopAsync();
        Assert.Equal(0, server.Acceptor.Calls);
        Assert.Empty(server.SessionFailures);
    }

    [Fact]
    public async Task Invalid_RelayNetworks_entry_stops_the_host_from_starting()
    {
        var error = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() =>
            SmtpTestServer.StartAsync(new Dictionary<string, string?> { ["RelayNetworks:0"] = "not-a-network" }));
        Assert.Contains("RelayNetworks", error.Message, StringComparison.Ordinal);
    }
}
