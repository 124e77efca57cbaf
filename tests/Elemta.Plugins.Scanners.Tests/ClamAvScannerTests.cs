using System.Text;
using Elemta.Plugins.Scanners.Tests.Daemons;
using Elemta.Plugins.Tests;
using Elemta.Smtp.Tests;
using MimeKit;

namespace Elemta.Plugins.Scanners.Tests;

/// <summary>The ClamAV plugin, loaded from a plugins folder into the real SMTP front-end, against a real clamd.</summary>
public sealed class ClamAvScannerTests(ClamdDaemon clamd) : IClassFixture<ClamdDaemon>
{
    private const string Build = "Elemta.Plugins.ClamAv";

    private Task<SmtpTestServer> StartAsync(PluginFolder folder, string transport, params (string Key, string Value)[] settings)
    {
        var items = new Dictionary<string, string?> { ["ClamAV:Settings:Address"] = transport == "unix" ? clamd.SocketPath : clamd.TcpAddress };
        foreach (var (key, value) in settings)
        {
            items["ClamAV:" + key] = value;
        }

        return ScannerMail.StartAsync(folder, Build, items);
    }

    /// <summary>A message with the EICAR test file as a base64 attachment, as a virus arrives: clamd must decode the MIME part to find it.</summary>
    private static string InfectedMessage()
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("alice@client.test"));
        message.To.Add(MailboxAddress.Parse("bob@mx.test"));
        message.Subject = "invoice";
        var body = new BodyBuilder { TextBody = "Please find the invoice attached.\r\n" };
        body.Attachments.Add("invoice.com", Encoding.ASCII.GetBytes(ClamdDaemon.Eicar), new ContentType("application", "octet-stream"));
        message.Body = body.ToMessageBody();
        using var stream = new MemoryStream();
        message.WriteTo(new MimeKit.FormatOptions { NewLineFormat = NewLineFormat.Dos }, stream);
        var text = Encoding.ASCII.GetString(stream.ToArray());
        Assert.DoesNotContain(ClamdDaemon.Eicar, text, StringComparison.Ordinal);
        return text;
    }

    [Theory]
    [InlineData("tcp")]
    [InlineData("unix")]
    public async Task Clean_mail_passes_marked_as_scanned(string transport)
    {
        using var folder = new PluginFolder();
        await using var server = await StartAsync(folder, transport);

        // A client's own "scanned" header must not survive into the stored message.
        var reply = await ScannerMail.SendAsync(server, ScannerMail.Message("clean", "Hello Bob", "X-Virus-Status: Clean (forged)"));

        reply.AssertIs(250);
        var stored = ScannerMail.Stored(server);
        Assert.StartsWith("X-Virus-Scanned: ClamAV\r\nX-Virus-Status: Clean\r\n", stored, StringComparison.Ordinal);
        Assert.DoesNotContain("forged", stored, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("tcp")]
    [InlineData("unix")]
    public async Task EICAR_is_rejected_554_5_7_1_naming_the_signature(string transport)
    {
        using var folder = new PluginFolder();
        await using var server = await StartAsync(folder, transport);

        var reply = await ScannerMail.SendAsync(server, InfectedMessage());

        reply.AssertIs(554, "5.7.1");
        Assert.Equal($"5.7.1 Message rejected: virus {ClamdDaemon.SignatureName}.UNOFFICIAL found", reply.Text);
        Assert.Empty(server.Acceptor.Messages);
    }

    [Fact]
    public async Task EICAR_is_held_when_VirusAction_is_Hold()
    {
        using var folder = new PluginFolder();
        await using var server = await StartAsync(folder, "tcp", ("Settings:VirusAction", "Hold"));

        var reply = await ScannerMail.SendAsync(server, InfectedMessage());

        ScannerMail.AssertHeld(reply, server);
    }

    [Fact]
    public async Task A_message_over_clamds_StreamMaxLength_is_deferred_by_default()
    {
        using var folder = new PluginFolder();
        await using var server = await StartAsync(folder, "tcp");

        var reply = await ScannerMail.SendAsync(server, LargeMessage());

        reply.AssertIs(451, "4.7.1");
        Assert.Contains("too large for the virus scanner", reply.Text, StringComparison.Ordinal);
        Assert.Empty(server.Acceptor.Messages);
    }

    [Fact]
    public async Task A_message_over_clamds_StreamMaxLength_passes_unscanned_when_SizeLimitAction_is_Continue()
    {
        using var folder = new PluginFolder();
        await using var server = await StartAsync(folder, "unix", ("Settings:SizeLimitAction", "Continue"));

        var reply = await ScannerMail.SendAsync(server, LargeMessage());

        reply.AssertIs(250);
        var stored = ScannerMail.Stored(server);
        Assert.StartsWith("X-Virus-Status: Unscanned, larger than clamd's StreamMaxLength\r\n", stored, StringComparison.Ordinal);
        Assert.DoesNotContain("X-Virus-Scanned", stored, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Settings:Address", "clamd", "Elemta:Plugins:Items:ClamAV:Settings:Address must be clamd's TCPSocket as host:port")]
    [InlineData("Settings:Address", "127.0.0.1:99999", "Elemta:Plugins:Items:ClamAV:Settings:Address must be")]
    [InlineData("Settings:Timeout", "-00:00:01", "Elemta:Plugins:Items:ClamAV:Settings:Timeout must be a positive time span")]
    [InlineData("Settings:VirusAction", "Drop", "Elemta:Plugins:Items:ClamAV:Settings:VirusAction must be one of Reject, Hold")]
    [InlineData("Settings:SizeLimitAction", "1", "Elemta:Plugins:Items:ClamAV:Settings:SizeLimitAction must be one of Defer, Continue")]
    public async Task A_bad_setting_stops_the_start_naming_its_key(string key, string value, string expected)
    {
        using var folder = new PluginFolder();

        var error = await Assert.ThrowsAnyAsync<Exception>(() => StartAsync(folder, "tcp", (key, value)));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    /// <summary>A clean message half as long again as clamd's StreamMaxLength.</summary>
    private static string LargeMessage()
    {
        var line = new string('a', 76) + "\n";
        var body = new StringBuilder();
        while (body.Length < ClamdDaemon.StreamMaxLength * 3 / 2)
        {
            body.Append(line);
        }

        return ScannerMail.Message("large", body.ToString());
    }
}
