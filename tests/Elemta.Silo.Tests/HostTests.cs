using System.Net.Sockets;
using System.Text;
using Elemta.Testing;

namespace Elemta.Silo.Tests;

/// <summary>The silo as an operator meets it: command line, configuration errors, connection limits.</summary>
public sealed class HostTests
{
    [Fact]
    public async Task Help_lists_every_flag_and_exits_zero()
    {
        var (code, output) = await SiloProcess.RunToExitAsync("--help");
        Assert.Equal(0, code);
        foreach (var flag in new[] { "--dev", "--port", "--data", "--help", "--version" })
        {
            Assert.Contains(flag, output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_bad_port_is_a_one_line_error_with_exit_code_2()
    {
        var (code, output) = await SiloProcess.RunToExitAsync("--port", "abc");
        Assert.Equal(2, code);
        Assert.Equal("elemta: 'abc' is not a TCP port (0-65535)", output.Trim());
    }

    [Fact]
    public async Task An_unknown_option_is_refused()
    {
        var (code, output) = await SiloProcess.RunToExitAsync("--frobnicate");
        Assert.Equal(2, code);
        Assert.Contains("unknown option '--frobnicate'", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_invalid_setting_stops_the_start_with_the_key_named()
    {
        using var data = new TempDirectory();
        var (code, output) = await SiloProcess.RunToExitAsync("--data", data.Path, "--port", "0", "--Elemta:Queue:MaxConcurrentDeliveriesPerDomain=0");
        Assert.NotEqual(0, code);
        Assert.Contains("Elemta:Queue:MaxConcurrentDeliveriesPerDomain must be between 1 and 1000", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connections_over_the_per_IP_rate_limit_get_421_and_are_closed()
    {
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["Elemta:RateLimit:ConnectionsPerIp:Capacity"] = "2",
            ["Elemta:RateLimit:ConnectionsPerIp:PerSecond"] = "0",
        });

        Assert.StartsWith("220 ", await GreetingAsync(silo.SmtpPort), StringComparison.Ordinal);
        Assert.StartsWith("220 ", await GreetingAsync(silo.SmtpPort), StringComparison.Ordinal);
        Assert.StartsWith("421 4.7.0 ", await GreetingAsync(silo.SmtpPort), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_data_folder_holds_a_durable_SQLite_database()
    {
        using var data = new TempDirectory();
        await using (var silo = await SiloProcess.StartAsync(data.Path))
        {
            Assert.True(File.Exists(Path.Combine(data.Path, "elemta.db")));
            Assert.Contains("Applied schema migration 0003_elemta_queue", silo.Output, StringComparison.Ordinal);
        }

        // A second start on the same folder finds the schema current.
        await using var again = await SiloProcess.StartAsync(data.Path);
        Assert.DoesNotContain("Applied schema migration", again.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SIGTERM_stops_the_silo_cleanly_and_a_restart_finds_the_queue_intact()
    {
        using var data = new TempDirectory();
        var settings = new Dictionary<string, string>
        {
            // Nothing listens there: the message stays queued across the restart.
            ["Elemta:Delivery:Routes:example.net"] = $"127.0.0.1:{FreePort.GetTcpPort()}",
        };
        var silo = await SiloProcess.StartAsync(data.Path, settings);
        string id;
        await using (silo)
        {
            id = await EndToEndTests.SendRawAsync(silo.SmtpPort, "alice@example.org", ["bob@example.net"], Encoding.ASCII.GetBytes("Subject: t\r\n\r\nbody\r\n"));
            Assert.Equal(0, await silo.TerminateAsync(TimeSpan.FromSeconds(60)));
        }

        await using var again = await SiloProcess.StartAsync(data.Path, settings);
        await using var client = await again.ConnectClientAsync();
        var status = await client.GetMessageAsync(id);
        Assert.NotNull(status);
        Assert.NotEqual(Contracts.MessageQueueState.Completed, status!.State);
        Assert.Equal(1, (await client.GetDomainQueueAsync("example.net")).QueuedCount);
    }

    private static async Task<string> GreetingAsync(int port)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", port);
        using var reader = new StreamReader(tcp.GetStream(), Encoding.ASCII);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        return await reader.ReadLineAsync(timeout.Token) ?? string.Empty;
    }
}
