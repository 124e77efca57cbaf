using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Elemta.Testing;

namespace Elemta.Plugins.Scanners.Tests.Daemons;

/// <summary>
/// A real clamd (Debian's clamav-daemon) for one test class, in a temporary folder with a signature database of its
/// own: there is no network for freshclam, so the database holds one body signature (<c>.ndb</c>) for the EICAR test
/// string, named <see cref="SignatureName"/> (clamd reports it with the suffix <c>.UNOFFICIAL</c>, as every signature
/// outside the official databases). Listens on a free loopback TCP port and on a Unix socket; its
/// <c>StreamMaxLength</c> is <see cref="StreamMaxLength"/>. Started by <see cref="InitializeAsync"/>, killed by
/// <see cref="Dispose"/>.
/// </summary>
public sealed class ClamdDaemon : IAsyncLifetime, IDisposable
{
    /// <summary>The name of the test signature.</summary>
    public const string SignatureName = "Elemta.Test.EICAR";

    /// <summary>clamd's StreamMaxLength: a longer INSTREAM is refused with "INSTREAM size limit exceeded".</summary>
    public const int StreamMaxLength = 1024 * 1024;

    /// <summary>
    /// The EICAR anti-virus test file (68 bytes), assembled at run time so this source and its assembly do not carry
    /// it whole (a virus scanner on the machine would quarantine them).
    /// </summary>
    public static readonly string Eicar = @"X5O!P%@AP[4\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

    private DaemonProcess? _process;

    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("elemta-clamd-").FullName;

    public int Port { get; } = FreePort.GetTcpPort();

    /// <summary>The TCPSocket, as the plugin's <c>Address</c> setting takes it.</summary>
    public string TcpAddress => $"127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>The LocalSocket (a Unix socket path), as the plugin's <c>Address</c> setting takes it.</summary>
    public string SocketPath => Path.Combine(Directory, "clamd.sock");

    private string LogPath => Path.Combine(Directory, "clamd.log");

    public async Task InitializeAsync()
    {
        var database = Path.Combine(Directory, "db");
        var temporary = Path.Combine(Directory, "tmp");
        System.IO.Directory.CreateDirectory(database);
        System.IO.Directory.CreateDirectory(temporary);
        // Extended signature format: name:target type (0 = any file):offset (* = anywhere):hex bytes.
        await File.WriteAllTextAsync(Path.Combine(database, "elemta-test.ndb"),
            $"{SignatureName}:0:*:{Convert.ToHexStringLower(Encoding.ASCII.GetBytes(Eicar))}\n");
        var configuration = Path.Combine(Directory, "clamd.conf");
        await File.WriteAllTextAsync(configuration, $"""
            Foreground yes
            DatabaseDirectory {database}
            TemporaryDirectory {temporary}
            LocalSocket {SocketPath}
            TCPSocket {Port}
            TCPAddr 127.0.0.1
            LogFile {LogPath}
            StreamMaxLength {StreamMaxLength}
            """);

        _process = DaemonProcess.Start("/usr/sbin/clamd", "clamav-daemon", ["-c", configuration], Directory, "clamav");
        await _process.WaitUntilReadyAsync(async () => await PingAsync() && File.Exists(SocketPath), TimeSpan.FromSeconds(90), "clamd", ReadLog);
    }

    /// <summary>clamd's PING over TCP: true when it answers PONG.</summary>
    private async Task<bool> PingAsync()
    {
        try
        {
            using var client = new TcpClient();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await client.ConnectAsync("127.0.0.1", Port, timeout.Token);
            var stream = client.GetStream();
            await stream.WriteAsync("zPING\0"u8.ToArray(), timeout.Token);
            var reply = new byte[16];
            var length = await stream.ReadAtLeastAsync(reply, 5, throwOnEndOfStream: false, timeout.Token);
            return Encoding.ASCII.GetString(reply, 0, length).TrimEnd('\0') == "PONG";
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>clamd's log so far.</summary>
    public string ReadLog()
    {
        try
        {
            using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(stream);
            return reader.ReadToEnd();
        }
        catch (IOException)
        {
            return string.Empty;
        }
    }

    public Task DisposeAsync()
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        _process?.Dispose();
        _process = null;
        DaemonProcess.DeleteDirectory(Directory);
    }
}
