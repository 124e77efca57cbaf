using System.Net;
using System.Text;

namespace Elemta.Testing.Tests;

/// <summary>Protocol details checked with a bare socket, where the exact bytes on the wire matter.</summary>
public sealed class SmtpSinkProtocolTests
{
    [Fact]
    public async Task Pipelined_commands_in_one_packet_are_all_answered_in_order()
    {
        await using var sink = SmtpSink.Start();
        sink.OnRecipient = a => a == "bad@example.net" ? new SmtpSinkReply(550, "5.1.1 No such user") : null;
        await using var client = await RawSmtpClient.ConnectAsync(sink.EndPoint);
        Assert.StartsWith("220 ", await client.ReadReplyLineAsync(), StringComparison.Ordinal);

        var ehlo = await SendAndReadAsync(client, "EHLO client.test\r\n");
        Assert.Equal(
            ["250-sink.localhost Hello client.test", "250-PIPELINING", "250-8BITMIME", "250-SMTPUTF8",
             $"250-SIZE {sink.MaxMessageSize}", "250 ENHANCEDSTATUSCODES"],
            ehlo);

        // RFC 2920: the whole group up to DATA in one write.
        await client.SendAsync(
            "MAIL FROM:<a@example.org> BODY=8BITMIME SIZE=100\r\n" +
            "RCPT TO:<b@example.net>\r\n" +
            "RCPT TO:<bad@example.net>\r\n" +
            "RCPT TO:<c@example.net> NOTIFY=NEVER\r\n" +
            "DATA\r\n");
        Assert.Equal("250 2.1.0 Ok", await client.ReadReplyLineAsync());
        Assert.Equal("250 2.1.5 Ok", await client.ReadReplyLineAsync());
        Assert.Equal("550 5.1.1 No such user", await client.ReadReplyLineAsync());
        Assert.Equal("250 2.1.5 Ok", await client.ReadReplyLineAsync());
        Assert.StartsWith("354 ", await client.ReadReplyLineAsync(), StringComparison.Ordinal);

        // Body, end of data and the next transaction's commands, all in one packet.
        await client.SendAsync(
            "Subject: x\r\n\r\n..stuffed\r\n.\r\n" +
            "RSET\r\nNOOP\r\nMAIL FROM:<>\r\nRCPT TO:<d@example.net>\r\nDATA\r\n");
        Assert.StartsWith("250 2.0.0 Ok", await client.ReadReplyLineAsync(), StringComparison.Ordinal);
        Assert.Equal("250 2.0.0 Ok", await client.ReadReplyLineAsync());
        Assert.Equal("250 2.0.0 Ok", await client.ReadReplyLineAsync());
        Assert.Equal("250 2.1.0 Ok", await client.ReadReplyLineAsync());
        Assert.Equal("250 2.1.5 Ok", await client.ReadReplyLineAsync());
        Assert.StartsWith("354 ", await client.ReadReplyLineAsync(), StringComparison.Ordinal);
        Assert.StartsWith("250 ", await SendAndReadLastAsync(client, "bounce\r\n.\r\n"), StringComparison.Ordinal);
        Assert.Equal("221 2.0.0 Bye", await SendAndReadLastAsync(client, "QUIT\r\n"));
        Assert.True(await client.IsClosedByServerAsync());

        var messages = sink.Messages;
        Assert.Equal(2, messages.Count);
        Assert.Equal("a@example.org", messages[0].MailFrom);
        Assert.Equal(["b@example.net", "c@example.net"], messages[0].Recipients);
        Assert.Equal("Subject: x\r\n\r\n.stuffed\r\n"u8.ToArray(), messages[0].Data);
        Assert.Equal(string.Empty, messages[1].MailFrom);
        Assert.Equal("bounce\r\n"u8.ToArray(), messages[1].Data);
    }

