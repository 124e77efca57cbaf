using System.Net.Sockets;
using Elemta.Admin.Hosting;
using Elemta.Api.Hosting;
using Elemta.Auth;
using Elemta.Client;
using Elemta.ClusterTls;
using Elemta.Silo.Observability;
using Elemta.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Dashboard;
using Orleans.Runtime.Messaging;
using HttpOptions = Elemta.Api.Hosting.HttpOptions;

namespace Elemta.Silo;

/// <summary>
/// <c>elemta web</c>: the admin plane (REST API, admin app, Orleans Dashboard, health, metrics) as its own process, an
/// Orleans client of the cluster, for deployments that keep their silos private. It serves the same endpoints with
/// the same services as a silo (<see cref="AdminPlane"/>); what a silo has locally and this process has not (the
/// database, the SMTP listener, the silo's own statistics) is read through grains or left out.
/// </summary>
internal static partial class ClientWebHost
{
    /// <summary>How long the start waits for a gateway before giving up (the SDK's default).</summary>
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(20);

    /// <summary>Builds and runs the process until SIGTERM/SIGINT; the exit code follows docs/cli.md.</summary>
    /// <param name="urls">Where to listen (<c>http://host:port</c>), from <c>--listen</c>; empty for <c>Elemta:Http:Urls</c>.</param>
    /// <param name="configurationArgs">The <c>--Elemta:…</c> arguments.</param>
    /// <param name="error">Where the one-line errors go.</param>
    public static async Task<int> RunAsync(IReadOnlyList<string> urls, IReadOnlyList<string> configurationArgs, TextWriter error)
    {
        WebApplication app;
        ElemtaClientOptions gateway;
        try
        {
            (app, gateway) = Build(urls, configurationArgs);
        }
        catch (Exception ex) when (ex is InvalidOperationException or OptionsValidationException or FormatException)
        {
            await error.WriteLineAsync($"elemta: configuration error: {Cli.ElemtaCli.OneLine(ex.Message)}").ConfigureAwait(false);
            return Cli.ExitCodes.Usage;
        }

        await using (app.ConfigureAwait(false))
        {
            var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Elemta.Web");
            try
            {
                // The Orleans client connects first (its hosted service is registered before the web server's), so a
                // cluster that does not answer — no gateway, or a membership database that cannot be read — stops the
                // start here, before any request could arrive.
                using (var timeout = new CancellationTokenSource(ConnectTimeout))
                {
                    await app.StartAsync(timeout.Token).ConfigureAwait(false);
                }
            }
            catch (OptionsValidationException ex)
            {
                await error.WriteLineAsync($"elemta: configuration error: {string.Join(" ", ex.Failures)}").ConfigureAwait(false);
                return Cli.ExitCodes.Usage;
            }
            catch (Exception ex) when (ex is OrleansException or ConnectionFailedException or SocketException or System.Data.Common.DbException or OperationCanceledException or TimeoutException)
            {
                var reason = ex is OperationCanceledException ? $"no gateway answered within {ConnectTimeout.TotalSeconds:0} s" : Cli.ElemtaCli.OneLine(ex.Message);
                LogUnreachable(logger, ex);
                await error.WriteLineAsync($"elemta: web: cannot reach the cluster ({Describe(gateway)}): {reason} (is a silo running with this configuration?)").ConfigureAwait(false);
                return Cli.ExitCodes.Unreachable;
            }
            catch (IOException ex)
            {
                // Kestrel: the address is in use or cannot be bound.
                await error.WriteLineAsync($"elemta: web: cannot listen: {Cli.ElemtaCli.OneLine(ex.Message)}").ConfigureAwait(false);
                return Cli.ExitCodes.Failed;
            }

            await app.WaitForShutdownAsync().ConfigureAwait(false);
            return Cli.ExitCodes.Ok;
        }
    }

