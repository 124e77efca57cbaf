using System.Text;

namespace Elemta.Smtp.Tests;

/// <summary>
/// SMTP smuggling (CVE-2023-51766 and relatives): only <c>&lt;CRLF&gt;.&lt;CRLF&gt;</c> ends message data, and
/// content with a bare CR or LF is refused whole, so a second transaction hidden inside the data never runs.
/// </summary>
public sealed class SmugglingTests
{
    private const string Smuggled =
        "MAIL FROM:<attacker@example.org>\r\n" +
        "RCPT TO:<victim@example.net>\r\n" +
        "DATA\r\n" +
        "From: ceo@example.net\r\nSubject: smuggled\r\n\r\nsmuggled body\r\n";

    [Theory]
    [InlineData("\n.\n")]
    [InlineData("\r.\r")]
    [InlineData("\n.\r\n")]
    [InlineData("\r\n.\r")]
    [InlineData("\r.\r\n")]
    [InlineData("\r\n.\n")]
    [InlineData("\n..\r\n")]
    public async Task Fake_end_of_data_with_bare_CR_or_LF_gets_one_554_5_6_11_and_no_message_at_all(string fakeEnd)
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("MAIL FROM:<sender@example.org>")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<rcpt@example.net>")).AssertIs(250, "2.1.5");
        (await client.CommandAsync("DATA")).AssertIs(354);
        await client.SendAsync("Subject: smuggle\r\n\r\nlegit body" + fakeEnd + Smuggled + ".\r\n");

        // Exactly one reply for the whole DATA: had the fake end been honoured, the smuggled MAIL, RCPT and DATA
        // would have answered 250, 250, 354 (and a second message 250) before the reply to QUIT.
        (await client.ReadReplyAsync()).AssertIs(554, "5.6.11");
        (await client.CommandAsync("QUIT")).AssertIs(221, "2.0.0");
        await client.AssertClosedByServerAsync();
        Assert.Equal(0, server.Acceptor.Calls);
    }

    [Fact]
    public async Task Fake_end_of_data_split_across_writes_is_still_not_an_end()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("MAIL FROM:<sender@example.org>")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<rcpt@example.net>")).AssertIs(250, "2.1.5");
        (await client.CommandAsync("DATA")).AssertIs(354);
        await client.SendAsync("Subject: smuggle\r\n\r\nlegit body\n");
        await client.SendAsync(".\r\n");
        await client.SendAsync(Smuggled + ".\r\n");

        (await client.ReadReplyAsync()).AssertIs(554, "5.6.11");
        (await client.CommandAsync("QUIT")).AssertIs(221, "2.0.0");
        Assert.Equal(0, server.Acceptor.Calls);
    }

    [Fact]
    public async Task Nul_before_the_dot_is_refused_554_5_6_0_and_the_smuggled_commands_are_never_commands()
    {
        // "\r\n\0.\r\n" is not the end of data here, but a next hop that drops NULs would read it as one: the whole
        // message is refused rather than relayed (issue 15), and what followed the NUL stayed message text.
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("MAIL FROM:<sender@example.org>")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<rcpt@example.net>")).AssertIs(250, "2.1.5");
        (await client.CommandAsync("DATA")).AssertIs(354);
        await client.SendAsync("Subject: smuggle\r\n\r\nlegit body\r\n\0.\r\n" + Smuggled + ".\r\n");

        (await client.ReadReplyAsync()).AssertIs(554, "5.6.0");
        (await client.CommandAsync("QUIT")).AssertIs(221, "2.0.0");
        Assert.Equal(0, server.Acceptor.Calls);
    }

    [Fact]
    public async Task Bare_LF_in_content_is_refused_554_5_6_11_and_the_session_goes_on()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.SendMessageAsync("a@example.org", ["b@example.net"], "Subject: unix\nline endings\n\r\n")).AssertIs(554, "5.6.11");
        (await client.SendMessageAsync("a@example.org", ["b@example.net"], "Subject: bare CR\r\nbody\rmore\r\n")).AssertIs(554, "5.6.11");

        var body = "Subject: fine\r\n\r\nok\r\n";
        (await client.SendMessageAsync("a@example.org", ["b@example.net"], body)).AssertQueued();
        var message = Assert.Single(server.Acceptor.Messages);
        SmtpTestHelpers.AssertReceivedHeaderThenBody(message, Encoding.ASCII.GetBytes(body));
    }
}
