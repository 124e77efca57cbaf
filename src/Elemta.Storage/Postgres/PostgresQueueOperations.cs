using System.Collections.Immutable;
using System.Data;
using System.Text.Json;
using Elemta.Contracts;
using Elemta.Storage.Sqlite;
using Npgsql;

namespace Elemta.Storage.Postgres;

/// <summary>Operator actions, listings and statistics over the queue tables of the cluster's PostgreSQL database.</summary>
public sealed class PostgresQueueOperations(PostgresDatabase database) : IQueueOperations
{
    /// <inheritdoc />
    public async Task<QueueChange> ApplyAsync(QueueScope scope, QueueAction action, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        var at = now.ToUnixTimeMilliseconds();
        var (domainsSql, entriesSql, messagesSql) = QueueSql.For(action, scope, "LEAST");

        return await database.WriteAsync(async (connection, transaction, ct) =>
        {
            var domains = new List<string>();
            if (domainsSql is not null)
            {
                await using var command = QueueSql.Bind(new NpgsqlCommand(domainsSql, connection, transaction), scope, at);
                domains.AddRange(await ReadStringsAsync(command, ct).ConfigureAwait(false));
            }

            // Entries first: the scope of a whole state reads the listed states, which the second statement changes.
            await using var entriesCommand = QueueSql.Bind(new NpgsqlCommand(entriesSql, connection, transaction), scope, at);
            long changedEntries = await entriesCommand.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            await using var messagesCommand = QueueSql.Bind(new NpgsqlCommand(messagesSql, connection, transaction), scope, at);
            long changedMessages = await messagesCommand.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            return new QueueChange(changedMessages, changedEntries, domains);
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<QueueChange> SetPriorityAsync(QueueScope scope, int priority, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        var (entriesSql, messagesSql) = QueueSql.Priority(scope);
        var at = now.ToUnixTimeMilliseconds();
        return await database.WriteAsync(async (connection, transaction, ct) =>
        {
            await using var entriesCommand = QueueSql.Bind(new NpgsqlCommand(entriesSql, connection, transaction), scope, at)
                .With(("priority", priority));
            long changedEntries = await entriesCommand.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            await using var messagesCommand = QueueSql.Bind(new NpgsqlCommand(messagesSql, connection, transaction), scope, at)
                .With(("priority", priority));
            long changedMessages = await messagesCommand.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            return new QueueChange(changedMessages, changedEntries, []);
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<string>> GetMessageIdsAsync(QueueScope scope, int limit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        var sql = scope switch
        {
            { MessageId: not null } => """
                SELECT message_id FROM elemta_message WHERE message_id = @id
                UNION SELECT message_id FROM elemta_queue WHERE message_id = @id
                """,
            { Domain: not null } => "SELECT DISTINCT message_id FROM elemta_queue WHERE domain = @domain LIMIT @limit",
            { State: not null } => "SELECT message_id FROM elemta_message WHERE state = @state ORDER BY received_at LIMIT @limit",
            _ => "SELECT message_id FROM elemta_message LIMIT @limit",
        };
        return database.ReadAsync<IReadOnlyList<string>>(async (connection, ct) =>
        {
            await using var command = QueueSql.Bind(new NpgsqlCommand(sql, connection), scope, 0).With(("limit", limit));
            return await ReadStringsAsync(command, ct).ConfigureAwait(false);
        }, cancellationToken);
    }

    /// <inheritdoc />
    public Task DeleteMessageAsync(string messageId, CancellationToken cancellationToken) =>
        database.WriteBatchAsync(batch =>
        {
            batch.Add("DELETE FROM elemta_queue WHERE message_id = @id", ("id", messageId));
            batch.Add("DELETE FROM elemta_delivery_attempt WHERE message_id = @id", ("id", messageId));
            batch.Add(PostgresMessageStore.DeleteSql, ("id", messageId));
            batch.Add("DELETE FROM elemta_message WHERE message_id = @id", ("id", messageId));
        }, cancellationToken);

    /// <inheritdoc />
    public Task<QueueStatistics> GetStatisticsAsync(DateTimeOffset now, int topDomains, CancellationToken cancellationToken) =>
        database.ReadAsync(async (connection, ct) =>
        {
            // One snapshot, so the figures are from one instant.
            await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, ct).ConfigureAwait(false);
            var counts = ImmutableDictionary.CreateBuilder<MessageQueueState, long>();
            foreach (var state in Enum.GetValues<MessageQueueState>())
            {
                counts[state] = 0;
            }

            await using (var command = new NpgsqlCommand("SELECT state, SUM(count)::bigint FROM elemta_state_count GROUP BY state", connection, transaction))
            await using (var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false))
            {
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    counts[(MessageQueueState)reader.GetInt32(0)] = reader.GetInt64(1);
                }
            }

            DateTimeOffset? oldest;
            await using (var command = new NpgsqlCommand("""
                SELECT LEAST(
                    (SELECT MIN(received_at) FROM elemta_message WHERE state = 0),
                    (SELECT MIN(received_at) FROM elemta_message WHERE state = 1),
                    (SELECT MIN(received_at) FROM elemta_message WHERE state = 2))
                """, connection, transaction))
            {
                oldest = await command.ExecuteScalarAsync(ct).ConfigureAwait(false) is long ms ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;
            }

            var domains = ImmutableArray.CreateBuilder<DomainCount>();
            await using (var command = new NpgsqlCommand("""
                SELECT domain, SUM(queued)::bigint AS queued, SUM(held)::bigint FROM elemta_domain_count
                GROUP BY domain HAVING SUM(queued) > 0 ORDER BY queued DESC, domain LIMIT @top
                """, connection, transaction).With(("top", topDomains)))
            await using (var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false))
            {
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    domains.Add(new DomainCount(reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2)));
                }
            }

            var minute = now.ToUnixTimeMilliseconds() / 60_000;
            var lastMinute = await ReadRatesAsync(connection, transaction, minute - 1, ct).ConfigureAwait(false);
            var lastHour = await ReadRatesAsync(connection, transaction, minute - 59, ct).ConfigureAwait(false);
            await transaction.CommitAsync(ct).ConfigureAwait(false);
            return new QueueStatistics(counts.ToImmutable(), oldest, domains.ToImmutable(), lastMinute, lastHour);
        }, cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<QueuedMessage>> ListAsync(MessageQueueState state, DateTimeOffset? receivedAfter, int limit, CancellationToken cancellationToken) =>
        database.ReadAsync<IReadOnlyList<QueuedMessage>>(async (connection, ct) =>
        {
            await using var command = new NpgsqlCommand("""
                SELECT message_id, state, priority, sender, recipients, size, received_at, updated_at FROM elemta_message
                WHERE state = @state AND received_at > @after
                ORDER BY received_at LIMIT @limit
                """, connection).With(("state", (int)state), ("after", receivedAfter?.ToUnixTimeMilliseconds() ?? long.MinValue), ("limit", limit));
            var list = new List<QueuedMessage>();
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                list.Add(new QueuedMessage(reader.GetString(0), (MessageQueueState)reader.GetInt32(1), (MessagePriority)reader.GetInt32(2),
                    reader.GetString(3), reader.GetInt32(4), reader.GetInt64(5),
                    DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(6)), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(7))));
            }

