using System.Globalization;
using System.Text.Json;
using Elemta.Contracts;
using Microsoft.Data.Sqlite;

namespace Elemta.Storage.Sqlite;

/// <summary>The per-entry queue as a table in the embedded database.</summary>
public sealed class SqliteQueueStore(SqliteDatabase database) : IQueueStore
{
    // A held entry keeps its message listed as Held until it is released, whatever the attempt said; a finished
    // message is Delivered or Failed whatever was held.
    private const string RecordStateSql = """
        UPDATE elemta_message
        SET state = CASE
                WHEN @state >= 3 THEN @state
                WHEN EXISTS (SELECT 1 FROM elemta_queue q WHERE q.message_id = @id AND q.held = 1) THEN 2
                ELSE @state END,
            updated_at = @at,
            finished_at = CASE WHEN @state >= 3 THEN @at ELSE NULL END,
            recipient_states = COALESCE(@recipients, recipient_states),
            envelope = COALESCE(@envelope, envelope)
        WHERE message_id = @id
        """;

    private const string RecordRateSql = """
        INSERT INTO elemta_delivery_rate (minute, delivered, deferred, failed) VALUES (@minute, @delivered, @deferred, @failed)
        ON CONFLICT (minute) DO UPDATE SET delivered = delivered + excluded.delivered, deferred = deferred + excluded.deferred,
            failed = failed + excluded.failed
        """;

    // The distinct priorities of a domain's entries, found by a skip-scan of the work index (one index probe per
    // priority class) so a domain with a million deferred entries costs as little as one with ten.
    private const string PrioritiesSql = """
        WITH RECURSIVE p(v) AS (
            SELECT MIN(priority) FROM elemta_queue WHERE domain = @domain AND held = 0
            UNION ALL
            SELECT (SELECT MIN(priority) FROM elemta_queue WHERE domain = @domain AND held = 0 AND priority > p.v) FROM p WHERE p.v IS NOT NULL)
        SELECT v FROM p WHERE v IS NOT NULL
        """;

    private const string DueOfPrioritySql = """
        SELECT message_id, due_at FROM elemta_queue
        WHERE domain = @domain AND held = 0 AND priority = @priority AND due_at <= @now
        ORDER BY due_at
        LIMIT @limit
        """;

