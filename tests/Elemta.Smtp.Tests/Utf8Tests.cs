using System.Text;

namespace Elemta.Smtp.Tests;

/// <summary>Internationalised email (RFC 6531 SMTPUTF8): UTF-8 addresses kept exactly as given.</summary>
public sealed class Utf8Tests
{
    [Fact]
    public async Task Smtputf8_sender_and_recipient_are_accepted_and_preserved_in_the_envelope()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("MAIL FROM:<用户@例子.测试> SMTPUTF8")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<收件人@例子.测试>")).AssertIs(250, "2.1.5");
        (await client.CommandAsync("RCPT TO:<josé@bücher.example>")).AssertIs(250, "2.1.5");
        (await client.CommandAsync("DATA")).AssertIs(354);
        var body = Encoding.UTF8.GetBytes("From: 用户@例子.测试\r\nSubject: 你好\r\n\r\n正文\r\n");
        await client.SendAsync([.. body, .. ".\r\n"u8]);
        (await client.ReadReplyAsync()).AssertQueued();

        var message = Assert.Single(server.Acceptor.Messages);
        Assert.Equal("用户@例子.测试", message.Envelope.Sender);
        Assert.Equal<string>(["收件人@例子.测试", "josé@bücher.example"], message.Envelope.Recipients);
        SmtpTestHelpers.AssertReceivedHeaderThenBody(message, body);
    }

    [Fact]
    public async Task Invalid_UTF_8_in_MAIL_or_RCPT_is_refused_500_5_5_2_not_decoded_into_another_address()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        // A lone continuation octet, a truncated sequence and an overlong encoding of '@' (C0 80): each would decode to
        // U+FFFD, a different and valid address, if the line were decoded leniently.
        foreach (var bad in new byte[][] { [0x80], [0xC3], [0xC0, 0x80] })
        {
            await client.SendAsync([.. "MAIL FROM:<a"u8, .. bad, .. "b@example.org> SMTPUTF8\r\n"u8]);
            (await client.ReadReplyAsync()).AssertIs(500, "5.5.2");
        }

        (await client.CommandAsync("MAIL FROM:<josé@example.org> SMTPUTF8")).AssertIs(250, "2.1.0");
        await client.SendAsync([.. "RCPT TO:<b"u8, 0xFF, .. "@example.net>\r\n"u8]);
        (await client.ReadReplyAsync()).AssertIs(500, "5.5.2");
        (await client.CommandAsync("RCPT TO:<bücher@example.net>")).AssertIs(250, "2.1.5");
        (await client.CommandAsync("RSET")).AssertIs(250);
        Assert.Equal(0, server.Acceptor.Calls);
    }

    [Fact]
    public async Task Smtputf8_local_part_over_64_octets_is_refused_even_when_under_64_characters()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        // 22 characters, 66 octets in UTF-8.
        (await client.CommandAsync($"MAIL FROM:<{new string('用', 22)}@example.org> SMTPUTF8")).AssertIs(501, "5.1.7");
        (await client.CommandAsync($"MAIL FROM:<{new string('用', 21)}@example.org> SMTPUTF8")).AssertIs(250, "2.1.0");
    }

    [Fact]
    public async Task Smtputf8_parameter_after_HELO_is_555_because_no_extension_was_offered()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAsync();
        (await client.ReadReplyAsync()).AssertIs(220);
        (await client.CommandAsync("HELO client.test")).AssertIs(250);

        (await client.CommandAsync("MAIL FROM:<a@example.org> SMTPUTF8")).AssertIs(555, "5.5.4");
        (await client.CommandAsync("MAIL FROM:<a@example.org> BODY=8BITMIME")).AssertIs(501, "5.5.4");
        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250, "2.1.0");
    }
}
