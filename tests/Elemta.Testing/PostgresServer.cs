using System.Diagnostics;
using System.Globalization;

namespace Elemta.Testing;

/// <summary>
/// A real PostgreSQL server for tests: one per test process, started on first use from the machine's binaries
/// (<c>initdb</c> + <c>pg_ctl</c> into a temporary folder, on a free loopback port) and stopped when the process
/// exits. Each test asks for its own database with <see cref="CreateDatabaseAsync"/>.
/// </summary>
/// <remarks>
/// <para>
/// <c>ELEMTA_TEST_POSTGRES</c> (a connection string such as
/// <c>Host=127.0.0.1;Port=5432;Username=postgres;Password=…</c>) points the tests at an existing server instead; its
/// user must be allowed to create databases. <c>ELEMTA_PG_BIN</c> names the folder of <c>initdb</c> when it is not
/// under <c>/usr/lib/postgresql/*/bin</c>.
/// </para>
/// <para>
/// PostgreSQL refuses to run as root: when the tests run as root the cluster belongs to the <c>postgres</c> user
/// (or <c>nobody</c>) and the binaries run through <c>runuser</c>. No package is needed here: databases are
/// created with the server's own <c>createdb</c>.
/// </para>
/// </remarks>
public sealed class PostgresServer
{
    /// <summary>The environment variable with a connection string to an existing server.</summary>
    public const string ConnectionStringVariable = "ELEMTA_TEST_POSTGRES";

    private const string SuperUser = "elemta";
    private static readonly Lazy<Task<PostgresServer>> Shared = new(StartSharedAsync, LazyThreadSafetyMode.ExecutionAndPublication);
    private static int _databaseCounter;

    private readonly string? _binDirectory;
    private readonly string? _runAs;
    private readonly string? _directory;
    private readonly string _adminConnectionString;
    private string? _startOptions;

    private PostgresServer(string host, int port, string user, string? password, string? binDirectory, string? runAs, string? directory, string adminConnectionString)
    {
        Host = host;
        Port = port;
        User = user;
        Password = password;
        _binDirectory = binDirectory;
        _runAs = runAs;
        _directory = directory;
        _adminConnectionString = adminConnectionString;
    }

    /// <summary>Server address.</summary>
    public string Host { get; }

    /// <summary>Server port.</summary>
    public int Port { get; }

    /// <summary>A user that may create databases.</summary>
    public string User { get; }

    /// <summary>That user's password, or null (trust authentication on the private server).</summary>
    public string? Password { get; }

    /// <summary>The folder of the PostgreSQL binaries (pg_dump, pg_restore, psql), or null for an external server.</summary>
    public string? BinDirectory => _binDirectory;

    /// <summary>The process-wide server, started on first use.</summary>
    public static Task<PostgresServer> GetAsync() => Shared.Value;

    /// <summary>Creates an empty database and returns an Npgsql connection string to it.</summary>
    public async Task<string> CreateDatabaseAsync(string prefix = "t")
    {
        // PostgreSQL names stop at 63 bytes.
        var name = string.Create(CultureInfo.InvariantCulture, $"{prefix}_{Interlocked.Increment(ref _databaseCounter)}_{Guid.NewGuid():N}").ToLowerInvariant();
        await CreateDatabaseNamedAsync(name).ConfigureAwait(false);
        return ConnectionStringFor(name);
    }

    /// <summary>The connection string to <paramref name="database"/> on this server.</summary>
    public string ConnectionStringFor(string database)
    {
        var text = $"Host={Host};Port={Port.ToString(CultureInfo.InvariantCulture)};Username={User};Database={database}";
        return Password is null ? text : $"{text};Password={Password}";
    }

    /// <summary>Environment for the PostgreSQL command-line tools (PGHOST, PGPORT, PGUSER, PGPASSWORD).</summary>
    public IReadOnlyDictionary<string, string> ClientEnvironment
    {
        get
        {
            var env = new Dictionary<string, string>
            {
                ["PGHOST"] = Host,
                ["PGPORT"] = Port.ToString(CultureInfo.InvariantCulture),
                ["PGUSER"] = User,
            };
            if (Password is not null)
            {
                env["PGPASSWORD"] = Password;
            }

            return env;
        }
    }

    private async Task CreateDatabaseNamedAsync(string name)
    {
        var createdb = _binDirectory is null ? "createdb" : Path.Combine(_binDirectory, "createdb");
        var (code, output) = await RunAsync(createdb, ["-T", "template0", name], ClientEnvironment, runAs: null).ConfigureAwait(false);
        if (code != 0)
        {
            throw new InvalidOperationException($"createdb {name} failed ({code}): {output} (server: {_adminConnectionString})");
        }
    }

