using System.Net;
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
        foreach (var flag in new[] { "--dev", "--port", "--data", "--no-auth-required", "--help", "--version" })
        {
            Assert.Contains(flag, output, StringComparison.Ordinal);
        }

        // The management commands, and the --dev port fallback.
        foreach (var command in new[] { "server", "queue", "domain", "user", "apikey", "db", "send", "cluster", "dkim", "access", "sendmail" })
        {
            Assert.Matches($@"(?m)^\s+{command}\b", output);
        }

        Assert.Contains("2526-2528", output, StringComparison.Ordinal);

        // Every command has its own help.
        (code, output) = await SiloProcess.RunToExitAsync("user", "--help");
        Assert.Equal(0, code);
        foreach (var command in new[] { "add", "passwd", "set", "del", "list" })
        {
            Assert.Matches($@"(?m)^\s+([a-z]+, )*{command}\b", output);
        }
    }

    [Fact]
    public async Task No_auth_required_is_an_accepted_flag()
    {
        var (code, output) = await SiloProcess.RunToExitAsync("--no-auth-required", "--version");
        Assert.Equal(0, code);
        Assert.StartsWith("Elemta ", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dev_mode_without_a_port_moves_past_a_busy_2525_and_says_which_port_it_chose()
    {
        // Hold 2525 on 127.0.0.1 (where the test silo listens), or, if this machine already uses it, the first free
        // port after it; the silo must then choose the next free one.
        using var held = Enumerable.Range(DevFirstPort, DevLastPort - DevFirstPort).Select(p => TryListen(p)).FirstOrDefault(s => s is not null);
        Assert.True(held is not null, $"ports {DevFirstPort}-{DevLastPort - 1} of 127.0.0.1 are all in use on this machine: cannot test the --dev fallback");
        var heldPort = ((IPEndPoint)held.LocalEndPoint!).Port;
        var expected = Enumerable.Range(heldPort + 1, DevLastPort - heldPort).FirstOrDefault(IsFree);
        Assert.True(expected != 0, $"no port after {heldPort} up to {DevLastPort} is free on this machine");

        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartDevAsync(data.Path);

        Assert.Equal(expected, silo.SmtpPort);
        Assert.Contains($"elemta: --dev: SMTP on port {expected} (port", silo.Output, StringComparison.Ordinal);
        Assert.StartsWith("220 ", await GreetingAsync(silo.SmtpPort), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dev_mode_with_2525_to_2528_all_busy_stops_with_a_one_line_error()
    {
        // Ports already used by something else are busy anyway.
        var held = Enumerable.Range(DevFirstPort, DevLastPort - DevFirstPort + 1).Select(p => TryListen(p)).OfType<Socket>().ToList();
        try
        {
            using var data = new TempDirectory();
            var (code, output) = await SiloProcess.RunToExitAsync(
                "--dev", "--data", data.Path, "--Elemta:Smtp:ListenAddresses:0=127.0.0.1",
                $"--Elemta:Cluster:SiloPort={FreePort.GetTcpPort()}", $"--Elemta:Cluster:GatewayPort={FreePort.GetTcpPort()}");

            Assert.Equal(1, code);
            Assert.Equal("elemta: --dev: SMTP ports 2525-2528 are all in use; free one or choose a port with --port", output.Trim());
        }
        finally
        {
            held.ForEach(s => s.Dispose());
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
    public async Task Without_a_configured_certificate_production_mode_offers_STARTTLS_with_a_kept_self_signed_one_and_warns()
    {
        // Issue 15: production mode offered no STARTTLS at all, so mail to a fresh install travelled in clear text.
        using var data = new TempDirectory();
        string fingerprint;
        await using (var silo = await SiloProcess.StartAsync(data.Path))
        {
            using var client = new MailKit.Net.Smtp.SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
            await client.ConnectAsync("127.0.0.1", silo.SmtpPort, MailKit.Security.SecureSocketOptions.StartTls);
            Assert.True(client.IsSecure);
            await client.DisconnectAsync(true);
            Assert.Contains("STARTTLS uses a self-signed certificate for mx.elemta.test", silo.Output, StringComparison.Ordinal);
            fingerprint = Thumbprint(Path.Combine(data.Path, "tls", "dev-cert.pem"));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(data.Path, "tls", "dev-key.pem")));
            await silo.TerminateAsync(TimeSpan.FromSeconds(30));
        }

        // Kept across restarts, so a client that pinned it keeps working.
        await using (var again = await SiloProcess.StartAsync(data.Path))
        {
            Assert.Equal(fingerprint, Thumbprint(Path.Combine(data.Path, "tls", "dev-cert.pem")));
        }
    }

    private static string Thumbprint(string pemFile)
    {
        var certificates = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection();
        certificates.ImportFromPemFile(pemFile);
        return certificates[0].Thumbprint;
    }

    [Fact]
    public async Task Tls_disabled_offers_no_STARTTLS_and_says_so()
    {
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string> { ["Elemta:Smtp:Tls:Disabled"] = "true" });
        using var client = new MailKit.Net.Smtp.SmtpClient();
        await client.ConnectAsync("127.0.0.1", silo.SmtpPort, MailKit.Security.SecureSocketOptions.None);
        Assert.False(client.Capabilities.HasFlag(MailKit.Net.Smtp.SmtpCapabilities.StartTLS));
        await client.DisconnectAsync(true);
        Assert.Contains("no STARTTLS is offered", silo.Output, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(data.Path, "tls")));
    }

    [Theory]
    [InlineData("--Elemta:Smtp:Prot=2600", "elemta: configuration error: unknown setting Elemta:Smtp:Prot (Elemta:Smtp has ")]
    [InlineData("--Elemta:Queue:RetrySchedule:0=banana", "elemta: configuration error: Elemta:Queue:RetrySchedule:0 = 'banana' is not a time span such as 00:05:00")]
    [InlineData("--Elemta:Smtp:MaxRecipients=many", "elemta: configuration error: Elemta:Smtp:MaxRecipients = 'many' is not a whole number")]
    [InlineData("--Elemta:Smtp:TrustedNetworks=10.0.0.0/8", "elemta: configuration error: Elemta:Smtp:TrustedNetworks is a list: give its elements as Elemta:Smtp:TrustedNetworks:0")]
    [InlineData("--Elemta:Storage:Postgres:MaxPoolSiz=5", "elemta: configuration error: unknown setting Elemta:Storage:Postgres:MaxPoolSiz (")]
    [InlineData("--Elemta:Delivery:Routes:example.net:Port=x", "elemta: configuration error: Elemta:Delivery:Routes:example.net is a single value")]
    public async Task A_misspelt_key_or_a_value_that_does_not_convert_stops_the_start_with_one_line(string setting, string expected)
    {
        // Issue 15: these used to start a silo with the defaults, silently.
        using var data = new TempDirectory();
        var (code, output) = await SiloProcess.RunToExitAsync("--data", data.Path, "--port", "0", setting);
        Assert.Equal(2, code);
        Assert.StartsWith(expected, output.Trim(), StringComparison.Ordinal);
        Assert.Single(output.Trim().Split('\n'));
    }

    [Fact]
    public async Task An_invalid_setting_stops_the_start_with_the_key_named()
    {
        using var data = new TempDirectory();
        var (code, output) = await SiloProcess.RunToExitAsync("--data", data.Path, "--port", "0", "--Elemta:Queue:MaxConcurrentDeliveriesPerDomain=0");
        Assert.NotEqual(0, code);
        Assert.Contains("Elemta:Queue:MaxConcurrentDeliveriesPerDomain must be between 1 and 1000", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--Elemta:Cluster:Membership:ProbeTimeout=00:00:00.1", "Elemta:Cluster:Membership:ProbeTimeout must be between")]
    [InlineData("--Elemta:Cluster:Membership:NumVotesForDeathDeclaration=0", "Elemta:Cluster:Membership:NumVotesForDeathDeclaration must be between")]
    [InlineData("--Elemta:Cluster:Membership:ProbeTimeout=00:00:10", "Elemta:Cluster:Membership:MaxProbeTimeout must be between ProbeTimeout")]
    // 3 s probes at most × 3 misses = 9 s: a 5 s vote would expire before the second.
    [InlineData("--Elemta:Cluster:Membership:DeathVoteExpirationTimeout=00:00:05", "Elemta:Cluster:Membership:DeathVoteExpirationTimeout must be between MaxProbeTimeout × NumMissedProbesLimit (00:00:09)")]
    public async Task Invalid_membership_settings_stop_a_cluster_silo_before_it_connects(string setting, string message)
    {
        using var data = new TempDirectory();
        // Validated before anything connects: the database named here does not exist.
        var (code, output) = await SiloProcess.RunToExitAsync("--data", data.Path, "--port", "0",
            "--Elemta:Storage:Provider=PostgreSQL", "--Elemta:Storage:ConnectionString=Host=127.0.0.1;Port=1;Database=none", setting);
        Assert.Equal(2, code);
        Assert.Contains(message, output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connections_over_the_per_IP_rate_limit_get_421_and_are_closed()
    {
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["Elemta:RateLimit:ConnectionsPerIp:Capacity"] = "2",
            ["Elemta:RateLimit:ConnectionsPerIp:PerSecond"] = "0",
            ["Elemta:Smtp:TrustedNetworksBypassConnectionLimits"] = "false",
        });

        Assert.StartsWith("220 ", await GreetingAsync(silo.SmtpPort), StringComparison.Ordinal);
        Assert.StartsWith("220 ", await GreetingAsync(silo.SmtpPort), StringComparison.Ordinal);
        Assert.StartsWith("421 4.7.0 ", await GreetingAsync(silo.SmtpPort), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_per_IP_limits_are_the_connection_limits_plugin_and_disabling_it_turns_them_off()
    {
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["Elemta:RateLimit:ConnectionsPerIp:Capacity"] = "1",
            ["Elemta:RateLimit:ConnectionsPerIp:PerSecond"] = "0",
            ["Elemta:Smtp:TrustedNetworksBypassConnectionLimits"] = "false",
            ["Elemta:Plugins:Items:connection-limits:Enabled"] = "false",
        });

        for (var i = 0; i < 3; i++)
        {
            Assert.StartsWith("220 ", await GreetingAsync(silo.SmtpPort), StringComparison.Ordinal);
        }

        Assert.Contains("Plugin connection-limits in (built-in) is disabled", silo.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connections_over_MaxConnectionsPerIp_open_at_once_get_421_and_a_closed_one_makes_room()
    {
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["Elemta:Smtp:MaxConnectionsPerIp"] = "2",
            ["Elemta:Smtp:TrustedNetworksBypassConnectionLimits"] = "false",
        });

        await TwoAtOnceThenRoomWhenOneLeavesAsync(silo, "too many connections from your address");
    }

    /// <summary>
    /// With a limit of two open connections: two are greeted, a third gets <c>421 4.7.0</c> saying
    /// <paramref name="refusal"/>, and once the first has quit there is room for exactly one more.
    /// </summary>
    private static async Task TwoAtOnceThenRoomWhenOneLeavesAsync(SiloProcess silo, string refusal)
    {
        using var first = await OpenSession.ConnectAsync(silo.SmtpPort);
        using var second = await OpenSession.ConnectAsync(silo.SmtpPort);
        Assert.StartsWith("220 ", first.Greeting, StringComparison.Ordinal);
        Assert.StartsWith("220 ", second.Greeting, StringComparison.Ordinal);

        var third = await GreetingAsync(silo.SmtpPort);
        Assert.StartsWith("421 4.7.0 ", third, StringComparison.Ordinal);
        Assert.Contains(refusal, third, StringComparison.Ordinal);

        // The first leaves; its place is released as its session ends, just after the 221.
        Assert.StartsWith("221 ", await first.CommandAsync("QUIT"), StringComparison.Ordinal);
        first.Dispose();
        using var fourth = await Eventually.GetAsync(
            () => OpenSession.ConnectAsync(silo.SmtpPort),
            s =>
            {
                var greeted = s.Greeting.StartsWith("220 ", StringComparison.Ordinal);
                if (!greeted)
                {
                    s.Dispose();
                }

                return greeted;
            },
            TimeSpan.FromSeconds(30),
            "a greeting once one of two connections has closed");

        // Two open again: the limit still holds.
        Assert.StartsWith("421 4.7.0 ", await GreetingAsync(silo.SmtpPort), StringComparison.Ordinal);
        Assert.StartsWith("250 ", await second.CommandAsync("NOOP"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Clients_in_the_trusted_networks_skip_the_per_address_limits_as_in_Postfix()
    {
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["Elemta:Smtp:MaxConnectionsPerIp"] = "1",
            ["Elemta:RateLimit:ConnectionsPerIp:Capacity"] = "1",
            ["Elemta:RateLimit:ConnectionsPerIp:PerSecond"] = "0",
        });

        // Loopback is trusted by default: three at once and a fourth later, all over both per-address limits.
        using var first = await OpenSession.ConnectAsync(silo.SmtpPort);
        using var second = await OpenSession.ConnectAsync(silo.SmtpPort);
        using var third = await OpenSession.ConnectAsync(silo.SmtpPort);
        Assert.All(new[] { first, second, third }, s => Assert.StartsWith("220 ", s.Greeting, StringComparison.Ordinal));
        Assert.StartsWith("220 ", await GreetingAsync(silo.SmtpPort), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Only_the_trusted_networks_skip_the_per_address_limits()
    {
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["Elemta:Smtp:MaxConnectionsPerIp"] = "1",
            ["Elemta:Smtp:TrustedNetworks:0"] = "192.0.2.0/24",
        });

        // Loopback is not in the trusted networks now, so its second connection at once is over the limit.
        using var first = await OpenSession.ConnectAsync(silo.SmtpPort);
        Assert.StartsWith("220 ", first.Greeting, StringComparison.Ordinal);
        var second = await GreetingAsync(silo.SmtpPort);
        Assert.StartsWith("421 4.7.0 ", second, StringComparison.Ordinal);
        Assert.Contains("too many connections from your address", second, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connections_over_MaxConnections_on_this_front_end_get_421_and_a_closed_one_makes_room()
    {
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["Elemta:Smtp:MaxConnections"] = "2",
        });

        // Trusted clients too (loopback is trusted): the total protects the machine, whoever connects.
        await TwoAtOnceThenRoomWhenOneLeavesAsync(silo, "too many connections, try again later");
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
        using var dead = RefusingEndPoint.Bind(IPAddress.Loopback);
        var settings = new Dictionary<string, string>
        {
            // Nothing listens there: the message stays queued across the restart.
            ["Elemta:Delivery:Routes:example.net"] = $"127.0.0.1:{RefusingEndPoint.PortOf(dead)}",
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
        Assert.NotEqual(Contracts.MessageQueueState.Delivered, status!.State);
        Assert.Equal(1, (await client.GetDomainQueueAsync("example.net")).QueuedCount);
    }

    private const int DevFirstPort = 2525;
    private const int DevLastPort = 2528;

    /// <summary>
    /// A listening socket on 127.0.0.1:<paramref name="port"/>, or null if the port is in use. With
    /// <paramref name="likeTheProbe"/> it is bound as the silo's --dev probe binds (SO_REUSEADDR alone, Linux values).
    /// </summary>
    private static Socket? TryListen(int port, bool likeTheProbe = false)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (likeTheProbe)
            {
                socket.SetRawSocketOption(1, 2, BitConverter.GetBytes(1));
            }

            socket.Bind(new IPEndPoint(IPAddress.Loopback, port));
            socket.Listen(1);
            return socket;
        }
        catch (SocketException)
        {
            socket.Dispose();
            return null;
        }
    }

    private static bool IsFree(int port)
    {
        using var socket = TryListen(port, likeTheProbe: true);
        return socket is not null;
    }

    /// <summary>An SMTP connection kept open, its greeting read.</summary>
    private sealed class OpenSession : IDisposable
    {
        private readonly TcpClient _tcp;
        private readonly StreamReader _reader;

        private OpenSession(TcpClient tcp, StreamReader reader, string greeting)
        {
            _tcp = tcp;
            _reader = reader;
            Greeting = greeting;
        }

        public string Greeting { get; }

        public static async Task<OpenSession> ConnectAsync(int port)
        {
            var tcp = new TcpClient();
            try
            {
                await tcp.ConnectAsync("127.0.0.1", port);
                var reader = new StreamReader(tcp.GetStream(), Encoding.ASCII);
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                return new OpenSession(tcp, reader, await reader.ReadLineAsync(timeout.Token) ?? string.Empty);
            }
            catch
            {
                tcp.Dispose();
                throw;
            }
        }

        public async Task<string> CommandAsync(string command)
        {
            await _tcp.GetStream().WriteAsync(Encoding.ASCII.GetBytes(command + "\r\n"));
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            return await _reader.ReadLineAsync(timeout.Token) ?? string.Empty;
        }

        public override string ToString() => Greeting;

        public void Dispose()
        {
            _reader.Dispose();
            _tcp.Dispose();
        }
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
