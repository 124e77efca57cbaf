using System.Collections.Immutable;
using Elemta.Contracts;
using Elemta.Storage;
using Microsoft.Extensions.Logging;
using Orleans.Concurrency;

namespace Elemta.Grains;

/// <summary>
/// The queue as a whole: statistics and listings straight from the store's counters and indexes, and operator
/// actions on every message in one state. Bulk holds, releases and retries are single store transactions; deletes go
/// through each message so that its grain state goes with it.
/// </summary>
[Reentrant]
public sealed partial class QueueManagerGrain(
    IQueueOperations operations,
    TimeProvider timeProvider,
    ILogger<QueueManagerGrain> logger) : Grain, IQueueManagerGrain
{
    private const int DeleteBatch = 500;
    private const int MaxListLimit = 10_000;

    /// <inheritdoc />
    public Task<QueueStatistics> GetStatisticsAsync(int topDomains) =>
        operations.GetStatisticsAsync(timeProvider.GetUtcNow(), Math.Clamp(topDomains, 0, 1000), CancellationToken.None);

    /// <inheritdoc />
    public async Task<ImmutableArray<MinuteOutcomes>> GetThroughputAsync(int minutes)
    {
        // The counters are kept for an hour (QueueRetention prunes older ones).
        minutes = Math.Clamp(minutes, 1, 60);
        var now = timeProvider.GetUtcNow();
        var rows = (await operations.GetOutcomesPerMinuteAsync(now, minutes, CancellationToken.None)).ToDictionary(r => r.Minute);
        var first = DateTimeOffset.FromUnixTimeMilliseconds(((now.ToUnixTimeMilliseconds() / 60_000) - (minutes - 1)) * 60_000);
        var empty = new OutcomeCounts(0, 0, 0);
        return [.. Enumerable.Range(0, minutes).Select(i => first.AddMinutes(i)).Select(m => rows.TryGetValue(m, out var row) ? row : new MinuteOutcomes(m, empty))];
    }

    /// <inheritdoc />
    public async Task<ImmutableArray<QueuedMessage>> ListAsync(MessageQueueState state, DateTimeOffset? receivedAfter, int limit) =>
        [.. await operations.ListAsync(state, receivedAfter, Math.Clamp(limit, 0, MaxListLimit), CancellationToken.None)];

    /// <inheritdoc />
    public async Task<ImmutableArray<QueuedMessage>> ListPageAsync(QueueListQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        return [.. await operations.ListPageAsync(query with { Limit = Math.Clamp(query.Limit, 0, MaxListLimit) }, CancellationToken.None)];
    }

    /// <inheritdoc />
    public async Task<QueueActionResult> ApplyAsync(MessageQueueState state, QueueAction action)
    {
        if (action == QueueAction.Delete)
        {
            return await DeleteAllAsync(state);
        }

        var change = await operations.ApplyAsync(QueueScope.InState(state), action, timeProvider.GetUtcNow(), CancellationToken.None);
        LogAction(state, action, change.Messages, change.Entries);
        // Read here, on the activation: Parallel.ForEachAsync runs its bodies on the thread pool, where reading the
        // grain's GrainFactory throws "activation access violation" (a bulk flush through the API failed with a 500).
        var grains = GrainFactory;
        await Parallel.ForEachAsync(change.Domains, new ParallelOptions { MaxDegreeOfParallelism = 16 },
            async (domain, _) => await grains.GetGrain<IDomainQueueGrain>(domain).WakeAsync());
        return new QueueActionResult(change.Messages, change.Entries);
    }

    /// <inheritdoc />
    public async Task<QueueActionResult> SetPriorityAsync(MessageQueueState state, MessagePriority priority)
    {
        var change = await operations.SetPriorityAsync(QueueScope.InState(state), (int)priority, timeProvider.GetUtcNow(), CancellationToken.None);
        return new QueueActionResult(change.Messages, change.Entries);
    }

    private async Task<QueueActionResult> DeleteAllAsync(MessageQueueState state)
    {
        long messages = 0, entries = 0;
        while (true)
        {
            var ids = await operations.GetMessageIdsAsync(QueueScope.InState(state), DeleteBatch, CancellationToken.None);
            if (ids.Count == 0)
            {
                break;
            }

            var results = await Task.WhenAll(ids.Select(id => GrainFactory.GetGrain<IMessageGrain>(id).ApplyAsync(QueueAction.Delete)));
            foreach (var (id, result) in ids.Zip(results))
            {
                if (result.Messages == 0)
                {
                    // Listed but unknown to its grain (a crash between writes): remove the listing directly.
                    await operations.DeleteMessageAsync(id, CancellationToken.None);
                }
            }

            messages += ids.Count;
            entries += results.Sum(r => r.Entries);
        }

        LogAction(state, QueueAction.Delete, messages, entries);
        return new QueueActionResult(messages, entries);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Queue: {Action} of every {State} message by an operator ({Messages} messages, {Entries} entries)")]
    private partial void LogAction(MessageQueueState state, QueueAction action, long messages, long entries);
}
