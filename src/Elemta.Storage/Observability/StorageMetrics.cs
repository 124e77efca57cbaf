using System.Diagnostics.Metrics;

namespace Elemta.Storage.Observability;

/// <summary>
/// The store's meter: group-commit batch size and commit duration, database errors, and the queue and body-store
/// gauges that <see cref="QueueGauges"/> refreshes from the store's counters (docs/observability.md).
/// </summary>
public static class StorageMetrics
{
    /// <summary>The meter's name.</summary>
    public const string Name = "Elemta.Storage";

    private static readonly Meter Meter = new(Name);

    private static readonly Histogram<int> BatchSize = Meter.CreateHistogram(
        "elemta.store.commit.batch.size", "{batch}", "Write batches (acceptances, outcomes) committed together in one transaction",
        advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512] });

    private static readonly Histogram<double> CommitDuration = Meter.CreateHistogram(
        "elemta.store.commit.duration", "s", "Duration of one group commit (one transaction, its fsync included)",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] });

    private static readonly Counter<long> Errors = Meter.CreateCounter<long>(
        "elemta.store.errors", "{error}", "Database operations that failed, by operation (commit, statistics, health)");

    private static readonly KeyValuePair<string, object?> OperationCommit = new("operation", "commit");
    private static readonly KeyValuePair<string, object?> OperationStatistics = new("operation", "statistics");
    private static readonly KeyValuePair<string, object?> OperationHealth = new("operation", "health");

    /// <summary>Adds 0 to the error counter's series, once the exporter listens, so each exists from the start.</summary>
    public static void InitializeSeries()
    {
        Errors.Add(0, OperationCommit);
        Errors.Add(0, OperationStatistics);
        Errors.Add(0, OperationHealth);
    }

    /// <summary>A group of <paramref name="batches"/> committed in <paramref name="duration"/>.</summary>
    internal static void Committed(int batches, TimeSpan duration)
    {
        BatchSize.Record(batches);
        CommitDuration.Record(duration.TotalSeconds);
    }

    /// <summary>A commit failed.</summary>
    internal static void CommitFailed() => Errors.Add(1, OperationCommit);

    /// <summary>Reading the queue statistics failed.</summary>
    internal static void StatisticsFailed() => Errors.Add(1, OperationStatistics);

    /// <summary>The health check could not reach the database.</summary>
    public static void HealthCheckFailed() => Errors.Add(1, OperationHealth);

    private static volatile QueueSnapshot? s_snapshot;

    static StorageMetrics()
    {
        Meter.CreateObservableGauge("elemta.queue.messages", ObserveStates, "{message}",
            "Messages in the queue by state (active, deferred, held, and the finished ones kept: delivered, failed)");
        Meter.CreateObservableGauge("elemta.queue.domain.messages", ObserveDomains, "{entry}",
            "Queue entries of the domains with the most, by domain (the top Elemta:Metrics:TopDomains only)");
        Meter.CreateObservableGauge("elemta.queue.oldest.age", ObserveOldest, "s",
            "Age of the oldest message not yet finished (0 when none)");
        Meter.CreateObservableGauge("elemta.store.body.size", ObserveBodyBytes, "By",
            "Size of the message store: the body table on PostgreSQL, the database file on SQLite");
    }

    /// <summary>The figures the gauges show from now on (read from the store by <see cref="QueueGauges"/>).</summary>
    internal static void Publish(QueueSnapshot snapshot) => s_snapshot = snapshot;

    private static IEnumerable<Measurement<long>> ObserveStates()
    {
        if (s_snapshot is not { } snapshot)
        {
            yield break;
        }

        foreach (var (state, count) in snapshot.Statistics.Messages)
        {
            yield return new Measurement<long>(count, new KeyValuePair<string, object?>("state", StateLabel(state)));
        }
    }

    private static IEnumerable<Measurement<long>> ObserveDomains()
    {
        if (s_snapshot is not { } snapshot)
        {
            yield break;
        }

        foreach (var domain in snapshot.Statistics.Domains)
        {
            yield return new Measurement<long>(domain.Queued, new KeyValuePair<string, object?>("domain", domain.Domain));
        }
    }

    private static IEnumerable<Measurement<double>> ObserveOldest()
    {
        if (s_snapshot is { } snapshot)
        {
            var age = snapshot.Statistics.OldestPendingReceivedAt is { } oldest ? snapshot.ReadAt - oldest : TimeSpan.Zero;
            yield return new Measurement<double>(Math.Max(0, age.TotalSeconds));
        }
    }

    private static IEnumerable<Measurement<long>> ObserveBodyBytes()
    {
        if (s_snapshot is { BodyBytes: { } bytes })
        {
            yield return new Measurement<long>(bytes);
        }
    }

    private static string StateLabel(Contracts.MessageQueueState state) => state switch
    {
        Contracts.MessageQueueState.Active => "active",
        Contracts.MessageQueueState.Deferred => "deferred",
        Contracts.MessageQueueState.Held => "held",
        Contracts.MessageQueueState.Delivered => "delivered",
        Contracts.MessageQueueState.Failed => "failed",
        _ => "other",
    };
}

/// <summary>The queue figures of one read.</summary>
/// <param name="Statistics">Counts by state, the oldest pending message and the top domains.</param>
/// <param name="BodyBytes">The message store's size; null when it could not be read.</param>
/// <param name="ReadAt">When they were read.</param>
internal sealed record QueueSnapshot(Contracts.QueueStatistics Statistics, long? BodyBytes, DateTimeOffset ReadAt);
