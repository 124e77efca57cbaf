using System.Text;
using System.Text.RegularExpressions;

namespace Elemta.Smtp.Tests;

internal static partial class SmtpTestHelpers
{
    /// <summary>
    /// Runs MAIL, RCPT for each recipient, DATA and the content (already dot-stuffed, without the terminating
    /// <c>.</c> line, which is added), one command at a time, asserting each intermediate reply. Returns the reply to
    /// the end of data.
    /// </summary>
    public static async Task<SmtpReply> SendMessageAsync(this RawSmtpClient client, string sender, IEnumerable<string> recipients, string stuffedContent)
    {
        (await client.CommandAsync($"MAIL FROM:<{sender}>")).AssertIs(250, "2.1.0");
        foreach (var recipient in recipients)
        {
            (await client.CommandAsync($"RCPT TO:<{recipient}>")).AssertIs(250, "2.1.5");
        }

        (await client.CommandAsync("DATA")).AssertIs(354);
        await client.SendAsync(stuffedContent + ".\r\n");
        return await client.ReadReplyAsync();
    }

    /// <summary>Asserts a 250 2.0.0 "queued as &lt;id&gt;" reply and returns the id.</summary>
    public static string AssertQueued(this SmtpReply reply)
    {
        reply.AssertIs(250, "2.0.0");
        var match = QueuedAs().Match(reply.Text);
        Assert.True(match.Success, $"No 'queued as <id>' in: {reply}");
        return match.Groups[1].Value;
    }

    /// <summary>
    /// Asserts that the stored content is one prepended <c>Received:</c> header field (RFC 5321 §4.4) followed by
    /// exactly <paramref name="body"/> (with the <c>Message-ID</c> and <c>Date</c> fields the server adds when the
    /// body lacks them, see <see cref="WithAddedFields"/>), and returns the header field.
    /// </summary>
    public static string AssertReceivedHeaderThenBody(AcceptedMessage message, byte[] body, string heloName = "client.test", string protocol = "ESMTP")
    {
        body = WithAddedFields(body, message.Envelope);
        var content = message.Content;
        Assert.True(content.Length > body.Length, $"Content ({content.Length} octets) is not longer than the body sent ({body.Length}).");
        Assert.Equal(body, content[^body.Length..]);

        var header = Encoding.UTF8.GetString(content, 0, content.Length - body.Length);
        Assert.StartsWith(
            $"Received: from {heloName} ([127.0.0.1])\r\n\tby {SmtpTestServer.HostName} (Elemta) with {protocol} id {message.Envelope.MessageId}",
            header,
            StringComparison.Ordinal);
        Assert.EndsWith(" +0000\r\n", header, StringComparison.Ordinal);
        // One header field: every line after the first is a folded continuation, and no bare CR or LF anywhere.
        var lines = header[..^2].Split("\r\n");
        Assert.All(lines.Skip(1), line => Assert.StartsWith("\t", line, StringComparison.Ordinal));
        Assert.All(lines, line => Assert.DoesNotContain('\r', line));
        Assert.All(lines, line => Assert.DoesNotContain('\n', line));
        return header;
    }

    public static byte[] Ascii(string text) => Encoding.ASCII.GetBytes(text);

    /// <summary>
    /// <paramref name="body"/> as the server stores it (RFC 5322 §3.6): a missing <c>Message-ID: &lt;queue-id@mx.test&gt;</c>
    /// and <c>Date:</c> (the arrival time) added at the end of a header section that ends with an empty line, or,
    /// followed by the empty line, before a body that starts without any header. Bodies of other shapes are returned
    /// unchanged (the content-rule tests assert those byte for byte).
    /// </summary>
    public static byte[] WithAddedFields(byte[] body, Contracts.MessageEnvelope envelope)
    {
        // Latin-1 maps every octet to one char and back, so UTF-8 and NUL octets survive the round trip.
        var text = Encoding.Latin1.GetString(body);
        var messageId = $"Message-ID: <{envelope.MessageId}@{SmtpTestServer.HostName}>\r\n";
        var date = $"Date: {envelope.ReceivedAt.UtcDateTime.ToString("ddd, dd MMM yyyy HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture)} +0000\r\n";
        if (!HeaderFieldStart().IsMatch(text))
        {
            return Encoding.Latin1.GetBytes(messageId + date + "\r\n" + text);
        }

        var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        if (end < 0)
        {
            return body;
        }

        var header = "\r\n" + text[..(end + 2)];
        var added = (header.Contains("\r\nmessage-id:", StringComparison.OrdinalIgnoreCase) ? string.Empty : messageId)
                    + (header.Contains("\r\ndate:", StringComparison.OrdinalIgnoreCase) ? string.Empty : date);
        return Encoding.Latin1.GetBytes(text.Insert(end + 2, added));
    }

    [GeneratedRegex("^[!-9;-~]+:")]
    private static partial Regex HeaderFieldStart();

    [GeneratedRegex(@"queued as ([0-9a-f]{32})$")]
    private static partial Regex QueuedAs();
}
