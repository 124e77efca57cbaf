using System.Runtime.CompilerServices;
using System.Text;
using Elemta.Smtp.Tests;
using Microsoft.Extensions.DependencyInjection;

namespace Elemta.Plugins.Tests;

/// <summary>Loading plugins: dependency order and its failures at start, hot load, replacement and unloading.</summary>
public sealed class LoadingTests
{
    private static async Task<SmtpReply> SendOneAsync(RawSmtpClient client, string subject)
    {
        (await client.CommandAsync("MAIL FROM:<alice@client.test>")).AssertIs(250);
        (await client.CommandAsync("RCPT TO:<bob@mx.test>")).AssertIs(250);
        (await client.CommandAsync("DATA")).AssertIs(354);
        return await client.CommandAsync($"Subject: {subject}\r\n\r\nbody\r\n.");
    }

    [Fact]
    public async Task A_dependency_cycle_stops_the_start_with_one_line_naming_it()
    {
        using var folder = new PluginFolder();
        var a = PluginFolder.NewName("a");
        var b = PluginFolder.NewName("b");
        folder.Add(a, dependencies: b);
        folder.Add(b, dependencies: a);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => SmtpTestServer.StartAsync(folder.Settings([a, b])));

        Assert.StartsWith("Elemta:Plugins: plugins depend on each other in a cycle: ", error.Message, StringComparison.Ordinal);
        Assert.Contains($"{a} -> {b} -> {a}", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public async Task A_missing_dependency_stops_the_start_with_one_line_naming_it()
    {
        using var folder = new PluginFolder();
        var a = PluginFolder.NewName("a");
        folder.Add(a, dependencies: "nowhere");

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => SmtpTestServer.StartAsync(folder.Settings([a])));

        Assert.Equal($"Elemta:Plugins: plugin {a} depends on nowhere, which is not loaded (no folder holds it, or Elemta:Plugins:Items:nowhere:Enabled is false)", error.Message);
    }

    [Fact]
    public async Task Dependencies_run_first_then_plugins_by_order_and_disabled_plugins_are_not_loaded()
    {
        using var folder = new PluginFolder();
        var first = PluginFolder.NewName("z"); // a dependency of "early", so first although its order is last
        var early = PluginFolder.NewName("m");
        var late = PluginFolder.NewName("a");
        var off = PluginFolder.NewName("o");
        folder.Add(first);
        folder.Add(early, dependencies: first);
        folder.Add(late);
        folder.Add(off);
        await using var server = await SmtpTestServer.StartAsync(folder.Settings([first, early, late, off], new Dictionary<string, string?>
        {
            [$"{first}:Order"] = "10",
            [$"{early}:Order"] = "1",
            [$"{late}:Order"] = "5",
            [$"{off}:Enabled"] = "false",
        }));

        await using (var client = await server.ConnectAsync())
        {
            (await client.ReadReplyAsync()).AssertIs(220);
        }

        await PluginFolder.WaitUntilAsync(() => folder.Events.Count(e => e.Contains(":connect:", StringComparison.Ordinal)) == 3, "three connect hooks");
        Assert.Equal([first, early, late], folder.Events.Where(e => e.Contains(":connect:", StringComparison.Ordinal)).Select(e => e[..e.IndexOf(':', StringComparison.Ordinal)]));
        Assert.Null(server.Services.GetRequiredService<PluginHost>().Current.Find(off));
    }

