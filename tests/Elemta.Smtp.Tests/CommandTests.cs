namespace Elemta.Smtp.Tests;

/// <summary>Single commands, their order, and their syntax (RFC 5321 §4.1, §4.3.2; enhanced codes per RFC 3463).</summary>
public sealed class CommandTests
{
    [Fact]
    public async Task Rset_is_250_and_clears_the_transaction_so_rcpt_afterwards_is_503()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<b@example.net>")).AssertIs(250, "2.1.5");
        (await client.CommandAsync("RSET")).AssertIs(250, "2.0.0");
        (await client.CommandAsync("RCPT TO:<b@example.net>")).AssertIs(503, "5.5.1");
        (await client.CommandAsync("DATA")).AssertIs(503, "5.5.1");
        // A new transaction may start (the sender was cleared too, so this is not a nested MAIL).
        (await client.CommandAsync("MAIL FROM:<c@example.org>")).AssertIs(250, "2.1.0");
        Assert.Equal(0, server.Acceptor.Calls);
    }

    [Fact]
    public async Task Ehlo_in_the_middle_of_a_transaction_resets_it()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("EHLO client.test")).AssertIs(250);
        (await client.CommandAsync("RCPT TO:<b@example.net>")).AssertIs(503, "5.5.1");
    }

    [Fact]
    public async Task Noop_is_250_2_0_0()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("NOOP")).AssertIs(250, "2.0.0");
        (await client.CommandAsync("NOOP with an argument")).AssertIs(250, "2.0.0");
    }

    [Fact]
    public async Task Vrfy_is_252_2_5_0_cannot_verify()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("VRFY postmaster")).AssertIs(252, "2.5.0");
    }

    [Fact]
    public async Task Expn_is_502_5_5_1_not_implemented()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("EXPN staff")).AssertIs(502, "5.5.1");
    }

    [Fact]
    public async Task Help_is_214()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        var help = (await client.CommandAsync("HELP")).AssertIs(214, "2.0.0");
        Assert.Contains("EHLO", help.Text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("FOO")]
    [InlineData("MAILX FROM:<a@example.org>")]
    [InlineData("AUTHX PLAIN")]
    [InlineData("")]
    public async Task Unknown_or_empty_command_is_500_5_5_2_and_the_session_continues(string command)
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync(command)).AssertIs(500, "5.5.2");
        (await client.CommandAsync("NOOP")).AssertIs(250, "2.0.0");
    }

    [Fact]
    public async Task Commands_and_FROM_TO_keywords_are_case_insensitive()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAsync();
        (await client.ReadReplyAsync()).AssertIs(220);

        (await client.CommandAsync("ehlo client.test")).AssertIs(250);
        (await client.CommandAsync("mail from:<a@example.org>")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("Rcpt To:<b@example.net>")).AssertIs(250, "2.1.5");
        (await client.CommandAsync("data")).AssertIs(354);
        await client.SendAsync("Subject: lower\r\n\r\nx\r\n.\r\n");
        (await client.ReadReplyAsync()).AssertQueued();
        (await client.CommandAsync("quit")).AssertIs(221, "2.0.0");
    }

    [Fact]
    public async Task Mail_before_ehlo_is_503_5_5_1()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAsync();
        (await client.ReadReplyAsync()).AssertIs(220);

        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(503, "5.5.1");
    }

    [Fact]
    public async Task Rcpt_before_mail_is_503_5_5_1()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("RCPT TO:<b@example.net>")).AssertIs(503, "5.5.1");
    }

    [Fact]
    public async Task Data_before_mail_is_503_5_5_1()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("DATA")).AssertIs(503, "5.5.1");
    }

    [Fact]
    public async Task Data_after_mail_but_without_any_accepted_recipient_is_554_5_5_1_no_valid_recipients()
    {
        // RFC 5321 §3.3 allows 503 or 554 here; the server chooses 554 "no valid recipients".
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<not an address>")).AssertIs(501, "5.1.3");
        (await client.CommandAsync("DATA")).AssertIs(554, "5.5.1");
        // The reply to DATA was final: what follows is a command again, not message content.
        (await client.CommandAsync("NOOP")).AssertIs(250, "2.0.0");
    }

    [Fact]
    public async Task Data_with_an_argument_is_501_5_5_4()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<b@example.net>")).AssertIs(250, "2.1.5");
        (await client.CommandAsync("DATA now")).AssertIs(501, "5.5.4");
    }

    [Fact]
    public async Task Nested_mail_is_503_5_5_1()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("MAIL FROM:<b@example.org>")).AssertIs(503, "5.5.1");
    }

    [Theory]
    [InlineData("MAIL FROM:<no-at-sign>")]
    [InlineData("MAIL FROM:sender@example.org")]
    [InlineData("MAIL FROM:<sender@example.org")]
    [InlineData("MAIL FROM:<sender@-bad.example>")]
    [InlineData("MAIL FROM:<.sender@example.org>")]
    [InlineData("MAIL FROM:<sender@exa mple.org>")]
    public async Task Bad_sender_address_syntax_is_501_5_1_7(string command)
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync(command)).AssertIs(501, "5.1.7");
    }

    [Theory]
    [InlineData("RCPT TO:<>")]
    [InlineData("RCPT TO:<user@>")]
    [InlineData("RCPT TO:user@example.net")]
    [InlineData("RCPT TO:<user@-bad.example>")]
    [InlineData("RCPT TO:<us..er@example.net>")]
    [InlineData("RCPT TO:<user@[192.0.2.256]>")]
    public async Task Bad_recipient_address_syntax_is_501_5_1_3(string command)
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250, "2.1.0");
        (await client.CommandAsync(command)).AssertIs(501, "5.1.3");
    }

    [Theory]
    [InlineData("MAIL TO:<a@example.org>")]
    [InlineData("MAIL <a@example.org>")]
    public async Task Mail_without_FROM_colon_is_501_5_5_4(string command)
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync(command)).AssertIs(501, "5.5.4");
    }

    [Fact]
    public async Task Unknown_mail_or_rcpt_parameter_is_555_5_5_4()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("MAIL FROM:<a@example.org> FOO=bar")).AssertIs(555, "5.5.4");
        (await client.CommandAsync("MAIL FROM:<a@example.org> X-UNKNOWN")).AssertIs(555, "5.5.4");
        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<b@example.net> X-UNKNOWN=1")).AssertIs(555, "5.5.4");
    }

    [Fact]
    public async Task Declared_SIZE_over_MaxMessageSize_is_552_5_3_4_and_at_the_limit_is_accepted()
    {
        await using var server = await SmtpTestServer.StartAsync(new Dictionary<string, string?> { ["MaxMessageSize"] = "2048" });
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("MAIL FROM:<a@example.org> SIZE=2049")).AssertIs(552, "5.3.4");
        (await client.CommandAsync("MAIL FROM:<a@example.org> SIZE=abc")).AssertIs(501, "5.5.4");
        (await client.CommandAsync("MAIL FROM:<a@example.org> SIZE=2048")).AssertIs(250, "2.1.0");
    }

    [Fact]
    public async Task Quit_is_221_2_0_0_and_the_server_closes_the_connection()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        var quit = (await client.CommandAsync("QUIT")).AssertIs(221, "2.0.0");
        Assert.Contains(SmtpTestServer.HostName, quit.Text, StringComparison.Ordinal);
        await client.AssertClosedByServerAsync();
    }

    [Fact]
    public async Task Quit_in_the_middle_of_a_transaction_accepts_nothing()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<b@example.net>")).AssertIs(250, "2.1.5");
        (await client.CommandAsync("QUIT")).AssertIs(221, "2.0.0");
        await client.AssertClosedByServerAsync();
        Assert.Equal(0, server.Acceptor.Calls);
    }
}
