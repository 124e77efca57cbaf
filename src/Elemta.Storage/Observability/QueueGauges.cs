using Elemta.Storage.Relational;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Elemta.Storage.Observability;

/// <summary>
/// Reads the queue figures every <see cref="MetricsOptions.QueueInterval"/> for the gauges of
/// <see cref="StorageMetrics"/>: counts by state and the top domains come from the counter tables the store keeps in
/// the same transactions as the queue (no scan), the oldest message from an index probe per state, and the store's
/// size from the database's own bookkeeping. A scrape only reads the last figures, so Prometheus never waits on
/// the database. In a cluster every silo reports the same cluster-wide figures: aggregate them with <c>max</c>.
/// </summary>
internal sealed partial class QueueGauges(
    IQueueOperations operations,
    StoreDatabase database,
    IOptions<MetricsOptions> options,
    TimeProvider timeProvider,
    ILogger<QueueGauges> logger) : BackgroundService
{
    private bool _failing;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.QueueInterval, timeProvider);
        do
        {
            await ReadAsync(stoppingToken).ConfigureAwait(false);
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    /// <summary>One read; a failure is counted and logged once until the next success, and the last figures stay.</summary>
    internal async Task ReadAsync(CancellationToken cancellationToken)
    {
        try
        {
            var now = timeProvider.GetUtcNow();
            var statistics = await operations.GetStatisticsAsync(now, options.Value.TopDomains, cancellationToken).ConfigureAwait(false);
            long? bytes;
            try
            {
                bytes = await database.GetBodyStoreBytesAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                bytes = null;
            }

            StorageMetrics.Publish(new QueueSnapshot(statistics, bytes, now));
            if (_failing)
            {
                _failing = false;
                LogRecovered();
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            StorageMetrics.StatisticsFailed();
            if (!_failing)
            {
                _failing = true;
                LogFailed(ex);
            }
        }
    }

    [LoggerMessage(EventId = 13020, Level = LogLevel.Warning, Message = "Queue figures for /metrics could not be read; the gauges show the last ones until the database answers")]
    private partial void LogFailed(Exception exception);

    [LoggerMessage(EventId = 13021, Level = LogLevel.Information, Message = "Queue figures for /metrics are read again")]
    private partial void LogRecovered();
}

/// <summary>Registers the queue gauges.</summary>
public static class MetricsServiceCollectionExtensions
{
    /// <summary>Adds <c>Elemta:Metrics</c> (validated at start) and, when metrics are enabled, the queue gauges' reader.</summary>
    public static IServiceCollection AddElemtaQueueGauges(this IServiceCollection services, Microsoft.Extensions.Configuration.IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<MetricsOptions>().Bind(configuration.GetSection(MetricsOptions.SectionName)).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<MetricsOptions>, MetricsOptionsValidator>());
        if (!string.Equals(configuration[MetricsOptions.SectionName + ":Enabled"], "false", StringComparison.OrdinalIgnoreCase))
        {
            services.AddHostedService<QueueGauges>();
        }

        return services;
    }
}
