using Elemta.Contracts;
using Elemta.Smtp.Protocol;

namespace Elemta.Smtp.Tests;

/// <summary>The DSN extension (RFC 3461): RET and ENVID on MAIL, NOTIFY and ORCPT on RCPT, stored with the envelope.</summary>
public sealed class DsnTests
{
    private const string Body = "Subject: dsn\r\n\r\nbody\r\n";

    [Fact]
    public async Task Every_DSN_parameter_is_decoded_and_stored_in_the_envelope()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("MAIL FROM:<a@example.org> RET=full ENVID=QQ+2B+3Dx+20y")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<one@example.net> NOTIFY=success,delay ORCPT=rfc822;one+2Bold@example.net")).AssertIs(250, "2.1.5");
        (await client.CommandAsync("RCPT TO:<two@example.net>")).AssertIs(250, "2.1.5");
        (await client.CommandAsync("RCPT TO:<three@example.net> NOTIFY=NEVER")).AssertIs(250, "2.1.5");
        (await client.CommandAsync("DATA")).AssertIs(354);
        await client.SendAsync(Body + ".\r\n");
        (await client.ReadReplyAsync()).AssertQueued();

        var dsn = Assert.Single(server.Acceptor.Messages).Envelope.Dsn;
        Assert.NotNull(dsn);
        Assert.Equal("FULL", dsn.Return);
        Assert.Equal("QQ+=x y", dsn.EnvelopeId);
        Assert.Equal<RecipientDsn>(
            [
                new RecipientDsn("one@example.net", "SUCCESS,DELAY", "rfc822;one+old@example.net"),
                new RecipientDsn("three@example.net", "NEVER", null),
            ],
            dsn.Recipients);
    }

    [Fact]
    public async Task Without_any_DSN_parameter_the_envelope_has_no_Dsn()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.SendMessageAsync("a@example.org", ["b@example.net"], Body)).AssertQueued();

        Assert.Null(Assert.Single(server.Acceptor.Messages).Envelope.Dsn);
    }

    [Fact]
    public async Task Only_MAIL_parameters_give_a_Dsn_with_no_recipients()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("MAIL FROM:<a@example.org> RET=HDRS")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<b@example.net>")).AssertIs(250, "2.1.5");
        (await client.CommandAsync("DATA")).AssertIs(354);
        await client.SendAsync(Body + ".\r\n");
        (await client.ReadReplyAsync()).AssertQueued();

        var dsn = Assert.Single(server.Acceptor.Messages).Envelope.Dsn;
        Assert.NotNull(dsn);
        Assert.Equal("HDRS", dsn.Return);
        Assert.Null(dsn.EnvelopeId);
        Assert.Empty(dsn.Recipients);
    }

    [Theory]
    [InlineData("RET=NEVER")]
    [InlineData("RET")]
    [InlineData("RET=")]
    [InlineData("ENVID")]
    [InlineData("ENVID=")]
    [InlineData("ENVID=a+2b")]       // xtext hex digits are upper case
    [InlineData("ENVID=a+2")]
    [InlineData("ENVID=a+")]
    [InlineData("ENVID=a=b")]        // '=' must be encoded
    [InlineData("ENVID=a+0Db")]      // decodes to a control character
    [InlineData("ENVID=é")]          // not US-ASCII
    public async Task Invalid_MAIL_DSN_value_is_501_5_5_4(string parameter)
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync($"MAIL FROM:<a@example.org> {parameter}")).AssertIs(501, "5.5.4");
        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250, "2.1.0");
    }

    [Fact]
    public async Task ENVID_of_100_characters_is_accepted_and_of_101_is_501_5_5_4()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync($"MAIL FROM:<a@example.org> ENVID={new string('e', 101)}")).AssertIs(501, "5.5.4");
        (await client.CommandAsync($"MAIL FROM:<a@example.org> ENVID={new string('e', 100)}")).AssertIs(250, "2.1.0");
    }

    [Theory]
    [InlineData("NOTIFY")]
    [InlineData("NOTIFY=")]
    [InlineData("NOTIFY=SOMETIMES")]
    [InlineData("NOTIFY=NEVER,SUCCESS")]
    [InlineData("NOTIFY=SUCCESS,NEVER")]
    [InlineData("NOTIFY=SUCCESS,SUCCESS")]
    [InlineData("NOTIFY=SUCCESS,")]
    [InlineData("NOTIFY=,FAILURE")]
    [InlineData("NOTIFY=SUCCESS;FAILURE")]
    [InlineData("ORCPT")]
    [InlineData("ORCPT=b@example.net")]
    [InlineData("ORCPT=rfc822;")]
    [InlineData("ORCPT=;b@example.net")]
    [InlineData("ORCPT=rfc(822);b@example.net")]
    [InlineData("ORCPT=rfc822;b+4@example.net")]
    [InlineData("ORCPT=rfc822;b+C3@example.net")] // a lone UTF-8 lead octet
    public async Task Invalid_RCPT_DSN_value_is_501_5_5_4_and_the_recipient_is_not_added(string parameter)
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250, "2.1.0");
        (await client.CommandAsync($"RCPT TO:<b@example.net> {parameter}")).AssertIs(501, "5.5.4");
        (await client.CommandAsync("DATA")).AssertIs(554, "5.5.1");
    }

    [Fact]
    public async Task ORCPT_of_500_characters_is_accepted_and_of_501_is_501_5_5_4()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();
        var address = "rfc822;" + new string('o', 500 - "rfc822;".Length - "@example.net".Length) + "@example.net";
        Assert.Equal(500, address.Length);

        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250, "2.1.0");
        (await client.CommandAsync($"RCPT TO:<b@example.net> ORCPT=x{address}")).AssertIs(501, "5.5.4");
        (await client.CommandAsync($"RCPT TO:<b@example.net> ORCPT={address}")).AssertIs(250, "2.1.5");
    }

    [Fact]
    public async Task MAIL_and_RCPT_lines_may_reach_2048_octets_for_their_parameters_but_no_further()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();
        var envid = "ENVID=" + new string('e', 100);

        (await client.CommandAsync($"MAIL FROM:<a@example.org> {envid} {Padding(2048 - 2 - "MAIL FROM:<a@example.org> ".Length - envid.Length - 1)}")).AssertIs(555, "5.5.4");
        (await client.CommandAsync($"MAIL FROM:<a@example.org> {envid} {Padding(2048 - 2 - "MAIL FROM:<a@example.org> ".Length - envid.Length)}")).AssertIs(500, "5.5.2");
        (await client.CommandAsync($"MAIL FROM:<a@example.org> {envid} RET=HDRS")).AssertIs(250, "2.1.0");
        // Other commands keep the limit of RFC 5321 §4.5.3.1.4.
        (await client.CommandAsync("NOOP " + new string('x', 600))).AssertIs(500, "5.5.2");
    }

    // One unknown parameter of the given length, so the reply shows the line was read and parsed (555), not cut (500).
    private static string Padding(int length) => "X" + new string('p', length - 1);

    [Fact]
    public async Task Unknown_parameters_next_to_DSN_ones_are_still_555_5_5_4()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("MAIL FROM:<a@example.org> RET=HDRS XFOO=1")).AssertIs(555, "5.5.4");
        (await client.CommandAsync("MAIL FROM:<a@example.org> RET=HDRS")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<b@example.net> NOTIFY=NEVER XFOO")).AssertIs(555, "5.5.4");
        (await client.CommandAsync("RCPT TO:<b@example.net> NOTIFY=NEVER")).AssertIs(250, "2.1.5");
    }

    [Fact]
    public async Task DSN_parameters_after_HELO_are_555_5_5_4_since_no_extension_was_offered()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAsync();
        (await client.ReadReplyAsync()).AssertIs(220);
        (await client.CommandAsync("HELO old.client.test")).AssertIs(250);

        (await client.CommandAsync("MAIL FROM:<a@example.org> RET=HDRS")).AssertIs(555, "5.5.4");
        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<b@example.net> NOTIFY=NEVER")).AssertIs(555, "5.5.4");
    }

    [Fact]
    public async Task Parameters_of_a_refused_MAIL_or_RCPT_or_of_an_earlier_transaction_are_not_kept()
    {
        await using var server = await SmtpTestServer.StartAsync(new Dictionary<string, string?> { ["MaxRecipients"] = "1" });
        await using var client = await server.ConnectAndEhloAsync();

        // First transaction: DSN everywhere, then abandoned.
        (await client.CommandAsync("MAIL FROM:<a@example.org> RET=FULL ENVID=old")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<b@example.net> NOTIFY=NEVER")).AssertIs(250, "2.1.5");
        (await client.CommandAsync("RSET")).AssertIs(250, "2.0.0");

        // A MAIL refused for another parameter must not leave its RET behind.
        (await client.CommandAsync("MAIL FROM:<a@example.org> RET=HDRS XFOO")).AssertIs(555, "5.5.4");
        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<b@example.net>")).AssertIs(250, "2.1.5");
        // Refused for the recipient limit: its NOTIFY is not kept either.
        (await client.CommandAsync("RCPT TO:<c@example.net> NOTIFY=FAILURE")).AssertIs(452, "4.5.3");
        (await client.CommandAsync("DATA")).AssertIs(354);
        await client.SendAsync(Body + ".\r\n");
        (await client.ReadReplyAsync()).AssertQueued();

        Assert.Null(Assert.Single(server.Acceptor.Messages).Envelope.Dsn);
    }

    [Fact]
    public async Task Recipient_given_twice_keeps_the_parameters_of_its_first_RCPT()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<Bob@example.net> NOTIFY=FAILURE")).AssertIs(250, "2.1.5");
        (await client.CommandAsync("RCPT TO:<bob@example.net> NOTIFY=SUCCESS")).AssertIs(250, "2.1.5");
        (await client.CommandAsync("DATA")).AssertIs(354);
        await client.SendAsync(Body + ".\r\n");
        (await client.ReadReplyAsync()).AssertQueued();

        var envelope = Assert.Single(server.Acceptor.Messages).Envelope;
        Assert.Equal<string>(["Bob@example.net"], envelope.Recipients);
        Assert.Equal<RecipientDsn>([new RecipientDsn("Bob@example.net", "FAILURE", null)], envelope.Dsn!.Recipients);
    }

    [Fact]
    public async Task DSN_parameters_reach_the_envelope_of_a_BDAT_message_too()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();
        var body = SmtpTestHelpers.Ascii(Body);

        (await client.CommandAsync("MAIL FROM:<a@example.org> ENVID=chunked")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<b@example.net> NOTIFY=DELAY")).AssertIs(250, "2.1.5");
        await client.SendAsync([.. SmtpTestHelpers.Ascii($"BDAT {body.Length} LAST\r\n"), .. body]);
        (await client.ReadReplyAsync()).AssertQueued();

        var dsn = Assert.Single(server.Acceptor.Messages).Envelope.Dsn!;
        Assert.Equal("chunked", dsn.EnvelopeId);
        Assert.Equal<RecipientDsn>([new RecipientDsn("b@example.net", "DELAY", null)], dsn.Recipients);
    }

    [Fact]
    public async Task Python_smtplib_with_DSN_options_is_stored_as_sent()
    {
        Assert.True(File.Exists(ExternalProcess.PythonPath), $"{ExternalProcess.PythonPath} is required for this interop test (Debian's python3).");
        await using var server = await SmtpTestServer.StartAsync();

        const string script = """
            import smtplib, sys
            with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="python.test", timeout=15) as s:
                code, _ = s.ehlo()
                assert code == 250, code
                assert s.has_extn("dsn")
                refused = s.sendmail(
                    "py@example.org", ["bob@example.net"],
                    b"Subject: dsn from python\r\n\r\nbody\r\n",
                    mail_options=["RET=HDRS", "ENVID=abc+2Bdef"],
                    rcpt_options=["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;bob@example.net"])
                assert refused == {}, refused
            print("sent")
            """;

        var (exitCode, stdout, stderr) = await ExternalProcess.RunAsync(
            ExternalProcess.PythonPath, ["-I", "-c", script, server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)]);

        Assert.True(exitCode == 0, $"python exited with {exitCode}\nstdout:\n{stdout}\nstderr:\n{stderr}");
        Assert.Equal("sent", stdout.Trim());
        var envelope = Assert.Single(server.Acceptor.Messages).Envelope;
        Assert.Equal("py@example.org", envelope.Sender);
        Assert.NotNull(envelope.Dsn);
        Assert.Equal("HDRS", envelope.Dsn.Return);
        Assert.Equal("abc+def", envelope.Dsn.EnvelopeId);
        Assert.Equal<RecipientDsn>([new RecipientDsn("bob@example.net", "SUCCESS,FAILURE", "rfc822;bob@example.net")], envelope.Dsn.Recipients);
    }

    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("a+2Bb", "a+b")]
    [InlineData("+3D+2B", "=+")]
    [InlineData("x+20y", "x y")]
    [InlineData("+E2+82+AC", "\u20ac")]
    public void Xtext_decodes_hex_escapes(string xtext, string expected)
    {
        Assert.True(DsnParameterParser.TryDecodeXtext(xtext, out var decoded));
        Assert.Equal(expected, decoded);
    }

    [Theory]
    [InlineData("a b")]
    [InlineData("a=b")]
    [InlineData("a+")]
    [InlineData("a+4")]
    [InlineData("a+4g")]
    [InlineData("a+ff")]
    [InlineData("a\u00e9")]
    [InlineData("+FF")]
    public void Xtext_that_breaks_the_grammar_is_refused(string xtext) =>
        Assert.False(DsnParameterParser.TryDecodeXtext(xtext, out _));

    [Theory]
    [InlineData("NEVER", "NEVER")]
    [InlineData("never", "NEVER")]
    [InlineData("SUCCESS", "SUCCESS")]
    [InlineData("Failure,Success", "FAILURE,SUCCESS")]
    [InlineData("DELAY,FAILURE,SUCCESS", "DELAY,FAILURE,SUCCESS")]
    public void Notify_lists_are_normalised_to_upper_case(string value, string expected) =>
        Assert.Equal(expected, DsnParameterParser.ParseNotify(value));
}
