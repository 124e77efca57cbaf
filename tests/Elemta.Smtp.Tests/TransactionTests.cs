using System.Text;

namespace Elemta.Smtp.Tests;

/// <summary>A mail transaction end to end (RFC 5321 §3.3, §4.5.2 transparency, §4.4 trace information).</summary>
public sealed class TransactionTests
{
    [Fact]
    public async Task Full_transaction_is_queued_and_the_acceptor_gets_envelope_and_exact_unstuffed_content()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("MAIL FROM:<sender@example.org>")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<first@example.net>")).AssertIs(250, "2.1.5");
        (await client.CommandAsync("RCPT TO:<second@example.com>")).AssertIs(250, "2.1.5");
        (await client.CommandAsync("RCPT TO:<first@example.net>")).AssertIs(250, "2.1.5");
        var dataReply = (await client.CommandAsync("DATA")).AssertIs(354);
        Assert.Null(dataReply.EnhancedCode); // RFC 2034: no enhanced code on 354
        var before = DateTimeOffset.UtcNow;
        await client.SendAsync(
            "From: sender@example.org\r\n" +
            "Subject: full transaction\r\n" +
            "\r\n" +
            "first line\r\n" +
            "..x\r\n" +
            "...\r\n" +
            "a..b.\r\n" +
            "\r\n" +
            "last line\r\n" +
            ".\r\n");
        var id = (await client.ReadReplyAsync()).AssertQueued();
        (await client.CommandAsync("QUIT")).AssertIs(221, "2.0.0");

        var message = Assert.Single(server.Acceptor.Messages);
        var envelope = message.Envelope;
        Assert.Equal(id, envelope.MessageId);
        Assert.Equal("sender@example.org", envelope.Sender);
        Assert.Equal<string>(["first@example.net", "second@example.com"], envelope.Recipients);
        Assert.Equal("127.0.0.1", envelope.ClientAddress);
        Assert.Equal("client.test", envelope.HeloName);
        Assert.Equal(message.Content.Length, envelope.Size);
        Assert.InRange(envelope.ReceivedAt, before.AddMinutes(-1), DateTimeOffset.UtcNow.AddMinutes(1));

        var expectedBody = SmtpTestHelpers.Ascii(
            "From: sender@example.org\r\n" +
            "Subject: full transaction\r\n" +
            "\r\n" +
            "first line\r\n" +
            ".x\r\n" +
            "..\r\n" +
            "a..b.\r\n" +
            "\r\n" +
            "last line\r\n");
        var header = SmtpTestHelpers.AssertReceivedHeaderThenBody(message, expectedBody);
        // With more than one recipient the trace header names none of them (no Bcc disclosure).
        Assert.DoesNotContain("for <", header, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Received_header_names_the_recipient_when_there_is_exactly_one()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        var body = "Subject: one\r\n\r\nbody\r\n";
        (await client.SendMessageAsync("a@example.org", ["only@example.net"], body)).AssertQueued();

        var header = SmtpTestHelpers.AssertReceivedHeaderThenBody(Assert.Single(server.Acceptor.Messages), SmtpTestHelpers.Ascii(body));
        Assert.Contains("\r\n\tfor <only@example.net>;\r\n", header, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Leading_dot_is_removed_exactly_once_from_every_line_that_has_one()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.SendMessageAsync("a@example.org", ["b@example.net"], "..\r\n. \r\n.. .\r\n....\r\nend.\r\n"))
            .AssertQueued();

        SmtpTestHelpers.AssertReceivedHeaderThenBody(
            Assert.Single(server.Acceptor.Messages),
            SmtpTestHelpers.Ascii(".\r\n \r\n. .\r\n...\r\nend.\r\n"));
    }

    [Fact]
    public async Task Empty_message_is_accepted_with_only_the_Received_header()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<b@example.net>")).AssertIs(250, "2.1.5");
        (await client.CommandAsync("DATA")).AssertIs(354);
        await client.SendAsync(".\r\n");
        (await client.ReadReplyAsync()).AssertQueued();

        var message = Assert.Single(server.Acceptor.Messages);
        var text = Encoding.UTF8.GetString(message.Content);
        Assert.StartsWith("Received: ", text, StringComparison.Ordinal);
        Assert.EndsWith(" +0000\r\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Null_sender_is_accepted_and_recorded_as_empty()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("MAIL FROM:<>")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<bounce-target@example.net>")).AssertIs(250, "2.1.5");
        (await client.CommandAsync("DATA")).AssertIs(354);
        await client.SendAsync("Subject: delivery status\r\n\r\nfailed\r\n.\r\n");
        (await client.ReadReplyAsync()).AssertQueued();

        Assert.Equal(string.Empty, Assert.Single(server.Acceptor.Messages).Envelope.Sender);
    }

    [Fact]
    public async Task Mail_parameters_SIZE_and_BODY_8BITMIME_within_limits_are_accepted_and_8bit_content_kept()
    {
        await using var server = await SmtpTestServer.StartAsync(new Dictionary<string, string?> { ["MaxMessageSize"] = "2048" });
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("MAIL FROM:<a@example.org> SIZE=2048 BODY=8BITMIME")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<b@example.net>")).AssertIs(250, "2.1.5");
        (await client.CommandAsync("DATA")).AssertIs(354);
        var body = Encoding.UTF8.GetBytes("Subject: 8bit\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nGrüße, 你好\r\n");
        await client.SendAsync([.. body, .. ".\r\n"u8]);
        (await client.ReadReplyAsync()).AssertQueued();

        SmtpTestHelpers.AssertReceivedHeaderThenBody(Assert.Single(server.Acceptor.Messages), body);
    }

    [Fact]
    public async Task Several_transactions_on_one_connection_are_separate_messages()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        var first = (await client.SendMessageAsync("a@example.org", ["one@example.net"], "Subject: 1\r\n\r\none\r\n")).AssertQueued();
        var second = (await client.SendMessageAsync("b@example.org", ["two@example.net"], "Subject: 2\r\n\r\ntwo\r\n")).AssertQueued();

        Assert.NotEqual(first, second);
        var messages = server.Acceptor.Messages;
        Assert.Equal(2, messages.Count);
        Assert.Equal(("a@example.org", "one@example.net"), (messages[0].Envelope.Sender, Assert.Single(messages[0].Envelope.Recipients)));
        Assert.Equal(("b@example.org", "two@example.net"), (messages[1].Envelope.Sender, Assert.Single(messages[1].Envelope.Recipients)));
    }
}
