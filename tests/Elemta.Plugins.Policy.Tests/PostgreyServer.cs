using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Elemta.Smtp.Tests;
using Elemta.Testing;

namespace Elemta.Plugins.Policy.Tests;

/// <summary>
/// Debian's postgrey (the greylisting policy server for Postfix) run by the test on a free loopback port (or a unix
/// socket) with its database in a temporary folder, in the foreground so its log lines (one per decision) arrive on
/// standard error. Stopped by its process id when disposed. Auto-whitelisting of clients is off and the whitelists are
/// the test's own files, so no earlier test's mail changes what postgrey decides.
/// </summary>
internal sealed class PostgreyServer : IAsyncDisposable
{
    public const string Program = "/usr/sbin/postgrey";

    private readonly Process _process;
    private readonly string _folder;

    private PostgreyServer(Process process, string folder, string endpoint)
    {
        _process = process;
        _folder = folder;
        Endpoint = endpoint;
    }

    /// <summary>The plugin's Endpoint setting for this server.</summary>
    public string Endpoint { get; }

    /// <summary>Everything postgrey wrote: its start-up lines and one "action=greylist|pass, reason=…" line per request.</summary>
    public ConcurrentQueue<string> Log { get; } = new();

    /// <summary>Waits (polling, bounded) for a log line that <paramref name="match"/> accepts: postgrey's standard error arrives apart from its replies.</summary>
    public Task WaitForLogAsync(Func<string, bool> match) =>
        Elemta.Plugins.Tests.PluginFolder.WaitUntilAsync(() => Log.Any(match), "postgrey's log line");

    /// <param name="delay">postgrey's --delay, in seconds.</param>
    /// <param name="whitelistClients">Lines of the --whitelist-clients file (addresses, networks, names).</param>
    /// <param name="whitelistRecipients">Lines of the --whitelist-recipients file (user@, @domain, address, /regex/).</param>
    /// <param name="exim">--exim: postgrey closes the connection after each reply.</param>
    /// <param name="unixSocket">Listen on a unix socket in the temporary folder instead of a loopback port.</param>
    public static async Task<PostgreyServer> StartAsync(int delay = 2, IEnumerable<string>? whitelistClients = null, IEnumerable<string>? whitelistRecipients = null, bool exim = false, bool unixSocket = false)
    {
        Assert.True(File.Exists(Program), $"{Program} is missing: install Debian's postgrey (apt-get install postgrey; tests/run.sh installs it)");
        var folder = Directory.CreateTempSubdirectory("elemta-postgrey-").FullName;
        var clients = Path.Combine(folder, "whitelist_clients");
        var recipients = Path.Combine(folder, "whitelist_recipients");
        await File.WriteAllLinesAsync(clients, whitelistClients ?? []);
        await File.WriteAllLinesAsync(recipients, whitelistRecipients ?? []);
        var socketPath = Path.Combine(folder, "postgrey.sock");
        var port = FreePort.GetTcpPort();

        var start = new ProcessStartInfo(Program)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(unixSocket ? $"--unix={socketPath}" : $"--inet=127.0.0.1:{port}");
        start.ArgumentList.Add($"--dbdir={folder}");
        start.ArgumentList.Add($"--delay={delay}");
        start.ArgumentList.Add("--auto-whitelist-clients=0");
        start.ArgumentList.Add($"--whitelist-clients={clients}");
        start.ArgumentList.Add($"--whitelist-recipients={recipients}");
        start.ArgumentList.Add("--hostname=postgrey.test");
        if (exim)
        {
            start.ArgumentList.Add("--exim");
        }

        if (Environment.UserName == "root")
        {
            // As root, postgrey (Net::Server) switches to its user 'postgrey', who cannot write the test's folder:
            // it stays root instead. As another user it cannot switch, warns, and runs as that user.
            start.ArgumentList.Add("--user=root");
            start.ArgumentList.Add("--group=root");
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("postgrey did not start");
        var server = new PostgreyServer(process, folder, unixSocket ? $"unix:{socketPath}" : $"inet:127.0.0.1:{port}");
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) server.Log.Enqueue(e.Data); };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) server.Log.Enqueue(e.Data); };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        try
        {
            EndPoint endPoint = unixSocket ? new UnixDomainSocketEndPoint(socketPath) : new IPEndPoint(IPAddress.Loopback, port);
            await server.WaitUntilListeningAsync(endPoint);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    private async Task WaitUntilListeningAsync(EndPoint endPoint)
    {
        var deadline = DateTime.UtcNow + TestTimeouts.Process;
        while (true)
        {
            if (_process.HasExited)
            {
                Assert.Fail($"postgrey exited ({_process.ExitCode}) before listening:\n{string.Join('\n', Log)}");
            }

            using var socket = endPoint is UnixDomainSocketEndPoint
                ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
                : new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await socket.ConnectAsync(endPoint, TestTimeouts.Token());
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }

            await _process.WaitForExitAsync(TestTimeouts.Token());
        }
        catch (InvalidOperationException)
        {
        }
        finally
        {
            _process.Dispose();
            try
            {
                Directory.Delete(_folder, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