            return list;
        }, cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<string>> GetFinishedBeforeAsync(MessageQueueState state, DateTimeOffset finishedBefore, int limit, CancellationToken cancellationToken) =>
        database.ReadAsync<IReadOnlyList<string>>(async (connection, ct) =>
        {
            // A message finishes after it was received, so the (state, received_at) index bounds the scan.
            await using var command = new NpgsqlCommand("""
                SELECT message_id FROM elemta_message
                WHERE state = @state AND received_at < @before AND finished_at < @before
                LIMIT @limit
                """, connection).With(("state", (int)state), ("before", finishedBefore.ToUnixTimeMilliseconds()), ("limit", limit));
            return await ReadStringsAsync(command, ct).ConfigureAwait(false);
        }, cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<RecordedAttempt>> GetAttemptsAsync(string messageId, CancellationToken cancellationToken) =>
        database.ReadAsync<IReadOnlyList<RecordedAttempt>>(async (connection, ct) =>
        {
            await using var command = new NpgsqlCommand("""
                SELECT domain, started_at, duration_ms, remote_host, remote_address, tls, results FROM elemta_delivery_attempt
                WHERE message_id = @id ORDER BY started_at, domain
                """, connection).With(("id", messageId));
            var attempts = new List<RecordedAttempt>();
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                var results = JsonSerializer.Deserialize(reader.GetString(6), EnvelopeJsonContext.Default.ImmutableArrayRecipientResult);
                attempts.Add(new RecordedAttempt(reader.GetString(0), new DeliveryAttempt(
                    reader.IsDBNull(3) ? string.Empty : reader.GetString(3),
                    DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1)),
                    results,
                    reader.IsDBNull(4) ? null : reader.GetString(4),
                    reader.IsDBNull(5) ? null : reader.GetString(5),
                    TimeSpan.FromMilliseconds(reader.GetInt64(2)))));
            }

            return attempts;
        }, cancellationToken);

    /// <inheritdoc />
    public Task PruneRatesAsync(DateTimeOffset before, CancellationToken cancellationToken) =>
        database.WriteBatchAsync(batch => batch.Add("DELETE FROM elemta_delivery_rate WHERE minute < @minute", ("minute", before.ToUnixTimeMilliseconds() / 60_000)), cancellationToken);

    internal static async Task<IReadOnlyList<string>> ReadStringsAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        var list = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            list.Add(reader.GetString(0));
        }

        return list;
    }

    private static async Task<OutcomeCounts> ReadRatesAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, long fromMinute, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            "SELECT COALESCE(SUM(delivered), 0)::bigint, COALESCE(SUM(deferred), 0)::bigint, COALESCE(SUM(failed), 0)::bigint FROM elemta_delivery_rate WHERE minute >= @from",
            connection, transaction).With(("from", fromMinute));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        return new OutcomeCounts(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2));
    }
}
