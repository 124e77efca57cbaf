using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Elemta.Testing;

namespace Elemta.Delivery.Tests.Local;

/// <summary>
/// A real Dovecot LMTP server (Debian package <c>dovecot-lmtpd</c>) run from a generated configuration in a temp
/// directory: its own base_dir (which also holds the Unix socket <c>lmtp</c>), an inet listener on a free loopback
/// port, users from a passwd-file (anyone else is unknown), Maildirs under <see cref="MailRoot"/>. It runs as the
/// current user; as root, Dovecot's own unprivileged users (created by the package) own the mail.
/// </summary>
public sealed class DovecotLmtpServer : IAsyncDisposable
{
    /// <summary>Users Dovecot knows; every other address gets <c>550 5.1.1</c> from it.</summary>
    public static readonly string[] Users = ["alice@dovecot.test", "bob@dovecot.test"];

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private readonly Process _master;
    private readonly string _configPath;

    private DovecotLmtpServer(string directory, string configPath, Process master, IPEndPoint endPoint)
    {
        Directory = directory;
        _configPath = configPath;
        _master = master;
        EndPoint = endPoint;
    }

    /// <summary>The temp directory holding everything; removed on dispose.</summary>
    public string Directory { get; }

    /// <summary>Where the Maildirs are: <c>{MailRoot}/{domain}/{user}</c>.</summary>
    public string MailRoot => Path.Combine(Directory, "mail");

    /// <summary>The Unix socket of the LMTP service.</summary>
    public string SocketPath => Path.Combine(Directory, "run", "lmtp");

    /// <summary>The inet LMTP listener.</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>Dovecot's log.</summary>
    public string Log => File.Exists(LogPath) ? File.ReadAllText(LogPath) : "(no log written)";

    private string LogPath => Path.Combine(Directory, "dovecot.log");

    /// <summary>The files delivered into <paramref name="address"/>'s Maildir <c>new/</c>.</summary>
    public IReadOnlyList<string> Delivered(string address)
    {
        var at = address.IndexOf('@', StringComparison.Ordinal);
        var newDirectory = Path.Combine(MailRoot, address[(at + 1)..], address[..at], "new");
        return System.IO.Directory.Exists(newDirectory) ? System.IO.Directory.GetFiles(newDirectory) : [];
    }

