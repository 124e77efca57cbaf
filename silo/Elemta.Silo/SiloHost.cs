using Elemta.Admin.Hosting;
using Elemta.Api.Hosting;
using Elemta.Auth;
using Elemta.ClusterTls;
using Elemta.Delivery;
using Elemta.Grains;
using Elemta.MailAuth.Dkim;
using Elemta.Policies;
using Elemta.Silo.Observability;
using Elemta.Smtp;
using System.Net;
using Elemta.Storage;
using Elemta.Storage.Relational;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Dashboard;
using HttpOptions = Elemta.Api.Hosting.HttpOptions;

namespace Elemta.Silo;

/// <summary>Builds and runs the silo host from a parsed command line.</summary>
internal static partial class SiloHost
{
    public static async Task<int> RunAsync(CommandLine commandLine)
    {
        IHost host;
        StoreDatabase database;
        try
        {
            host = Build(commandLine, out database);
        }
        catch (Exception ex) when (ex is InvalidOperationException or OptionsValidationException or FormatException)
        {
            await Console.Error.WriteLineAsync($"elemta: configuration error: {ex.Message}");
            return 2;
        }
        catch (PortsBusyException ex)
        {
            await Console.Error.WriteLineAsync($"elemta: {ex.Message}");
            return 1;
        }

        var logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Elemta");
        try
        {
            // Orleans reads its SQL from the database while starting, so the schema comes first.
            if (commandLine.MigrateOnly || database.MigrateAtStart)
            {
                var applied = await database.MigrateAsync(CancellationToken.None);
                foreach (var migration in applied)
                {
                    logger.LogInformation("Applied schema migration {Name}", migration.Name);
                }

                if (commandLine.MigrateOnly)
                {
                    Console.WriteLine(applied.Count == 0
                        ? $"elemta: {database.Dialect.Name} schema is current (version {database.LatestVersion})"
                        : $"elemta: applied {applied.Count} migration(s) to {database.Dialect.Name}: {string.Join(", ", applied.Select(m => m.Name))}");
                    return 0;
                }
            }

            await host.RunAsync();
            return 0;
        }
        catch (OptionsValidationException ex)
        {
            await Console.Error.WriteLineAsync($"elemta: configuration error: {string.Join(" ", ex.Failures)}");
            return 2;
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException or Microsoft.Data.Sqlite.SqliteException or Npgsql.NpgsqlException or UnauthorizedAccessException)
        {
            logger.LogCritical(ex, "Elemta could not start");
            await Console.Error.WriteLineAsync($"elemta: {ex.Message}");
            return 1;
        }
        finally
        {
            host.Dispose();
            await database.DisposeAsync();
        }
    }

    /// <summary>Whether the SMTP port was given on purpose (<c>--port</c>, a command-line key or the environment), which --dev must not override.</summary>
    private static bool HasExplicitPort(CommandLine commandLine) =>
        commandLine.Port is not null
        || new ConfigurationBuilder().AddEnvironmentVariables().AddCommandLine([.. commandLine.ConfigurationArgs]).Build()["Elemta:Smtp:Port"] is not null;

