using System.Text.Json;
using Elemta.Contracts;
using Elemta.Storage.Sqlite;
using Npgsql;

namespace Elemta.Storage.Postgres;

/// <summary>The per-entry queue as a table in the cluster's PostgreSQL database, shared by every silo.</summary>
public sealed class PostgresQueueStore(PostgresDatabase database) : IQueueStore
{
    // As in SQLite: a held entry keeps its message listed as Held until released; a finished message is Delivered or
    // Failed whatever was held.
    private const string RecordStateSql = """
        UPDATE elemta_message
        SET state = CASE
                WHEN @state >= 3 THEN @state
                WHEN EXISTS (SELECT 1 FROM elemta_queue q WHERE q.message_id = @id AND q.held = 1) THEN 2
                ELSE @state END,
            updated_at = @at,
            finished_at = CASE WHEN @state >= 3 THEN @at ELSE NULL END,
            recipient_states = COALESCE(CAST(@recipients AS text), recipient_states),
            envelope = COALESCE(CAST(@envelope AS text), envelope)
        WHERE message_id = @id
        """;

    private const string RecordRateSql = """
        INSERT INTO elemta_delivery_rate (minute, slot, delivered, deferred, failed) VALUES (@minute, pg_backend_pid() % 16, @delivered, @deferred, @failed)
        ON CONFLICT (minute, slot) DO UPDATE SET delivered = elemta_delivery_rate.delivered + excluded.delivered,
            deferred = elemta_delivery_rate.deferred + excluded.deferred, failed = elemta_delivery_rate.failed + excluded.failed
        """;

    // The distinct priorities of the domain's entries by a skip-scan of the work index (one probe per priority
    // class), then per class the earliest due entries: a domain with a million deferred entries costs as little as
    // one with ten. One round trip.
    private const string DueSql = """
        WITH RECURSIVE p(v) AS (
            SELECT MIN(priority) FROM elemta_queue WHERE domain = @domain AND held = 0
            UNION ALL
            SELECT (SELECT MIN(priority) FROM elemta_queue WHERE domain = @domain AND held = 0 AND priority > p.v) FROM p WHERE p.v IS NOT NULL)
        SELECT e.message_id, p.v, e.due_at
        FROM p CROSS JOIN LATERAL (
            SELECT message_id, due_at FROM elemta_queue
            WHERE domain = @domain AND held = 0 AND priority = p.v AND due_at <= @now
            ORDER BY due_at LIMIT @limit) e
        WHERE p.v IS NOT NULL
        ORDER BY p.v, e.due_at
        LIMIT @limit
        """;

