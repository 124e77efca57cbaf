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
    /// exactly <paramref name="body"/>, and returns the header field.
    /// </summary>
    public static string AssertReceivedHeaderThenBody(AcceptedMessage message, byte[] body, string heloName = "client.test", string protocol = "ESMTP")
    {
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

    [GeneratedRegex(@"queued as ([0-9a-f]{32})$")]
    private static partial Regex QueuedAs();
}
