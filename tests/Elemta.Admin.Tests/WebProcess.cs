using System.Diagnostics;
using System.Globalization;
using System.Text;
using Elemta.Silo.Tests;
using Elemta.Testing;

namespace Elemta.Admin.Tests;

/// <summary>
/// <c>elemta web --listen 127.0.0.1:&lt;port&gt;</c> as a real child process: the admin plane as an Orleans client of a
/// cluster started by the test. Started when it says "HTTP listening on" (it says so once connected to the cluster).
/// </summary>
public sealed class WebProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly TaskCompletionSource _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<int> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private WebProcess(Process process, int port)
    {
        _process = process;
        HttpPort = port;
    }

    public int HttpPort { get; }

    public Uri HttpUrl => new($"http://127.0.0.1:{HttpPort.ToString(CultureInfo.InvariantCulture)}");

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

    /// <summary>Starts <c>web --listen</c> on a free loopback port with <paramref name="settings"/> and waits until it listens.</summary>
    public static async Task<WebProcess> StartAsync(IDictionary<string, string> settings)
    {
        var port = FreePort.GetTcpPort();
        var web = Launch(["web", "--listen", $"127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}", .. settings.Select(s => $"--{s.Key}={s.Value}")], port);
        try
        {
            var first = await Task.WhenAny(web._listening.Task, web._exited.Task).WaitAsync(StartTimeout).ConfigureAwait(false);
            if (first == web._exited.Task)
            {
                throw new InvalidOperationException($"elemta web exited with code {web._exited.Task.Result} before listening:\n{web.Output}");
            }
        }
        catch (TimeoutException)
        {
            await web.DisposeAsync().ConfigureAwait(false);
            throw new TimeoutException($"elemta web did not report HTTP listening within {StartTimeout}");
        }

        return web;
    }

    /// <summary>Runs <c>elemta</c> with <paramref name="arguments"/> to its end.</summary>
    public static async Task<(int ExitCode, string Output)> RunToExitAsync(params string[] arguments)
    {
        var web = Launch(arguments, 0);
        await using (web.ConfigureAwait(false))
        {
            var code = await web._exited.Task.WaitAsync(StartTimeout).ConfigureAwait(false);
            web._process.WaitForExit();
            return (code, web.Output);
        }
    }

    private static WebProcess Launch(IEnumerable<string> arguments, int port)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(SiloProcess.SiloAssembly);
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        info.Environment.Remove("DOTNET_ENVIRONMENT");
        info.Environment.Remove("ASPNETCORE_ENVIRONMENT");
        info.Environment.Remove("ASPNETCORE_URLS");
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var web = new WebProcess(process, port);
        process.OutputDataReceived += (_, e) => web.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => web.OnLine(e.Data);
        process.Exited += (_, _) => web._exited.TrySetResult(process.ExitCode);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return web;
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

        if (line.Contains("HTTP listening on", StringComparison.Ordinal))
        {
            _listening.TrySetResult();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _exited.Task.WaitAsync(StartTimeout).ConfigureAwait(false);
        _process.WaitForExit();
        _process.Dispose();
    }
}
