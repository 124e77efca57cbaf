using Elemta.Contracts;
using Elemta.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Elemta.Grains;

/// <summary>
/// Forgets finished messages after their retention period (<see cref="QueueOptions.DeliveredRetention"/>,
/// <see cref="QueueOptions.FailedRetention"/>): their listing row and their grain state go. Bodies are already gone:
/// a message's content is deleted in the same transaction that records its last recipient final.
/// Runs every <see cref="QueueOptions.SweepInterval"/>; every silo runs it, and forgetting is idempotent.
/// </summary>
public sealed partial class QueueRetention(
    IQueueOperations operations,
    IGrainFactory grains,
    IHostApplicationLifetime lifetime,
    IOptions<QueueOptions> options,
    TimeProvider timeProvider,
    ILogger<QueueRetention> logger) : BackgroundService
{
    private const int Batch = 500;

    // Outcome counters are read for the last hour only; keep a little more.
    private static readonly TimeSpan RateHistory = TimeSpan.FromHours(2);

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
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

        using var timer = new PeriodicTimer(options.Value.SweepInterval, timeProvider);
        try
        {
            do
            {
                await RunOnceAsync(stoppingToken).ConfigureAwait(false);
            }
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException)
        {
            // Shutting down.
        }
    }

    /// <summary>One pass: forgets every message past its retention period and prunes old counters. Returns how many were forgotten.</summary>
    public async Task<int> RunOnceAsync(CancellationToken cancellationToken)
    {
        var forgotten = 0;
        try
        {
            var now = timeProvider.GetUtcNow();
            forgotten += await ForgetAsync(MessageQueueState.Delivered, now - options.Value.DeliveredRetention, cancellationToken).ConfigureAwait(false);
            forgotten += await ForgetAsync(MessageQueueState.Failed, now - options.Value.FailedRetention, cancellationToken).ConfigureAwait(false);
            await operations.PruneRatesAsync(now - RateHistory, cancellationToken).ConfigureAwait(false);
            if (forgotten > 0)
            {
                LogForgotten(forgotten);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogFailed(ex);
        }

        return forgotten;
    }

    private async Task<int> ForgetAsync(MessageQueueState state, DateTimeOffset finishedBefore, CancellationToken cancellationToken)
    {
        var total = 0;
        while (true)
        {
            var ids = await operations.GetFinishedBeforeAsync(state, finishedBefore, Batch, cancellationToken).ConfigureAwait(false);
            var done = 0;
            // A message its grain still considers pending is left alone (never deleted by retention); the grain
            // removes the listing of a message it does not know.
            await Parallel.ForEachAsync(ids, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken },
                async (id, _) =>
                {
                    if (await grains.GetGrain<IMessageGrain>(id).ForgetAsync().ConfigureAwait(false))
                    {
                        Interlocked.Increment(ref done);
                    }
                }).ConfigureAwait(false);
            total += done;
            if (ids.Count < Batch || done == 0)
            {
                return total;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Retention: forgot {Count} finished message(s)")]
    private partial void LogForgotten(int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "Retention pass failed; retrying at the next interval")]
    private partial void LogFailed(Exception exception);
}