    /// <summary>The web application: configuration as the silo reads it, the Orleans client, the admin plane.</summary>
    public static (WebApplication App, ElemtaClientOptions Gateway) Build(IReadOnlyList<string> urls, IReadOnlyList<string> configurationArgs)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            ContentRootPath = AppContext.BaseDirectory,
            Args = [],
        });

        // The silo's layers (appsettings.json, environment, command line), so one configuration serves both processes.
        var configuration = builder.Configuration;
        configuration.Sources.Clear();
        configuration.AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true, reloadOnChange: false);
        configuration.AddEnvironmentVariables();
        configuration.AddCommandLine([.. configurationArgs]);

        // Serving HTTP is this process's whole purpose: a configuration that turns the silos' HTTP off (they are
        // private) does not turn it off here. --listen wins over Elemta:Http:Urls.
        var flags = new Dictionary<string, string?> { [HttpOptions.SectionName + ":Enabled"] = "true" };
        if (urls.Count > 0)
        {
            flags[HttpOptions.SectionName + ":Urls"] = string.Join(';', urls);
        }

        configuration.AddInMemoryCollection(flags);
        if (ConfigurationCheck.FindProblem(configuration) is { } configurationProblem)
        {
            throw new InvalidOperationException(configurationProblem);
        }

        var http = configuration.GetSection(HttpOptions.SectionName).Get<HttpOptions>() ?? new HttpOptions();
        if (new HttpOptionsValidator().Validate(null, http) is { Failed: true } httpProblem)
        {
            throw new InvalidOperationException(httpProblem.FailureMessage);
        }

        var admin = configuration.GetSection(AdminOptions.SectionName).Get<AdminOptions>() ?? new AdminOptions();
        var gateway = GatewayOptions(configuration);
        builder.WebHost.UseUrls([.. http.UrlList()]);
        builder.WebHost.UseStaticWebAssets();
        builder.Logging.AddElemtaConsoleLogging(configuration);

        // The Orleans client, found and secured exactly as the CLI's: localhost or the PostgreSQL membership table,
        // the node's certificate from Elemta:Cluster:Tls.
        builder.Services.AddElemtaClient(o => Copy(gateway, o));
        var traced = configuration.GetSection(TracingOptions.SectionName).Get<TracingOptions>()?.OtlpEndpoint is not null;
        builder.Services.AddOrleansClient(client =>
        {
            if (admin.Enabled && admin.Dashboard)
            {
                // The dashboard's pages and data calls, served from this process; its statistics come from the silos
                // (which add the dashboard themselves, Elemta:Admin:Dashboard).
                client.AddDashboard();
            }

            if (traced)
            {
                client.AddActivityPropagation();
            }
        });

        AdminPlane.AddServices(builder.Services, configuration, admin);
        builder.Services.AddElemtaWebObservability(configuration);

        var app = builder.Build();
        AdminPlane.Map(app, admin, http);

        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Elemta.Http");
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
            LogWebListening(logger, string.Join(", ", addresses), AdminPlane.Describe(admin, http), Describe(gateway));
        });
        return (app, gateway);
    }

    /// <summary>
    /// The client options of this machine's configuration, as the CLI's gateway connection reads them: cluster and
    /// service ids, the gateway port, PostgreSQL clustering when the storage is PostgreSQL, the node's certificate.
    /// </summary>
    internal static ElemtaClientOptions GatewayOptions(IConfiguration configuration)
    {
        var cluster = configuration.GetSection(ClusterOptions.SectionName).Get<ClusterOptions>() ?? new ClusterOptions();
        var storage = configuration.GetSection(StorageOptions.SectionName).Get<StorageOptions>() ?? new StorageOptions();
        var credentials = configuration.GetSection(CredentialOptions.SectionName).Get<CredentialOptions>() ?? new CredentialOptions();
        if (credentials.Validate() is { } invalid)
        {
            throw new InvalidOperationException(invalid);
        }

        var options = new ElemtaClientOptions { ServiceId = cluster.ServiceId, ClusterId = cluster.ClusterId, GatewayPort = cluster.GatewayPort };
        if (cluster.Tls.Enabled)
        {
            // Read once here so that a missing or unreadable file is reported under the key the operator set.
            ClusterCertificates.Load(cluster.Tls, ClusterTlsOptions.SectionName + ":").Dispose();

            options.TlsCertificatePath = cluster.Tls.CertificatePath;
            options.TlsKeyPath = cluster.Tls.KeyPath;
            options.TlsPassword = cluster.Tls.Password;
            options.TlsCaPath = cluster.Tls.CaPath;
        }

        if (string.Equals(storage.Provider, "PostgreSQL", StringComparison.OrdinalIgnoreCase))
        {
            options.Clustering = ElemtaClustering.PostgreSql;
            options.ConnectionString = storage.ConnectionString;
        }

        var result = new ElemtaClientOptionsValidator().Validate(null, options);
        if (result.Failed)
        {
            throw new InvalidOperationException(string.Join(" ", result.Failures));
        }

        return options;
    }

    private static void Copy(ElemtaClientOptions from, ElemtaClientOptions to)
    {
        to.Clustering = from.Clustering;
        to.GatewayPort = from.GatewayPort;
        to.ConnectionString = from.ConnectionString;
        to.ServiceId = from.ServiceId;
        to.ClusterId = from.ClusterId;
        to.ConnectTimeout = from.ConnectTimeout;
        to.TlsCertificatePath = from.TlsCertificatePath;
        to.TlsKeyPath = from.TlsKeyPath;
        to.TlsPassword = from.TlsPassword;
        to.TlsCaPath = from.TlsCaPath;
    }

    /// <summary>Which cluster and how, for log lines and errors (never the connection string: it may hold a password).</summary>
    private static string Describe(ElemtaClientOptions options) =>
        $"cluster '{options.ClusterId}' "
        + (options.Clustering == ElemtaClustering.PostgreSql ? "through the PostgreSQL membership table" : $"through the gateway at 127.0.0.1:{options.GatewayPort}")
        + (string.IsNullOrWhiteSpace(options.TlsCertificatePath) ? string.Empty : ", mutual TLS");

    // Said once the client is connected and HTTP listens: scripts and tests wait for "HTTP listening on".
    [LoggerMessage(EventId = 2710, Level = LogLevel.Information, Message = "HTTP listening on {Addresses}{Reference}, an Orleans client of {Cluster}")]
    private static partial void LogWebListening(ILogger logger, string addresses, string reference, string cluster);

    [LoggerMessage(EventId = 2711, Level = LogLevel.Error, Message = "Cannot reach the cluster")]
    private static partial void LogUnreachable(ILogger logger, Exception exception);
}