    private static Task<PostgresServer> StartSharedAsync()
    {
        var external = Environment.GetEnvironmentVariable(ConnectionStringVariable);
        return string.IsNullOrWhiteSpace(external) ? StartOwnAsync() : Task.FromResult(FromConnectionString(external));
    }

    /// <summary>
    /// Starts a server of the test's own, not shared with other tests, for tests that stop and start it
    /// (<see cref="StopServerAsync"/>, <see cref="StartServerAsync"/>). Stopped when the process exits.
    /// </summary>
    public static async Task<PostgresServer> StartOwnAsync()
    {
        var bin = FindBinDirectory();
        await StopAbandonedServersAsync(bin).ConfigureAwait(false);
        var directory = Path.Combine(Path.GetTempPath(), "elemta-pg-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(directory);
        // Whose server this is: a later run stops it if this process ended without its exit handler.
        await File.WriteAllTextAsync(Path.Combine(directory, "owner.pid"), Environment.ProcessId.ToString(CultureInfo.InvariantCulture)).ConfigureAwait(false);
        var data = Path.Combine(directory, "data");
        var log = Path.Combine(directory, "server.log");
        string? runAs = null;
        if (IsRoot())
        {
            runAs = UserExists("postgres") ? "postgres" : "nobody";
            var (chown, chownOutput) = await RunAsync("chown", ["-R", runAs, directory], null, null).ConfigureAwait(false);
            if (chown != 0)
            {
                throw new InvalidOperationException($"chown {directory} to {runAs} failed: {chownOutput}");
            }
        }

        // --no-sync: the cluster is thrown away after the run; commits still sync (fsync stays on in the server).
        var (initCode, initOutput) = await RunAsync(Path.Combine(bin, "initdb"),
            ["-D", data, "-U", SuperUser, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"], null, runAs).ConfigureAwait(false);
        if (initCode != 0)
        {
            throw new InvalidOperationException($"initdb failed ({initCode}): {initOutput}");
        }

        for (var attempt = 0; ; attempt++)
        {
            var port = FreePort.GetTcpPort();
            var options = string.Join(' ',
                "-c listen_addresses=127.0.0.1",
                $"-c port={port.ToString(CultureInfo.InvariantCulture)}",
                $"-c unix_socket_directories={directory}",
                "-c max_connections=400",
                "-c shared_buffers=64MB");
            var (startCode, startOutput) = await RunAsync(Path.Combine(bin, "pg_ctl"),
                ["-D", data, "-l", log, "-w", "-t", "60", "-o", options, "start"], null, runAs).ConfigureAwait(false);
            if (startCode == 0)
            {
                var server = new PostgresServer("127.0.0.1", port, SuperUser, null, bin, runAs, directory, $"127.0.0.1:{port}") { _startOptions = options };
                AppDomain.CurrentDomain.ProcessExit += (_, _) => server.Stop();
                return server;
            }

            if (attempt >= 2)
            {
                var serverLog = File.Exists(log) ? await File.ReadAllTextAsync(log).ConfigureAwait(false) : string.Empty;
                throw new InvalidOperationException($"pg_ctl start failed ({startCode}): {startOutput}\n{serverLog}");
            }
        }
    }

    private static PostgresServer FromConnectionString(string connectionString)
    {
        string host = "127.0.0.1", user = "postgres";
        string? password = null;
        var port = 5432;
        foreach (var part in connectionString.Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            var pair = part.Split('=', 2);
            if (pair.Length != 2)
            {
                continue;
            }

            switch (pair[0].Trim().ToLowerInvariant())
            {
                case "host" or "server":
                    host = pair[1].Trim();
                    break;
                case "port":
                    port = int.Parse(pair[1].Trim(), CultureInfo.InvariantCulture);
                    break;
                case "username" or "user id" or "userid" or "user":
                    user = pair[1].Trim();
                    break;
                case "password":
                    password = pair[1];
                    break;
            }
        }

        var bin = TryFindBinDirectory();
        return new PostgresServer(host, port, user, password, bin, null, null, connectionString);
    }

    /// <summary>Stops the server as an outage would (fast shutdown: sessions are cut); its data stays for <see cref="StartServerAsync"/>.</summary>
    public async Task StopServerAsync()
    {
        var (code, output) = await RunAsync(Path.Combine(OwnBin, "pg_ctl"), ["-D", Path.Combine(_directory!, "data"), "-m", "fast", "-w", "stop"], null, _runAs).ConfigureAwait(false);
        if (code != 0)
        {
            throw new InvalidOperationException($"pg_ctl stop failed ({code}): {output}");
        }
    }

    /// <summary>Starts the server again after <see cref="StopServerAsync"/>, on the same port with the same data.</summary>
    public async Task StartServerAsync()
    {
        var (code, output) = await RunAsync(Path.Combine(OwnBin, "pg_ctl"),
            ["-D", Path.Combine(_directory!, "data"), "-l", Path.Combine(_directory!, "server.log"), "-w", "-t", "60", "-o", _startOptions!, "start"], null, _runAs).ConfigureAwait(false);
        if (code != 0)
        {
            throw new InvalidOperationException($"pg_ctl start failed ({code}): {output}");
        }
    }

    private string OwnBin => _directory is not null && _binDirectory is not null && _startOptions is not null
        ? _binDirectory
        : throw new InvalidOperationException("Only a server started by StartOwnAsync can be stopped and started.");

    /// <summary>Stops the private server at once (no checkpoint: it is thrown away) and removes its folder.</summary>
    private void Stop()
    {
        if (_directory is null || _binDirectory is null)
        {
            return;
        }

        try
        {
            RunAsync(Path.Combine(_binDirectory, "pg_ctl"), ["-D", Path.Combine(_directory, "data"), "-m", "immediate", "-w", "stop"], null, _runAs)
                .GetAwaiter().GetResult();
            Directory.Delete(_directory, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            // Best effort at process exit.
        }
    }

    /// <summary>
    /// Test hosts are often ended without their exit handlers running, leaving their server behind: servers whose
    /// owning process is gone are stopped and their folders removed before a new one starts.
    /// </summary>
    private static async Task StopAbandonedServersAsync(string bin)
    {
        foreach (var directory in Directory.GetDirectories(Path.GetTempPath(), "elemta-pg-*"))
        {
            var ownerFile = Path.Combine(directory, "owner.pid");
            if (!File.Exists(ownerFile) || !int.TryParse(await File.ReadAllTextAsync(ownerFile).ConfigureAwait(false), NumberStyles.None, CultureInfo.InvariantCulture, out var owner)
                || ProcessIsAlive(owner))
            {
                continue;
            }

            var data = Path.Combine(directory, "data");
            if (File.Exists(Path.Combine(data, "postmaster.pid")))
            {
                var runAs = IsRoot() ? (UserExists("postgres") ? "postgres" : "nobody") : null;
                await RunAsync(Path.Combine(bin, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"], null, runAs).ConfigureAwait(false);
            }

            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Another run may be cleaning it up at the same time.
            }
        }
    }

    private static bool ProcessIsAlive(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static string FindBinDirectory() =>
        TryFindBinDirectory() ?? throw new InvalidOperationException(
            $"PostgreSQL server binaries not found (initdb under /usr/lib/postgresql/*/bin or ELEMTA_PG_BIN); install postgresql, or set {ConnectionStringVariable}.");

    private static string? TryFindBinDirectory()
    {
        var configured = Environment.GetEnvironmentVariable("ELEMTA_PG_BIN");
        if (!string.IsNullOrWhiteSpace(configured) && File.Exists(Path.Combine(configured, "initdb")))
        {
            return configured;
        }

        const string Root = "/usr/lib/postgresql";
        if (!Directory.Exists(Root))
        {
            return null;
        }

        return Directory.GetDirectories(Root)
            .Select(d => (Version: int.TryParse(Path.GetFileName(d), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : 0, Bin: Path.Combine(d, "bin")))
            .Where(d => File.Exists(Path.Combine(d.Bin, "initdb")))
            .OrderByDescending(d => d.Version)
            .Select(d => d.Bin)
            .FirstOrDefault();
    }

    private static bool IsRoot() => !OperatingSystem.IsWindows() && Environment.IsPrivilegedProcess;

    private static bool UserExists(string name) =>
        File.Exists("/etc/passwd") && File.ReadLines("/etc/passwd").Any(l => l.StartsWith(name + ":", StringComparison.Ordinal));

    /// <summary>Runs a program to completion; with <paramref name="runAs"/> through <c>runuser</c>.</summary>
    internal static async Task<(int ExitCode, string Output)> RunAsync(string program, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string>? environment, string? runAs)
    {
        var info = new ProcessStartInfo(runAs is null ? program : "runuser")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        if (runAs is not null)
        {
            info.ArgumentList.Add("-u");
            info.ArgumentList.Add(runAs);
            info.ArgumentList.Add("--");
            info.ArgumentList.Add(program);
        }

        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {program}");
        // pg_ctl leaves the server running with our pipes inherited unless its output goes to the log file (-l), which
        // it does; reading both streams to the end is then safe.
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().ConfigureAwait(false);
        return (process.ExitCode, (await stdout.ConfigureAwait(false)) + (await stderr.ConfigureAwait(false)));
    }
}
