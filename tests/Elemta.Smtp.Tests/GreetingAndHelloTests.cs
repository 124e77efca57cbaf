using System.Net;
using System.Text;

namespace Elemta.Smtp.Tests;

/// <summary>Connection opening, EHLO and HELO (RFC 5321 §4.1.1.1, §4.3.1; RFC 1869 extension listing).</summary>
public sealed class GreetingAndHelloTests
{
    [Fact]
    public async Task Greeting_is_220_with_the_configured_host_name()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAsync();

        var greeting = (await client.ReadReplyAsync()).AssertIs(220);

        Assert.Equal(["220 mx.test ESMTP Elemta"], greeting.Lines);
        // Loopback is a trusted network, which the connection-limits plugin is not called for by default.
        Assert.Empty(server.Policy.Clients);
    }

    [Fact]
    public async Task Ehlo_is_a_multiline_250_listing_PIPELINING_SIZE_8BITMIME_SMTPUTF8_ENHANCEDSTATUSCODES()
    {
        await using var server = await SmtpTestServer.StartAsync(new Dictionary<string, string?> { ["MaxMessageSize"] = "4096" });
        await using var client = await server.ConnectAsync();
        (await client.ReadReplyAsync()).AssertIs(220);

        var ehlo = (await client.CommandAsync("EHLO client.test")).AssertIs(250);

        Assert.Equal("250-mx.test Hello client.test [127.0.0.1]", ehlo.Lines[0]);
        Assert.All(ehlo.Lines.SkipLast(1), line => Assert.Equal('-', line[3]));
        var keywords = ehlo.Texts.Skip(1).ToList();
        Assert.Contains("PIPELINING", keywords);
        Assert.Contains("SIZE 4096", keywords);
        Assert.Contains("8BITMIME", keywords);
        Assert.Contains("SMTPUTF8", keywords);
        Assert.Contains("ENHANCEDSTATUSCODES", keywords);
        // Without TLS, AUTH offers only the mechanisms that do not send the password itself.
        Assert.Contains("AUTH SCRAM-SHA-256 CRAM-MD5", keywords);
        // Nothing is advertised that the session does not implement.
        Assert.DoesNotContain(keywords, k => k.StartsWith("STARTTLS", StringComparison.Ordinal) || k.StartsWith("BINARYMIME", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Helo_gets_a_single_line_250_and_a_transaction_is_recorded_as_SMTP()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAsync();
        (await client.ReadReplyAsync()).AssertIs(220);

        var helo = (await client.CommandAsync("HELO old.client.test")).AssertIs(250);
        Assert.Equal(["250 mx.test Hello old.client.test"], helo.Lines);

        var body = "Subject: helo\r\n\r\nhi\r\n";
        (await client.SendMessageAsync("a@example.org", ["b@example.net"], body)).AssertQueued();

        var message = Assert.Single(server.Acceptor.Messages);
        Assert.Equal("old.client.test", message.Envelope.HeloName);
        SmtpTestHelpers.AssertReceivedHeaderThenBody(message, SmtpTestHelpers.Ascii(body), "old.client.test", protocol: "SMTP");
    }

    [Theory]
    [InlineData("EHLO")]
    [InlineData("EHLO ")]
    [InlineData("HELO")]
    public async Task Ehlo_or_helo_without_a_domain_is_501_5_5_4_and_does_not_open_the_session(string command)
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAsync();
        (await client.ReadReplyAsync()).AssertIs(220);

        (await client.CommandAsync(command)).AssertIs(501, "5.5.4");
        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(503, "5.5.1");
    }

    [Theory]
    [InlineData("EHLO a\r.\rb")]
    [InlineData("EHLO evil\rX-Injected:yes")]
    [InlineData("EHLO a\u0000b")]
    [InlineData("HELO a\tb")]
    public async Task Ehlo_with_control_characters_is_501_so_they_never_reach_the_Received_header(string command)
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAsync();
        (await client.ReadReplyAsync()).AssertIs(220);

        (await client.CommandAsync(command)).AssertIs(501, "5.5.4");

        // And a session with a sane name still works afterwards.
        (await client.CommandAsync("EHLO client.test")).AssertIs(250);
        (await client.SendMessageAsync("a@example.org", ["b@example.net"], "Subject: x\r\n\r\nx\r\n")).AssertQueued();
        var message = Assert.Single(server.Acceptor.Messages);
        Assert.DoesNotContain((byte)'\0', message.Content);
        Assert.DoesNotContain("\r.\r", Encoding.UTF8.GetString(message.Content), StringComparison.Ordinal);
    }
}
