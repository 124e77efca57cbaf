using Elemta.Plugins;
using Elemta.Smtp.Admission;
using Microsoft.Extensions.DependencyInjection;

namespace Elemta.Smtp.Tests;

/// <summary>
/// Connection limits: the front-end's total (<c>Elemta:Smtp:MaxConnections</c>, the server's own) and the per-address
/// limits of the built-in <c>connection-limits</c> plugin on the plugin API: over a limit <c>421 4.7.0</c> and close;
/// an admitted connection's lease is released by the plugin's disconnect however the session ends. (The cluster-wide
/// counting itself is the <c>RateLimitGrain</c>'s, tested in Elemta.Grains.Tests and end to end in Elemta.Silo.Tests.)
/// </summary>
public sealed class ConnectionLimitTests
{
    [Fact]
    public async Task Over_the_total_limit_a_client_gets_421_4_7_0_too_many_connections_and_a_place_frees_when_a_session_ends()
    {
        await using var server = await SmtpTestServer.StartAsync(new Dictionary<string, string?> { ["MaxConnections"] = "1" });
        await using var first = await server.ConnectAsync();
        (await first.ReadReplyAsync()).AssertIs(220);

        await using (var second = await server.ConnectAsync())
        {
            var refused = (await second.ReadReplyAsync()).AssertIs(421, "4.7.0");
            Assert.Equal("4.7.0 mx.test too many connections, try again later", refused.Text);
            await second.AssertClosedByServerAsync();
        }

        (await first.CommandAsync("QUIT")).AssertIs(221);
        await first.AssertClosedByServerAsync();

        // The place is given back at the very end of the session, just after the close the client saw: poll for it.
        await using var third = await ConnectUntilGreetedAsync(server);
        (await third.CommandAsync("QUIT")).AssertIs(221);
    }