    [Fact]
    public async Task A_new_folder_is_loaded_and_a_replaced_plugin_swaps_while_a_connection_continues_and_the_old_context_is_collected()
    {
        using var folder = new PluginFolder();
        var name = PluginFolder.NewName("hot");
        await using var server = await SmtpTestServer.StartAsync(folder.Settings([name], new Dictionary<string, string?> { [$"{name}:Settings:AddHeader"] = "X-Hot" }, watch: true));
        var host = server.Services.GetRequiredService<PluginHost>();
        // Only the front-end's own built-ins (connection-limits, auth-lockout), which are on by default.
        Assert.DoesNotContain(host.Current.All, p => !p.IsBuiltIn);

        await using var client = await server.ConnectAndEhloAsync();
        (await SendOneAsync(client, "before")).AssertIs(250);

        // Hot load: a new subfolder is picked up by the running server.
        folder.Add(name);
        await PluginFolder.WaitUntilAsync(() => host.Current.Find(name) is not null, "the new plugin to load");
        (await SendOneAsync(client, "loaded")).AssertIs(250);
        var firstVersion = Header(server.Acceptor.Messages[^1].Content);
        Assert.StartsWith($"X-Hot: {name} ", firstVersion, StringComparison.Ordinal);

        // Replacement: the same connection's next message is handled by the new version.
        var old = WeakContext(host, name);
        var generation = host.Generation;
        folder.Add(name);
        await PluginFolder.WaitUntilAsync(() => host.Generation > generation && host.Current.Find(name) is not null, "the replacement to load");
        (await SendOneAsync(client, "replaced")).AssertIs(250);
        var secondVersion = Header(server.Acceptor.Messages[^1].Content);
        Assert.StartsWith($"X-Hot: {name} ", secondVersion, StringComparison.Ordinal);
        Assert.NotEqual(firstVersion, secondVersion);
        Assert.Equal(3, server.Acceptor.Messages.Count);

        // The old version's load context is unloaded and collected.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (old.IsAlive)
        {
            Assert.True(DateTime.UtcNow < deadline, "The replaced plugin's load context was not collected within 30 s");
            GC.Collect();
            GC.WaitForPendingFinalizers();
            await Task.Delay(25);
        }

        Assert.Contains(server.Logs, l => l.Message.StartsWith($"Plugin {name} 1.0 unloaded", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_time_budget_out_of_range_stops_the_start_naming_the_key()
    {
        using var folder = new PluginFolder();

        var error = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() =>
            SmtpTestServer.StartAsync(folder.Settings([], new Dictionary<string, string?> { ["spam:Timeout"] = "00:10:00" })));

        Assert.Equal("Elemta:Plugins:Items:spam:Timeout = 00:10:00 must be positive and at most 00:05:00.", error.Message);
    }

    [Fact]
    public async Task A_call_in_flight_during_a_replacement_finishes_on_the_old_version_which_is_unloaded_only_then()
    {
        using var folder = new PluginFolder();
        var name = PluginFolder.NewName("fly");
        var gateKey = "TestPlugin.Gate:" + Guid.NewGuid().ToString("N");
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        AppContext.SetData(gateKey, gate);
        folder.Add(name);
        await using var server = await SmtpTestServer.StartAsync(folder.Settings([name], new Dictionary<string, string?>
        {
            [$"{name}:Settings:AddHeader"] = "X-Version",
            [$"{name}:Settings:message"] = "gate",
            [$"{name}:Settings:Gate"] = gateKey,
            [$"{name}:Timeout"] = "00:01:00",
        }));
        var host = server.Services.GetRequiredService<PluginHost>();
        var old = host.Current.Find(name)!;

        await using var client = await server.ConnectAndEhloAsync();
        (await client.CommandAsync("MAIL FROM:<alice@client.test>")).AssertIs(250);
        (await client.CommandAsync("RCPT TO:<bob@mx.test>")).AssertIs(250);
        (await client.CommandAsync("DATA")).AssertIs(354);
        await client.SendAsync("Subject: in flight\r\n\r\nbody\r\n.\r\n");
        await PluginFolder.WaitUntilAsync(() => folder.Events.Any(e => e.Contains(":message:", StringComparison.Ordinal)), "the message hook to be in flight");

        folder.Add(name);
        await host.ReloadAsync();
        Assert.NotSame(old, host.Current.Find(name));
        Assert.True(old.IsRetired);
        Assert.DoesNotContain(server.Logs, l => l.Message.StartsWith($"Plugin {name} 1.0 unloaded", StringComparison.Ordinal));

        gate.SetResult();
        (await client.ReadReplyAsync()).AssertIs(250);
        var header = Header(Assert.Single(server.Acceptor.Messages).Content);
        var oldInstance = folder.Events.First(e => e.StartsWith($"{name}:init:", StringComparison.Ordinal))[$"{name}:init:".Length..];
        Assert.Equal($"X-Version: {name} {oldInstance}", header);
        await PluginFolder.WaitUntilAsync(() => server.Logs.Any(l => l.Message.StartsWith($"Plugin {name} 1.0 unloaded", StringComparison.Ordinal)), "the old version to be unloaded");
    }

    [Fact]
    public async Task A_folder_that_cannot_be_loaded_in_a_reload_keeps_its_running_version_and_does_not_hold_up_the_others()
    {
        using var folder = new PluginFolder();
        var name = PluginFolder.NewName("keep");
        folder.Add(name);
        await using var server = await SmtpTestServer.StartAsync(folder.Settings([name], watch: true));
        var host = server.Services.GetRequiredService<PluginHost>();

        var running = host.Current.Find(name);
        Directory.CreateDirectory(Path.Combine(folder.Path, "not-a-plugin"));
        await File.WriteAllTextAsync(Path.Combine(folder.Path, "not-a-plugin", "readme.txt"), "no assembly here", TestTimeouts.Token());
        // The running plugin's folder half-written, as in the middle of a copy: its main assembly is gone for now.
        File.Delete(Path.Combine(folder.Path, name, "TestPlugin.Scripted.deps.json"));
        var other = PluginFolder.NewName("new");
        folder.Add(other);
        await host.ReloadAsync();

        Assert.Same(running, host.Current.Find(name));
        Assert.NotNull(host.Current.Find(other));
        Assert.Contains(server.Logs, l => l.Message.StartsWith("Plugin folder not (re)loaded", StringComparison.Ordinal) && l.Message.Contains("not-a-plugin is not a plugin", StringComparison.Ordinal));
        Assert.Contains(server.Logs, l => l.Message.StartsWith("Plugin folder not (re)loaded", StringComparison.Ordinal) && l.Message.Contains($"{name} is not a plugin", StringComparison.Ordinal));
    }

    // Not inlined, so no reference to the plugin or its context stays in the test's frame.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference WeakContext(PluginHost host, string name) => host.Current.Find(name)!.ContextReference;

    private static string Header(byte[] content)
    {
        var text = Encoding.UTF8.GetString(content);
        return text[..text.IndexOf("\r\n", StringComparison.Ordinal)];
    }
}