    /// <summary>
    /// Builds the host: configuration layers, storage, Orleans, grains, delivery, the SMTP front-end and the admin
    /// plane's HTTP server (the REST API).
    /// </summary>
    public static IHost Build(CommandLine commandLine, out StoreDatabase database)
    {
        // A web application builder is a host builder with Kestrel: the silo serves the admin plane over HTTP itself.
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            ContentRootPath = AppContext.BaseDirectory,
            Args = [],
        });

        // Layers, later wins: appsettings.json, --dev defaults, environment (Elemta__...), command line.
        var configuration = builder.Configuration;
        configuration.Sources.Clear();
        configuration.AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true, reloadOnChange: false);
        if (commandLine.Dev)
        {
            configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Elemta:Smtp:Port"] = "2525",
                ["Logging:LogLevel:Default"] = "Debug",
                ["Logging:LogLevel:Orleans"] = "Information",
                ["Logging:LogLevel:Polly"] = "Warning",
                ["Elemta:Http:ApiReference"] = "true",
            });
        }

        configuration.AddEnvironmentVariables();
        configuration.AddCommandLine([.. commandLine.ConfigurationArgs]);
        var flags = new Dictionary<string, string?>();
        if (commandLine.Port is { } port)
        {
            flags["Elemta:Smtp:Port"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        if (commandLine.DataDirectory is { } data)
        {
            flags["Elemta:DataDirectory"] = data;
        }

        if (commandLine.NoAuthRequired)
        {
            flags["Elemta:Smtp:AuthRequired"] = "false";
            flags["Elemta:Smtp:AllowPlaintextAuth"] = "true";
        }

        if (commandLine.Dev && configuration["Elemta:Smtp:AllowPlaintextAuth"] is null)
        {
            // Development: PLAIN and LOGIN without STARTTLS, for clients that cannot do TLS with a self-signed certificate.
            flags["Elemta:Smtp:AllowPlaintextAuth"] = "true";
        }

        if (commandLine.Dev && !HasExplicitPort(commandLine))
        {
            // --dev with no port given: 2525, or the next free one so a second instance still starts. Said on stdout
            // as well as in the "SMTP listening on" log line, because the port is the first thing a developer needs.
            var listen = configuration.GetSection("Elemta:Smtp:ListenAddresses").Get<List<string>>() ?? [];
            var devPort = DevPort.Choose(listen);
            flags["Elemta:Smtp:Port"] = devPort.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var busy = (devPort - DevPort.First) switch
            {
                0 => string.Empty,
                1 => $" (port {DevPort.First} is in use)",
                _ => $" (ports {DevPort.First}-{devPort - 1} are in use)",
            };
            Console.WriteLine($"elemta: --dev: SMTP on port {devPort}{busy}");
        }

        configuration.AddInMemoryCollection(flags);

        // Before anything is bound: a misspelt key or a value that does not convert would otherwise pass silently.
        if (ConfigurationCheck.FindProblem(configuration) is { } configurationProblem)
        {
            throw new InvalidOperationException(configurationProblem);
        }

        var elemta = configuration.GetSection(ElemtaOptions.SectionName).Get<ElemtaOptions>() ?? new ElemtaOptions();
        var cluster = configuration.GetSection(ClusterOptions.SectionName).Get<ClusterOptions>() ?? new ClusterOptions();
        if (string.IsNullOrWhiteSpace(elemta.DataDirectory))
        {
            throw new InvalidOperationException("Elemta:DataDirectory must not be empty.");
        }

        // The provider is chosen, validated and registered in one place; the host only asks whether it is a cluster.
        var store = builder.Services.AddElemtaStorage(configuration);
        var postgres = store.Dialect == SqlDialect.Postgres;

        IPAddress? advertised = null;
        if (!string.IsNullOrWhiteSpace(cluster.AdvertisedAddress) && !IPAddress.TryParse(cluster.AdvertisedAddress, out advertised))
        {
            throw new InvalidOperationException($"Elemta:Cluster:AdvertisedAddress '{cluster.AdvertisedAddress}' is not an IP address.");
        }

        if (cluster.Kubernetes && !postgres)
        {
            throw new InvalidOperationException("Elemta:Cluster:Kubernetes needs Elemta:Storage:Provider=PostgreSQL (a cluster shares one database).");
        }

        if (cluster.SiloPort is < 1 or > 65535 || cluster.GatewayPort is < 1 or > 65535 || cluster.SiloPort == cluster.GatewayPort)
        {
            throw new InvalidOperationException("Elemta:Cluster:SiloPort and Elemta:Cluster:GatewayPort must be two different ports (1-65535).");
        }

        if (postgres && cluster.Membership.Validate() is { } membershipProblem)
        {
            throw new InvalidOperationException(membershipProblem);
        }

        // The files are read now, so a missing or unreadable one stops the start with a line naming its key.
        var clusterTls = LoadClusterTls(cluster.Tls, postgres);

        // DKIM key files too: checked before the host is built (and the database migrated), so a bad key is the only line.
        var dkim = configuration.GetSection(DkimOptions.SectionName).Get<DkimOptions>() ?? new DkimOptions();
        if (new DkimOptionsValidator().Validate(null, dkim) is { Failed: true } dkimProblem)
        {
            throw new InvalidOperationException(dkimProblem.FailureMessage);
        }

        // Checked here rather than at start: the addresses are handed to Kestrel before the host is built.
        var http = configuration.GetSection(HttpOptions.SectionName).Get<HttpOptions>() ?? new HttpOptions();
        if (new HttpOptionsValidator().Validate(null, http) is { Failed: true } httpProblem)
        {
            throw new InvalidOperationException(httpProblem.FailureMessage);
        }

        var admin = configuration.GetSection(AdminOptions.SectionName).Get<AdminOptions>() ?? new AdminOptions();
        if (http.Enabled)
        {
            builder.WebHost.UseUrls([.. http.UrlList()]);

            // The admin app's scripts and styles come from its own and its component library's packages: when the silo
            // runs from its build output they are found through the build's manifest (a published silo has them in
            // wwwroot, and this does nothing).
            builder.WebHost.UseStaticWebAssets();
        }
        else
        {
            builder.WebHost.UseServer(new DisabledHttpServer());
        }

        // STARTTLS with a self-signed certificate kept in the data folder unless one is configured, in --dev and in
        // production alike, as other MTAs do: opportunistic TLS with an unverifiable certificate still keeps mail to
        // a fresh install out of clear text (RFC 7435). Elemta:Smtp:Tls:Disabled=true offers none.
        if (!string.Equals(configuration["Elemta:Smtp:Tls:Disabled"], "true", StringComparison.OrdinalIgnoreCase)
            && string.IsNullOrWhiteSpace(configuration["Elemta:Smtp:Tls:CertificatePath"]) && string.IsNullOrWhiteSpace(configuration["Elemta:Smtp:Tls:SelfSignedDirectory"]))
        {
            configuration["Elemta:Smtp:Tls:SelfSignedDirectory"] = Path.Combine(Path.GetFullPath(elemta.DataDirectory), "tls");
        }

        builder.Logging.AddElemtaConsoleLogging(configuration);

        builder.Services.AddElemtaDelivery(configuration);
        builder.Services.AddElemtaGrains(configuration);
        builder.Services.AddElemtaCredentials(configuration);
        builder.Services.AddOptions<ElemtaOptions>().Bind(configuration.GetSection(ElemtaOptions.SectionName));

        builder.UseOrleans(silo =>
        {
            if (clusterTls is not null)
            {
                // Every silo-to-silo and gateway connection, in both directions, on a single node as in a cluster.
                silo.UseClusterTls(clusterTls);
            }

            // Grain calls carry the caller's trace (SMTP session -> acceptance -> message -> domain queue). Only when traces
            // are exported: the propagation filters run on every grain call, and without an exporter they would only cost.
            if (configuration.GetSection(Observability.TracingOptions.SectionName).Get<Observability.TracingOptions>()?.OtlpEndpoint is not null)
            {
                silo.AddActivityPropagation();
            }
            if (postgres)
            {
                // A cluster: membership, grain state and reminders in the shared database; any number of silos.
                var orleansConnection = store.OrleansConnectionString;
                silo.Configure<Orleans.Configuration.ClusterOptions>(o =>
                {
                    o.ClusterId = cluster.ClusterId;
                    o.ServiceId = cluster.ServiceId;
                });
                if (advertised is null)
                {
                    silo.ConfigureEndpoints(cluster.SiloPort, cluster.GatewayPort, listenOnAnyHostAddress: true);
                }
                else
                {
                    silo.ConfigureEndpoints(advertised, cluster.SiloPort, cluster.GatewayPort, listenOnAnyHostAddress: true);
                }

                if (cluster.Kubernetes)
                {
                    // After ConfigureEndpoints: the pod's IP, name and the cluster ids from the pod's environment win.
                    silo.UseKubernetesHosting();
                }

                // Failure detection: see MembershipOptions and docs/cluster.md for the trade-off.
                var membership = cluster.Membership;
                silo.Configure<ClusterMembershipOptions>(o =>
                {
                    o.ProbeTimeout = membership.ProbeTimeout;
                    o.MaxProbeTimeout = membership.MaxProbeTimeout;
                    o.NumMissedProbesLimit = membership.NumMissedProbesLimit;
                    o.NumVotesForDeathDeclaration = membership.NumVotesForDeathDeclaration;
                    o.DeathVoteExpirationTimeout = membership.DeathVoteExpirationTimeout;
                    o.IAmAliveTablePublishTimeout = membership.IAmAliveTablePublishTimeout;
                    o.TableRefreshTimeout = membership.TableRefreshTimeout;
                });
                silo.UseAdoNetClustering(o =>
                {
                    o.Invariant = store.OrleansInvariant;
                    o.ConnectionString = orleansConnection;
                });
                silo.AddAdoNetGrainStorage(GrainStorage.ProviderName, o =>
                {
                    o.Invariant = store.OrleansInvariant;
                    o.ConnectionString = orleansConnection;
                });
                silo.UseAdoNetReminderService(o =>
                {
                    o.Invariant = store.OrleansInvariant;
                    o.ConnectionString = orleansConnection;
                });
            }
            else
            {
                // One silo on the embedded database needs no membership table: localhost clustering.
                silo.UseLocalhostClustering(cluster.SiloPort, cluster.GatewayPort, serviceId: cluster.ServiceId, clusterId: cluster.ClusterId);
                silo.AddAdoNetGrainStorage(GrainStorage.ProviderName, options =>
                {
                    options.Invariant = store.OrleansInvariant;
                    options.ConnectionString = store.OrleansConnectionString;
                });
            }

            if (admin.Enabled && admin.Dashboard)
            {
                // Statistics for the Orleans Dashboard, served at /dashboard behind the admin app's login.
                silo.AddDashboard();
            }

        // Registered after the silo so that it starts listening only once grains can be called.
        builder.Services.AddElemtaSmtpServer(configuration);
        // Elemta's own mail policies, as built-in plugins on the SMTP front-end's hooks.
        builder.Services.AddElemtaPolicies(configuration);
        });

        // DKIM keys and settings are checked at start: a missing or unusable key file stops it with one line naming the key.
        builder.Services.AddElemtaDkim(configuration);

        // After the silo too: it calls grains.
        builder.Services.AddHostedService<InitialAdminAccount>();
        AdminPlane.AddServices(builder.Services, configuration, admin);
        builder.Services.AddElemtaObservability(configuration);

        // Kestrel starts after every other hosted service (the web host moves itself last), so a request never
        // arrives before the silo can answer it.
        var app = builder.Build();
        AdminPlane.Map(app, admin, http);

        var httpLogger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Elemta.Http");
        var clusterLogger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Elemta.Cluster");
        var dkimLogger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Elemta.Dkim");
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            foreach (var (domain, entry) in dkim.Signing)
            {
                // The keys were read and checked above; this says which ones an operator will see in the DNS.
                LogDkimKey(dkimLogger, domain, entry.Selector!, entry.KeyFile!);
            }

            if (clusterTls is not null)
            {
                LogClusterTls(clusterLogger, clusterTls.Certificate.Subject, string.Join("; ", clusterTls.Authorities.Select(a => a.Subject)));
            }
            else if (postgres)
            {
                LogClusterOpen(clusterLogger, cluster.SiloPort, cluster.GatewayPort);
            }

            if (!http.Enabled)
            {
                LogHttpOff(httpLogger);
                return;
            }

            var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
            LogHttpListening(httpLogger, string.Join(", ", addresses), AdminPlane.Describe(admin, http));
        });

        database = store;
        return app;
    }

    /// <summary>
    /// The node's cluster certificate and CA when <c>Elemta:Cluster:Tls</c> configures them; null when it does not and
    /// may not (<c>Required</c> makes a cluster silo without TLS a configuration error).
    /// </summary>
    private static ClusterCertificates? LoadClusterTls(ClusterTlsOptions tls, bool cluster)
    {
        const string prefix = ClusterTlsOptions.SectionName + ":";
        if (tls.Enabled)
        {
            return ClusterCertificates.Load(tls, prefix);
        }

        var stray = !string.IsNullOrWhiteSpace(tls.KeyPath) ? "KeyPath" : !string.IsNullOrWhiteSpace(tls.CaPath) ? "CaPath" : !string.IsNullOrEmpty(tls.Password) ? "Password" : null;
        if (stray is not null)
        {
            throw new InvalidOperationException($"{prefix}{stray} is set but {prefix}CertificatePath is not: TLS needs this node's certificate too.");
        }

        if (cluster && tls.Required)
        {
            throw new InvalidOperationException($"{prefix}Required is true but {prefix}CertificatePath is not set: a cluster silo needs its certificate, key and the cluster CA (see docs/cluster.md).");
        }

        return null;
    }

    [LoggerMessage(EventId = 17001, Level = LogLevel.Information, Message = "DKIM signing key for {Domain}: selector {Selector}, {KeyFile} (its public key must be published at <selector>._domainkey.<domain>)")]
    private static partial void LogDkimKey(ILogger logger, string domain, string selector, string keyFile);

    [LoggerMessage(EventId = 2100, Level = LogLevel.Information, Message = "Cluster ports require mutual TLS: this node is {Subject}, peers must chain to {Authorities}")]
    private static partial void LogClusterTls(ILogger logger, string subject, string authorities);

    [LoggerMessage(EventId = 2101, Level = LogLevel.Warning, Message = "Cluster ports {SiloPort} (silo) and {GatewayPort} (gateway) listen on every address without TLS: anyone who reaches them can call any grain. Set Elemta:Cluster:Tls (docs/cluster.md)")]
    private static partial void LogClusterOpen(ILogger logger, int siloPort, int gatewayPort);

    // Said once everything has started, HTTP included: scripts and tests wait for this line before calling the API.
    [LoggerMessage(EventId = 2020, Level = LogLevel.Information, Message = "HTTP listening on {Addresses}{Reference}")]
    private static partial void LogHttpListening(ILogger logger, string addresses, string reference);

    [LoggerMessage(EventId = 2021, Level = LogLevel.Information, Message = "HTTP off (Elemta:Http:Enabled=false); everything else has started")]
    private static partial void LogHttpOff(ILogger logger);
}
