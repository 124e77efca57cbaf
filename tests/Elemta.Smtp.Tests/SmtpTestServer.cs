using System.Collections.Concurrent;
using System.Net;
using Elemta.Auth;
using Elemta.Smtp.Server;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Elemta.Smtp.Tests;

/// <summary>
/// The real SMTP front-end hosted in-process, as the product hosts it (<c>AddElemtaSmtpServer</c> on a generic host),
/// listening on an ephemeral port of 127.0.0.1 only, with the test acceptor and connection policy registered
/// before it so its TryAdd keeps them. One per test: tests in different classes run in parallel, each on its own port.
/// </summary>
internal sealed class SmtpTestServer : IAsyncDisposable
{
    public const string HostName = "mx.test";

    private readonly IHost _host;
    private readonly RecordingLoggerProvider _logs;
    private bool _stopped;

    private SmtpTestServer(IHost host, RecordingLoggerProvider logs, RecordingAcceptor acceptor, TestConnectionPolicy policy, TestUserStore users, TestAuthFailureLimiter authFailures, IPEndPoint endPoint)
    {
        _host = host;
        _logs = logs;
        Acceptor = acceptor;
        Policy = policy;
        Users = users;
        AuthFailures = authFailures;
        EndPoint = endPoint;
    }

    /// <summary>The accounts AUTH checks against (empty unless the test adds some).</summary>
    public TestUserStore Users { get; }

    /// <summary>The failed-AUTH counts.</summary>
    public TestAuthFailureLimiter AuthFailures { get; }

    /// <summary>The submission endpoint, when <c>SubmissionPort</c> was configured.</summary>
    public IPEndPoint SubmissionEndPoint => Assert.Single(_host.Services.GetRequiredService<SmtpListener>().SubmissionEndPoints);

    public RecordingAcceptor Acceptor { get; }

    /// <summary>The host's services, for tests that reach a component (such as the plugin host) directly.</summary>
    public IServiceProvider Services => _host.Services;

    public TestConnectionPolicy Policy { get; }

    /// <summary>Where the listener is bound: 127.0.0.1 and the port the OS chose.</summary>
    public IPEndPoint EndPoint { get; }

    public int Port => EndPoint.Port;

    /// <summary>The implicit-TLS endpoint, when <c>ImplicitTlsPort</c> was configured.</summary>
    public IPEndPoint ImplicitTlsEndPoint => Assert.Single(_host.Services.GetRequiredService<SmtpListener>().ImplicitTlsEndPoints);

    /// <summary>Everything the server logged, for diagnosis and for tests that expect a log entry.</summary>
    public IReadOnlyList<(LogLevel Level, string Category, string Message, Exception? Exception)> Logs => _logs.Entries;

    /// <summary>Sessions that ended with an exception the session itself did not handle (the listener's last resort).</summary>
    public IReadOnlyList<string> SessionFailures =>
        [.. _logs.Entries.Where(e => e.Message.StartsWith("SMTP session with", StringComparison.Ordinal)).Select(e => $"{e.Message}: {e.Exception}")];

    /// <summary>
    /// Starts a server. <paramref name="settings"/> are added to (and override) the base configuration under
    /// <c>Elemta:Smtp</c>, e.g. <c>["MaxRecipients"] = "3"</c>; a key that starts with <c>Elemta:</c> is taken as it is.
    /// </summary>
    public static async Task<SmtpTestServer> StartAsync(
        IReadOnlyDictionary<string, string?>? settings = null,
        RecordingAcceptor? acceptor = null,
        TestConnectionPolicy? policy = null,
        TestUserStore? users = null,
        TestAuthFailureLimiter? authFailures = null,
        Func<IServiceProvider, IMessageAcceptor>? acceptorFactory = null,
        Action<IServiceCollection>? services = null)
    {
        var configuration = new Dictionary<string, string?>
        {
            // The decoy hash for unknown names costs what the test accounts' hashes cost.
            ["Elemta:Auth:PasswordIterations"] = TestUserStore.Iterations.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Elemta:Smtp:Port"] = "0",
            ["Elemta:Smtp:ListenAddresses:0"] = "127.0.0.1",
            ["Elemta:Smtp:HostName"] = HostName,
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            // Relative to Elemta:Smtp, unless the key names another section of Elemta.
            configuration[key.StartsWith("Elemta:", StringComparison.Ordinal) ? key : "Elemta:Smtp:" + key] = value;
        }

        // The test clients are on loopback, a trusted network, which the connection-limits plugin is not called for
        // unless told otherwise: a test that passes a limiter wants it asked.
        if (policy is not null && !configuration.ContainsKey("Elemta:Smtp:TrustedNetworksBypassConnectionLimits"))
        {
            configuration["Elemta:Smtp:TrustedNetworksBypassConnectionLimits"] = "false";
        }

        acceptor ??= new RecordingAcceptor();
        policy ??= new TestConnectionPolicy(allow: true);
        users ??= new TestUserStore();
        authFailures ??= new TestAuthFailureLimiter();

        // DisableDefaults: no appsettings.json, environment variables or console logging from the test runner's
        // environment, so every test sees exactly the configuration written here.
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(configuration);
        builder.Logging.ClearProviders();
        var logs = new RecordingLoggerProvider();
        builder.Logging.AddProvider(logs);
        builder.Logging.SetMinimumLevel(LogLevel.Debug);
        // Prove the registration is complete without Orleans: every service must be constructible at build time.
        builder.ConfigureContainer(new DefaultServiceProviderFactory(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true }));

