using System.Diagnostics;
using Elemta.Client;
using Elemta.Contracts;
using Elemta.Testing;

namespace Elemta.Silo.Tests;

/// <summary>
/// The IP access list (issue 17) on real silo processes: changed through the client SDK or the <c>elemta access</c>
/// command line, enforced at connect by the built-in access-list plugin on every silo of a PostgreSQL cluster within
/// its refresh interval, and persisted across a restart.
/// </summary>
public sealed class AccessListTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    /// <summary>The greeting (or refusal) a new SMTP connection from 127.0.0.1 gets.</summary>
    private static async Task<string> GreetingAsync(int port)
    {
        using var client = await SmtpLineClient.ConnectAsync(port);
        return client.Greeting;
    }

    private static Task<string> RefusedAsync(int port, string what) =>
        Eventually.GetAsync(() => GreetingAsync(port), g => g.StartsWith("554 ", StringComparison.Ordinal), Timeout, what);

    private static Task<string> AcceptedAsync(int port, string what) =>
        Eventually.GetAsync(() => GreetingAsync(port), g => g.StartsWith("220 ", StringComparison.Ordinal), Timeout, what);

    [Fact]
    public async Task A_change_made_on_one_silo_is_enforced_on_the_other_within_the_refresh_interval_and_the_longest_prefix_wins()
    {
        var server = await PostgresServer.GetAsync();
        var connectionString = await server.CreateDatabaseAsync("accesslist");
        using var dataA = new TempDirectory();
        using var dataB = new TempDirectory();
        var clusterId = "acl-" + Guid.NewGuid().ToString("N")[..8];
        var settings = new Dictionary<string, string>
        {
            ["Elemta:Storage:Provider"] = "PostgreSQL",
            ["Elemta:Storage:ConnectionString"] = connectionString,
            ["Elemta:Cluster:ClusterId"] = clusterId,
            ["Elemta:Cluster:AdvertisedAddress"] = "127.0.0.1",
            // Loopback is trusted by default; the access list applies to every client, but keep it a stranger as in production.
            ["Elemta:Smtp:TrustedNetworks:0"] = "192.0.2.0/24",
            ["Elemta:AccessList:RefreshInterval"] = "00:00:01",
        };
        var silos = await Task.WhenAll(SiloProcess.StartAsync(dataA.Path, settings), SiloProcess.StartAsync(dataB.Path, settings));
        await using var a = silos[0];
        await using var b = silos[1];
        await using var admin = await ElemtaClient.ConnectAsync(new ElemtaClientOptions { GatewayPort = a.GatewayPort, ClusterId = clusterId });
        Assert.StartsWith("220 ", await GreetingAsync(b.SmtpPort), StringComparison.Ordinal);

        // Denied through silo A's gateway; silo B refuses before its greeting within its refresh interval.
        var entry = await admin.SetAccessListEntryAsync("127.0.0.1", AccessListAction.Deny, "e2e");
        Assert.Equal(("127.0.0.1/32", AccessListAction.Deny, "e2e"), (entry.Network, entry.Action, entry.Comment));
        var clock = Stopwatch.StartNew();
        var refused = await RefusedAsync(b.SmtpPort, "silo B to refuse 127.0.0.1");
        var took = clock.Elapsed;
        Assert.Equal("554 5.7.1 Access denied for 127.0.0.1", refused);
        // One interval (1 s) plus a grain call and a connection on a loaded machine: well under the 60 s the poll allows.
        Assert.True(took < TimeSpan.FromSeconds(15), $"took {took}");
        Assert.Equal("554 5.7.1 Access denied for 127.0.0.1", await RefusedAsync(a.SmtpPort, "silo A to refuse 127.0.0.1"));

        await admin.RemoveAccessListEntryAsync("127.0.0.1/32");
        await AcceptedAsync(b.SmtpPort, "silo B to accept 127.0.0.1 again");
        var missing = await Assert.ThrowsAsync<ElemtaException>(() => admin.RemoveAccessListEntryAsync("127.0.0.1"));
        Assert.Equal(ElemtaErrorKind.NotFound, missing.Kind);

        // A deny of 127.0.0.0/8 with a more specific allow of 127.0.0.1/32: the allow wins for .1 only.
        await admin.SetAccessListEntryAsync("127.0.0.0/8", AccessListAction.Deny, "loopback");
        await RefusedAsync(b.SmtpPort, "silo B to refuse 127.0.0.0/8");
        await admin.SetAccessListEntryAsync("127.0.0.1", AccessListAction.Allow, "this host");
        await AcceptedAsync(b.SmtpPort, "silo B to admit 127.0.0.1 inside the denied /8");
        var list = await admin.GetAccessListAsync();
        Assert.Equal(["127.0.0.0/8", "127.0.0.1/32"], list.Entries.Select(e => e.Network));
        Assert.Equal(4, list.Version);

        var invalid = await Assert.ThrowsAsync<ElemtaException>(() => admin.SetAccessListEntryAsync("127.0.0.1/8", AccessListAction.Deny));
        Assert.Equal(ElemtaErrorKind.Invalid, invalid.Kind);
        Assert.Contains("host bits set: the network is 127.0.0.0/8", invalid.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_deny_made_with_the_command_line_survives_a_restart()
    {
        using var data = new TempDirectory();
        var settings = new Dictionary<string, string> { ["Elemta:Smtp:TrustedNetworks:0"] = "192.0.2.0/24" };
        var smtpPort = FreePort.GetTcpPort();
        var gatewayPort = FreePort.GetTcpPort();
        await using (var silo = await SiloProcess.StartAsync(data.Path, settings, smtpPort, gatewayPort))
        {
            var gateway = $"--Elemta:Cluster:GatewayPort={gatewayPort}";
            var (code, output) = await SiloProcess.RunToExitAsync("access", "deny", "127.0.0.1", "--comment", "persisted", gateway);
            Assert.True(code == 0, output);
            Assert.Contains("deny 127.0.0.1/32", output, StringComparison.Ordinal);
            (code, output) = await SiloProcess.RunToExitAsync("access", "list", gateway);
            Assert.True(code == 0, output);
            Assert.Matches(@"(?m)^NETWORK\s+ACTION\s+ADDED\s+BY\s+COMMENT", output);
            Assert.Matches(@"(?m)^127\.0\.0\.1/32\s+deny\s+.*cli:\S+\s+persisted", output);
            (code, output) = await SiloProcess.RunToExitAsync("access", "deny", "127.0.0.1/33", gateway);
            Assert.Equal(2, code);
            Assert.Contains("elemta: network '127.0.0.1/33' has a bad prefix length", output, StringComparison.Ordinal);
            (code, output) = await SiloProcess.RunToExitAsync("access", "remove", "192.0.2.1", gateway);
            Assert.Equal(3, code);
            Assert.Contains("elemta: the access list has no entry for 192.0.2.1/32", output, StringComparison.Ordinal);
            Assert.Equal("554 5.7.1 Access denied for 127.0.0.1", await RefusedAsync(silo.SmtpPort, "127.0.0.1 refused"));
        }

        // After a restart the first connection waits for the list's first read: refused at once, no window of admission.
        await using var restarted = await SiloProcess.StartAsync(data.Path, settings, smtpPort, gatewayPort);
        Assert.Equal("554 5.7.1 Access denied for 127.0.0.1", await GreetingAsync(restarted.SmtpPort));
    }

    [Fact]
    public async Task An_allowed_client_listed_in_a_DNS_block_list_is_admitted()
    {
        using var data = new TempDirectory();
        await using var dns = LoopbackDnsServer.Start();
        dns.AddA("1.0.0.127.bl.test", System.Net.IPAddress.Parse("127.0.0.2"));
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["Elemta:Smtp:TrustedNetworks:0"] = "192.0.2.0/24",
            ["Elemta:Dns:Servers:0"] = $"127.0.0.1:{dns.Port}",
            ["Elemta:Dnsbl:Zones:bl.test:ReturnCodes:0"] = "127.0.0.2",
            ["Elemta:AccessList:RefreshInterval"] = "00:00:01",
        });
        Assert.Equal("554 5.7.1 Service unavailable; client host [127.0.0.1] blocked using bl.test (127.0.0.2)", await GreetingAsync(silo.SmtpPort));

        // The access-list plugin runs first and marks the session; the DNSBL plugin skips a client it allowed.
        await using var admin = await silo.ConnectClientAsync();
        await admin.SetAccessListEntryAsync("127.0.0.0/24", AccessListAction.Allow, "our own relays");
        await AcceptedAsync(silo.SmtpPort, "the allowed client admitted despite its listing");
        await admin.RemoveAccessListEntryAsync("127.0.0.0/24");
        await RefusedAsync(silo.SmtpPort, "the listed client refused again");
    }

    [Fact]
    public async Task An_allowed_client_is_not_greylisted()
    {
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["Elemta:Smtp:TrustedNetworks:0"] = "192.0.2.0/24",
            ["Elemta:Greylisting:Enabled"] = "true",
            ["Elemta:AccessList:RefreshInterval"] = "00:00:01",
            ["Elemta:Delivery:LocalDomains:example.net:Transport"] = "Maildir",
            ["Elemta:Delivery:LocalDomains:example.net:MaildirPath"] = Path.Combine(data.Path, "mail", "{user}"),
        });

        async Task<string> RcptAsync()
        {
            using var client = await SmtpLineClient.ConnectAsync(silo.SmtpPort, ehlo: true);
            await client.CommandAsync("MAIL FROM:<sender@client.test>");
            return await client.CommandAsync("RCPT TO:<user@example.net>");
        }

        Assert.StartsWith("450 4.2.0 Greylisted", await RcptAsync(), StringComparison.Ordinal);
        await using var admin = await silo.ConnectClientAsync();
        await admin.SetAccessListEntryAsync("127.0.0.1", AccessListAction.Allow);
        await Eventually.GetAsync(RcptAsync, r => r.StartsWith("250 ", StringComparison.Ordinal), Timeout, "the allowed client's recipient accepted without greylisting");
    }

    [Theory]
    [InlineData("--Elemta:AccessList:RefreshInterval=00:00:00.5", "Elemta:AccessList:RefreshInterval = 00:00:00.5000000 must be between 00:00:01 and 00:10:00.")]
    [InlineData("--Elemta:AccessList:RefreshInterval=soon", "elemta: configuration error: Elemta:AccessList:RefreshInterval = 'soon' is not a time span")]
    [InlineData("--Elemta:AccessList:Refresh=00:00:05", "elemta: configuration error: unknown setting Elemta:AccessList:Refresh")]
    public async Task A_bad_refresh_interval_stops_the_start_naming_the_key(string setting, string expected)
    {
        using var data = new TempDirectory();
        var (code, output) = await SiloProcess.RunToExitAsync("--data", data.Path, "--port", "0", setting);
        Assert.NotEqual(0, code);
        Assert.Contains(expected, output, StringComparison.Ordinal);
    }
}