    /// <inheritdoc />
    public Task UpsertAsync(QueueEntry entry, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entry);
        return database.Writer.ExecuteAsync(context =>
        {
            var command = context.Command(QueueSql.Upsert);
            command.Parameters.AddWithValue("@domain", entry.Domain);
            command.Parameters.AddWithValue("@id", entry.MessageId);
            command.Parameters.AddWithValue("@priority", entry.Priority);
            command.Parameters.AddWithValue("@due", entry.DueAt.ToUnixTimeMilliseconds());
            command.ExecuteNonQuery();
        }, cancellationToken);
    }

    /// <inheritdoc />
    public Task RemoveAsync(string domain, string messageId, CancellationToken cancellationToken) =>
        database.Writer.ExecuteAsync(context =>
        {
            var command = context.Command(QueueSql.Remove);
            command.Parameters.AddWithValue("@domain", domain);
            command.Parameters.AddWithValue("@id", messageId);
            command.ExecuteNonQuery();
        }, cancellationToken);

    /// <inheritdoc />
    public Task RescheduleAsync(string domain, string messageId, DateTimeOffset dueAt, CancellationToken cancellationToken) =>
        database.Writer.ExecuteAsync(context =>
        {
            var command = context.Command(QueueSql.Reschedule);
            command.Parameters.AddWithValue("@domain", domain);
            command.Parameters.AddWithValue("@id", messageId);
            command.Parameters.AddWithValue("@due", dueAt.ToUnixTimeMilliseconds());
            command.ExecuteNonQuery();
        }, cancellationToken);

    /// <inheritdoc />
    public Task RecordOutcomeAsync(QueueOutcome outcome, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        var at = outcome.At.ToUnixTimeMilliseconds();
        var results = outcome.Attempt is null ? null : JsonSerializer.Serialize(outcome.Attempt.Results, EnvelopeJsonContext.Default.ImmutableArrayRecipientResult);
        var recipients = outcome.Recipients.IsDefault ? null : JsonSerializer.Serialize(outcome.Recipients, EnvelopeJsonContext.Default.ImmutableArrayRecipientState);
        var envelope = outcome.Envelope is null ? null : JsonSerializer.Serialize(outcome.Envelope, EnvelopeJsonContext.Default.MessageEnvelope);
        return database.Writer.ExecuteAsync(context =>
        {
            SqliteCommand entry;
            if (outcome.NextDueAt is { } next)
            {
                entry = context.Command(QueueSql.Reschedule);
                entry.Parameters.AddWithValue("@due", next.ToUnixTimeMilliseconds());
            }
            else
            {
                entry = context.Command(QueueSql.Remove);
            }

            entry.Parameters.AddWithValue("@domain", outcome.Domain);
            entry.Parameters.AddWithValue("@id", outcome.MessageId);
            entry.ExecuteNonQuery();

            var state = context.Command(RecordStateSql);
            state.Parameters.AddWithValue("@state", (int)outcome.State);
            state.Parameters.AddWithValue("@id", outcome.MessageId);
            state.Parameters.AddWithValue("@at", at);
            state.Parameters.AddWithValue("@recipients", (object?)recipients ?? DBNull.Value);
            state.Parameters.AddWithValue("@envelope", (object?)envelope ?? DBNull.Value);
            state.ExecuteNonQuery();

            if (outcome.Delivered + outcome.Deferred + outcome.Failed > 0)
            {
                var rate = context.Command(RecordRateSql);
                rate.Parameters.AddWithValue("@minute", at / 60_000);
                rate.Parameters.AddWithValue("@delivered", outcome.Delivered);
                rate.Parameters.AddWithValue("@deferred", outcome.Deferred);
                rate.Parameters.AddWithValue("@failed", outcome.Failed);
                rate.ExecuteNonQuery();
            }

            if (outcome.Attempt is { } attempt)
            {
                var history = context.Command(QueueSql.RecordAttempt);
                history.Parameters.AddWithValue("@id", outcome.MessageId);
                history.Parameters.AddWithValue("@domain", outcome.Domain);
                history.Parameters.AddWithValue("@started", attempt.StartedAt.ToUnixTimeMilliseconds());
                history.Parameters.AddWithValue("@duration", (long)attempt.Duration.TotalMilliseconds);
                history.Parameters.AddWithValue("@host", string.IsNullOrEmpty(attempt.RemoteHost) ? DBNull.Value : attempt.RemoteHost);
                history.Parameters.AddWithValue("@address", (object?)attempt.RemoteAddress ?? DBNull.Value);
                history.Parameters.AddWithValue("@tls", (object?)attempt.Tls ?? DBNull.Value);
                history.Parameters.AddWithValue("@results", results!);
                history.ExecuteNonQuery();
            }

            if (outcome.State.IsFinal())
            {
                // The final recipient states are written by this same transaction: the content is needed no more.
                var body = context.Command(SqliteMessageStore.DeleteSql);
                body.Parameters.AddWithValue("@id", outcome.MessageId);
                body.ExecuteNonQuery();
            }
        }, cancellationToken);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<QueueEntry>> GetDueAsync(string domain, DateTimeOffset now, int limit, CancellationToken cancellationToken)
    {
        var entries = new List<QueueEntry>();
        if (limit <= 0)
        {
            return entries;
        }

        await using var connection = await database.RentReaderAsync(cancellationToken).ConfigureAwait(false);
        var priorities = new List<int>();
        {
            var command = connection.Command(PrioritiesSql);
            command.Parameters.AddWithValue("@domain", domain);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                priorities.Add(reader.GetInt32(0));
            }
        }

        foreach (var priority in priorities)
        {
            var command = connection.Command(DueOfPrioritySql);
            command.Parameters.AddWithValue("@domain", domain);
            command.Parameters.AddWithValue("@priority", priority);
            command.Parameters.AddWithValue("@now", now.ToUnixTimeMilliseconds());
            command.Parameters.AddWithValue("@limit", limit - entries.Count);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                entries.Add(new QueueEntry(domain, reader.GetString(0), priority, DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1))));
            }

            if (entries.Count >= limit)
            {
                break;
            }
        }

        return entries;
    }

    /// <inheritdoc />
    public async Task<DateTimeOffset?> GetNextDueAsync(string domain, CancellationToken cancellationToken)
    {
        await using var connection = await database.RentReaderAsync(cancellationToken).ConfigureAwait(false);
        var command = connection.Command("SELECT MIN(due_at) FROM elemta_queue WHERE domain = @domain AND held = 0");
        command.Parameters.AddWithValue("@domain", domain);
        var value = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return value is null or DBNull ? null : DateTimeOffset.FromUnixTimeMilliseconds(Convert.ToInt64(value, CultureInfo.InvariantCulture));
    }

    /// <inheritdoc />
    public async Task<long> CountAsync(string domain, CancellationToken cancellationToken) =>
        (await GetDomainCountAsync(domain, cancellationToken).ConfigureAwait(false)).Queued;

    /// <inheritdoc />
    public async Task<DomainCount> GetDomainCountAsync(string domain, CancellationToken cancellationToken)
    {
        await using var connection = await database.RentReaderAsync(cancellationToken).ConfigureAwait(false);
        var command = connection.Command("SELECT queued, held FROM elemta_domain_count WHERE domain = @domain");
        command.Parameters.AddWithValue("@domain", domain);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false)
            ? new DomainCount(domain, reader.GetInt64(0), reader.GetInt64(1))
            : new DomainCount(domain, 0, 0);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<string>> GetDomainsDueAsync(DateTimeOffset dueBy, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.RentReaderAsync(cancellationToken).ConfigureAwait(false);
        var command = connection.Command("SELECT DISTINCT domain FROM elemta_queue WHERE held = 0 AND due_at <= @due LIMIT @limit");
        command.Parameters.AddWithValue("@due", dueBy == DateTimeOffset.MaxValue ? long.MaxValue : dueBy.ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("@limit", limit);
        var domains = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            domains.Add(reader.GetString(0));
        }

        return domains;
    }

    /// <inheritdoc />
    public async Task<MessageRecord?> ReadRecordAsync(string messageId, CancellationToken cancellationToken)
    {
        await using var connection = await database.RentReaderAsync(cancellationToken).ConfigureAwait(false);
        var command = connection.Command("SELECT state, priority, recipient_states, envelope FROM elemta_message WHERE message_id = @id");
        command.Parameters.AddWithValue("@id", messageId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            return null;
        }

        var recipients = reader.IsDBNull(2) ? default : JsonSerializer.Deserialize(reader.GetString(2), EnvelopeJsonContext.Default.ImmutableArrayRecipientState);
        var envelope = reader.IsDBNull(3) ? null : JsonSerializer.Deserialize(reader.GetString(3), EnvelopeJsonContext.Default.MessageEnvelope);
        return new MessageRecord((MessageQueueState)reader.GetInt32(0), (MessagePriority)reader.GetInt32(1), recipients, envelope);
    }

    /// <inheritdoc />
    public async Task<QueuePosition?> GetPositionAsync(string domain, string messageId, CancellationToken cancellationToken)
    {
        await using var connection = await database.RentReaderAsync(cancellationToken).ConfigureAwait(false);
        var command = connection.Command("""
            SELECT e.held, e.due_at,
                (SELECT COUNT(*) FROM elemta_queue o WHERE o.domain = e.domain AND o.held = 0
                    AND (o.priority < e.priority OR (o.priority = e.priority AND o.due_at < e.due_at)))
            FROM elemta_queue e WHERE e.domain = @domain AND e.message_id = @id
            """);
        command.Parameters.AddWithValue("@domain", domain);
        command.Parameters.AddWithValue("@id", messageId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false)
            ? new QueuePosition(reader.GetInt64(0) != 0, DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1)), reader.GetInt64(2))
            : null;
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<QueueEntry>> GetDueReceivedBeforeAsync(string domain, DateTimeOffset now, DateTimeOffset receivedBefore, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.RentReaderAsync(cancellationToken).ConfigureAwait(false);
        var command = connection.Command("""
            SELECT q.message_id, q.priority, q.due_at FROM elemta_queue q JOIN elemta_message m ON m.message_id = q.message_id
            WHERE q.domain = @domain AND q.held = 0 AND q.due_at <= @now AND m.received_at < @before
            LIMIT @limit
            """);
        command.Parameters.AddWithValue("@domain", domain);
        command.Parameters.AddWithValue("@now", now.ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("@before", receivedBefore.ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("@limit", limit);
        var entries = new List<QueueEntry>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            entries.Add(new QueueEntry(domain, reader.GetString(0), reader.GetInt32(1), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2))));
        }

        return entries;
    }
}
