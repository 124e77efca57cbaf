using System.Text;
using Elemta.Smtp.Tests;

namespace Elemta.Plugins.Tests;

/// <summary>The STARTTLS and AUTH hooks, over a real TLS session with a real account.</summary>
public sealed class CommandHookTests : IDisposable
{
    private const string User = "alice@client.test";
    private const string Password = "a long passphrase";
    private readonly string _certificates = Directory.CreateTempSubdirectory("elemta-plugin-tls-").FullName;

    public void Dispose() => Directory.Delete(_certificates, recursive: true);

    private async Task<SmtpTestServer> StartAsync(PluginFolder folder, string name, string? verdictHook = null)
    {
        var settings = folder.Settings([name], verdictHook is null ? null : new Dictionary<string, string?> { [$"{name}:Settings:{verdictHook}"] = "reject" });
        settings["Tls:SelfSignedDirectory"] = _certificates;
        var users = new TestUserStore();
        users.Add(User, Password);
        return await SmtpTestServer.StartAsync(settings, users: users);
    }

    private static string Plain(string password) => Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0{User}\0{password}"));

    [Fact]
    public async Task The_STARTTLS_hook_sees_TLS_and_the_AUTH_hook_sees_each_outcome()
    {
        using var folder = new PluginFolder();
        var name = PluginFolder.NewName("cmd");
        folder.Add(name);
        await using var server = await StartAsync(folder, name);

        await using var client = await server.ConnectAndEhloAsync();
        (await client.CommandAsync("STARTTLS")).AssertIs(220);
        await client.UpgradeToTlsAsync();
        (await client.CommandAsync("EHLO client.test")).AssertIs(250);
        (await client.CommandAsync($"AUTH PLAIN {Plain("wrong password")}")).AssertIs(535, "5.7.8");
        (await client.CommandAsync($"AUTH PLAIN {Plain(Password)}")).AssertIs(235, "2.7.0");

        var events = folder.Events.Select(e => e[(name.Length + 1)..]).Where(e => e.StartsWith("starttls", StringComparison.Ordinal) || e.StartsWith("auth", StringComparison.Ordinal));
        // Each AUTH is asked about before anything is checked (the address alone, then the name), then told its outcome.
        Assert.Equal(["starttls:True", "auth-request:PLAIN:", $"auth-request:PLAIN:{User}", $"auth:PLAIN:{User}:False",
            "auth-request:PLAIN:", $"auth-request:PLAIN:{User}", $"auth:PLAIN:{User}:True"], events);
    }

    [Fact]
    public async Task An_AUTH_request_hook_that_refuses_ends_the_exchange_before_the_password_is_checked()
    {
        using var folder = new PluginFolder();
        var name = PluginFolder.NewName("ar");
        folder.Add(name);
        await using var server = await StartAsync(folder, name, "auth-request");

        await using var client = await server.ConnectAndEhloAsync();
        (await client.CommandAsync("STARTTLS")).AssertIs(220);
        await client.UpgradeToTlsAsync();
        (await client.CommandAsync("EHLO client.test")).AssertIs(250);
        // The right password, refused with the plugin's reply: only the first request was made, and no outcome told.
        var refused = (await client.CommandAsync($"AUTH PLAIN {Plain(Password)}")).AssertIs(554, "5.7.1");
        Assert.Equal($"5.7.1 {name} refuses auth-request", refused.Text);
        var events = folder.Events.Select(e => e[(name.Length + 1)..]).Where(e => e.StartsWith("auth", StringComparison.Ordinal));
        Assert.Equal(["auth-request:PLAIN:"], events);
        Assert.Equal(0, server.AuthFailures.FailuresOf("user:" + User));
    }

    [Fact]
    public async Task An_AUTH_hook_that_refuses_leaves_the_client_unauthenticated()
    {
        using var folder = new PluginFolder();
        var name = PluginFolder.NewName("au");
        folder.Add(name);
        await using var server = await StartAsync(folder, name, "auth");

        await using var client = await server.ConnectAndEhloAsync();
        (await client.CommandAsync("STARTTLS")).AssertIs(220);
        await client.UpgradeToTlsAsync();
        (await client.CommandAsync("EHLO client.test")).AssertIs(250);
        (await client.CommandAsync($"AUTH PLAIN {Plain(Password)}")).AssertIs(554, "5.7.1");
        // Not "503 Already authenticated": the refused success was undone.
        (await client.CommandAsync($"AUTH PLAIN {Plain(Password)}")).AssertIs(554, "5.7.1");
    }

    [Fact]
    public async Task A_STARTTLS_hook_that_refuses_closes_the_connection_with_421()
    {
        using var folder = new PluginFolder();
        var name = PluginFolder.NewName("tl");
        folder.Add(name);
        await using var server = await StartAsync(folder, name, "starttls");

        await using var client = await server.ConnectAndEhloAsync();
        (await client.CommandAsync("STARTTLS")).AssertIs(220);
        await client.UpgradeToTlsAsync();
        (await client.ReadReplyAsync()).AssertIs(421, "4.7.0");
        await client.AssertClosedByServerAsync();
    }
}
