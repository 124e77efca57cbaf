using Elemta.Plugins.Scanners.Tests.Daemons;
using Elemta.Plugins.Tests;
using Elemta.Smtp.Tests;

namespace Elemta.Plugins.Scanners.Tests;

/// <summary>The rspamd plugin, loaded from a plugins folder into the real SMTP front-end, against a real rspamd.</summary>
public sealed class RspamdScannerTests(RspamdDaemon rspamd) : IClassFixture<RspamdDaemon>
{
    private const string Build = "Elemta.Plugins.Rspamd";

    private Task<SmtpTestServer> StartAsync(PluginFolder folder, params (string Key, string Value)[] settings)
    {
        var items = new Dictionary<string, string?> { ["Rspamd:Settings:Url"] = rspamd.Url };
        foreach (var (key, value) in settings)
        {
            items["Rspamd:" + key] = value;
        }

        // PLAIN without TLS, for the test that authenticates: loopback only.
        return ScannerMail.StartAsync(folder, Build, items, new Dictionary<string, string?> { ["AllowPlaintextAuth"] = "true" });
    }

    [Fact]
    public async Task An_authenticated_client_reaches_rspamd_as_its_User()
    {
        using var folder = new PluginFolder();
        await using var server = await StartAsync(folder);
        server.Users.Add("alice@client.test", "correct horse", ["alice@client.test"]);

        var reply = await ScannerMail.SendAsync(server, ScannerMail.Message("submitted", "Hello"), ("alice@client.test", "correct horse"), "bob@mx.test");

        var line = await rspamd.LogLineOfAsync(ScannerMail.QueueId(reply));
        Assert.Contains("user: alice@client.test,", line, StringComparison.Ordinal);
        // Without ResolveHostname no Hostname is sent.
        Assert.Contains("hostname=;", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Clean_mail_passes_with_the_score_headers_and_rspamd_sees_the_envelope_and_the_client()
    {
        using var folder = new PluginFolder();
        await using var server = await StartAsync(folder, ("Settings:ResolveHostname", "true"));

        // A client's own spam verdict must not survive into the stored message.
        var reply = await ScannerMail.SendAsync(server, ScannerMail.Message("clean", "Hello Bob,\nlunch at noon?", "X-Spam: Yes", "X-Spam-Status: Yes, forged"),
            "bob@mx.test", "carol@mx.test");

        var queueId = ScannerMail.QueueId(reply);
        var stored = ScannerMail.Stored(server);
        Assert.StartsWith("X-Spam-Score: 0.00\r\nX-Spam-Status: No, score=0.00, required=15.00, action=\"no action\"\r\n", stored, StringComparison.Ordinal);
        Assert.DoesNotContain("X-Spam: Yes", stored, StringComparison.Ordinal);
        Assert.DoesNotContain("forged", stored, StringComparison.Ordinal);

        var line = await rspamd.LogLineOfAsync(queueId);
        Assert.Contains("ip: 127.0.0.1,", line, StringComparison.Ordinal);
        Assert.Contains("from: <alice@client.test>", line, StringComparison.Ordinal);
        Assert.Contains("rcpts: <bob@mx.test,carol@mx.test>", line, StringComparison.Ordinal);
        Assert.Contains("helo=client.test;", line, StringComparison.Ordinal);
        // 127.0.0.1 is localhost in /etc/hosts, both ways: the forward-confirmed name.
        Assert.Contains("hostname=localhost;", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GTUBE_is_rejected_550_5_7_1_with_rspamds_message_and_nothing_is_queued()
    {
        using var folder = new PluginFolder();
        await using var server = await StartAsync(folder);

        var reply = await ScannerMail.SendAsync(server, ScannerMail.Message("gtube", "Buy now\n" + RspamdDaemon.Gtube));

        reply.AssertIs(550, "5.7.1");
        Assert.Equal("5.7.1 Gtube pattern", reply.Text);
        Assert.Empty(server.Acceptor.Messages);
    }

    [Theory]
    [InlineData("add header", "6.00")]
    [InlineData("rewrite subject", "8.00")]
    public async Task The_add_header_and_rewrite_subject_actions_accept_the_message_marked_as_spam(string action, string score)
    {
        using var folder = new PluginFolder();
        await using var server = await StartAsync(folder);
        var pattern = action == "add header" ? RspamdDaemon.GtubeAddHeader : RspamdDaemon.GtubeRewriteSubject;

        var reply = await ScannerMail.SendAsync(server, ScannerMail.Message("probably spam", "Cheap watches\n" + pattern));

        reply.AssertIs(250);
        var stored = ScannerMail.Stored(server);
        Assert.StartsWith($"X-Spam-Score: {score}\r\nX-Spam-Status: Yes, score={score}, required=15.00, action=\"{action}\"\r\nX-Spam: Yes\r\n", stored, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_soft_reject_is_deferred_451_4_7_1_with_rspamds_message()
    {
        using var folder = new PluginFolder();
        await using var server = await StartAsync(folder);

        var reply = await ScannerMail.SendAsync(server, ScannerMail.Message(RspamdDaemon.SoftRejectSubject, "Hello"));

        reply.AssertIs(451, "4.7.1");
        Assert.Equal("4.7.1 Try again later (test)", reply.Text);
        Assert.Empty(server.Acceptor.Messages);
    }

    [Fact]
    public async Task A_score_at_the_hold_threshold_holds_the_message()
    {
        using var folder = new PluginFolder();
        await using var server = await StartAsync(folder, ("Settings:HoldScore", "5.5"));

        // rspamd says "add header" at 6; the threshold makes it a hold.
        var reply = await ScannerMail.SendAsync(server, ScannerMail.Message("hold me", RspamdDaemon.GtubeAddHeader));

        ScannerMail.AssertHeld(reply, server);
    }

    [Fact]
    public async Task A_score_at_the_reject_threshold_rejects_what_rspamd_would_only_mark()
    {
        using var folder = new PluginFolder();
        await using var server = await StartAsync(folder, ("Settings:RejectScore", "6"), ("Settings:HoldScore", "3"));

        var reply = await ScannerMail.SendAsync(server, ScannerMail.Message("reject me", RspamdDaemon.GtubeAddHeader));

        reply.AssertIs(550, "5.7.1");
        Assert.Empty(server.Acceptor.Messages);
    }

    [Fact]
    public async Task A_score_under_every_threshold_leaves_rspamds_action_and_a_header_threshold_marks_clean_mail()
    {
        using var folder = new PluginFolder();
        await using var server = await StartAsync(folder, ("Settings:RejectScore", "100"), ("Settings:HeaderScore", "0"));

        var marked = await ScannerMail.SendAsync(server, ScannerMail.Message("clean but marked", "Hello"));
        var rejected = await ScannerMail.SendAsync(server, ScannerMail.Message("still rejected", RspamdDaemon.Gtube));

        marked.AssertIs(250);
        Assert.StartsWith("X-Spam-Score: 0.00\r\nX-Spam-Status: Yes, score=0.00, required=15.00, action=\"no action\"\r\nX-Spam: Yes\r\n", ScannerMail.Stored(server), StringComparison.Ordinal);
        rejected.AssertIs(550, "5.7.1");
    }

    [Fact]
    public async Task An_action_mapped_to_hold_holds_what_rspamd_would_reject()
    {
        using var folder = new PluginFolder();
        await using var server = await StartAsync(folder, ("Settings:Actions:Reject", "Hold"));

        var reply = await ScannerMail.SendAsync(server, ScannerMail.Message("quarantine", RspamdDaemon.Gtube));

        ScannerMail.AssertHeld(reply, server);
    }

    [Theory]
    [InlineData("Settings:Url", "ftp://127.0.0.1/", "Elemta:Plugins:Items:Rspamd:Settings:Url must be an http:// or https:// address")]
    [InlineData("Settings:Timeout", "0", "Elemta:Plugins:Items:Rspamd:Settings:Timeout must be a positive time span")]
    [InlineData("Settings:HoldScore", "high", "Elemta:Plugins:Items:Rspamd:Settings:HoldScore must be a number")]
    [InlineData("Settings:Actions:Spam", "Reject", "Elemta:Plugins:Items:Rspamd:Settings:Actions:Spam is not an rspamd action")]
    [InlineData("Settings:Actions:Reject", "Bounce", "Elemta:Plugins:Items:Rspamd:Settings:Actions:Reject must be one of")]
    public async Task A_bad_setting_stops_the_start_naming_its_key(string key, string value, string expected)
    {
        using var folder = new PluginFolder();

        var error = await Assert.ThrowsAnyAsync<Exception>(() => StartAsync(folder, (key, value)));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }
}