        // Registered first: AddElemtaSmtpServer uses TryAdd for these two seams, so the grain-backed defaults stay out.
        if (acceptorFactory is null)
        {
            builder.Services.AddSingleton<IMessageAcceptor>(acceptor);
        }
        else
        {
            // A product acceptor in front of the recording one, e.g. GrainMessageAcceptor with a test store.
            builder.Services.AddSingleton(acceptorFactory);
        }

        builder.Services.AddSingleton<Admission.IConnectionLimiter>(policy);
        builder.Services.AddSingleton<IUserStore>(users);
        builder.Services.AddSingleton<IAuthFailureLimiter>(authFailures);
        builder.Services.AddElemtaSmtpServer(builder.Configuration);
        services?.Invoke(builder.Services);

        var host = builder.Build();
        try
        {
            await host.StartAsync(TestTimeouts.Token());
            var listener = host.Services.GetRequiredService<SmtpListener>();
            var endPoint = Assert.Single(listener.EndPoints);
            Assert.Equal(IPAddress.Loopback, endPoint.Address);
            Assert.NotEqual(0, endPoint.Port);
            return new SmtpTestServer(host, logs, acceptor, policy, users, authFailures, endPoint);
        }
        catch
        {
            host.Dispose();
            throw;
        }
    }

    /// <summary>Opens a raw client connection to the submission port.</summary>
    public Task<RawSmtpClient> ConnectSubmissionAsync() => RawSmtpClient.ConnectAsync(SubmissionEndPoint);

    /// <summary>Opens a raw client connection to this server.</summary>
    public Task<RawSmtpClient> ConnectAsync() => RawSmtpClient.ConnectAsync(EndPoint);

    /// <summary>Opens a connection, reads the 220 greeting and says EHLO.</summary>
    public async Task<RawSmtpClient> ConnectAndEhloAsync(string heloName = "client.test")
    {
        var client = await ConnectAsync();
        try
        {
            (await client.ReadReplyAsync()).AssertIs(220);
            (await client.CommandAsync($"EHLO {heloName}")).AssertIs(250);
            return client;
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
    }

    /// <summary>Stops the host the way the product stops (open sessions are told 421 and closed).</summary>
    public async Task StopAsync()
    {
        if (!_stopped)
        {
            _stopped = true;
            await _host.StopAsync(TestTimeouts.Token());
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync();
        }
        finally
        {
            if (_host is IAsyncDisposable asyncDisposable)
            {
                await asyncDisposable.DisposeAsync();
            }
            else
            {
                _host.Dispose();
            }
        }
    }

    private sealed class RecordingLoggerProvider : ILoggerProvider
    {
        private readonly ConcurrentQueue<(LogLevel, string, string, Exception?)> _entries = new();

        public IReadOnlyList<(LogLevel Level, string Category, string Message, Exception? Exception)> Entries => [.. _entries];

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public void Dispose()
        {
        }

        private sealed class Logger(RecordingLoggerProvider owner, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                owner._entries.Enqueue((logLevel, category, formatter(state, exception), exception));
        }
    }
}
