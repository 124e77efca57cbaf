using System.Net;
using System.Net.Sockets;
using Elemta.Silo.Tests;
using Elemta.Testing;

namespace Elemta.Api.Tests;

/// <summary>The silo's HTTP server: its settings are checked at start, a busy port stops the start, and it can be off.</summary>
public sealed class HttpHostTests
{
    [Theory]
    [InlineData("https://127.0.0.1:8025", "only http:// is served")]
    [InlineData("not a url", "is not an address")]
    [InlineData("", "must name at least one address")]
    public async Task An_unusable_address_stops_the_start_with_the_key_named(string urls, string message)
    {
        using var data = new TempDirectory();
        var (code, output) = await SiloProcess.RunToExitAsync("--data", data.Path, "--port", "0", $"--Elemta:Http:Urls={urls}");

        Assert.Equal(2, code);
        Assert.Contains("Elemta:Http:Urls", output, StringComparison.Ordinal);
        Assert.Contains(message, output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_busy_http_port_stops_the_start_with_exit_code_1()
    {
        using var busy = new TcpListener(IPAddress.Loopback, 0);
        busy.Start();
        var port = ((IPEndPoint)busy.LocalEndpoint).Port;
        using var data = new TempDirectory();

        var (code, output) = await SiloProcess.RunToExitAsync(
            "--data", data.Path, "--port", FreePort.GetTcpPort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--Elemta:Smtp:ListenAddresses:0=127.0.0.1",
            $"--Elemta:Cluster:SiloPort={FreePort.GetTcpPort()}", $"--Elemta:Cluster:GatewayPort={FreePort.GetTcpPort()}",
            $"--Elemta:Http:Urls=http://127.0.0.1:{port}");

        Assert.Equal(1, code);
        Assert.Contains($"127.0.0.1:{port}", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_api_reference_page_is_served_in_dev_mode_from_the_silo_itself()
    {
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartDevAsync(data.Path);
        using var client = new HttpClient { BaseAddress = silo.HttpUrl, Timeout = ApiSilo.Timeout };

        var page = await client.GetStringAsync("/scalar/");
        var script = await client.GetAsync("/scalar/scalar.js");

        Assert.Contains("scalar.js", page, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, script.StatusCode);
        Assert.DoesNotContain("://cdn", page, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task With_http_disabled_the_silo_starts_and_leaves_its_configured_port_alone()
    {
        using var busy = new TcpListener(IPAddress.Loopback, 0);
        busy.Start();
        var port = ((IPEndPoint)busy.LocalEndpoint).Port;
        using var data = new TempDirectory();

        // Were HTTP started, this busy port would stop the silo (exit code 1) instead of the "off" line.
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["Elemta:Http:Enabled"] = "false",
            ["Elemta:Http:Urls"] = $"http://127.0.0.1:{port}",
        });
        await Eventually.GetAsync(() => Task.FromResult(silo.Output), o => o.Contains("HTTP off", StringComparison.Ordinal) || silo.HasExited, ApiSilo.Timeout, "the silo to say HTTP is off");

        Assert.False(silo.HasExited, silo.Output);
        Assert.Equal(0, silo.HttpPort);
        Assert.DoesNotContain("HTTP listening on", silo.Output, StringComparison.Ordinal);
    }
}