    [Fact]
    public async Task Data_split_across_packets_keeps_lines_and_dots_exact()
    {
        await using var sink = SmtpSink.Start();
        await using var client = await RawSmtpClient.ConnectAsync(sink.EndPoint);
        await client.ReadReplyAsync();
        await SendAndReadAsync(client, "HELO h\r\n");
        await SendAndReadAsync(client, "MAIL FROM:<a@example.org>\r\n");
        await SendAndReadAsync(client, "RCPT TO:<b@example.net>\r\n");
        await SendAndReadAsync(client, "DATA\r\n");

        // Split inside a line, between CR and LF and just before the dot of the end marker.
        await client.SendAsync("line one\r\n..do");
        await client.SendAsync("tted\r");
        await client.SendAsync("\nnot.a.marker\r\n.x\r\n\r\n");
        await client.SendAsync(".\r\n");
        Assert.StartsWith("250 ", await client.ReadReplyLineAsync(), StringComparison.Ordinal);

        var message = await sink.WaitForMessageAsync(_ => true, TestTimeouts.Long);
        Assert.Equal("h", message.HeloName);
        Assert.Equal("line one\r\n.dotted\r\nnot.a.marker\r\nx\r\n\r\n", Encoding.ASCII.GetString(message.Data));
    }

    [Fact]
    public async Task Commands_out_of_sequence_get_503_and_unknown_ones_500()
    {
        await using var sink = SmtpSink.Start();
        await using var client = await RawSmtpClient.ConnectAsync(sink.EndPoint);
        await client.ReadReplyAsync();

        Assert.StartsWith("503 5.5.1", await SendAndReadLastAsync(client, "MAIL FROM:<a@example.org>\r\n"), StringComparison.Ordinal);
        await SendAndReadAsync(client, "EHLO client.test\r\n");
        Assert.StartsWith("503 5.5.1", await SendAndReadLastAsync(client, "RCPT TO:<b@example.net>\r\n"), StringComparison.Ordinal);
        Assert.StartsWith("503 5.5.1", await SendAndReadLastAsync(client, "DATA\r\n"), StringComparison.Ordinal);
        Assert.StartsWith("501 5.5.4", await SendAndReadLastAsync(client, "MAIL TO:<a@example.org>\r\n"), StringComparison.Ordinal);
        Assert.StartsWith("250 ", await SendAndReadLastAsync(client, "MAIL FROM:<a@example.org>\r\n"), StringComparison.Ordinal);
        Assert.StartsWith("503 5.5.1", await SendAndReadLastAsync(client, "MAIL FROM:<a@example.org>\r\n"), StringComparison.Ordinal);
        Assert.StartsWith("503 5.5.1", await SendAndReadLastAsync(client, "DATA\r\n"), StringComparison.Ordinal);
        Assert.StartsWith("502 5.5.1", await SendAndReadLastAsync(client, "STARTTLS\r\n"), StringComparison.Ordinal);
        Assert.StartsWith("500 5.5.2", await SendAndReadLastAsync(client, "XYZZY\r\n"), StringComparison.Ordinal);
        Assert.StartsWith("250 ", await SendAndReadLastAsync(client, "RSET\r\n"), StringComparison.Ordinal);
        Assert.StartsWith("552 5.3.4", await SendAndReadLastAsync(client, "MAIL FROM:<a@example.org> SIZE=999999999999\r\n"), StringComparison.Ordinal);
        Assert.Empty(sink.Messages);
    }

    [Fact]
    public async Task Greeting_554_refuses_commands_until_QUIT()
    {
        await using var sink = SmtpSink.Start();
        sink.ConnectReply = new SmtpSinkReply(554, "5.3.2 No service here");
        await using var client = await RawSmtpClient.ConnectAsync(sink.EndPoint);

        Assert.Equal("554 5.3.2 No service here", await client.ReadReplyLineAsync());
        Assert.StartsWith("503 ", await SendAndReadLastAsync(client, "EHLO client.test\r\n"), StringComparison.Ordinal);
        Assert.StartsWith("221 ", await SendAndReadLastAsync(client, "QUIT\r\n"), StringComparison.Ordinal);
        Assert.True(await client.IsClosedByServerAsync());
    }

