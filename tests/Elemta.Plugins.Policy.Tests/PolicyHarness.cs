using System.Diagnostics;
using Elemta.Plugins.Tests;
using Elemta.Smtp.Tests;

namespace Elemta.Plugins.Policy.Tests;

/// <summary>An SMTP server with the PolicyDelegation plugin loaded from a plugins folder, and a few SMTP steps.</summary>
internal sealed class PolicyHarness : IAsyncDisposable
{
    public const string Plugin = "PolicyDelegation";

    private readonly PluginFolder _folder;

    private PolicyHarness(PluginFolder folder, SmtpTestServer server)
    {
        _folder = folder;
        Server = server;
    }

    public SmtpTestServer Server { get; }

    /// <summary>Starts a server whose plugin asks <paramref name="endpoint"/>; <paramref name="settings"/> are relative to Elemta:Plugins:Items:PolicyDelegation.</summary>
    /// <param name="endpoint">The policy server.</param>
    /// <param name="settings">Relative to Elemta:Plugins:Items:PolicyDelegation.</param>
    /// <param name="smtp">SMTP server settings, relative to Elemta:Smtp.</param>
    /// <param name="users">The accounts AUTH checks against.</param>
    public static async Task<PolicyHarness> StartAsync(string endpoint, IReadOnlyDictionary<string, string?>? settings = null, IReadOnlyDictionary<string, string?>? smtp = null, TestUserStore? users = null)
    {
        var folder = new PluginFolder();
        try
        {
            folder.Add("policy", "Elemta.Plugins.PolicyDelegation");
            var items = new Dictionary<string, string?>
            {
                [$"{Plugin}:Settings:Endpoint"] = endpoint,
                // Generous on a loaded 2-core machine, so a slow answer is not taken for a failure; tests of
                // timeouts set their own.
                [$"{Plugin}:Settings:Timeout"] = "00:00:10",
                [$"{Plugin}:Timeout"] = "00:00:15",
            };
            foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
            {
                items[$"{Plugin}:{key}"] = value;
            }

            var configuration = folder.Settings([], items);
            foreach (var (key, value) in smtp ?? new Dictionary<string, string?>())
            {
                configuration[key] = value;
            }

            return new PolicyHarness(folder, await SmtpTestServer.StartAsync(configuration, users: users));
        }
        catch
        {
            folder.Dispose();
            throw;
        }
    }

    /// <summary>A client past EHLO and MAIL FROM.</summary>
    public async Task<RawSmtpClient> StartTransactionAsync(string sender = "alice@client.test")
    {
        var client = await Server.ConnectAndEhloAsync();
        (await client.CommandAsync($"MAIL FROM:<{sender}>")).AssertIs(250);
        return client;
    }

    /// <summary>DATA, a short message, the final dot; returns the reply to the dot.</summary>
    public static async Task<SmtpReply> SendDataAsync(RawSmtpClient client, string subject = "policy")
    {
        (await client.CommandAsync("DATA")).AssertIs(354);
        return await client.CommandAsync($"Subject: {subject}\r\n\r\nbody\r\n.");
    }

    /// <summary>Repeats <paramref name="attempt"/> until it returns true, for at most <paramref name="bound"/>; returns how long it took.</summary>
    public static async Task<TimeSpan> PollAsync(Func<Task<bool>> attempt, TimeSpan bound, string what)
    {
        var watch = Stopwatch.StartNew();
        while (!await attempt())
        {
            Assert.True(watch.Elapsed < bound, $"Timed out after {bound} waiting for {what}");
            await Task.Delay(200);
        }

        return watch.Elapsed;
    }

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        _folder.Dispose();
    }
}
