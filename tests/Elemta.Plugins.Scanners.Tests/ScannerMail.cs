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
    /// <param name="folder">The plugins folder.</param>
    /// <param name="build">The plugin build to copy into it.</param>
    /// <param name="items">Settings relative to <c>Elemta:Plugins:Items:</c>.</param>
    /// <param name="smtp">Settings relative to <c>Elemta:Smtp:</c>, e.g. <c>["AllowPlaintextAuth"] = "true"</c>.</param>
    public static Task<SmtpTestServer> StartAsync(PluginFolder folder, string build, IReadOnlyDictionary<string, string?> items, IReadOnlyDictionary<string, string?>? smtp = null)
    {
        folder.Add(build.ToLowerInvariant(), build);
        var settings = folder.Settings([], items);
        foreach (var (key, value) in smtp ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        return SmtpTestServer.StartAsync(settings);
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
    public static Task<SmtpReply> SendAsync(SmtpTestServer server, string content, params string[] recipients) =>
        SendAsync(server, content, null, recipients);

    /// <summary>As <see cref="SendAsync(SmtpTestServer, string, string[])"/>, after AUTH PLAIN with <paramref name="login"/> when given.</summary>
    public static async Task<SmtpReply> SendAsync(SmtpTestServer server, string content, (string User, string Password)? login, params string[] recipients)
    {
        await using var client = await server.ConnectAndEhloAsync();
        if (login is var (user, password))
        {
            var plain = Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0{user}\0{password}"));
            (await client.CommandAsync($"AUTH PLAIN {plain}")).AssertIs(235, "2.7.0");
        }

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
    /// Asserts that a plugin's <c>Hold</c> decided the message: <c>250</c>, the message queued with a hold reason (the
    /// store queues it held in the same commit), and the host's log entry (event 16101).
    /// </summary>
    public static void AssertHeld(SmtpReply reply, SmtpTestServer server)
    {
        // Quarantined: answered 250 and queued held (the hold reason in the envelope), not delivered until released.
        reply.AssertIs(250);
        Assert.NotNull(Assert.Single(server.Acceptor.Messages).Envelope.HoldReason);
        Assert.Contains(server.Logs, l => l.Message.Contains("queued held by a plugin", StringComparison.Ordinal));
    }

    [GeneratedRegex(@"(?<=^|\r\n)\.", RegexOptions.CultureInvariant)]
    private static partial Regex DotAtLineStart();
}
