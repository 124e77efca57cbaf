using Elemta.Contracts;
using Elemta.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Elemta.Grains;

/// <summary>
/// Wakes every domain queue that has due entries: once when the silo has started (crash recovery: every queued
/// message is re-armed from the queue table) and then every <see cref="QueueOptions.SweepInterval"/>, which brings
/// back queues whose activation was collected while they waited for a retry.
/// </summary>
public sealed partial class QueueSweeper(
    IQueueStore queue,
    IGrainFactory grains,
    IHostApplicationLifetime lifetime,
    IOptions<QueueOptions> options,
    TimeProvider timeProvider,
    ILogger<QueueSweeper> logger) : BackgroundService
{
    // Wake at most this many queues per pass; a larger backlog is reached on the following passes.
    private const int DomainsPerSweep = 10_000;

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Grain calls need a running silo: wait for the host to have started.
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
        using (stoppingToken.Register(() => started.TrySetCanceled(stoppingToken)))
        {
            try
            {
                await started.Task.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }

        // First pass: every queued domain, due or not, so its timer is armed for the next retry.
        await SweepAsync(DateTimeOffset.MaxValue, stoppingToken).ConfigureAwait(false);
        using var timer = new PeriodicTimer(options.Value.SweepInterval, timeProvider);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                await SweepAsync(timeProvider.GetUtcNow(), stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // Shutting down.
        }
    }

    private async Task SweepAsync(DateTimeOffset dueBy, CancellationToken cancellationToken)
    {
        try
        {
            var domains = await queue.GetDomainsDueAsync(dueBy, DomainsPerSweep, cancellationToken).ConfigureAwait(false);
            await Parallel.ForEachAsync(domains, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken },
                async (domain, _) => await grains.GetGrain<IDomainQueueGrain>(domain).WakeAsync().ConfigureAwait(false)).ConfigureAwait(false);
            if (domains.Count > 0)
            {
                LogSwept(domains.Count);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogSweepFailed(ex);
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Woke {Count} domain queue(s) with due entries")]
    private partial void LogSwept(int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "Queue sweep failed; retrying at the next interval")]
    private partial void LogSweepFailed(Exception exception);
}
