using System.Text;
using Elemta.Smtp.Tests;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.DependencyInjection;
using MimeKit;

namespace Elemta.Plugins.Tests;

/// <summary>The hooks before the 250, called by the real SMTP session on real plugins loaded from a plugins folder.</summary>
public sealed class HookDispatchTests
{
    private static MimeMessage Message(string subject, params string[] to)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("alice@client.test"));
        foreach (var recipient in to)
        {
            message.To.Add(MailboxAddress.Parse(recipient));
        }

        message.Subject = subject;
        message.Body = new TextPart("plain") { Text = "Hello\r\n" };
        return message;
    }

    private static async Task SendAsync(SmtpTestServer server, MimeMessage message)
    {
        using var client = new SmtpClient();
        await client.ConnectAsync("127.0.0.1", server.Port, SecureSocketOptions.None, TestTimeouts.Token());
        await client.SendAsync(message, TestTimeouts.Token());
        await client.DisconnectAsync(quit: true, TestTimeouts.Token());
    }

    [Fact]
    public async Task Each_hook_fires_once_in_order_with_the_session_data_and_the_header_is_added()
    {
        using var folder = new PluginFolder();
        var name = PluginFolder.NewName("rec");
        folder.Add(name);
        await using var server = await SmtpTestServer.StartAsync(folder.Settings([name], new Dictionary<string, string?>
        {
            [$"{name}:Settings:AddHeader"] = "X-Recorded",
            [$"{name}:Settings:RemoveHeader"] = "X-Secret",
        }));

        var message = Message("hooks", "bob@mx.test");
        message.Headers.Add("X-Secret", "do not relay");
        await SendAsync(server, message);
        await PluginFolder.WaitUntilAsync(() => folder.Events.Any(e => e.Contains(":disconnect:", StringComparison.Ordinal)), "the disconnect hook");

        var events = folder.Events.Select(e => e[(name.Length + 1)..]).ToList();
        var hooks = events.Select(e => e[..e.IndexOf(':', StringComparison.Ordinal)]).ToList();
        Assert.Equal(["init", "connect", "helo", "mail", "security", "rcpt", "data", "message", "authentication", "filter", "disconnect"], hooks);
        Assert.Equal("connect:127.0.0.1", events[1]);
        Assert.StartsWith("helo:", events[2], StringComparison.Ordinal);
        Assert.EndsWith(":EHLO", events[2], StringComparison.Ordinal);
        Assert.Equal("mail:alice@client.test", events[3]);
        Assert.Equal("security:127.0.0.1:alice@client.test>bob@mx.test", events[4]);
        Assert.Equal("rcpt:bob@mx.test", events[5]);
        Assert.Equal("data:alice@client.test>bob@mx.test", events[6]);
        Assert.Equal("message:hooks:alice@client.test>bob@mx.test", events[7]);
        Assert.Equal("authentication:", events[8]);

        var accepted = Assert.Single(server.Acceptor.Messages);
        Assert.Equal(accepted.Envelope.MessageId, events[9]["filter:".Length..]);
        Assert.Null(accepted.Envelope.HoldReason);
        var content = Encoding.UTF8.GetString(accepted.Content);
        Assert.StartsWith($"X-Recorded: {name} ", content, StringComparison.Ordinal);
        Assert.DoesNotContain("X-Secret", content, StringComparison.Ordinal);
        Assert.Contains("Subject: hooks", content, StringComparison.Ordinal);
        Assert.Equal(accepted.Content.Length, accepted.Envelope.Size);
    }

    [Fact]
    public async Task A_message_hook_rewrites_recipients_before_the_commit()
    {
        using var folder = new PluginFolder();
        var name = PluginFolder.NewName("rw");
        folder.Add(name);
        await using var server = await SmtpTestServer.StartAsync(folder.Settings([name], new Dictionary<string, string?>
        {
            [$"{name}:Settings:RewriteRecipient"] = "bob@mx.test>carol@mx.test",
        }));

        await SendAsync(server, Message("rewrite", "bob@mx.test", "dave@mx.test"));

        Assert.Equal(["carol@mx.test", "dave@mx.test"], Assert.Single(server.Acceptor.Messages).Envelope.Recipients.ToArray());
    }

    [Fact]
    public async Task A_rejected_recipient_gets_the_plugins_reply_and_nothing_is_queued()
    {
        using var folder = new PluginFolder();
        var name = PluginFolder.NewName("rj");
        folder.Add(name);
        await using var server = await SmtpTestServer.StartAsync(folder.Settings([name], new Dictionary<string, string?>
        {
            [$"{name}:Settings:rcpt"] = "reject",
            [$"{name}:Settings:RejectRecipient"] = "spam@mx.test",
        }));

        await using var client = await server.ConnectAndEhloAsync();
        (await client.CommandAsync("MAIL FROM:<alice@client.test>")).AssertIs(250);
        var refused = (await client.CommandAsync("RCPT TO:<spam@mx.test>")).AssertIs(554, "5.7.1");
        Assert.Contains($"{name} refuses rcpt", refused.Text, StringComparison.Ordinal);
        (await client.CommandAsync("RCPT TO:<bob@mx.test>")).AssertIs(250);
        (await client.CommandAsync("RSET")).AssertIs(250);
        (await client.CommandAsync("MAIL FROM:<alice@client.test>")).AssertIs(250);
        (await client.CommandAsync("RCPT TO:<spam@mx.test>")).AssertIs(554);
        (await client.CommandAsync("DATA")).AssertIs(554, "5.5.1");
        Assert.Empty(server.Acceptor.Messages);
        Assert.Equal(0, server.Acceptor.Calls);
    }

    [Fact]
    public async Task A_reroute_decided_at_an_smtp_stage_is_the_same_as_continue_and_the_next_plugin_is_asked()
    {
        using var folder = new PluginFolder();
        var first = PluginFolder.NewName("rr");
        var second = PluginFolder.NewName("rs");
        folder.Add(first);
        folder.Add(second);
        await using var server = await SmtpTestServer.StartAsync(folder.Settings([first, second], new Dictionary<string, string?>
        {
            [$"{first}:Order"] = "1",
            [$"{second}:Order"] = "2",
            [$"{first}:Settings:rcpt"] = "reroute",
            [$"{first}:Settings:RerouteTo"] = "127.0.0.1:2525",
            [$"{first}:Settings:message"] = "reroute",
        }));

        await SendAsync(server, Message("rerouted at rcpt", "bob@mx.test"));

        Assert.Equal(["bob@mx.test"], Assert.Single(server.Acceptor.Messages).Envelope.Recipients.ToArray());
        Assert.Contains(folder.Events, e => e == $"{second}:rcpt:bob@mx.test");
        Assert.Contains(folder.Events, e => e.StartsWith($"{second}:message:", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("")]
    [InlineData("relay one")]
    [InlineData("host:25\r\n")]
    public void A_reroute_to_an_empty_or_spaced_next_hop_is_refused_when_the_decision_is_made(string hop)
    {
        Assert.ThrowsAny<ArgumentException>(() => HookDecision.Reroute(hop));
        var decision = HookDecision.Reroute("smarthost");
        Assert.Equal(HookVerdict.Reroute, decision.Verdict);
        Assert.Equal("smarthost", decision.Text);
    }

    [Theory]
    [InlineData("connect", 554, "5.7.1")]
    [InlineData("helo", 554, "5.7.1")]
    [InlineData("mail", 554, "5.7.1")]
    [InlineData("data", 554, "5.7.1")]
    [InlineData("message", 554, "5.7.1")]
    [InlineData("filter", 554, "5.7.1")]
    [InlineData("mail", 450, "4.7.1", "defer")]
    [InlineData("message", 450, "4.7.1", "defer")]
    [InlineData("connect", 421, "4.7.1", "defer")]
    [InlineData("security", 450, "4.7.1", "defer")]
    public async Task A_refusal_at_each_stage_answers_the_plugins_reply_and_queues_nothing(string hook, int code, string enhanced, string verdict = "reject")
    {
        using var folder = new PluginFolder();
        var name = PluginFolder.NewName("st");
        folder.Add(name);
        await using var server = await SmtpTestServer.StartAsync(folder.Settings([name], new Dictionary<string, string?> { [$"{name}:Settings:{hook}"] = verdict }));

        await using var client = await server.ConnectAsync();
        var reply = await client.ReadReplyAsync();
        if (hook != "connect")
        {
            reply.AssertIs(220);
            reply = await client.CommandAsync("EHLO client.test");
        }

        if (hook is not ("connect" or "helo"))
        {
            reply.AssertIs(250);
            reply = await client.CommandAsync("MAIL FROM:<alice@client.test>");
        }

        if (hook == "security")
        {
            reply.AssertIs(250);
            reply = await client.CommandAsync("RCPT TO:<bob@mx.test>");
        }
        else if (hook is not ("connect" or "helo" or "mail"))
        {
            reply.AssertIs(250);
            (await client.CommandAsync("RCPT TO:<bob@mx.test>")).AssertIs(250);
            reply = await client.CommandAsync("DATA");
        }

        if (hook is "message" or "filter")
        {
            reply.AssertIs(354);
            reply = await client.CommandAsync("Subject: refused\r\n\r\nbody\r\n.");
        }

        reply.AssertIs(code, enhanced);
        Assert.Empty(server.Acceptor.Messages);
    }

    [Fact]
    public async Task A_message_sent_with_BDAT_goes_through_the_message_hooks_but_not_the_DATA_hook()
    {
        using var folder = new PluginFolder();
        var name = PluginFolder.NewName("bd");
        folder.Add(name);
        await using var server = await SmtpTestServer.StartAsync(folder.Settings([name], new Dictionary<string, string?> { [$"{name}:Settings:AddHeader"] = "X-Chunked" }));

        await using var client = await server.ConnectAndEhloAsync();
        (await client.CommandAsync("MAIL FROM:<alice@client.test>")).AssertIs(250);
        (await client.CommandAsync("RCPT TO:<bob@mx.test>")).AssertIs(250);
        const string content = "Subject: chunked\r\n\r\nbody\r\n";
        await client.SendAsync($"BDAT {Encoding.UTF8.GetByteCount(content)} LAST\r\n{content}");
        (await client.ReadReplyAsync()).AssertIs(250);

        Assert.StartsWith($"X-Chunked: {name} ", Encoding.UTF8.GetString(Assert.Single(server.Acceptor.Messages).Content), StringComparison.Ordinal);
        var hooks = folder.Events.Select(e => e.Split(':')[1]).ToList();
        Assert.Contains("message", hooks);
        Assert.Contains("filter", hooks);
        Assert.DoesNotContain("data", hooks);
    }

    [Fact]
    public async Task A_dropped_message_gets_250_and_is_not_queued()
    {
        using var folder = new PluginFolder();
        var name = PluginFolder.NewName("dr");
        folder.Add(name);
        await using var server = await SmtpTestServer.StartAsync(folder.Settings([name], new Dictionary<string, string?> { [$"{name}:Settings:message"] = "drop" }));

        await SendAsync(server, Message("dropped", "bob@mx.test"));

        Assert.Empty(server.Acceptor.Messages);
        Assert.Contains(server.Logs, l => l.Message.Contains("dropped by a plugin", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("throw", "FailOpen")]
    [InlineData("throw", "FailClosed")]
    [InlineData("hang", "FailOpen")]
    [InlineData("hang", "FailClosed")]
    public async Task A_failing_plugin_is_resolved_by_its_failure_policy_and_the_server_keeps_serving(string failure, string policy)
    {
        using var folder = new PluginFolder();
        var name = PluginFolder.NewName("fl");
        using var metrics = new PluginMeasurements(name);
        folder.Add(name);
        await using var server = await SmtpTestServer.StartAsync(folder.Settings([name], new Dictionary<string, string?>
        {
            [$"{name}:Settings:message"] = failure,
            [$"{name}:FailurePolicy"] = policy,
            [$"{name}:Timeout"] = "00:00:00.3",
        }));

        await using var client = await server.ConnectAndEhloAsync();
        (await client.CommandAsync("MAIL FROM:<alice@client.test>")).AssertIs(250);
        (await client.CommandAsync("RCPT TO:<bob@mx.test>")).AssertIs(250);
        (await client.CommandAsync("DATA")).AssertIs(354);
        var reply = await client.CommandAsync("Subject: failing\r\n\r\nbody\r\n.");
        if (policy == "FailOpen")
        {
            reply.AssertIs(250);
            Assert.Single(server.Acceptor.Messages);
        }
        else
        {
            reply.AssertIs(451, "4.3.0");
            Assert.Empty(server.Acceptor.Messages);
        }

        // The session goes on, and so does the server.
        (await client.CommandAsync("NOOP")).AssertIs(250);
        await using var second = await server.ConnectAndEhloAsync();
        Assert.Contains(server.Logs, l => l.Message.Contains($"Plugin {name} hook message", StringComparison.Ordinal)
            && l.Message.Contains(failure == "throw" ? "threw" : "exceeded", StringComparison.Ordinal));
        Assert.Empty(server.SessionFailures);

        // Counted per plugin and hook: every call, and the failure as an error or a timeout.
        Assert.Equal(1, metrics.Total("elemta.plugin.calls", "message"));
        Assert.Equal(failure == "throw" ? 1 : 0, metrics.Total("elemta.plugin.errors", "message"));
        Assert.Equal(failure == "hang" ? 1 : 0, metrics.Total("elemta.plugin.timeouts", "message"));
        Assert.Equal(1, metrics.Total("elemta.plugin.duration", "message"));
        Assert.Equal(2, metrics.Total("elemta.plugin.calls", "connect"));
        Assert.Equal(0, metrics.Total("elemta.plugin.errors", "connect"));
    }

    [Fact]
    public async Task The_sample_plugin_adds_its_header()
    {
        using var folder = new PluginFolder();
        folder.Add("addheader", "Elemta.Plugins.Samples.AddHeader");
        await using var server = await SmtpTestServer.StartAsync(folder.Settings([], new Dictionary<string, string?> { ["AddHeader:Settings:Value"] = "sample test" }));

        await SendAsync(server, Message("sample", "bob@mx.test"));

        Assert.StartsWith("X-Elemta-Sample: sample test\r\n", Encoding.UTF8.GetString(Assert.Single(server.Acceptor.Messages).Content), StringComparison.Ordinal);
        Assert.NotNull(server.Services.GetRequiredService<PluginHost>().Current.Find("AddHeader"));
    }

    [Fact]
    public async Task The_recipient_rewriting_sample_moves_a_domain_and_an_address_and_keeps_each_recipient_once()
    {
        using var folder = new PluginFolder();
        folder.Add("rewrite", "Elemta.Plugins.Samples.RewriteRecipients");
        await using var server = await SmtpTestServer.StartAsync(folder.Settings([], new Dictionary<string, string?>
        {
            ["RewriteRecipients:Settings:Rules:0:From"] = "@old.test",
            ["RewriteRecipients:Settings:Rules:0:To"] = "@new.test",
            ["RewriteRecipients:Settings:Rules:1:From"] = "Sales@mx.test",
            ["RewriteRecipients:Settings:Rules:1:To"] = "carol@mx.test",
        }));

        await SendAsync(server, Message("moved", "bob@OLD.test", "sales@mx.test", "carol@mx.test", "dave@mx.test"));

        Assert.Equal(["bob@new.test", "carol@mx.test", "dave@mx.test"], Assert.Single(server.Acceptor.Messages).Envelope.Recipients.ToArray());
    }

    [Fact]
    public async Task A_malformed_rewrite_rule_stops_the_start_naming_its_key()
    {
        using var folder = new PluginFolder();
        folder.Add("rewrite", "Elemta.Plugins.Samples.RewriteRecipients");

        var error = await Assert.ThrowsAnyAsync<Exception>(() => SmtpTestServer.StartAsync(folder.Settings([], new Dictionary<string, string?>
        {
            ["RewriteRecipients:Settings:Rules:0:From"] = "@old.test",
            ["RewriteRecipients:Settings:Rules:0:To"] = "someone@new.test",
        })));

        Assert.Contains("Elemta:Plugins:Items:RewriteRecipients:Settings:Rules:0 needs From and To", error.Message, StringComparison.Ordinal);
    }
}
