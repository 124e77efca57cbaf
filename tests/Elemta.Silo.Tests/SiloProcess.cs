using System.Diagnostics;
using System.Reflection;
using System.Text;
using Elemta.Client;
using Elemta.Testing;

namespace Elemta.Silo.Tests;

/// <summary>
/// An Elemta silo running as a real child process (dotnet elemta.dll), on its own ports and data folder,
/// so tests can stop it hard with SIGKILL exactly as a crash would.
/// </summary>
public sealed class SiloProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly TaskCompletionSource _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _httpListening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<int> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private SiloProcess(Process process, int smtpPort, int gatewayPort, int httpPort, string dataDirectory)
    {
        _process = process;
        SmtpPort = smtpPort;
        GatewayPort = gatewayPort;
        HttpPort = httpPort;
        DataDirectory = dataDirectory;
    }

    /// <summary>The SMTP port: the one passed with --port, or for <see cref="StartDevAsync"/> the one the silo chose.</summary>
    public int SmtpPort { get; private set; }

    public int GatewayPort { get; }

    /// <summary>The admin plane's HTTP port on 127.0.0.1 (a free one per silo: several run on one machine); 0 when HTTP is off.</summary>
    public int HttpPort { get; }

    /// <summary>The admin plane's base address, <c>http://127.0.0.1:&lt;HttpPort&gt;</c>.</summary>
    public Uri HttpUrl => new($"http://127.0.0.1:{HttpPort.ToString(System.Globalization.CultureInfo.InvariantCulture)}");

    public string DataDirectory { get; }

    /// <summary>The silo's process id (for /proc readings such as its resident memory).</summary>
    public int ProcessId => _process.Id;

    /// <summary>The silo's resident memory now (VmRSS), in octets.</summary>
    public long ResidentBytes() =>
        long.Parse(File.ReadLines($"/proc/{_process.Id}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;

    /// <summary>Whether the silo's process has ended.</summary>
    public bool HasExited => _process.HasExited;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public static string SiloAssembly =>
        typeof(SiloProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "SiloAssembly").Value!;

    /// <summary>Starts a silo and waits until its SMTP port listens.</summary>
    public static Task<SiloProcess> StartAsync(string dataDirectory, IDictionary<string, string>? settings = null, int? smtpPort = null, int? gatewayPort = null) =>
        StartCoreAsync(["--port", (smtpPort ?? FreePort.GetTcpPort()).ToString(System.Globalization.CultureInfo.InvariantCulture)], dataDirectory, settings, gatewayPort);

    /// <summary>
    /// Starts a silo with <c>--dev</c> and no SMTP port, so it chooses one itself (2525 or the next free);
    /// <see cref="SmtpPort"/> is then the port of its "SMTP listening on" line.
    /// </summary>
    public static Task<SiloProcess> StartDevAsync(string dataDirectory, IDictionary<string, string>? settings = null) =>
        StartCoreAsync(["--dev"], dataDirectory, settings, gatewayPort: null);

    private static async Task<SiloProcess> StartCoreAsync(string[] mode, string dataDirectory, IDictionary<string, string>? settings, int? gatewayPort)
    {
        var gateway = gatewayPort ?? FreePort.GetTcpPort();
        var httpOff = settings is not null && settings.TryGetValue("Elemta:Http:Enabled", out var enabled) && string.Equals(enabled, "false", StringComparison.OrdinalIgnoreCase);
        var http = httpOff ? 0 : FreePort.GetTcpPort();
        List<string> args =
        [
            SiloAssembly,
            .. mode,
            "--data", dataDirectory,
            $"--Elemta:Cluster:SiloPort={FreePort.GetTcpPort()}",
            $"--Elemta:Cluster:GatewayPort={gateway}",
            "--Elemta:Smtp:ListenAddresses:0=127.0.0.1",
            "--Elemta:Smtp:HostName=mx.elemta.test",
            "--Elemta:Delivery:HeloName=relay.elemta.test",
            "--Elemta:Delivery:ConnectTimeout=00:00:05",
        ];
        if (http != 0)
        {
            args.Add($"--Elemta:Http:Urls=http://127.0.0.1:{http}");
        }

        // Tests talk to loopback only: unless a test brings its own DNS server, names are looked up at a
        // loopback port where nothing answers, never at the machine's resolvers.
        var merged = new Dictionary<string, string>(settings ?? new Dictionary<string, string>());
        merged.TryAdd("Elemta:Dns:Servers:0", $"127.0.0.1:{FreePort.GetUdpPort()}");
        merged.TryAdd("Elemta:Dns:Timeout", "00:00:01");
        merged.TryAdd("Elemta:Dns:Retries", "0");
        foreach (var (key, value) in merged)
        {
            args.Add($"--{key}={value}");
        }

        var smtp = mode[0] == "--port" ? int.Parse(mode[1], System.Globalization.CultureInfo.InvariantCulture) : 0;
        var silo = Launch(args, smtp, gateway, http, dataDirectory);
        try
        {
            await silo.WaitListeningAsync().ConfigureAwait(false);
            if (smtp == 0)
            {
                var listening = System.Text.RegularExpressions.Regex.Match(silo.Output, @"SMTP listening on \S+:(\d+)");
                Assert.True(listening.Success, $"no port in the silo's output:\n{silo.Output}");
                silo.SmtpPort = int.Parse(listening.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            }
        }
        catch
        {
            await silo.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return silo;
    }

    /// <summary>Runs the silo with <paramref name="arguments"/> to completion (for command-line errors and --help).</summary>
    public static async Task<(int ExitCode, string Output)> RunToExitAsync(params string[] arguments)
    {
        var silo = Launch([SiloAssembly, .. arguments], 0, 0, 0, string.Empty);
        await using (silo.ConfigureAwait(false))
        {
            var code = await silo._exited.Task.WaitAsync(StartTimeout).ConfigureAwait(false);
            silo._process.WaitForExit();
            return (code, silo.Output);
        }
    }

    private static SiloProcess Launch(List<string> args, int smtp, int gateway, int http, string dataDirectory)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        // The silo must not inherit settings meant for the test host.
        info.Environment.Remove("DOTNET_ENVIRONMENT");
        info.Environment.Remove("ASPNETCORE_ENVIRONMENT");
        info.Environment.Remove("ASPNETCORE_URLS");
        info.Environment["DOTNET_gcServer"] = "0";
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var silo = new SiloProcess(process, smtp, gateway, http, dataDirectory);
        process.OutputDataReceived += (_, e) => silo.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => silo.OnLine(e.Data);
        process.Exited += (_, _) => silo._exited.TrySetResult(process.ExitCode);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return silo;
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }

        if (line.Contains("SMTP listening on", StringComparison.Ordinal))
        {
            _listening.TrySetResult();
        }

        if (line.Contains("HTTP listening on", StringComparison.Ordinal))
        {
            _httpListening.TrySetResult();
        }
    }

    /// <summary>Waits for SMTP and, when it is on, HTTP: the silo says HTTP last, once everything has started.</summary>
    private async Task WaitListeningAsync()
    {
        var listening = HttpPort == 0 ? _listening.Task : Task.WhenAll(_listening.Task, _httpListening.Task);
        Task first;
        try
        {
            first = await Task.WhenAny(listening, _exited.Task).WaitAsync(StartTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"The silo did not report SMTP{(HttpPort == 0 ? string.Empty : " and HTTP")} listening within {StartTimeout}:\n{Output}");
        }

        if (first == _exited.Task)
        {
            throw new InvalidOperationException($"The silo exited with code {_exited.Task.Result} before listening:\n{Output}");
        }
    }

    /// <summary>Connects the client SDK to this silo's gateway.</summary>
    public Task<ElemtaClient> ConnectClientAsync() =>
        ElemtaClient.ConnectAsync(new ElemtaClientOptions { GatewayPort = GatewayPort });

    /// <summary>Stops the process with SIGKILL: no shutdown code runs, as in a crash or power loss.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _exited.Task.WaitAsync(StartTimeout).ConfigureAwait(false);
        _process.WaitForExit();
    }

    /// <summary>
    /// Sends <paramref name="signal"/> (e.g. <c>STOP</c>, <c>CONT</c>) to the process: SIGSTOP freezes the silo as a long
    /// GC pause or an overloaded machine would, with its sockets still open.
    /// </summary>
    public async Task SignalAsync(string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync().ConfigureAwait(false);
        Assert.Equal(0, kill.ExitCode);
    }

    /// <summary>Asks the process to stop with SIGTERM, as systemd does, and returns its exit code.</summary>
    public async Task<int> TerminateAsync(TimeSpan timeout)
    {
        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync().ConfigureAwait(false);
        }

        var code = await _exited.Task.WaitAsync(timeout).ConfigureAwait(false);
        _process.WaitForExit();
        return code;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await KillAsync().ConfigureAwait(false);
        }
        catch (InvalidOperationException)
        {
            // Never started.
        }

        _process.Dispose();
    }
}

/// <summary>A temporary data directory, removed afterwards.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "elemta-test-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a file still held open by a dying process.
        }
    }
}

/// <summary>Polls a condition until it holds or the time is up: for state that raises no event.</summary>
public static class Eventually
{
    public static async Task<T> GetAsync<T>(Func<Task<T>> probe, Func<T, bool> done, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        T value = await probe().ConfigureAwait(false);
        while (!done(value))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out after {timeout} waiting for {what}; last value: {value}");
            }

            await Task.Delay(100).ConfigureAwait(false);
            value = await probe().ConfigureAwait(false);
        }

        return value;
    }
}
