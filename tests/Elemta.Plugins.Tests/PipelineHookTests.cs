using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Elemta.Smtp.Tests;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.DependencyInjection;
using MimeKit;

namespace Elemta.Plugins.Tests;

/// <summary>
/// The hook families beyond the SMTP commands, in the real SMTP front-end: security checks, authentication results,
/// hold, error and metrics hooks, and plugins built into the server rather than loaded from the folder.
/// </summary>
public sealed class PipelineHookTests
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

    private static async Task<string> SendAsync(SmtpTestServer server, MimeMessage message)
    {
        using var client = new SmtpClient();
        await client.ConnectAsync("127.0.0.1", server.Port, SecureSocketOptions.None, TestTimeouts.Token());
        var reply = await client.SendAsync(message, TestTimeouts.Token());
        await client.DisconnectAsync(quit: true, TestTimeouts.Token());
        return reply;
    }

    [Fact]
    public async Task A_security_check_refuses_one_recipient_before_the_transaction_hooks_are_asked()
    {
        using var folder = new PluginFolder();
        var name = PluginFolder.NewName("sec");
        folder.Add(name);
        await using var server = await SmtpTestServer.StartAsync(folder.Settings([name], new Dictionary<string, string?>
        {
            [$"{name}:Settings:security"] = "defer",
        }));

        await using var client = await server.ConnectAsync();
        (await client.ReadReplyAsync()).AssertIs(220);
        (await client.CommandAsync("EHLO client.test")).AssertIs(250);
        (await client.CommandAsync("MAIL FROM:<alice@client.test>")).AssertIs(250);
        var reply = await client.CommandAsync("RCPT TO:<bob@mx.test>");
        reply.AssertIs(450, "4.7.1");
        Assert.Contains($"{name} defers security", reply.Text, StringComparison.Ordinal);
        // The transaction hook was not asked about a recipient the security check refused.
        Assert.DoesNotContain(folder.Events, e => e.Contains(":rcpt:", StringComparison.Ordinal));
        Assert.Contains($"{name}:security:127.0.0.1:alice@client.test>bob@mx.test", folder.Events);
    }

    [Fact]
    public async Task Authentication_hooks_see_the_results_the_message_hooks_recorded_and_may_refuse_on_them()
    {
        using var folder = new PluginFolder();
        var checker = "a" + PluginFolder.NewName("chk");
        var judge = "b" + PluginFolder.NewName("jdg");
        folder.Add(checker);
        folder.Add(judge);
        await using var server = await SmtpTestServer.StartAsync(folder.Settings([checker, judge], new Dictionary<string, string?>
        {
            [$"{checker}:Settings:AuthResult"] = "spf=fail",
            [$"{judge}:Settings:authentication"] = "reject",
        }));

        var error = await Assert.ThrowsAsync<SmtpCommandException>(() => SendAsync(server, Message("judged", "bob@mx.test")));
        Assert.Equal(554, (int)error.StatusCode);
        Assert.Contains($"{judge} refuses authentication", error.Message, StringComparison.Ordinal);
        Assert.Contains($"{judge}:authentication:spf=fail", folder.Events);
        Assert.Empty(server.Acceptor.Messages);
    }

    [Fact]
    public async Task A_held_message_is_answered_250_and_queued_with_its_hold_reason()
    {
        using var folder = new PluginFolder();
        var name = PluginFolder.NewName("hold");
        folder.Add(name);
        await using var server = await SmtpTestServer.StartAsync(folder.Settings([name], new Dictionary<string, string?>
        {
            [$"{name}:Settings:filter"] = "hold",
        }));

        var reply = await SendAsync(server, Message("quarantine me", "bob@mx.test"));
        Assert.StartsWith("2.0.0 Ok: queued as ", reply, StringComparison.Ordinal);
        var accepted = Assert.Single(server.Acceptor.Messages);
        Assert.Equal($"{name} holds", accepted.Envelope.HoldReason);
        Assert.Contains(server.Logs, l => l.Message.Contains("queued held by a plugin", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_failing_plugin_is_reported_to_the_error_hooks_of_the_others()
    {
        using var folder = new PluginFolder();
        var failing = "a" + PluginFolder.NewName("bad");
        var watcher = "b" + PluginFolder.NewName("err");
        folder.Add(failing);
        folder.Add(watcher);
        await using var server = await SmtpTestServer.StartAsync(folder.Settings([failing, watcher], new Dictionary<string, string?>
        {
            [$"{failing}:Settings:message"] = "throw",
        }));

        await SendAsync(server, Message("errors", "bob@mx.test"));
        await PluginFolder.WaitUntilAsync(() => folder.Events.Any(e => e.StartsWith($"{watcher}:error:plugin:{failing}:True:", StringComparison.Ordinal)), "the error hook");
        var reported = folder.Events.First(e => e.StartsWith($"{watcher}:error:", StringComparison.Ordinal));
        Assert.Contains($"fails at message", reported, StringComparison.Ordinal);
        // Fail-open: the message was queued all the same.
        Assert.Single(server.Acceptor.Messages);
    }

    [Fact]
    public async Task A_plugins_instruments_are_exported_on_its_own_meter_and_the_meter_ends_with_the_plugin()
    {
        using var folder = new PluginFolder();
        var name = PluginFolder.NewName("met");
        var meterName = $"{PluginMetrics.Name}.{name}";
        var measured = new ConcurrentQueue<long>();
        var completed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == meterName)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            if (instrument.Name == "scripted.messages")
            {
                measured.Enqueue(value);
            }
        });
        listener.MeasurementsCompleted = (instrument, _) =>
        {
            if (instrument.Meter.Name == meterName)
            {
                completed.TrySetResult();
            }
        };
        listener.Start();

        folder.Add(name);
        await using var server = await SmtpTestServer.StartAsync(folder.Settings([name], watch: true));
        await SendAsync(server, Message("counted", "bob@mx.test"));
        Assert.Equal([1L], measured);

        // Removing the plugin unloads it, and its meter with it.
        Directory.Delete(Path.Combine(folder.Path, name), recursive: true);
        await completed.Task.WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task A_built_in_plugin_runs_only_when_enabled_and_then_like_a_folder_plugin()
    {
        static void Register(IServiceCollection services) => services.AddElemtaBuiltInPlugin<BuiltInRecorder>("built-in-recorder", enabledByDefault: false);

        await using (var off = await SmtpTestServer.StartAsync(services: Register))
        {
            // Only the front-end's own built-ins (connection-limits, auth-lockout), which are on by default.
            Assert.Null(off.Services.GetRequiredService<PluginHost>().Current.Find("built-in-recorder"));
            Assert.All(off.Services.GetRequiredService<PluginHost>().Current.All, p => Assert.True(p.IsBuiltIn));
            await SendAsync(off, Message("not seen", "bob@mx.test"));
            Assert.DoesNotContain("X-Built-In", System.Text.Encoding.ASCII.GetString(Assert.Single(off.Acceptor.Messages).Content), StringComparison.Ordinal);
        }

        await using var on = await SmtpTestServer.StartAsync(new Dictionary<string, string?>
        {
            ["Elemta:Plugins:Items:built-in-recorder:Enabled"] = "true",
            ["Elemta:Plugins:Items:built-in-recorder:Settings:Value"] = "configured",
        }, services: Register);
        var plugin = on.Services.GetRequiredService<PluginHost>().Current.Find("built-in-recorder");
        Assert.NotNull(plugin);
        Assert.True(plugin.IsBuiltIn);
        Assert.Equal(LoadedPlugin.BuiltInFolder, plugin.Folder);
        await SendAsync(on, Message("seen", "bob@mx.test"));
        Assert.StartsWith("X-Built-In: configured\r\n", System.Text.Encoding.ASCII.GetString(Assert.Single(on.Acceptor.Messages).Content), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_plugin_scoped_to_inbound_mail_is_skipped_for_trusted_clients_and_called_for_strangers()
    {
        static void Register(IServiceCollection services) => services.AddElemtaBuiltInPlugin<InboundOnly>("inbound-only", enabledByDefault: true);

        // Loopback is in the default trusted networks: the plugin's hooks are not called.
        await using (var trusted = await SmtpTestServer.StartAsync(services: Register))
        {
            Assert.Empty(trusted.Services.GetRequiredService<PluginHost>().Current.For(outbound: true).Message);
            await SendAsync(trusted, Message("own mail", "bob@mx.test"));
            Assert.DoesNotContain("X-Inbound", System.Text.Encoding.ASCII.GetString(Assert.Single(trusted.Acceptor.Messages).Content), StringComparison.Ordinal);
        }

        await using var stranger = await SmtpTestServer.StartAsync(new Dictionary<string, string?>
        {
            ["Elemta:Smtp:TrustedNetworks:0"] = "192.0.2.0/24",
            ["Elemta:Delivery:LocalDomains:mx.test:Transport"] = "Maildir",
        }, services: Register);
        await SendAsync(stranger, Message("inbound", "bob@mx.test"));
        Assert.StartsWith("X-Inbound: stranger\r\n", System.Text.Encoding.ASCII.GetString(Assert.Single(stranger.Acceptor.Messages).Content), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_folder_plugin_with_a_built_in_plugins_name_stops_the_start()
    {
        using var folder = new PluginFolder();
        folder.Add("built-in-recorder");
        var error = await Assert.ThrowsAnyAsync<Exception>(() => SmtpTestServer.StartAsync(folder.Settings(["built-in-recorder"]),
            services: s => s.AddElemtaBuiltInPlugin<BuiltInRecorder>("built-in-recorder", enabledByDefault: true)));
        Assert.Contains("holds plugin built-in-recorder, the name of a built-in plugin; rename it", error.Message, StringComparison.Ordinal);
    }
}

/// <summary>A built-in plugin for inbound mail only: adds a header, so a test sees whether it was called.</summary>
public sealed class InboundOnly : IElemtaPlugin, IMessageHooks
{
    /// <inheritdoc />
    public string Name => "inbound-only";

    /// <inheritdoc />
    public Version Version => new(1, 0);

    /// <inheritdoc />
    public PluginScope Scope => PluginScope.Inbound;

    /// <inheritdoc />
    public ValueTask<HookDecision> OnMessageAsync(SessionInfo session, MessageContext message, CancellationToken cancellationToken)
    {
        message.AddHeader("X-Inbound", session.IsTrusted ? "trusted" : "stranger");
        return HookDecision.ContinueTask;
    }
}

/// <summary>A plugin compiled into the test, registered as a built-in one: adds a header with its configured value.</summary>
public sealed class BuiltInRecorder : IElemtaPlugin, IMessageHooks
{
    private string _value = "unset";

    /// <inheritdoc />
    public string Name => "built-in-recorder";

    /// <inheritdoc />
    public Version Version => new(1, 0);

    /// <inheritdoc />
    public ValueTask InitializeAsync(PluginContext context, CancellationToken cancellationToken)
    {
        _value = context.Settings["Value"] ?? "unset";
        return default;
    }

    /// <inheritdoc />
    public ValueTask<HookDecision> OnMessageAsync(SessionInfo session, MessageContext message, CancellationToken cancellationToken)
    {
        message.AddHeader("X-Built-In", _value);
        return HookDecision.ContinueTask;
    }
}
