using System.Collections.Immutable;
using System.Data.Common;
using System.Text.Json;
using Elemta.Contracts;
using Elemta.Storage.Relational;

namespace Elemta.Storage;

/// <summary>Operator actions, listings and statistics over the queue tables of Elemta's database, on either provider.</summary>
public sealed class QueueOperations(StoreDatabase database) : IQueueOperations
{
    /// <inheritdoc />
    public async Task<QueueChange> ApplyAsync(QueueScope scope, QueueAction action, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        var at = now.ToUnixTimeMilliseconds();
        var (domainsSql, entriesSql, messagesSql) = StoreSql.For(action, scope, database.Dialect);

        var batch = new WriteBatch();
        var domains = domainsSql is null ? null : BindScope(batch.AddStringQuery(domainsSql), scope, at);
        // Entries first: the scope of a whole state reads the listed states, which the second statement changes.
        var entries = BindScope(batch.Add(entriesSql), scope, at);
        var messages = BindScope(batch.Add(messagesSql), scope, at);
        await database.WriteAsync(batch, cancellationToken).ConfigureAwait(false);
        return new QueueChange(messages.RowsAffected, entries.RowsAffected, domains?.Strings?.ToArray() ?? []);
    }

    /// <inheritdoc />
    public async Task<QueueChange> SetPriorityAsync(QueueScope scope, int priority, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        var (entriesSql, messagesSql) = StoreSql.Priority(scope);
        var at = now.ToUnixTimeMilliseconds();
        var batch = new WriteBatch();
        var entries = BindScope(batch.Add(entriesSql), scope, at).Bind("@priority", priority);
        var messages = BindScope(batch.Add(messagesSql), scope, at).Bind("@priority", priority);
        await database.WriteAsync(batch, cancellationToken).ConfigureAwait(false);
        return new QueueChange(messages.RowsAffected, entries.RowsAffected, []);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<string>> GetMessageIdsAsync(QueueScope scope, int limit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        var sql = StoreSql.MessageIds(scope);
        return database.ReadAsync((session, ct) => BindScope(session.Command(sql), scope).Bind("@limit", limit).ReadStringsAsync(ct), cancellationToken);
    }

    /// <inheritdoc />
    public Task DeleteMessageAsync(string messageId, CancellationToken cancellationToken)
    {
        var batch = new WriteBatch();
        foreach (var sql in StoreSql.DeleteMessage)
        {
            batch.Add(sql).Bind("@id", messageId);
        }

        return database.WriteAsync(batch, cancellationToken);
    }

    /// <inheritdoc />
    public Task<QueueStatistics> GetStatisticsAsync(DateTimeOffset now, int topDomains, CancellationToken cancellationToken) =>
        // One snapshot, so the figures are from one instant.
        database.ReadAsync(async (session, ct) =>
        {
            var counts = ImmutableDictionary.CreateBuilder<MessageQueueState, long>();
            foreach (var state in Enum.GetValues<MessageQueueState>())
            {
                counts[state] = 0;
            }

            await using (var reader = await session.Command(StoreSql.StateCounts).ExecuteReaderAsync(ct).ConfigureAwait(false))
            {
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    counts[(MessageQueueState)reader.GetInt32(0)] = reader.GetInt64(1);
                }
            }

            var oldest = await session.Command(StoreSql.OldestPending).ExecuteScalarAsync(ct).ConfigureAwait(false) is long ms
                ? QueueStore.FromMs(ms)
                : (DateTimeOffset?)null;

            var domains = ImmutableArray.CreateBuilder<DomainCount>();
            await using (var reader = await session.Command(StoreSql.TopDomains).Bind("@top", topDomains).ExecuteReaderAsync(ct).ConfigureAwait(false))
            {
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    domains.Add(new DomainCount(reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2)));
                }
            }

