using System.Text.Json;
using Elemta.Api.Authentication;
using Elemta.Delivery.Dns;
using Elemta.Delivery.Observability;
using Elemta.Grains.Observability;
using Elemta.Smtp.Observability;
using Elemta.Storage.Observability;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Elemta.Silo.Observability;

/// <summary>
/// Metrics (<c>/metrics</c>), health (<c>/health/live</c>, <c>/health/ready</c>), the console log format and traces.
/// </summary>
/// <remarks>
/// OpenTelemetry .NET over System.Diagnostics.Metrics rather than prometheus-net: the instruments in the libraries
/// are the runtime's own, so Orleans' and .NET's meters come along by name, and the same instruments can feed an OTLP
/// collector. Its Prometheus exporter for ASP.NET Core is a pre-release (1.20.1-beta.1), pinned to that version.
/// </remarks>
internal static class ObservabilityExtensions
{
    private const string ReadyTag = "ready";

    /// <summary>Meters exported: Elemta's, Orleans', and the runtime's (GC, thread pool, exceptions).</summary>
    private static readonly string[] Meters =
    [
        SmtpMetrics.Name, QueueMetrics.Name, DeliveryMetrics.Name, StorageMetrics.Name, DnsCache.MeterName, Elemta.Plugins.PluginMetrics.Name,
        Elemta.Plugins.PluginMetrics.Name + ".*", // the meters of plugins that contribute metrics (IMetricsHooks)
        "Microsoft.Orleans", "System.Runtime",
    ];