    /// <inheritdoc />
    public Task UpsertAsync(QueueEntry entry, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entry);
        return database.WriteBatchAsync(batch => batch.Add(QueueSql.Upsert,
            ("domain", entry.Domain), ("id", entry.MessageId), ("priority", entry.Priority), ("due", entry.DueAt.ToUnixTimeMilliseconds())), cancellationToken);
    }

    /// <inheritdoc />
    public Task RemoveAsync(string domain, string messageId, CancellationToken cancellationToken) =>
        database.WriteBatchAsync(batch => batch.Add(QueueSql.Remove, ("domain", domain), ("id", messageId)), cancellationToken);

    /// <inheritdoc />
    public Task RescheduleAsync(string domain, string messageId, DateTimeOffset dueAt, CancellationToken cancellationToken) =>
        database.WriteBatchAsync(batch => batch.Add(QueueSql.Reschedule, ("domain", domain), ("id", messageId), ("due", dueAt.ToUnixTimeMilliseconds())), cancellationToken);

    /// <inheritdoc />
    public Task RecordOutcomeAsync(QueueOutcome outcome, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        var at = outcome.At.ToUnixTimeMilliseconds();
        var results = outcome.Attempt is null ? null : JsonSerializer.Serialize(outcome.Attempt.Results, EnvelopeJsonContext.Default.ImmutableArrayRecipientResult);
        var recipients = outcome.Recipients.IsDefault ? null : JsonSerializer.Serialize(outcome.Recipients, EnvelopeJsonContext.Default.ImmutableArrayRecipientState);
        var envelope = outcome.Envelope is null ? null : JsonSerializer.Serialize(outcome.Envelope, EnvelopeJsonContext.Default.MessageEnvelope);
        return database.WriteBatchAsync(batch =>
        {
            if (outcome.NextDueAt is { } next)
            {
                batch.Add(QueueSql.Reschedule, ("domain", outcome.Domain), ("id", outcome.MessageId), ("due", next.ToUnixTimeMilliseconds()));
            }
            else
            {
                batch.Add(QueueSql.Remove, ("domain", outcome.Domain), ("id", outcome.MessageId));
            }

            batch.Add(RecordStateSql, ("state", (int)outcome.State), ("id", outcome.MessageId), ("at", at), ("recipients", recipients), ("envelope", envelope));
            if (outcome.Delivered + outcome.Deferred + outcome.Failed > 0)
            {
                batch.Add(RecordRateSql, ("minute", at / 60_000), ("delivered", (long)outcome.Delivered), ("deferred", (long)outcome.Deferred), ("failed", (long)outcome.Failed));
            }

            if (outcome.Attempt is { } attempt)
            {
                batch.Add(QueueSql.RecordAttempt, ("id", outcome.MessageId), ("domain", outcome.Domain), ("started", attempt.StartedAt.ToUnixTimeMilliseconds()),
                    ("duration", (long)attempt.Duration.TotalMilliseconds), ("host", string.IsNullOrEmpty(attempt.RemoteHost) ? null : attempt.RemoteHost),
                    ("address", attempt.RemoteAddress), ("tls", attempt.Tls), ("results", results));
            }

            if (outcome.State.IsFinal())
            {
                // The final recipient states are written by this same transaction: the content is needed no more.
                batch.Add(PostgresMessageStore.DeleteSql, ("id", outcome.MessageId));
            }
        }, cancellationToken);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<QueueEntry>> GetDueAsync(string domain, DateTimeOffset now, int limit, CancellationToken cancellationToken)
    {
        if (limit <= 0)
        {
            return [];
        }

        return await database.ReadAsync(async (connection, ct) =>
        {
            await using var command = new NpgsqlCommand(DueSql, connection).With(("domain", domain), ("now", now.ToUnixTimeMilliseconds()), ("limit", limit));
            var entries = new List<QueueEntry>();
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                entries.Add(new QueueEntry(domain, reader.GetString(0), reader.GetInt32(1), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2))));
            }

            return entries;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task<DateTimeOffset?> GetNextDueAsync(string domain, CancellationToken cancellationToken) =>
        database.ReadAsync(async (connection, ct) =>
        {
            await using var command = new NpgsqlCommand("SELECT MIN(due_at) FROM elemta_queue WHERE domain = @domain AND held = 0", connection).With(("domain", domain));
            return await command.ExecuteScalarAsync(ct).ConfigureAwait(false) is long ms ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : (DateTimeOffset?)null;
        }, cancellationToken);

    /// <inheritdoc />
    public async Task<long> CountAsync(string domain, CancellationToken cancellationToken) =>
        (await GetDomainCountAsync(domain, cancellationToken).ConfigureAwait(false)).Queued;

    /// <inheritdoc />
    public Task<DomainCount> GetDomainCountAsync(string domain, CancellationToken cancellationToken) =>
        database.ReadAsync(async (connection, ct) =>
        {
            await using var command = new NpgsqlCommand(
                "SELECT COALESCE(SUM(queued), 0)::bigint, COALESCE(SUM(held), 0)::bigint FROM elemta_domain_count WHERE domain = @domain", connection).With(("domain", domain));
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await reader.ReadAsync(ct).ConfigureAwait(false);
            return new DomainCount(domain, reader.GetInt64(0), reader.GetInt64(1));
        }, cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<string>> GetDomainsDueAsync(DateTimeOffset dueBy, int limit, CancellationToken cancellationToken) =>
        database.ReadAsync<IReadOnlyList<string>>(async (connection, ct) =>
        {
            await using var command = new NpgsqlCommand("SELECT DISTINCT domain FROM elemta_queue WHERE held = 0 AND due_at <= @due LIMIT @limit", connection)
                .With(("due", dueBy == DateTimeOffset.MaxValue ? long.MaxValue : dueBy.ToUnixTimeMilliseconds()), ("limit", limit));
            return await PostgresQueueOperations.ReadStringsAsync(command, ct).ConfigureAwait(false);
        }, cancellationToken);

    /// <inheritdoc />
    public Task<MessageRecord?> ReadRecordAsync(string messageId, CancellationToken cancellationToken) =>
        database.ReadAsync(async (connection, ct) =>
        {
            await using var command = new NpgsqlCommand(
                "SELECT state, priority, recipient_states, envelope FROM elemta_message WHERE message_id = @id", connection).With(("id", messageId));
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            if (!await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                return (MessageRecord?)null;
            }

            var recipients = reader.IsDBNull(2) ? default : JsonSerializer.Deserialize(reader.GetString(2), EnvelopeJsonContext.Default.ImmutableArrayRecipientState);
            var envelope = reader.IsDBNull(3) ? null : JsonSerializer.Deserialize(reader.GetString(3), EnvelopeJsonContext.Default.MessageEnvelope);
            return new MessageRecord((MessageQueueState)reader.GetInt32(0), (MessagePriority)reader.GetInt32(1), recipients, envelope);
        }, cancellationToken);

    /// <inheritdoc />
    public Task<QueuePosition?> GetPositionAsync(string domain, string messageId, CancellationToken cancellationToken) =>
        database.ReadAsync(async (connection, ct) =>
        {
            await using var command = new NpgsqlCommand("""
                SELECT e.held, e.due_at,
                    (SELECT COUNT(*) FROM elemta_queue o WHERE o.domain = e.domain AND o.held = 0
                        AND (o.priority < e.priority OR (o.priority = e.priority AND o.due_at < e.due_at)))
                FROM elemta_queue e WHERE e.domain = @domain AND e.message_id = @id
                """, connection).With(("domain", domain), ("id", messageId));
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            return await reader.ReadAsync(ct).ConfigureAwait(false)
                ? new QueuePosition(reader.GetInt32(0) != 0, DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1)), reader.GetInt64(2))
                : null;
        }, cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<QueueEntry>> GetDueReceivedBeforeAsync(string domain, DateTimeOffset now, DateTimeOffset receivedBefore, int limit, CancellationToken cancellationToken) =>
        database.ReadAsync<IReadOnlyList<QueueEntry>>(async (connection, ct) =>
        {
            await using var command = new NpgsqlCommand("""
                SELECT q.message_id, q.priority, q.due_at FROM elemta_queue q JOIN elemta_message m ON m.message_id = q.message_id
                WHERE q.domain = @domain AND q.held = 0 AND q.due_at <= @now AND m.received_at < @before
                LIMIT @limit
                """, connection).With(("domain", domain), ("now", now.ToUnixTimeMilliseconds()), ("before", receivedBefore.ToUnixTimeMilliseconds()), ("limit", limit));
            var entries = new List<QueueEntry>();
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                entries.Add(new QueueEntry(domain, reader.GetString(0), reader.GetInt32(1), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2))));
            }

            return entries;
        }, cancellationToken);
}