            var minute = now.ToUnixTimeMilliseconds() / 60_000;
            var lastMinute = await ReadRatesAsync(session, minute - 1, ct).ConfigureAwait(false);
            var lastHour = await ReadRatesAsync(session, minute - 59, ct).ConfigureAwait(false);
            var byPriority = new List<PriorityCount>();
            await using (var reader = await session.Command(StoreSql.PriorityCounts).ExecuteReaderAsync(ct).ConfigureAwait(false))
            {
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    byPriority.Add(new PriorityCount((MessagePriority)reader.GetInt32(1), (MessageQueueState)reader.GetInt32(0), reader.GetInt64(2)));
                }
            }

            return new QueueStatistics(counts.ToImmutable(), oldest, domains.ToImmutable(), lastMinute, lastHour,
                [.. byPriority.OrderBy(p => p.Priority).ThenBy(p => p.State)]);
        }, cancellationToken, snapshot: true);

    /// <inheritdoc />
    public Task<IReadOnlyList<MinuteOutcomes>> GetOutcomesPerMinuteAsync(DateTimeOffset now, int minutes, CancellationToken cancellationToken) =>
        database.ReadAsync<IReadOnlyList<MinuteOutcomes>>(async (session, ct) =>
        {
            var from = (now.ToUnixTimeMilliseconds() / 60_000) - Math.Max(0, minutes - 1);
            var rows = new List<MinuteOutcomes>();
            await using var reader = await session.Command(StoreSql.RatesPerMinute).Bind("@from", from).ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                rows.Add(new MinuteOutcomes(
                    DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(0) * 60_000),
                    new OutcomeCounts(reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3))));
            }

            return rows;
        }, cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<QueuedMessage>> ListAsync(MessageQueueState state, DateTimeOffset? receivedAfter, int limit, CancellationToken cancellationToken) =>
        database.ReadAsync<IReadOnlyList<QueuedMessage>>(async (session, ct) =>
        {
            var command = session.Command(StoreSql.ListByState)
                .Bind("@state", (int)state).Bind("@after", receivedAfter?.ToUnixTimeMilliseconds() ?? long.MinValue).Bind("@limit", limit);
            return await ReadQueuedMessagesAsync(command, ct).ConfigureAwait(false);
        }, cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<QueuedMessage>> ListPageAsync(QueueListQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        return database.ReadAsync<IReadOnlyList<QueuedMessage>>(async (session, ct) =>
        {
            // The first page starts before every row: received times are positive and ids are never empty.
            var newest = query.Newest && !query.ByPriority;
            var (afterAt, afterId) = query.AfterReceivedAt is { } at
                ? (at.ToUnixTimeMilliseconds(), query.AfterMessageId ?? string.Empty)
                : newest ? (long.MaxValue, string.Empty) : (long.MinValue, string.Empty);
            var order = query.ByPriority ? StoreSql.ListOrder.Priority : newest ? StoreSql.ListOrder.Newest : StoreSql.ListOrder.Oldest;
            var command = session.Command(StoreSql.ListPage(database.Dialect, order, query.Sender is not null, query.Domain is not null, query.Recipient is not null))
                .Bind("@state", (int)query.State).Bind("@after", afterAt).Bind("@afterId", afterId).Bind("@limit", query.Limit);
            if (query.ByPriority)
            {
                command.Bind("@afterPriority", query.AfterReceivedAt is null ? int.MinValue : (int)(query.AfterPriority ?? 0));
            }

            if (query.Recipient is not null)
            {
                command.Bind("@recipient", query.Recipient.ToLowerInvariant());
            }

            if (query.Sender is not null)
            {
                command.Bind("@sender", query.Sender);
            }

            if (query.Domain is not null)
            {
                command.Bind("@domain", query.Domain);
            }

            return await ReadQueuedMessagesAsync(command, ct).ConfigureAwait(false);
        }, cancellationToken);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<string>> GetFinishedBeforeAsync(MessageQueueState state, DateTimeOffset finishedBefore, int limit, CancellationToken cancellationToken) =>
        database.ReadAsync((session, ct) => session.Command(StoreSql.FinishedBefore)
            .Bind("@state", (int)state).Bind("@before", finishedBefore.ToUnixTimeMilliseconds()).Bind("@limit", limit)
            .ReadStringsAsync(ct), cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<RecordedAttempt>> GetAttemptsAsync(string messageId, CancellationToken cancellationToken) =>
        database.ReadAsync<IReadOnlyList<RecordedAttempt>>(async (session, ct) =>
        {
            var attempts = new List<RecordedAttempt>();
            await using var reader = await session.Command(StoreSql.Attempts).Bind("@id", messageId).ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                var results = JsonSerializer.Deserialize(reader.GetString(6), EnvelopeJsonContext.Default.ImmutableArrayRecipientResult);
                attempts.Add(new RecordedAttempt(reader.GetString(0), new DeliveryAttempt(
                    reader.IsDBNull(3) ? string.Empty : reader.GetString(3),
                    QueueStore.FromMs(reader.GetInt64(1)),
                    results,
                    reader.IsDBNull(4) ? null : reader.GetString(4),
                    reader.IsDBNull(5) ? null : reader.GetString(5),
                    TimeSpan.FromMilliseconds(reader.GetInt64(2)))));
            }

            return attempts;
        }, cancellationToken);

    /// <inheritdoc />
    public Task PruneRatesAsync(DateTimeOffset before, CancellationToken cancellationToken)
    {
        var batch = new WriteBatch();
        batch.Add(StoreSql.PruneRates).Bind("@minute", before.ToUnixTimeMilliseconds() / 60_000);
        return database.WriteAsync(batch, cancellationToken);
    }

    /// <summary>The listing rows a <see cref="StoreSql.ListByState"/> or <see cref="StoreSql.ListPage"/> query returns.</summary>
    private static async Task<IReadOnlyList<QueuedMessage>> ReadQueuedMessagesAsync(DbCommand command, CancellationToken cancellationToken)
    {
        var list = new List<QueuedMessage>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            list.Add(new QueuedMessage(reader.GetString(0), (MessageQueueState)reader.GetInt32(1), (MessagePriority)reader.GetInt32(2),
                reader.GetString(3), reader.GetInt32(4), reader.GetInt64(5), QueueStore.FromMs(reader.GetInt64(6)), QueueStore.FromMs(reader.GetInt64(7))));
        }

        return list;
    }

    private static async Task<OutcomeCounts> ReadRatesAsync(ReadSession session, long fromMinute, CancellationToken cancellationToken)
    {
        await using var reader = await session.Command(StoreSql.RatesSince).Bind("@from", fromMinute).ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        return new OutcomeCounts(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2));
    }

    /// <summary>Binds <c>@now</c> and the scope's parameter (<c>@id</c>, <c>@domain</c> or <c>@state</c>).</summary>
    private static BatchStatement BindScope(BatchStatement statement, QueueScope scope, long now)
    {
        statement.Bind("@now", now);
        return scope switch
        {
            { MessageId: { } id } => statement.Bind("@id", id),
            { Domain: { } domain } => statement.Bind("@domain", domain),
            { State: { } state } => statement.Bind("@state", (int)state),
            _ => statement,
        };
    }

    /// <summary>Binds the scope's parameter on a read command.</summary>
    private static DbCommand BindScope(DbCommand command, QueueScope scope) => scope switch
    {
        { MessageId: { } id } => command.Bind("@id", id),
        { Domain: { } domain } => command.Bind("@domain", domain),
        { State: { } state } => command.Bind("@state", (int)state),
        _ => command,
    };
}
