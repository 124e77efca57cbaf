using System.Text;
using Elemta.Contracts;
using Elemta.Testing;

namespace Elemta.Silo.Tests;

/// <summary>
/// The hooks after the 250, in a real silo process: queue hooks (enqueue, dequeue, retry), delivery hooks (before
/// delivery per recipient, each result), and a message held at acceptance, with the scripted test plugin loaded from a
/// plugins folder and a real SMTP server as the destination. The plugin appends each call to a file.
/// </summary>
public sealed class PluginPipelineEndToEndTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private static byte[] Raw(string subject) => Encoding.ASCII.GetBytes(
        "From: Alice <alice@example.org>\r\nTo: Bob <bob@example.net>\r\n" +
        $"Subject: {subject}\r\nMessage-ID: <{Guid.NewGuid():N}@example.org>\r\nDate: Tue, 24 Nov 2026 12:00:00 +0000\r\n\r\nHello\r\n");

    /// <summary>A plugins folder holding the scripted plugin as "pipe", and the file it records into.</summary>
    private sealed class Plugin : IDisposable
    {
        public Plugin(TempDirectory data, IDictionary<string, string> settings, IReadOnlyDictionary<string, string>? decisions = null)
        {
            var folder = Path.Combine(data.Path, "plugins", "pipe");
            var source = Path.Combine(AppContext.BaseDirectory, "plugin-builds", "TestPlugin.Scripted");
            foreach (var file in Directory.GetFiles(source, "*", SearchOption.AllDirectories))
            {
                var target = Path.Combine(folder, Path.GetRelativePath(source, file));
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.Copy(file, target);
            }

            SinkFile = Path.Combine(data.Path, "hooks.log");
            settings["Elemta:Plugins:Directory"] = Path.Combine(data.Path, "plugins");
            settings["Elemta:Plugins:Items:pipe:Settings:SinkFile"] = SinkFile;
            foreach (var (key, value) in decisions ?? new Dictionary<string, string>())
            {
                settings[$"Elemta:Plugins:Items:pipe:Settings:{key}"] = value;
            }
        }

        public string SinkFile { get; }

        public string[] Events => File.Exists(SinkFile)
            ? [.. File.ReadAllLines(SinkFile).Select(l => l["pipe:".Length..])]
            : [];

        public Task<string[]> WaitForAsync(Func<string[], bool> done, string what) =>
            Eventually.GetAsync(() => Task.FromResult(Events), done, Timeout, what);

        public void Dispose()
        {
        }
    }

    [Fact]
    public async Task Queue_and_delivery_hooks_fire_once_each_in_order_with_the_message_and_each_recipients_result()
    {
        await using var sink = SmtpSink.Start();
        using var data = new TempDirectory();
        var settings = new Dictionary<string, string> { ["Elemta:Delivery:Routes:example.net"] = $"127.0.0.1:{sink.Port}" };
        using var plugin = new Plugin(data, settings);
        await using var silo = await SiloProcess.StartAsync(data.Path, settings);

        var id = await EndToEndTests.SendRawAsync(silo.SmtpPort, "alice@example.org", ["bob@example.net", "carol@example.net"], Raw("pipeline"));
        await sink.WaitForMessageAsync(_ => true, Timeout);
        var events = await plugin.WaitForAsync(e => e.Count(l => l.StartsWith("delivery-result:", StringComparison.Ordinal)) == 2, "both delivery results");

        var after = events.SkipWhile(e => !e.StartsWith("enqueue:", StringComparison.Ordinal)).ToList();
        Assert.Equal($"enqueue:{id}:bob@example.net,carol@example.net", after[0]);
        Assert.Equal(1, events.Count(e => e.StartsWith("enqueue:", StringComparison.Ordinal)));
        Assert.Equal(1, events.Count(e => e.StartsWith("dequeue:", StringComparison.Ordinal)));
        var dequeue = after.FindIndex(e => e.StartsWith("dequeue:", StringComparison.Ordinal));
        var bob = after.IndexOf("before-delivery:bob@example.net");
        var carol = after.IndexOf("before-delivery:carol@example.net");
        var firstResult = after.FindIndex(e => e.StartsWith("delivery-result:", StringComparison.Ordinal));
        Assert.True(dequeue > 0 && bob > dequeue && carol > bob && firstResult > carol, string.Join(" | ", after));
        Assert.Contains("delivery-result:bob@example.net:True", events);
        Assert.Contains("delivery-result:carol@example.net:True", events);
        Assert.DoesNotContain(events, e => e.StartsWith("retry:", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("reject", RecipientStatus.Failed)]
    [InlineData("defer", RecipientStatus.Deferred)]
    public async Task A_before_delivery_refusal_fails_or_defers_that_recipient_only(string verdict, RecipientStatus expected)
    {
        await using var sink = SmtpSink.Start();
        using var data = new TempDirectory();
        var settings = new Dictionary<string, string>
        {
            ["Elemta:Delivery:Routes:example.net"] = $"127.0.0.1:{sink.Port}",
            ["Elemta:Queue:RetrySchedule:0"] = "01:00:00",
        };
        using var plugin = new Plugin(data, settings, new Dictionary<string, string>
        {
            ["before-delivery"] = verdict,
            ["RefuseDeliveryTo"] = "carol@example.net",
        });
        await using var silo = await SiloProcess.StartAsync(data.Path, settings);

        var id = await EndToEndTests.SendRawAsync(silo.SmtpPort, "alice@example.org", ["bob@example.net", "carol@example.net"], Raw("refused"));
        var delivered = await sink.WaitForMessageAsync(_ => true, Timeout);
        Assert.Equal(["bob@example.net"], delivered.Recipients);

        await using var client = await silo.ConnectClientAsync();
        var status = await Eventually.GetAsync(() => client.GetMessageAsync(id), s => s?.Recipients.Single(r => r.Address == "carol@example.net").Attempts >= 1, Timeout, "carol's attempt recorded");
        var carol = status!.Recipients.Single(r => r.Address == "carol@example.net");
        Assert.Equal(expected, carol.Status);
        Assert.Contains(verdict == "reject" ? "554 5.7.1 pipe refuses before-delivery" : "450 4.7.1 pipe defers before-delivery", carol.LastReply, StringComparison.Ordinal);
        Assert.Equal(RecipientStatus.Delivered, status.Recipients.Single(r => r.Address == "bob@example.net").Status);
        if (verdict == "defer")
        {
            await plugin.WaitForAsync(e => e.Contains($"retry:{id}:carol@example.net"), "the retry hook");
        }
    }

    [Fact]
    public async Task A_message_held_at_acceptance_is_queued_held_and_delivered_only_once_released()
    {
        await using var sink = SmtpSink.Start();
        using var data = new TempDirectory();
        var settings = new Dictionary<string, string> { ["Elemta:Delivery:Routes:example.net"] = $"127.0.0.1:{sink.Port}" };
        using var plugin = new Plugin(data, settings, new Dictionary<string, string> { ["filter"] = "hold" });
        await using var silo = await SiloProcess.StartAsync(data.Path, settings);

        var id = await EndToEndTests.SendRawAsync(silo.SmtpPort, "alice@example.org", ["bob@example.net"], Raw("quarantined"));
        await using var client = await silo.ConnectClientAsync();
        var status = await client.GetMessageAsync(id);
        Assert.Equal(MessageQueueState.Held, status!.State);
        var explanation = await client.ExplainMessageAsync(id);
        Assert.True(Assert.Single(explanation!.Domains).Held);
        // The enqueue hook fires, and no delivery is tried while it is held.
        await plugin.WaitForAsync(e => e.Contains($"enqueue:{id}:bob@example.net"), "the enqueue hook");
        Assert.DoesNotContain(plugin.Events, e => e.StartsWith("dequeue:", StringComparison.Ordinal));
        Assert.Empty(sink.Messages);

        await client.ApplyToMessageAsync(id, QueueAction.Release);
        var delivered = await sink.WaitForMessageAsync(_ => true, Timeout);
        Assert.Equal(["bob@example.net"], delivered.Recipients);
    }

    [Fact]
    public async Task A_recipient_rerouted_before_delivery_goes_to_the_named_next_hop_in_its_own_transaction()
    {
        await using var sink = SmtpSink.Start();
        await using var other = SmtpSink.Start();
        using var data = new TempDirectory();
        var settings = new Dictionary<string, string>
        {
            ["Elemta:Delivery:Routes:example.net"] = $"127.0.0.1:{sink.Port}",
            ["Elemta:Delivery:Relays:archive:Host"] = "127.0.0.1",
            ["Elemta:Delivery:Relays:archive:Port"] = other.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Elemta:Delivery:Relays:archive:TlsPolicy"] = "None",
        };
        using var plugin = new Plugin(data, settings, new Dictionary<string, string>
        {
            ["before-delivery"] = "reroute",
            ["RefuseDeliveryTo"] = "carol@example.net",
            ["RerouteTo"] = "archive",
            ["LogOnInit"] = "scripted plugin says hello through its context's logger",
        });
        await using var silo = await SiloProcess.StartAsync(data.Path, settings);

        var id = await EndToEndTests.SendRawAsync(silo.SmtpPort, "alice@example.org", ["bob@example.net", "carol@example.net"], Raw("rerouted"));
        var direct = await sink.WaitForMessageAsync(_ => true, Timeout);
        var rerouted = await other.WaitForMessageAsync(_ => true, Timeout);
        Assert.Equal(["bob@example.net"], direct.Recipients);
        Assert.Equal(["carol@example.net"], rerouted.Recipients);

        await using var client = await silo.ConnectClientAsync();
        var status = await Eventually.GetAsync(() => client.GetMessageAsync(id), s => s?.Recipients.All(r => r.Status == RecipientStatus.Delivered) == true, Timeout, "both recipients delivered");
        Assert.Equal(MessageQueueState.Delivered, status!.State);

        // The attempt as a whole is told once, with both recipients' results, before each result.
        var events = await plugin.WaitForAsync(e => e.Count(l => l.StartsWith("delivery-result:", StringComparison.Ordinal)) == 2, "both delivery results");
        Assert.Equal("delivery-attempt:bob@example.net,carol@example.net:2", Assert.Single(events, e => e.StartsWith("delivery-attempt:", StringComparison.Ordinal)));
        Assert.Contains("scripted plugin says hello through its context's logger", silo.Output, StringComparison.Ordinal);
        Assert.Contains("Elemta.Plugins.pipe", silo.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_reroute_to_a_next_hop_that_is_neither_a_relay_nor_host_and_port_defers_the_recipient()
    {
        await using var sink = SmtpSink.Start();
        using var data = new TempDirectory();
        var settings = new Dictionary<string, string>
        {
            ["Elemta:Delivery:Routes:example.net"] = $"127.0.0.1:{sink.Port}",
            ["Elemta:Queue:RetrySchedule:0"] = "01:00:00",
        };
        using var plugin = new Plugin(data, settings, new Dictionary<string, string>
        {
            ["before-delivery"] = "reroute",
            ["RefuseDeliveryTo"] = "carol@example.net",
            ["RerouteTo"] = "no-such-relay:notaport",
        });
        await using var silo = await SiloProcess.StartAsync(data.Path, settings);

        var id = await EndToEndTests.SendRawAsync(silo.SmtpPort, "alice@example.org", ["bob@example.net", "carol@example.net"], Raw("bad hop"));
        var delivered = await sink.WaitForMessageAsync(_ => true, Timeout);
        Assert.Equal(["bob@example.net"], delivered.Recipients);

        await using var client = await silo.ConnectClientAsync();
        var status = await Eventually.GetAsync(() => client.GetMessageAsync(id), s => s?.Recipients.Single(r => r.Address == "carol@example.net").Attempts >= 1, Timeout, "carol's attempt recorded");
        var carol = status!.Recipients.Single(r => r.Address == "carol@example.net");
        Assert.Equal(RecipientStatus.Deferred, carol.Status);
        Assert.StartsWith("451 4.3.5 next hop 'no-such-relay:notaport' named by a plugin", carol.LastReply, StringComparison.Ordinal);
    }
}
