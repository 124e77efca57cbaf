using System.Diagnostics;
using System.Text.Json;
using Elemta.Silo.Tests;
using Elemta.Testing;

namespace Elemta.Cli.Tests;

/// <summary>
/// One silo for the CLI and SDK tests: mail to example.net goes to a sink that answers 451 (so it stays queued for the
/// queue commands), mail to example.com to a sink that accepts it.
/// </summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private readonly TempDirectory _data = new();

    public SmtpSink Deferring { get; } = SmtpSink.Start();

    public SmtpSink Accepting { get; } = SmtpSink.Start();

    public SiloProcess Silo { get; private set; } = null!;

    public string AdminPassword => File.ReadAllText(Path.Combine(_data.Path, "initial-admin-password")).Trim();

    public async Task InitializeAsync()
    {
        Deferring.OnRecipient = _ => new SmtpSinkReply(451, "4.3.0 try again later");
        Silo = await SiloProcess.StartAsync(_data.Path, new Dictionary<string, string>
        {
            ["Elemta:Delivery:Routes:example.net"] = $"127.0.0.1:{Deferring.Port}",
            ["Elemta:Delivery:Routes:example.com"] = $"127.0.0.1:{Accepting.Port}",
            ["Elemta:Auth:PasswordIterations"] = "10000",
        });
    }

    public async Task DisposeAsync()
    {
        await Silo.DisposeAsync();
        await Deferring.DisposeAsync();
        await Accepting.DisposeAsync();
        _data.Dispose();
    }

    /// <summary>Runs <c>elemta …</c> (dotnet elemta.dll) against the silo's gateway, with <paramref name="stdin"/> as its input.</summary>
    public Task<CliResult> CliAsync(string? stdin, params string[] arguments) =>
        RunAsync("dotnet", [SiloProcess.SiloAssembly, .. arguments, $"--Elemta:Cluster:GatewayPort={Silo.GatewayPort}", "--Elemta:Auth:PasswordIterations=10000"], stdin, null);

    /// <summary>Runs a program with the test's environment minus the host's settings, plus <paramref name="environment"/>.</summary>
    public static async Task<CliResult> RunAsync(string program, IEnumerable<string> arguments, string? stdin, IDictionary<string, string>? environment)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in arguments)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment.Remove("DOTNET_ENVIRONMENT");
        info.Environment.Remove("ELEMTA_URL");
        info.Environment.Remove("ELEMTA_API_KEY");
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        using var process = Process.Start(info)!;
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
        }

        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(Timeout);
        return new CliResult(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Polls <paramref name="read"/> until <paramref name="done"/> holds (no sleeps as synchronisation: a bounded poll).</summary>
    public static async Task<T> EventuallyAsync<T>(Func<Task<T>> read, Func<T, bool> done, string what)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (true)
        {
            var value = await read();
            if (done(value))
            {
                return value;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{what} did not happen within {Timeout}; last value: {value}");
            }

            await Task.Delay(200);
        }
    }
}

/// <summary>What a CLI run printed and returned.</summary>
public sealed record CliResult(int ExitCode, string Output, string Error)
{
    public JsonElement Json()
    {
        Assert.True(ExitCode == 0, $"exit {ExitCode}: {Error}");
        return JsonDocument.Parse(Output).RootElement;
    }
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "cluster";
}
