using System.Globalization;
using System.Text;
using Elemta.Smtp.Protocol;

namespace Elemta.Smtp.Tests;

/// <summary>
/// RFC 5322 rules applied to received content: Message-ID and Date added when missing (§3.6), header lines of at most
/// 998 octets and no NUL (§2.1.1, §3.5); and body lines up to
/// Elemta:Smtp:MaxLineLength, beyond RFC 5321's 1000 octets (§4.5.3.1.6), as real senders exceed it.
/// </summary>
public sealed class ContentRuleTests
{
    [Fact]
    public async Task Missing_Message_ID_and_Date_are_added_at_the_end_of_the_header_section()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.SendMessageAsync("a@example.org", ["b@example.net"], "From: a@example.org\r\nSubject: folded\r\n and continued\r\n\r\nbody\r\n")).AssertQueued();

        var message = Assert.Single(server.Acceptor.Messages);
        var envelope = message.Envelope;
        var expected =
            "From: a@example.org\r\nSubject: folded\r\n and continued\r\n" +
            $"Message-ID: <{envelope.MessageId}@mx.test>\r\n" +
            $"Date: {Rfc5322Date(envelope.ReceivedAt)}\r\n" +
            "\r\nbody\r\n";
        Assert.EndsWith(expected, Encoding.ASCII.GetString(message.Content), StringComparison.Ordinal);
        Assert.Equal(message.Content.Length, envelope.Size);
    }

    [Theory]
    [InlineData("Message-ID: <x@example.org>\r\nDate: Mon, 24 Nov 2025 12:00:00 +0000\r\n")]
    [InlineData("message-id: <x@example.org>\r\nDATE: Mon, 24 Nov 2025 12:00:00 +0000\r\n")]
    [InlineData("Message-Id : <x@example.org>\r\nDate\t: Mon, 24 Nov 2025 12:00:00 +0000\r\n")]
    [InlineData("Date:\r\n Mon, 24 Nov 2025 12:00:00 +0000\r\nMessage-ID:\r\n <x@example.org>\r\n")]
    public async Task Message_with_both_fields_is_stored_unchanged(string fields)
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();
        var body = "Subject: has both\r\n" + fields + "\r\nbody\r\n";

        (await client.SendMessageAsync("a@example.org", ["b@example.net"], body)).AssertQueued();

        var content = Assert.Single(server.Acceptor.Messages).Content;
        Assert.EndsWith("\r\n" + body, Encoding.ASCII.GetString(content), StringComparison.Ordinal);
        Assert.Single(AllIndexes(Encoding.ASCII.GetString(content), "Date"));
    }

    [Fact]
    public async Task Only_a_present_Date_is_kept_and_only_the_Message_ID_is_added()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.SendMessageAsync("a@example.org", ["b@example.net"], "Date: Mon, 24 Nov 2025 12:00:00 +0000\r\n\r\nx\r\n")).AssertQueued();

        var message = Assert.Single(server.Acceptor.Messages);
        Assert.EndsWith(
            $"\r\nDate: Mon, 24 Nov 2025 12:00:00 +0000\r\nMessage-ID: <{message.Envelope.MessageId}@mx.test>\r\n\r\nx\r\n",
            Encoding.ASCII.GetString(message.Content),
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task Field_names_count_only_at_the_start_of_an_unfolded_line_of_the_header()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();
        // "Message-ID:" inside a field's value, on a folded continuation, and in the body: none is the field.
        var body = "Subject: see Message-ID: <a@b>\r\nX-Note:\r\n Date: tomorrow\r\n\r\nMessage-ID: <c@d>\r\nDate: today\r\n";

        (await client.SendMessageAsync("a@example.org", ["b@example.net"], body)).AssertQueued();

        var message = Assert.Single(server.Acceptor.Messages);
        Assert.EndsWith(
            $"X-Note:\r\n Date: tomorrow\r\nMessage-ID: <{message.Envelope.MessageId}@mx.test>\r\nDate: {Rfc5322Date(message.Envelope.ReceivedAt)}\r\n\r\nMessage-ID: <c@d>\r\nDate: today\r\n",
            Encoding.ASCII.GetString(message.Content),
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task Content_without_a_header_gets_the_fields_and_the_empty_line_before_it()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.SendMessageAsync("a@example.org", ["b@example.net"], "just text, no header\r\nsecond line\r\n")).AssertQueued();

        var message = Assert.Single(server.Acceptor.Messages);
        var text = Encoding.ASCII.GetString(message.Content);
        Assert.EndsWith(
            $" +0000\r\nMessage-ID: <{message.Envelope.MessageId}@mx.test>\r\nDate: {Rfc5322Date(message.Envelope.ReceivedAt)}\r\n\r\njust text, no header\r\nsecond line\r\n",
            text,
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task Header_only_message_gets_the_fields_appended()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.SendMessageAsync("a@example.org", ["b@example.net"], "Subject: header only\r\n")).AssertQueued();

        var message = Assert.Single(server.Acceptor.Messages);
        Assert.EndsWith(
            $"\r\nSubject: header only\r\nMessage-ID: <{message.Envelope.MessageId}@mx.test>\r\nDate: {Rfc5322Date(message.Envelope.ReceivedAt)}\r\n",
            Encoding.ASCII.GetString(message.Content),
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task Header_line_of_998_octets_is_accepted_and_of_999_is_554_5_6_0_with_nothing_accepted()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();
        var longest = "X-Long: " + new string('v', 998 - 8);
        Assert.Equal(998, longest.Length);

        (await client.SendMessageAsync("a@example.org", ["b@example.net"], longest + "v\r\n\r\nbody\r\n")).AssertIs(554, "5.6.0");
        (await client.SendMessageAsync("a@example.org", ["b@example.net"], "Subject: x\r\n" + longest[..^1] + "\r\n  " + new string('w', 998) + "\r\n\r\nbody\r\n"))
            .AssertIs(554, "5.6.0"); // a folded continuation line is a header line too
        Assert.Equal(0, server.Acceptor.Calls);

        var body = longest + "\r\n\r\nbody\r\n";
        (await client.SendMessageAsync("a@example.org", ["b@example.net"], body)).AssertQueued();
        SmtpTestHelpers.AssertReceivedHeaderThenBody(Assert.Single(server.Acceptor.Messages), SmtpTestHelpers.Ascii(body));
    }

    [Fact]
    public async Task NUL_anywhere_in_the_message_is_554_5_6_0_and_nothing_is_queued()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.SendMessageAsync("a@example.org", ["b@example.net"], "Subject: nul\0here\r\n\r\nbody\r\n")).AssertIs(554, "5.6.0");
        (await client.SendMessageAsync("a@example.org", ["b@example.net"], "Subject: x\r\n \0 folded\r\n\r\nbody\r\n")).AssertIs(554, "5.6.0");
        // Issue 15: in the body too, since a next hop that drops NULs would read "\r\n\0.\r\n" as the end of data.
        (await client.SendMessageAsync("a@example.org", ["b@example.net"], "Subject: nul in body\r\n\r\nbody\0here\r\n")).AssertIs(554, "5.6.0");
        (await client.SendMessageAsync("a@example.org", ["b@example.net"], "Subject: smuggle\r\n\r\nhello\r\n\0.\r\nMAIL FROM:<x@evil.test>\r\n")).AssertIs(554, "5.6.0");
        (await client.SendMessageAsync("a@example.org", ["b@example.net"], "Subject: line end\r\n\r\nbody\0\r\n")).AssertIs(554, "5.6.0");
        Assert.Equal(0, server.Acceptor.Calls);

        // The session goes on: a clean message after the refusals is accepted.
        var body = "Subject: clean\r\n\r\nbody\r\n";
        (await client.SendMessageAsync("a@example.org", ["b@example.net"], body)).AssertQueued();
        SmtpTestHelpers.AssertReceivedHeaderThenBody(Assert.Single(server.Acceptor.Messages), SmtpTestHelpers.Ascii(body));
    }

    [Fact]
    public async Task Body_lines_longer_than_998_octets_are_accepted_as_they_are_up_to_MaxLineLength_and_refused_554_5_6_0_beyond()
    {
        await using var server = await SmtpTestServer.StartAsync(new Dictionary<string, string?> { ["MaxLineLength"] = "5000" });
        await using var client = await server.ConnectAndEhloAsync();

        // Generated HTML with no line breaks: 5,000 octets is the limit itself, and a stuffed line whose dot is SMTP's.
        var body = "Subject: long\r\n\r\n<p>" + new string('l', 4993) + "</p>\r\n." + new string('d', 1500) + "\r\n";
        (await client.SendMessageAsync("a@example.org", ["b@example.net"], body.Replace("\r\n.", "\r\n..", StringComparison.Ordinal))).AssertQueued();
        SmtpTestHelpers.AssertReceivedHeaderThenBody(Assert.Single(server.Acceptor.Messages), SmtpTestHelpers.Ascii(body));

        // One octet more is refused at the end of data, and nothing is queued.
        (await client.SendMessageAsync("a@example.org", ["b@example.net"], "Subject: longer\r\n\r\n" + new string('l', 5001) + "\r\nnext\r\n"))
            .AssertIs(554, "5.6.0");
        Assert.Equal(1, server.Acceptor.Calls);
    }

    [Fact]
    public async Task MaxLineLength_below_the_RFC_minimum_stops_the_start()
    {
        var ex = await Assert.ThrowsAnyAsync<Microsoft.Extensions.Options.OptionsValidationException>(
            async () => await SmtpTestServer.StartAsync(new Dictionary<string, string?> { ["MaxLineLength"] = "997" }));
        Assert.Contains("Elemta:Smtp:MaxLineLength", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Endless_body_line_is_read_in_pieces_and_answered_554_5_6_0_after_the_final_dot()
    {
        await using var server = await SmtpTestServer.StartAsync(new Dictionary<string, string?> { ["MaxMessageSize"] = "4194304", ["MaxLineLength"] = "1048576" });
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<b@example.net>")).AssertIs(250, "2.1.5");
        (await client.CommandAsync("DATA")).AssertIs(354);
        var chunk = Encoding.ASCII.GetBytes(new string('z', 256 * 1024));
        await client.SendAsync("Subject: endless\r\n\r\n");
        for (var i = 0; i < 8; i++)
        {
            await client.SendAsync(chunk);
        }

        await client.SendAsync("\r\n.\r\n");

        (await client.ReadReplyAsync()).AssertIs(554, "5.6.0");
        (await client.CommandAsync("NOOP")).AssertIs(250, "2.0.0");
        Assert.Equal(0, server.Acceptor.Calls);
    }

    [Theory]
    [InlineData("Subject: x\r\n\r\nbody", 12, "EmptyLine", false, false)]
    [InlineData("Subject: x\n\nbody", 11, "EmptyLine", false, false)]
    [InlineData("\r\nbody", 0, "EmptyLine", false, false)]
    [InlineData("body\r\n", 0, "BodyLine", false, false)]
    [InlineData(" folded first\r\n", 0, "BodyLine", false, false)]
    [InlineData("Subject: x\r\nbody line\r\n", 12, "BodyLine", false, false)]
    [InlineData("Date: d\r\nMESSAGE-ID: <m>", 24, "EndOfContent", true, true)]
    [InlineData("", 0, "EndOfContent", false, false)]
    [InlineData("Date-Received: x\r\nMessage-IDs: y\r\n\r\n", 34, "EmptyLine", false, false)]
    public void Header_section_parsing(string content, int end, string kind, bool hasMessageId, bool hasDate)
    {
        var section = HeaderSection.Parse(Encoding.ASCII.GetBytes(content));

        Assert.Equal(new HeaderSection(end, Enum.Parse<HeaderSectionEnd>(kind), hasMessageId, hasDate, HeaderSectionDefect.None), section);
    }

    private static string Rfc5322Date(DateTimeOffset at) =>
        at.UtcDateTime.ToString("ddd, dd MMM yyyy HH:mm:ss", CultureInfo.InvariantCulture) + " +0000";

    private static IEnumerable<int> AllIndexes(string text, string value)
    {
        for (var i = text.IndexOf(value, StringComparison.OrdinalIgnoreCase); i >= 0; i = text.IndexOf(value, i + 1, StringComparison.OrdinalIgnoreCase))
        {
            yield return i;
        }
    }
}