    /// <summary>Configures the console log format from <c>Elemta:Logging</c>.</summary>
    public static void AddElemtaConsoleLogging(this ILoggingBuilder logging, IConfiguration configuration)
    {
        var options = configuration.GetSection(LoggingOptions.SectionName).Get<LoggingOptions>() ?? new LoggingOptions();
        logging.ClearProviders();
        if (options.Format == LogFormat.Json)
        {
            logging.AddJsonConsole(o =>
            {
                o.IncludeScopes = options.IncludeScopes ?? true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                o.UseUtcTimestamp = true;
                o.JsonWriterOptions = new JsonWriterOptions { Indented = false };
            });
            return;
        }

        logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.IncludeScopes = options.IncludeScopes ?? false;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fff ";
            o.UseUtcTimestamp = true;
        });
    }

    /// <summary>Adds the meters and the Prometheus exporter, traces when an OTLP endpoint is set, the health checks and the queue gauges.</summary>
    public static IServiceCollection AddElemtaObservability(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddElemtaQueueGauges(configuration);
        var metrics = configuration.GetSection(MetricsOptions.SectionName).Get<MetricsOptions>() ?? new MetricsOptions();
        var tracing = configuration.GetSection(TracingOptions.SectionName).Get<TracingOptions>() ?? new TracingOptions();
        if (tracing.SampleRatio is < 0 or > 1)
        {
            throw new InvalidOperationException("Elemta:Tracing:SampleRatio must be between 0 and 1.");
        }

        var telemetry = services.AddOpenTelemetry().ConfigureResource(r => r.AddService("elemta"));
        if (metrics.Enabled)
        {
            telemetry.WithMetrics(m => m.AddMeter(Meters).AddPrometheusExporter(o =>
            {
                // Every series would otherwise carry the meter's name and version as labels.
                o.ScopeInfoEnabled = false;
            }));

            // After AddOpenTelemetry's own hosted service, which starts the meter provider: a series made to exist
            // before it listens would be lost. Before "HTTP listening", so the first scrape already has them all.
            services.AddHostedService<MetricSeries>();
        }

        if (tracing.OtlpEndpoint is { } endpoint)
        {
            telemetry.WithTracing(t => t
                .AddSource(SmtpMetrics.Name, QueueMetrics.Name, "Microsoft.Orleans.Runtime", "Microsoft.Orleans.Application")
                .SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(tracing.SampleRatio)))
                .AddOtlpExporter(o =>
                {
                    o.Endpoint = endpoint;
                    o.Protocol = tracing.OtlpProtocol;
                }));
        }

        services.AddHealthChecks()
            .AddCheck<DatabaseHealthCheck>("database", tags: [ReadyTag])
            .AddCheck<SiloHealthCheck>("silo", tags: [ReadyTag])
            .AddCheck<SmtpListenerHealthCheck>("smtp", tags: [ReadyTag]);
        return services;
    }

    /// <summary>
    /// What <c>elemta web</c> (an Orleans client, no silo) exports: its own meters — the Orleans client's, ASP.NET
    /// Core's request and connection meters, the runtime's — on <c>/metrics</c>, traces when an OTLP endpoint is set,
    /// and one readiness check, that the cluster answers. The queue, SMTP and delivery series are the silos' to export.
    /// </summary>
    public static IServiceCollection AddElemtaWebObservability(this IServiceCollection services, IConfiguration configuration)
    {
        var metrics = configuration.GetSection(MetricsOptions.SectionName).Get<MetricsOptions>() ?? new MetricsOptions();
        var tracing = configuration.GetSection(TracingOptions.SectionName).Get<TracingOptions>() ?? new TracingOptions();
        if (tracing.SampleRatio is < 0 or > 1)
        {
            throw new InvalidOperationException("Elemta:Tracing:SampleRatio must be between 0 and 1.");
        }

        var telemetry = services.AddOpenTelemetry().ConfigureResource(r => r.AddService("elemta-web"));
        if (metrics.Enabled)
        {
            telemetry.WithMetrics(m => m
                .AddMeter("Microsoft.Orleans", "System.Runtime", "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel")
                .AddPrometheusExporter(o => o.ScopeInfoEnabled = false));
        }

        if (tracing.OtlpEndpoint is { } endpoint)
        {
            telemetry.WithTracing(t => t
                .AddSource("Microsoft.Orleans.Runtime", "Microsoft.Orleans.Application")
                .SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(tracing.SampleRatio)))
                .AddOtlpExporter(o =>
                {
                    o.Endpoint = endpoint;
                    o.Protocol = tracing.OtlpProtocol;
                }));
        }

        services.AddHealthChecks().AddCheck<ClusterHealthCheck>("cluster", tags: [ReadyTag]);
        return services;
    }

    /// <summary>Maps <c>/health/live</c>, <c>/health/ready</c> and (when enabled) <c>/metrics</c>.</summary>
    public static void MapElemtaObservability(this WebApplication app)
    {
        var metrics = app.Configuration.GetSection(MetricsOptions.SectionName).Get<MetricsOptions>() ?? new MetricsOptions();

        // Live: the process answers HTTP (no check runs, so a slow database never gets a silo restarted).
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false }).AllowAnonymous();
        app.MapHealthChecks("/health/ready", new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains(ReadyTag),
            ResponseWriter = WriteReadinessAsync,
        }).AllowAnonymous();

        if (metrics.Enabled)
        {
            var endpoint = app.MapPrometheusScrapingEndpoint("/metrics");
            if (metrics.RequireAuthentication)
            {
                endpoint.RequireAuthorization(ElemtaPolicies.Read);
            }
            else
            {
                endpoint.AllowAnonymous();
            }
        }
    }

    /// <summary>The overall status and one line per check, so a failing probe says which part is not ready.</summary>
    private static Task WriteReadinessAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "text/plain; charset=utf-8";
        var lines = new List<string> { report.Status.ToString() };
        lines.AddRange(report.Entries.Select(e => $"{e.Key}: {e.Value.Status} ({e.Value.Description})"));
        return context.Response.WriteAsync(string.Join('\n', lines) + "\n");
    }
}

/// <summary>Makes every counter series exist (at 0) once the meter provider listens; see the <c>InitializeSeries</c> methods.</summary>
internal sealed class MetricSeries(IServiceProvider services) : Microsoft.Extensions.Hosting.IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        services.GetService<DnsLookup>()?.Cache?.InitializeSeries();
        SmtpMetrics.InitializeSeries();
        QueueMetrics.InitializeSeries();
        DeliveryMetrics.InitializeSeries();
        StorageMetrics.InitializeSeries();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