    [Fact]
    public async Task Reply_421_from_a_hook_closes_the_connection()
    {
        await using var sink = SmtpSink.Start();
        sink.OnMailFrom = _ => new SmtpSinkReply(421, "4.3.2 Shutting down");
        await using var client = await RawSmtpClient.ConnectAsync(sink.EndPoint);
        await client.ReadReplyAsync();
        await SendAndReadAsync(client, "EHLO client.test\r\n");

        // Commands pipelined after the 421 stay unread; the reply must still reach the client intact.
        await client.SendAsync("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n");
        Assert.Equal("421 4.3.2 Shutting down", await client.ReadReplyLineAsync());
        Assert.True(await client.IsClosedByServerAsync());
    }

    [Fact]
    public async Task Overlong_command_line_is_refused_and_the_connection_closed()
    {
        await using var sink = SmtpSink.Start();
        await using var client = await RawSmtpClient.ConnectAsync(sink.EndPoint);
        await client.ReadReplyAsync();

        Assert.Equal("500 5.5.2 Line too long", await SendAndReadLastAsync(client, "NOOP " + new string('x', 5000) + "\r\n"));
        Assert.True(await client.IsClosedByServerAsync());
    }

    [Fact]
    public async Task Multi_line_scripted_reply_uses_continuation_lines()
    {
        await using var sink = SmtpSink.Start();
        sink.OnRecipient = _ => new SmtpSinkReply(452, "4.2.2 Mailbox full\n4.2.2 Try later");
        await using var client = await RawSmtpClient.ConnectAsync(sink.EndPoint);
        await client.ReadReplyAsync();
        await SendAndReadAsync(client, "EHLO client.test\r\n");
        await SendAndReadAsync(client, "MAIL FROM:<a@example.org>\r\n");

        Assert.Equal(
            ["452-4.2.2 Mailbox full", "452 4.2.2 Try later"],
            await SendAndReadAsync(client, "RCPT TO:<b@example.net>\r\n"));
        Assert.StartsWith("554 5.5.1", await SendAndReadLastAsync(client, "DATA\r\n"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Hook_exception_answers_451_and_is_reported()
    {
        await using var sink = SmtpSink.Start();
        sink.OnRecipient = _ => throw new InvalidOperationException("boom");
        await using var client = await RawSmtpClient.ConnectAsync(sink.EndPoint);
        await client.ReadReplyAsync();
        await SendAndReadAsync(client, "EHLO client.test\r\n");
        await SendAndReadAsync(client, "MAIL FROM:<a@example.org>\r\n");

        Assert.StartsWith("451 4.3.0", await SendAndReadLastAsync(client, "RCPT TO:<b@example.net>\r\n"), StringComparison.Ordinal);
        Assert.IsType<InvalidOperationException>(Assert.Single(sink.Errors));
    }

    [Fact]
    public async Task Connection_closed_in_the_middle_of_DATA_records_nothing()
    {
        await using var sink = SmtpSink.Start();
        await using (var client = await RawSmtpClient.ConnectAsync(sink.EndPoint))
        {
            await client.ReadReplyAsync();
            await SendAndReadAsync(client, "EHLO client.test\r\n");
            await SendAndReadAsync(client, "MAIL FROM:<a@example.org>\r\n");
            await SendAndReadAsync(client, "RCPT TO:<b@example.net>\r\n");
            await SendAndReadAsync(client, "DATA\r\n");
            await client.SendAsync("Subject: cut\r\n\r\nhalf a messa");
        }

        await Assert.ThrowsAsync<TimeoutException>(() => sink.WaitForCountAsync(1, TimeSpan.FromMilliseconds(200)));
        Assert.Empty(sink.Errors);
    }

    [Fact]
    public async Task WaitForCountAsync_times_out_with_a_helpful_message()
    {
        await using var sink = SmtpSink.Start();

        var error = await Assert.ThrowsAsync<TimeoutException>(() => sink.WaitForCountAsync(1, TimeSpan.FromMilliseconds(200)));

        Assert.Contains("Expected at least 1 message(s)", error.Message, StringComparison.Ordinal);
        Assert.Contains("0 message(s) arrived over 0 connection(s)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WaitForMessageAsync_times_out_listing_what_arrived()
    {
        await using var sink = SmtpSink.Start();
        await DeliverAsync(sink, "a@example.org", "b@example.net");

        var error = await Assert.ThrowsAsync<TimeoutException>(() =>
            sink.WaitForMessageAsync(m => m.MailFrom == "nobody@example.org", TimeSpan.FromMilliseconds(200)));

        Assert.Contains("1 message(s) arrived over 1 connection(s)", error.Message, StringComparison.Ordinal);
        Assert.Contains("MAIL FROM:<a@example.org> RCPT TO:[b@example.net]", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Waits_are_cancellable_and_fail_when_the_sink_is_disposed()
    {
        var sink = SmtpSink.Start();
        using var cancellation = new CancellationTokenSource();
        var cancelled = sink.WaitForCountAsync(1, Timeout.InfiniteTimeSpan, cancellation.Token);
        var disposed = sink.WaitForMessageAsync(_ => true, Timeout.InfiniteTimeSpan);

        await cancellation.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);

        await sink.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => disposed);
    }

    [Fact]
    public async Task Dispose_closes_open_sessions_and_stops_listening()
    {
        var sink = SmtpSink.Start();
        var endPoint = sink.EndPoint;
        await using var client = await RawSmtpClient.ConnectAsync(endPoint);
        await client.ReadReplyAsync();

        await sink.DisposeAsync();

        Assert.True(await client.IsClosedByServerAsync());
        await Assert.ThrowsAnyAsync<System.Net.Sockets.SocketException>(() => RawSmtpClient.ConnectAsync(endPoint));
    }

    [Fact]
    public async Task Many_concurrent_connections_are_served()
    {
        await using var sink = SmtpSink.Start();
        const int Connections = 20;

        await Task.WhenAll(Enumerable.Range(0, Connections)
            .Select(i => DeliverAsync(sink, $"s{i}@example.org", $"r{i}@example.net")));

        await sink.WaitForCountAsync(Connections, TestTimeouts.Long);
        Assert.Equal(Connections, sink.ConnectionCount);
        Assert.Equal(Connections, sink.Messages.Select(m => m.MailFrom).Distinct().Count());
    }

    [Fact]
    public void Start_refuses_a_non_loopback_address() =>
        Assert.Throws<ArgumentException>(() => SmtpSink.Start(IPAddress.Any));

    private static async Task DeliverAsync(SmtpSink sink, string from, string to)
    {
        await using var client = await RawSmtpClient.ConnectAsync(sink.EndPoint);
        await client.ReadReplyAsync();
        await SendAndReadAsync(client, "EHLO client.test\r\n");
        await SendAndReadAsync(client, $"MAIL FROM:<{from}>\r\n");
        await SendAndReadAsync(client, $"RCPT TO:<{to}>\r\n");
        await SendAndReadAsync(client, "DATA\r\n");
        Assert.StartsWith("250 ", await SendAndReadLastAsync(client, "Subject: t\r\n\r\nbody\r\n.\r\n"), StringComparison.Ordinal);
        await SendAndReadAsync(client, "QUIT\r\n");
    }

    private static async Task<IReadOnlyList<string>> SendAndReadAsync(RawSmtpClient client, string command)
    {
        await client.SendAsync(command);
        return await client.ReadReplyAsync();
    }

    private static async Task<string> SendAndReadLastAsync(RawSmtpClient client, string command) =>
        (await SendAndReadAsync(client, command))[^1];
}
