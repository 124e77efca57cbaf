using System.Text;
using System.Text.RegularExpressions;
using Elemta.Plugins.Tests;
using Elemta.Smtp.Tests;

namespace Elemta.Plugins.Scanners.Tests;

/// <summary>Servers with a scanner plugin loaded from a plugins folder, and mail sent to them with a raw SMTP client.</summary>
internal static partial class ScannerMail
{
    /// <summary>
    /// Starts the real SMTP front-end with the plugin build <paramref name="build"/> in a plugins folder and
    /// <paramref name="items"/> under <c>Elemta:Plugins:Items:</c> (e.g. <c>["Rspamd:Settings:Url"] = …</c>).
    /// </summary>
    public static Task<SmtpTestServer> StartAsync(PluginFolder folder, string build, IReadOnlyDictionary<string, string?> items)
    {
        folder.Add(build.ToLowerInvariant(), build);
        return SmtpTestServer.StartAsync(folder.Settings([], items));
    }

    /// <summary>A message with a From, To, Subject, Message-ID and Date, a text body and optional extra header fields (CRLF line ends).</summary>
    public static string Message(string subject, string body, params string[] extraHeaders)
    {
        var text = new StringBuilder()
            .Append("From: Alice <alice@client.test>\r\n")
            .Append("To: Bob <bob@mx.test>\r\n")
            .Append("Subject: ").Append(subject).Append("\r\n")
            .Append("Message-ID: <").Append(Guid.NewGuid().ToString("N")).Append("@client.test>\r\n")
            .Append("Date: Thu, 03 Dec 2026 16:00:00 +0000\r\n");
        foreach (var header in extraHeaders)
        {
            text.Append(header).Append("\r\n");
        }

        return text.Append("\r\n").Append(body.ReplaceLineEndings("\r\n")).Append("\r\n").ToString();
    }

    /// <summary>Sends one message (EHLO client.test, MAIL FROM alice@client.test, RCPT TO each recipient, DATA) and returns the reply to its final dot.</summary>
    public static async Task<SmtpReply> SendAsync(SmtpTestServer server, string content, params string[] recipients)
    {
        await using var client = await server.ConnectAndEhloAsync();
        (await client.CommandAsync("MAIL FROM:<alice@client.test>")).AssertIs(250);
        foreach (var recipient in recipients.DefaultIfEmpty("bob@mx.test"))
        {
            (await client.CommandAsync($"RCPT TO:<{recipient}>")).AssertIs(250);
        }

        (await client.CommandAsync("DATA")).AssertIs(354);
        // Dot-stuffing (RFC 5321 §4.5.2), then the end of data.
        var stuffed = DotAtLineStart().Replace(content, "..");
        await client.SendAsync(stuffed + ".\r\n");
        return await client.ReadReplyAsync();
    }

    /// <summary>The queue id in a <c>250 2.0.0 Ok: queued as &lt;id&gt;</c> reply.</summary>
    public static string QueueId(SmtpReply reply)
    {
        reply.AssertIs(250, "2.0.0");
        return reply.Text[(reply.Text.LastIndexOf(' ') + 1)..];
    }

    /// <summary>The one message the server queued, as it was stored (the plugin's headers at the top).</summary>
    public static string Stored(SmtpTestServer server) => Encoding.UTF8.GetString(Assert.Single(server.Acceptor.Messages).Content);

    /// <summary>
    /// Asserts that a plugin's <c>Hold</c> decided the message. The one place that knows what Hold answers at the SMTP
    /// level: today <c>451 4.7.1</c> with nothing queued and the host's log entry (event 16101), which tells a hold
    /// from a plain deferral (also 451 4.7.1).
    /// </summary>
    public static void AssertHeld(SmtpReply reply, SmtpTestServer server)
    {
        reply.AssertIs(451, "4.7.1");
        Assert.Empty(server.Acceptor.Messages);
        Assert.Contains(server.Logs, l => l.Message.Contains("a plugin asked to hold it", StringComparison.Ordinal));
    }

    [GeneratedRegex(@"(?<=^|\r\n)\.", RegexOptions.CultureInvariant)]
    private static partial Regex DotAtLineStart();
}
