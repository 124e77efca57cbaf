using System.Collections.Immutable;
using System.Text.Json;
using Elemta.Contracts;
using Microsoft.Data.Sqlite;

namespace Elemta.Storage.Sqlite;

/// <summary>Operator actions, listings and statistics over the queue tables of the embedded database.</summary>
public sealed class SqliteQueueOperations(SqliteDatabase database) : IQueueOperations
{
    /// <inheritdoc />
    public async Task<QueueChange> ApplyAsync(QueueScope scope, QueueAction action, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        var at = now.ToUnixTimeMilliseconds();
        var (domainsSql, entriesSql, messagesSql) = QueueSql.For(action, scope, "MIN");

        var domains = new List<string>();
        long changedEntries = 0, changedMessages = 0;
        await database.Writer.ExecuteAsync(context =>
        {
            domains.Clear();
            if (domainsSql is not null)
            {
                using var reader = QueueSql.Bind(context.Command(domainsSql), scope, at).ExecuteReader();
                while (reader.Read())
                {
                    domains.Add(reader.GetString(0));
                }
            }

            // Entries first: the scope of a whole state reads the listed states, which the second statement changes.
            changedEntries = QueueSql.Bind(context.Command(entriesSql), scope, at).ExecuteNonQuery();
            changedMessages = QueueSql.Bind(context.Command(messagesSql), scope, at).ExecuteNonQuery();
        }, cancellationToken).ConfigureAwait(false);
        return new QueueChange(changedMessages, changedEntries, domains);
    }