    public static async Task<DovecotLmtpServer> StartAsync()
    {
        var binary = new[] { "/usr/sbin/dovecot", "/usr/local/sbin/dovecot" }.FirstOrDefault(File.Exists)
                     ?? throw new InvalidOperationException("Dovecot is not installed: apt-get install dovecot-lmtpd (.ci/run does).");
        var directory = System.IO.Directory.CreateTempSubdirectory("elemta-dovecot-").FullName;
        // Dovecot's helper processes (auth, lmtp) run as the mail user, which must reach the files below.
        File.SetUnixFileMode(directory, (UnixFileMode)Convert.ToInt32("755", 8));
        var mailRoot = System.IO.Directory.CreateDirectory(Path.Combine(directory, "mail")).FullName;
        File.SetUnixFileMode(mailRoot, (UnixFileMode)Convert.ToInt32("777", 8));

        // Dovecot runs as the current user, but never delivers as root: as root its service users own the mail.
        var privileged = Environment.IsPrivilegedProcess;
        var internalUser = privileged ? "dovecot" : await IdAsync("-un");
        var internalGroup = privileged ? await IdAsync("-gn", "dovecot") : await IdAsync("-gn");
        var loginUser = privileged ? "dovenull" : internalUser;
        var uid = await IdAsync("-u", privileged ? "dovecot" : null);
        var gid = await IdAsync("-g", privileged ? "dovecot" : null);

        var users = new StringBuilder();
        foreach (var user in Users)
        {
            var at = user.IndexOf('@', StringComparison.Ordinal);
            users.Append(CultureInfo.InvariantCulture, $"{user}:{{PLAIN}}unused:{uid}:{gid}::{Path.Combine(mailRoot, user[(at + 1)..], user[..at])}::\n");
        }

        var usersPath = Path.Combine(directory, "users");
        await File.WriteAllTextAsync(usersPath, users.ToString());

        for (var attempt = 1; ; attempt++)
        {
            // The port is free now but could be taken before Dovecot binds it: then start again on another.
            var port = FreePort.GetTcpPort();
            var configPath = Path.Combine(directory, "dovecot.conf");
            await File.WriteAllTextAsync(configPath, Config(directory, mailRoot, usersPath, port, internalUser, internalGroup, loginUser, uid, gid));
            var master = Process.Start(new ProcessStartInfo(binary, ["-F", "-c", configPath])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            })!;
            var output = new StringBuilder();
            master.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
            master.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
            master.BeginOutputReadLine();
            master.BeginErrorReadLine();

            var endPoint = new IPEndPoint(IPAddress.Loopback, port);
            var server = new DovecotLmtpServer(directory, configPath, master, endPoint);
            var failure = await server.WaitUntilListeningAsync();
            if (failure is null)
            {
                return server;
            }

            await server.StopAsync();
            string printed;
            lock (output)
            {
                printed = output.ToString();
            }

            if (attempt < 3 && (printed + server.Log).Contains("Address already in use", StringComparison.Ordinal))
            {
                continue;
            }

            var log = server.Log;
            TryDelete(directory);
            throw new InvalidOperationException($"Dovecot did not start: {failure}.\n--- dovecot output ---\n{printed}\n--- dovecot.log ---\n{log}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        TryDelete(Directory);
    }

    private static string Config(string directory, string mailRoot, string usersPath, int port, string internalUser, string internalGroup, string loginUser, string uid, string gid) => $$"""
        base_dir = {{directory}}/run
        state_dir = {{directory}}/state
        log_path = {{directory}}/dovecot.log
        info_log_path = {{directory}}/dovecot.log
        protocols = lmtp
        ssl = no
        listen = 127.0.0.1
        default_internal_user = {{internalUser}}
        default_internal_group = {{internalGroup}}
        default_login_user = {{loginUser}}
        first_valid_uid = {{uid}}
        last_valid_uid = {{uid}}
        first_valid_gid = {{gid}}
        mail_location = maildir:{{mailRoot}}/%d/%n
        passdb {
          driver = passwd-file
          args = {{usersPath}}
        }
        userdb {
          driver = passwd-file
          args = {{usersPath}}
        }
        service lmtp {
          inet_listener lmtp {
            address = 127.0.0.1
            port = {{port}}
          }
          unix_listener lmtp {
            mode = 0666
          }
        }
        # anvil chroots into base_dir/empty, which only root may do.
        service anvil {
          chroot =
        }
        """;

    /// <summary>Polls the inet listener until it accepts; null when it does, else why not.</summary>
    private async Task<string?> WaitUntilListeningAsync()
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < StartTimeout)
        {
            if (_master.HasExited)
            {
                return $"the master process exited with code {_master.ExitCode}";
            }

            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                using var attempt = new CancellationTokenSource(TimeSpan.FromSeconds(1));
                await probe.ConnectAsync(EndPoint, attempt.Token);
                if (File.Exists(SocketPath))
                {
                    return null;
                }
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException)
            {
                // Not listening yet.
            }

            await Task.Delay(50);
        }

        return $"port {EndPoint.Port} was not listening after {StartTimeout.TotalSeconds} s";
    }

    /// <summary>Stops this Dovecot (the master we started, by its own pid file) and waits for the master to exit.</summary>
    private async Task StopAsync()
    {
        if (!_master.HasExited)
        {
            using var stop = Process.Start(new ProcessStartInfo(_master.StartInfo.FileName, ["-c", _configPath, "stop"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            })!;
            await stop.WaitForExitAsync();
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            try
            {
                await _master.WaitForExitAsync(wait.Token);
            }
            catch (OperationCanceledException)
            {
                _master.Kill(entireProcessTree: true);
                await _master.WaitForExitAsync();
            }
        }

        _master.Dispose();
    }

    private static async Task<string> IdAsync(string option, string? user = null)
    {
        using var id = Process.Start(new ProcessStartInfo("id", user is null ? [option] : [option, user])
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        })!;
        var text = (await id.StandardOutput.ReadToEndAsync()).Trim();
        await id.WaitForExitAsync();
        return id.ExitCode == 0 && text.Length > 0 ? text : throw new InvalidOperationException($"id {option} {user} failed; is user '{user}' missing?");
    }

    private static void TryDelete(string directory)
    {
        try
        {
            System.IO.Directory.Delete(directory, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A temp directory left behind is harmless.
        }
    }
}