    [Fact]
    public async Task Over_the_per_address_limit_the_421_says_from_your_address()
    {
        await using var server = await SmtpTestServer.StartAsync(policy: new TestConnectionPolicy(allow: true, maxConcurrent: 1, overLimit: ConnectionDenial.TooManyFromAddress));
        await using var first = await server.ConnectAsync();
        (await first.ReadReplyAsync()).AssertIs(220);

        await using var second = await server.ConnectAsync();
        var refused = (await second.ReadReplyAsync()).AssertIs(421, "4.7.0");
        Assert.Equal("4.7.0 mx.test too many connections from your address, try again later", refused.Text);
        await second.AssertClosedByServerAsync();
        Assert.Contains(server.Logs, e => e.Message.Contains("refused: TooManyFromAddress", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_per_address_limits_are_the_connection_limits_plugin_first_in_order_and_the_AUTH_lockout_is_auth_lockout()
    {
        await using var server = await SmtpTestServer.StartAsync(policy: new TestConnectionPolicy(allow: true),
            services: s => s.AddElemtaBuiltInPlugin<ThrowingConnectPlugin>(ThrowingConnectPlugin.PluginName, enabledByDefault: true));
        var plugins = server.Services.GetRequiredService<PluginHost>().Current;

        var limits = Assert.Single(plugins.Connect, p => p.Name == ConnectionLimitsPlugin.PluginName);
        Assert.True(limits.IsBuiltIn);
        Assert.Equal(ConnectionLimitsPlugin.DefaultOrder, limits.Options.Order);
        // Limits that do not answer refuse rather than admit unchecked; a built-in registered without a policy fails open.
        Assert.Equal(PluginFailurePolicy.FailClosed, limits.Options.FailurePolicy);
        Assert.Equal(PluginFailurePolicy.FailOpen, Assert.Single(plugins.Connect, p => p.Name == ThrowingConnectPlugin.PluginName).Options.FailurePolicy);
        Assert.Same(limits, plugins.Connect[0]);
        Assert.Same(limits, Assert.Single(plugins.Disconnect, p => p.Name == ConnectionLimitsPlugin.PluginName));
        var lockout = Assert.Single(plugins.AuthRequest);
        Assert.Equal(AuthLockoutPlugin.PluginName, lockout.Name);
        Assert.Equal(PluginFailurePolicy.FailClosed, lockout.Options.FailurePolicy);
        Assert.Same(lockout, Assert.Single(plugins.Auth));
        // It implements no HELO or STARTTLS hook, so EHLO and STARTTLS do not call it.
        Assert.Empty(plugins.Helo);
        Assert.Empty(plugins.StartTls);
    }

    [Fact]
    public async Task A_configured_failure_policy_overrides_the_limits_fail_closed_default()
    {
        await using var server = await SmtpTestServer.StartAsync(new Dictionary<string, string?>
        {
            [$"Elemta:Plugins:Items:{ConnectionLimitsPlugin.PluginName}:FailurePolicy"] = "FailOpen",
            [$"Elemta:Plugins:Items:{ConnectionLimitsPlugin.PluginName}:Order"] = "5",
        }, policy: new TestConnectionPolicy(allow: true));
        var limits = Assert.Single(server.Services.GetRequiredService<PluginHost>().Current.Connect, p => p.Name == ConnectionLimitsPlugin.PluginName);
        Assert.Equal(PluginFailurePolicy.FailOpen, limits.Options.FailurePolicy);
        Assert.Equal(5, limits.Options.Order);
    }

    [Fact]
    public async Task With_the_connection_limits_plugin_disabled_no_per_address_limit_is_asked()
    {
        var policy = new TestConnectionPolicy(allow: false);
        await using var server = await SmtpTestServer.StartAsync(
            new Dictionary<string, string?> { ["Elemta:Plugins:Items:connection-limits:Enabled"] = "false" }, policy: policy);

        await using var client = await server.ConnectAsync();
        (await client.ReadReplyAsync()).AssertIs(220);
        Assert.Empty(policy.Clients);
        Assert.Null(server.Services.GetRequiredService<PluginHost>().Current.Find(ConnectionLimitsPlugin.PluginName));
    }

    [Fact]
    public async Task Trusted_clients_do_not_reach_the_plugin_unless_TrustedNetworksBypassConnectionLimits_is_off()
    {
        var policy = new TestConnectionPolicy(allow: false);
        await using var server = await SmtpTestServer.StartAsync(
            new Dictionary<string, string?> { ["TrustedNetworksBypassConnectionLimits"] = "true" }, policy: policy);

        await using var client = await server.ConnectAsync();
        (await client.ReadReplyAsync()).AssertIs(220);
        Assert.Empty(policy.Clients);
    }

    [Fact]
    public async Task A_client_that_drops_the_connection_releases_its_place()
    {
        await using var server = await SmtpTestServer.StartAsync(policy: new TestConnectionPolicy(allow: true, maxConcurrent: 1));
        var client = await server.ConnectAsync();
        (await client.ReadReplyAsync()).AssertIs(220);
        (await client.CommandAsync("EHLO client.test")).AssertIs(250);
        Assert.Equal(1, server.Policy.Open);

        await client.DisposeAsync();
        await server.Policy.WaitForReleaseAsync();
        Assert.Equal(0, server.Policy.Open);
        Assert.Empty(server.SessionFailures);
    }

    [Fact]
    public async Task A_session_that_times_out_releases_its_place()
    {
        await using var server = await SmtpTestServer.StartAsync(new Dictionary<string, string?> { ["CommandTimeout"] = "00:00:00.5" },
            policy: new TestConnectionPolicy(allow: true, maxConcurrent: 1));
        await using var client = await server.ConnectAsync();
        (await client.ReadReplyAsync()).AssertIs(220);
        Assert.Equal(1, server.Policy.Open);

        (await client.ReadReplyAsync(TimeSpan.FromSeconds(30))).AssertIs(421, "4.4.2");
        await server.Policy.WaitForReleaseAsync();
        Assert.Equal(0, server.Policy.Open);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("FailOpen")]
    public async Task Limits_that_answer_only_after_the_hook_ran_out_of_its_budget_do_not_keep_the_lease(string? failurePolicy)
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var policy = new TestConnectionPolicy(allow: true, gate: gate.Task);
        var settings = new Dictionary<string, string?> { ["Elemta:Plugins:Items:connection-limits:Timeout"] = "00:00:00.2" };
        if (failurePolicy is not null)
        {
            settings["Elemta:Plugins:Items:connection-limits:FailurePolicy"] = failurePolicy;
        }

        await using var server = await SmtpTestServer.StartAsync(settings, policy: policy);
        await using (var client = await server.ConnectAsync())
        {
            var reply = await client.ReadReplyAsync(TimeSpan.FromSeconds(30));
            if (failurePolicy is null)
            {
                // Fail-closed by default: limits that do not answer refuse rather than admit unchecked.
                reply.AssertIs(421, "4.3.0");
            }
            else
            {
                // Fail-open when configured: past its budget the client is greeted, holding no lease.
                reply.AssertIs(220);
                Assert.Equal(0, policy.Open);
                (await client.CommandAsync("QUIT")).AssertIs(221);
            }

            await client.AssertClosedByServerAsync();
        }

        Assert.Contains(server.Logs, e => e.Message.Contains($"Plugin {ConnectionLimitsPlugin.PluginName} hook connect exceeded", StringComparison.Ordinal));
        // The session is over; now the limits answer and admit it. The lease is given back at once, not held (and
        // renewed) for a connection that is gone.
        gate.SetResult();
        await policy.WaitForReleaseAsync();
        Assert.Equal(0, policy.Open);
    }

    [Fact]
    public async Task A_throwing_connect_hook_after_the_limits_refuses_the_client_and_the_lease_is_still_released()
    {
        await using var server = await SmtpTestServer.StartAsync(
            new Dictionary<string, string?> { [$"Elemta:Plugins:Items:{ThrowingConnectPlugin.PluginName}:FailurePolicy"] = "FailClosed" },
            policy: new TestConnectionPolicy(allow: true, maxConcurrent: 1),
            services: s => s.AddElemtaBuiltInPlugin<ThrowingConnectPlugin>(ThrowingConnectPlugin.PluginName, enabledByDefault: true));
        await using var client = await server.ConnectAsync();

        // The limits admitted it (a lease taken), then the failing plugin's fail-closed policy refused it.
        (await client.ReadReplyAsync()).AssertIs(421, "4.3.0");
        await client.AssertClosedByServerAsync();
        Assert.Single(server.Policy.Clients);
        await server.Policy.WaitForReleaseAsync();
        Assert.Equal(0, server.Policy.Open);
    }

    [Fact]
    public async Task A_throwing_disconnect_hook_ahead_of_the_limits_does_not_keep_the_lease()
    {
        await using var server = await SmtpTestServer.StartAsync(
            new Dictionary<string, string?> { [$"Elemta:Plugins:Items:{ThrowingDisconnectPlugin.PluginName}:Order"] = "-2000" },
            policy: new TestConnectionPolicy(allow: true, maxConcurrent: 1),
            services: s => s.AddElemtaBuiltInPlugin<ThrowingDisconnectPlugin>(ThrowingDisconnectPlugin.PluginName, enabledByDefault: true));
        Assert.Equal(ThrowingDisconnectPlugin.PluginName, server.Services.GetRequiredService<PluginHost>().Current.Disconnect[0].Name);
        await using (var client = await server.ConnectAndEhloAsync())
        {
            Assert.Equal(1, server.Policy.Open);
            (await client.CommandAsync("QUIT")).AssertIs(221);
        }

        await server.Policy.WaitForReleaseAsync();
        Assert.Equal(0, server.Policy.Open);
        Assert.Contains(server.Logs, e => e.Message.Contains($"Plugin {ThrowingDisconnectPlugin.PluginName} hook disconnect threw", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Sessions_open_at_shutdown_release_their_places()
    {
        await using var server = await SmtpTestServer.StartAsync(policy: new TestConnectionPolicy(allow: true));
        await using var a = await server.ConnectAndEhloAsync();
        await using var b = await server.ConnectAndEhloAsync();
        Assert.Equal(2, server.Policy.Open);

        await server.StopAsync();

        Assert.Equal(0, server.Policy.Open);
        (await a.ReadReplyAsync()).AssertIs(421, "4.3.2");
    }

    private static async Task<RawSmtpClient> ConnectUntilGreetedAsync(SmtpTestServer server)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            var client = await server.ConnectAsync();
            var reply = await client.ReadReplyAsync();
            if (reply.Code == 220)
            {
                return client;
            }

            await client.DisposeAsync();
            deadline.Token.ThrowIfCancellationRequested();
            await Task.Yield();
        }
    }

    /// <summary>A connect hook that always throws (after the limits, at the default order 0).</summary>
    private sealed class ThrowingConnectPlugin : IElemtaPlugin, IConnectionHooks
    {
        public const string PluginName = "test-throwing-connect";

        public string Name => PluginName;

        public Version Version { get; } = new(1, 0);

        public ValueTask InitializeAsync(PluginContext context, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask<HookDecision> OnConnectAsync(SessionInfo session, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("test plugin: connect failed");
    }

    /// <summary>A disconnect hook that always throws.</summary>
    private sealed class ThrowingDisconnectPlugin : IElemtaPlugin, IConnectionHooks
    {
        public const string PluginName = "test-throwing-disconnect";

        public string Name => PluginName;

        public Version Version { get; } = new(1, 0);

        public ValueTask InitializeAsync(PluginContext context, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask OnDisconnectAsync(SessionInfo session, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("test plugin: disconnect failed");
    }
}