    /// <inheritdoc />
    public async Task<QueueChange> SetPriorityAsync(QueueScope scope, int priority, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        var (entriesSql, messagesSql) = QueueSql.Priority(scope);
        var at = now.ToUnixTimeMilliseconds();
        long changedEntries = 0, changedMessages = 0;
        await database.Writer.ExecuteAsync(context =>
        {
            var entriesCommand = QueueSql.Bind(context.Command(entriesSql), scope, at);
            entriesCommand.Parameters.AddWithValue("@priority", priority);
            changedEntries = entriesCommand.ExecuteNonQuery();
            var messagesCommand = QueueSql.Bind(context.Command(messagesSql), scope, at);
            messagesCommand.Parameters.AddWithValue("@priority", priority);
            changedMessages = messagesCommand.ExecuteNonQuery();
        }, cancellationToken).ConfigureAwait(false);
        return new QueueChange(changedMessages, changedEntries, []);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<string>> GetMessageIdsAsync(QueueScope scope, int limit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = scope switch
        {
            { MessageId: not null } => """
                SELECT message_id FROM elemta_message WHERE message_id = @id
                UNION SELECT message_id FROM elemta_queue WHERE message_id = @id
                """,
            { Domain: not null } => "SELECT DISTINCT message_id FROM elemta_queue WHERE domain = @domain LIMIT @limit",
            { State: not null } => "SELECT message_id FROM elemta_message WHERE state = @state ORDER BY received_at LIMIT @limit",
            _ => "SELECT message_id FROM elemta_message LIMIT @limit",
        };
        QueueSql.Bind(command, scope, 0);
        command.Parameters.AddWithValue("@limit", limit);
        return await ReadStringsAsync(command, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task DeleteMessageAsync(string messageId, CancellationToken cancellationToken) =>
        database.Writer.ExecuteAsync(context =>
        {
            foreach (var sql in (ReadOnlySpan<string>)[
                "DELETE FROM elemta_queue WHERE message_id = @id",
                "DELETE FROM elemta_delivery_attempt WHERE message_id = @id",
                SqliteMessageStore.DeleteSql,
                "DELETE FROM elemta_message WHERE message_id = @id"])
            {
                var command = context.Command(sql);
                command.Parameters.AddWithValue("@id", messageId);
                command.ExecuteNonQuery();
            }
        }, cancellationToken);

    /// <inheritdoc />
    public async Task<QueueStatistics> GetStatisticsAsync(DateTimeOffset now, int topDomains, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        // One read transaction, so the figures are from one instant.
        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);

        var counts = ImmutableDictionary.CreateBuilder<MessageQueueState, long>();
        foreach (var state in Enum.GetValues<MessageQueueState>())
        {
            counts[state] = 0;
        }

        await using (var command = connection.CreateCommand())
        {
            command.CommandText = "SELECT state, count FROM elemta_state_count";
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                counts[(MessageQueueState)reader.GetInt32(0)] = reader.GetInt64(1);
            }
        }

        DateTimeOffset? oldest;
        await using (var command = connection.CreateCommand())
        {
            // Three index probes rather than one scan: MIN per state uses (state, received_at).
            command.CommandText = """
                SELECT MIN(x) FROM (
                    SELECT MIN(received_at) AS x FROM elemta_message WHERE state = 0
                    UNION ALL SELECT MIN(received_at) FROM elemta_message WHERE state = 1
                    UNION ALL SELECT MIN(received_at) FROM elemta_message WHERE state = 2)
                """;
            oldest = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is long ms ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;
        }

        var domains = ImmutableArray.CreateBuilder<DomainCount>();
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = "SELECT domain, queued, held FROM elemta_domain_count WHERE queued > 0 ORDER BY queued DESC, domain LIMIT @top";
            command.Parameters.AddWithValue("@top", topDomains);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                domains.Add(new DomainCount(reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2)));
            }
        }

        var minute = now.ToUnixTimeMilliseconds() / 60_000;
        var lastMinute = await ReadRatesAsync(connection, minute - 1, cancellationToken).ConfigureAwait(false);
        var lastHour = await ReadRatesAsync(connection, minute - 59, cancellationToken).ConfigureAwait(false);
        return new QueueStatistics(counts.ToImmutable(), oldest, domains.ToImmutable(), lastMinute, lastHour);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<QueuedMessage>> ListAsync(MessageQueueState state, DateTimeOffset? receivedAfter, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT message_id, state, priority, sender, recipients, size, received_at, updated_at FROM elemta_message
            WHERE state = @state AND received_at > @after
            ORDER BY received_at LIMIT @limit
            """;
        command.Parameters.AddWithValue("@state", (int)state);
        command.Parameters.AddWithValue("@after", receivedAfter?.ToUnixTimeMilliseconds() ?? long.MinValue);
        command.Parameters.AddWithValue("@limit", limit);
        var list = new List<QueuedMessage>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            list.Add(new QueuedMessage(reader.GetString(0), (MessageQueueState)reader.GetInt32(1), (MessagePriority)reader.GetInt32(2),
                reader.GetString(3), reader.GetInt32(4), reader.GetInt64(5),
                DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(6)), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(7))));
        }

        return list;
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<string>> GetFinishedBeforeAsync(MessageQueueState state, DateTimeOffset finishedBefore, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        // A message finishes after it was received, so the (state, received_at) index bounds the scan.
        command.CommandText = """
            SELECT message_id FROM elemta_message
            WHERE state = @state AND received_at < @before AND finished_at < @before
            LIMIT @limit
            """;
        command.Parameters.AddWithValue("@state", (int)state);
        command.Parameters.AddWithValue("@before", finishedBefore.ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("@limit", limit);
        return await ReadStringsAsync(command, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<RecordedAttempt>> GetAttemptsAsync(string messageId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT domain, started_at, duration_ms, remote_host, remote_address, tls, results FROM elemta_delivery_attempt
            WHERE message_id = @id ORDER BY started_at, domain
            """;
        command.Parameters.AddWithValue("@id", messageId);
        var attempts = new List<RecordedAttempt>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
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
    }

    /// <inheritdoc />
    public Task PruneRatesAsync(DateTimeOffset before, CancellationToken cancellationToken) =>
        database.Writer.ExecuteAsync(context =>
        {
            var command = context.Command("DELETE FROM elemta_delivery_rate WHERE minute < @minute");
            command.Parameters.AddWithValue("@minute", before.ToUnixTimeMilliseconds() / 60_000);
            command.ExecuteNonQuery();
        }, cancellationToken);

    private static async Task<OutcomeCounts> ReadRatesAsync(SqliteConnection connection, long fromMinute, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COALESCE(SUM(delivered), 0), COALESCE(SUM(deferred), 0), COALESCE(SUM(failed), 0) FROM elemta_delivery_rate WHERE minute >= @from";
        command.Parameters.AddWithValue("@from", fromMinute);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        return new OutcomeCounts(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2));
    }

    private static async Task<IReadOnlyList<string>> ReadStringsAsync(SqliteCommand command, CancellationToken cancellationToken)
    {
        var list = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            list.Add(reader.GetString(0));
        }

        return list;
    }
}
