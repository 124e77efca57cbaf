namespace Elemta.Smtp.Tests;

/// <summary>Command pipelining (RFC 2920): a batch sent in one write gets every reply, in order.</summary>
public sealed class PipeliningTests
{
    [Fact]
    public async Task Mail_two_rcpt_and_data_in_one_write_get_four_replies_in_order()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        await client.SendAsync(
            "MAIL FROM:<a@example.org>\r\n" +
            "RCPT TO:<one@example.net>\r\n" +
            "RCPT TO:<two@example.net>\r\n" +
            "DATA\r\n");
        var replies = await client.ReadRepliesAsync(4);

        replies[0].AssertIs(250, "2.1.0");
        replies[1].AssertIs(250, "2.1.5");
        replies[2].AssertIs(250, "2.1.5");
        replies[3].AssertIs(354);

        await client.SendAsync("Subject: pipelined\r\n\r\nbody\r\n.\r\n");
        (await client.ReadReplyAsync()).AssertQueued();
        var message = Assert.Single(server.Acceptor.Messages);
        Assert.Equal<string>(["one@example.net", "two@example.net"], message.Envelope.Recipients);
        SmtpTestHelpers.AssertReceivedHeaderThenBody(message, SmtpTestHelpers.Ascii("Subject: pipelined\r\n\r\nbody\r\n"));
    }

    [Fact]
    public async Task Two_whole_transactions_and_quit_in_a_single_write_are_two_messages_and_nine_replies()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        await client.SendAsync(
            "MAIL FROM:<first@example.org>\r\n" +
            "RCPT TO:<one@example.net>\r\n" +
            "DATA\r\n" +
            "Subject: first\r\n\r\n..dot\r\n.\r\n" +
            "MAIL FROM:<second@example.org>\r\n" +
            "RCPT TO:<two@example.net>\r\n" +
            "DATA\r\n" +
            "Subject: second\r\n\r\nsecond body\r\n.\r\n" +
            "QUIT\r\n");
        var replies = await client.ReadRepliesAsync(9);

        replies[0].AssertIs(250, "2.1.0");
        replies[1].AssertIs(250, "2.1.5");
        replies[2].AssertIs(354);
        var firstId = replies[3].AssertQueued();
        replies[4].AssertIs(250, "2.1.0");
        replies[5].AssertIs(250, "2.1.5");
        replies[6].AssertIs(354);
        var secondId = replies[7].AssertQueued();
        replies[8].AssertIs(221, "2.0.0");
        await client.AssertClosedByServerAsync();

        var messages = server.Acceptor.Messages;
        Assert.Equal(2, messages.Count);
        Assert.Equal(firstId, messages[0].Envelope.MessageId);
        Assert.Equal("first@example.org", messages[0].Envelope.Sender);
        SmtpTestHelpers.AssertReceivedHeaderThenBody(messages[0], SmtpTestHelpers.Ascii("Subject: first\r\n\r\n.dot\r\n"));
        Assert.Equal(secondId, messages[1].Envelope.MessageId);
        Assert.Equal("second@example.org", messages[1].Envelope.Sender);
        SmtpTestHelpers.AssertReceivedHeaderThenBody(messages[1], SmtpTestHelpers.Ascii("Subject: second\r\n\r\nsecond body\r\n"));
    }

    [Fact]
    public async Task A_failing_command_in_a_batch_does_not_stop_the_batch()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        await client.SendAsync(
            "MAIL FROM:<a@example.org>\r\n" +
            "RCPT TO:<bad address>\r\n" +
            "RCPT TO:<good@example.net>\r\n" +
            "DATA\r\n");
        var replies = await client.ReadRepliesAsync(4);

        replies[0].AssertIs(250, "2.1.0");
        replies[1].AssertIs(501, "5.1.3");
        replies[2].AssertIs(250, "2.1.5");
        replies[3].AssertIs(354);
        await client.SendAsync("Subject: x\r\n\r\nx\r\n.\r\n");
        (await client.ReadReplyAsync()).AssertQueued();
        Assert.Equal<string>(["good@example.net"], Assert.Single(server.Acceptor.Messages).Envelope.Recipients);
    }

    [Fact]
    public async Task Commands_ending_in_bare_LF_are_tolerated()
    {
        // Postfix-compatible leniency for commands; bare LF is refused only inside message content.
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        await client.SendAsync("NOOP\nNOOP\r\n");
        var replies = await client.ReadRepliesAsync(2);
        replies[0].AssertIs(250, "2.0.0");
        replies[1].AssertIs(250, "2.0.0");
    }
}
