using System.Text;

namespace Elemta.Smtp.Tests;

/// <summary>Size and count limits (RFC 5321 §4.5.3.1; RFC 1870 SIZE).</summary>
public sealed class LimitTests
{
    [Fact]
    public async Task Command_line_over_512_octets_is_500_5_5_2_and_the_session_continues()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        // 513 octets with the CRLF: one over the limit of RFC 5321 §4.5.3.1.4.
        (await client.CommandAsync("NOOP " + new string('x', 506))).AssertIs(500, "5.5.2");
        (await client.CommandAsync("NOOP")).AssertIs(250, "2.0.0");
        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250, "2.1.0");
    }

    [Fact]
    public async Task Command_line_of_exactly_512_octets_is_accepted()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("NOOP " + new string('x', 505))).AssertIs(250, "2.0.0");
    }

    [Fact]
    public async Task Very_long_line_arriving_in_many_reads_is_one_500_and_is_not_executed()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        // Far longer than the server's read buffer: it must discard up to the LF rather than buffer it, and the tail
        // of the line must not be taken for a command of its own.
        await client.SendAsync("NOOP " + new string('x', 100_000) + " QUIT\r\n");
        (await client.ReadReplyAsync()).AssertIs(500, "5.5.2");
        (await client.CommandAsync("NOOP")).AssertIs(250, "2.0.0");
    }

    [Fact]
    public async Task Message_over_MaxMessageSize_is_552_5_3_4_after_the_end_of_data_and_nothing_is_accepted()
    {
        await using var server = await SmtpTestServer.StartAsync(new Dictionary<string, string?> { ["MaxMessageSize"] = "2048" });
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<b@example.net>")).AssertIs(250, "2.1.5");
        (await client.CommandAsync("DATA")).AssertIs(354);
        var line = new string('y', 98) + "\r\n";
        await client.SendAsync("Subject: big\r\n\r\n" + string.Concat(Enumerable.Repeat(line, 30)) + ".\r\n");

        (await client.ReadReplyAsync()).AssertIs(552, "5.3.4");
        Assert.Equal(0, server.Acceptor.Calls);

        // The session is in step again: the next (small) message goes through.
        (await client.SendMessageAsync("a@example.org", ["b@example.net"], "Subject: small\r\n\r\nok\r\n")).AssertQueued();
        Assert.Single(server.Acceptor.Messages);
    }

    [Fact]
    public async Task Message_over_MaxMessageSize_in_one_huge_line_is_552_5_3_4()
    {
        await using var server = await SmtpTestServer.StartAsync(new Dictionary<string, string?> { ["MaxMessageSize"] = "2048" });
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<b@example.net>")).AssertIs(250, "2.1.5");
        (await client.CommandAsync("DATA")).AssertIs(354);
        await client.SendAsync("Subject: big\r\n\r\n" + new string('z', 200_000) + "\r\n.\r\n");

        (await client.ReadReplyAsync()).AssertIs(552, "5.3.4");
        (await client.CommandAsync("NOOP")).AssertIs(250, "2.0.0");
        Assert.Equal(0, server.Acceptor.Calls);
    }

    [Fact]
    public async Task Message_of_exactly_MaxMessageSize_octets_after_unstuffing_is_accepted()
    {
        await using var server = await SmtpTestServer.StartAsync(new Dictionary<string, string?> { ["MaxMessageSize"] = "2048" });
        await using var client = await server.ConnectAndEhloAsync();

        var header = "Subject: exact\r\n\r\n";
        // A dot-stuffed line: its extra dot is on the wire but not in the message.
        var stuffed = "..dot\r\n";
        var remaining = 2048 - header.Length - (stuffed.Length - 1);
        var fill = string.Concat(Enumerable.Repeat(new string('f', 98) + "\r\n", remaining / 100))
                   + new string('g', (remaining % 100) - 2) + "\r\n";
        var body = header + ".dot\r\n" + fill;
        Assert.Equal(2048, Encoding.ASCII.GetByteCount(body));

        (await client.SendMessageAsync("a@example.org", ["b@example.net"], header + stuffed + fill)).AssertQueued();
        SmtpTestHelpers.AssertReceivedHeaderThenBody(Assert.Single(server.Acceptor.Messages), Encoding.ASCII.GetBytes(body));
    }

    [Fact]
    public async Task Recipient_beyond_MaxRecipients_is_452_4_5_3_and_the_others_still_get_the_message()
    {
        await using var server = await SmtpTestServer.StartAsync(new Dictionary<string, string?> { ["MaxRecipients"] = "3" });
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<r1@example.net>")).AssertIs(250, "2.1.5");
        (await client.CommandAsync("RCPT TO:<r2@example.net>")).AssertIs(250, "2.1.5");
        (await client.CommandAsync("RCPT TO:<r3@example.net>")).AssertIs(250, "2.1.5");
        (await client.CommandAsync("RCPT TO:<r4@example.net>")).AssertIs(452, "4.5.3");
        (await client.CommandAsync("DATA")).AssertIs(354);
        await client.SendAsync("Subject: many\r\n\r\nx\r\n.\r\n");
        (await client.ReadReplyAsync()).AssertQueued();

        Assert.Equal<string>(["r1@example.net", "r2@example.net", "r3@example.net"], Assert.Single(server.Acceptor.Messages).Envelope.Recipients);
    }
}
