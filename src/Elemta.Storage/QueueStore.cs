using System.Text.Json;
using Elemta.Contracts;
using Elemta.Storage.Relational;

namespace Elemta.Storage;

/// <summary>The per-entry queue as a table of Elemta's database, on either provider.</summary>
public sealed class QueueStore(StoreDatabase database) : IQueueStore
{
    /// <inheritdoc />
    public Task UpsertAsync(QueueEntry entry, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var batch = new WriteBatch();
        AddUpsert(batch, entry.Domain, entry.MessageId, entry.Priority, entry.DueAt.ToUnixTimeMilliseconds());
        return database.WriteAsync(batch, cancellationToken);
    }

    /// <inheritdoc />
    public Task RemoveAsync(string domain, string messageId, CancellationToken cancellationToken)
    {
        var batch = new WriteBatch();
        batch.Add(StoreSql.RemoveEntry).Bind("@domain", domain).Bind("@id", messageId);
        return database.WriteAsync(batch, cancellationToken);
    }

    /// <inheritdoc />
    public Task RescheduleAsync(string domain, string messageId, DateTimeOffset dueAt, CancellationToken cancellationToken)
    {
        var batch = new WriteBatch();
        batch.Add(StoreSql.RescheduleEntry).Bind("@domain", domain).Bind("@id", messageId).Bind("@due", dueAt.ToUnixTimeMilliseconds());
        return database.WriteAsync(batch, cancellationToken);
    }

    /// <inheritdoc />
    public Task RecordOutcomeAsync(QueueOutcome outcome, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        var at = outcome.At.ToUnixTimeMilliseconds();
        var batch = new WriteBatch();
        if (outcome.NextDueAt is { } next)
        {
            batch.Add(StoreSql.RescheduleEntry).Bind("@domain", outcome.Domain).Bind("@id", outcome.MessageId).Bind("@due", next.ToUnixTimeMilliseconds());
        }
        else
        {
            batch.Add(StoreSql.RemoveEntry).Bind("@domain", outcome.Domain).Bind("@id", outcome.MessageId);
        }

        batch.Add(StoreSql.RecordState)
            .Bind("@state", (int)outcome.State)
            .Bind("@id", outcome.MessageId)
            .Bind("@at", at)
            .Bind("@recipients", outcome.Recipients.IsDefault ? null : JsonSerializer.Serialize(outcome.Recipients, EnvelopeJsonContext.Default.ImmutableArrayRecipientState))
            .Bind("@envelope", outcome.Envelope is null ? null : JsonSerializer.Serialize(outcome.Envelope, EnvelopeJsonContext.Default.MessageEnvelope));

        if (outcome.Delivered + outcome.Deferred + outcome.Failed > 0)
        {
            batch.Add(database.Dialect[StoreSql.RecordRate])
                .Bind("@minute", at / 60_000)
                .Bind("@delivered", (long)outcome.Delivered)
                .Bind("@deferred", (long)outcome.Deferred)
                .Bind("@failed", (long)outcome.Failed);
        }

        if (outcome.Attempt is { } attempt)
        {
            batch.Add(StoreSql.RecordAttempt)
                .Bind("@id", outcome.MessageId)
                .Bind("@domain", outcome.Domain)
                .Bind("@started", attempt.StartedAt.ToUnixTimeMilliseconds())
                .Bind("@duration", (long)attempt.Duration.TotalMilliseconds)
                .Bind("@host", string.IsNullOrEmpty(attempt.RemoteHost) ? null : attempt.RemoteHost)
                .Bind("@address", attempt.RemoteAddress)
                .Bind("@tls", attempt.Tls)
                .Bind("@results", JsonSerializer.Serialize(attempt.Results, EnvelopeJsonContext.Default.ImmutableArrayRecipientResult));
        }

        if (outcome.State.IsFinal())
        {
            // The final recipient states are written by this same transaction: the content is needed no more.
            batch.Add(StoreSql.DeleteBody).Bind("@id", outcome.MessageId);
        }

        return database.WriteAsync(batch, cancellationToken);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<QueueEntry>> GetDueAsync(string domain, DateTimeOffset now, int limit, CancellationToken cancellationToken)
    {
        if (limit <= 0)
        {
            return Task.FromResult<IReadOnlyList<QueueEntry>>([]);
        }

        var at = now.ToUnixTimeMilliseconds();
        return database.Dialect.LateralJoins
            ? database.ReadAsync<IReadOnlyList<QueueEntry>>(async (session, ct) =>
            {
                var command = session.Command(StoreSql.DueLateral).Bind("@domain", domain).Bind("@now", at).Bind("@limit", limit);
                var entries = new List<QueueEntry>();
                await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    entries.Add(new QueueEntry(domain, reader.GetString(0), reader.GetInt32(1), FromMs(reader.GetInt64(2))));
                }

                return entries;
            }, cancellationToken)
            : database.ReadAsync<IReadOnlyList<QueueEntry>>(async (session, ct) =>
            {
                // Without lateral joins, the skip-scan's steps are separate statements on one connection.
                var priorities = new List<int>();
                var command = session.Command(StoreSql.DuePriorities).Bind("@domain", domain);
                await using (var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false))
                {
                    while (await reader.ReadAsync(ct).ConfigureAwait(false))
                    {
                        priorities.Add(reader.GetInt32(0));
                    }
                }

                var entries = new List<QueueEntry>();
                foreach (var priority in priorities)
                {
                    command = session.Command(StoreSql.DueOfPriority)
                        .Bind("@domain", domain).Bind("@priority", priority).Bind("@now", at).Bind("@limit", limit - entries.Count);
                    await using (var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false))
                    {
                        while (await reader.ReadAsync(ct).ConfigureAwait(false))
                        {
                            entries.Add(new QueueEntry(domain, reader.GetString(0), priority, FromMs(reader.GetInt64(1))));
                        }
                    }

                    if (entries.Count >= limit)
                    {
                        break;
                    }
                }

                return entries;
            }, cancellationToken);
    }

    /// <inheritdoc />
    public Task<DateTimeOffset?> GetNextDueAsync(string domain, CancellationToken cancellationToken) =>
        database.ReadAsync(async (session, ct) =>
            await session.Command(StoreSql.NextDue).Bind("@domain", domain).ExecuteScalarAsync(ct).ConfigureAwait(false) is long ms
                ? FromMs(ms)
                : (DateTimeOffset?)null,
            cancellationToken);

    /// <inheritdoc />
    public async Task<long> CountAsync(string domain, CancellationToken cancellationToken) =>
        (await GetDomainCountAsync(domain, cancellationToken).ConfigureAwait(false)).Queued;

    /// <inheritdoc />
    public Task<DomainCount> GetDomainCountAsync(string domain, CancellationToken cancellationToken) =>
        database.ReadAsync(async (session, ct) =>
        {
            await using var reader = await session.Command(StoreSql.DomainCount).Bind("@domain", domain).ExecuteReaderAsync(ct).ConfigureAwait(false);
            await reader.ReadAsync(ct).ConfigureAwait(false);
            return new DomainCount(domain, reader.GetInt64(0), reader.GetInt64(1));
        }, cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<string>> GetDomainsDueAsync(DateTimeOffset dueBy, int limit, CancellationToken cancellationToken) =>
        database.ReadAsync((session, ct) => session.Command(StoreSql.DomainsDue)
            .Bind("@due", dueBy == DateTimeOffset.MaxValue ? long.MaxValue : dueBy.ToUnixTimeMilliseconds())
            .Bind("@limit", limit)
            .ReadStringsAsync(ct), cancellationToken);

    /// <inheritdoc />
    public Task<MessageRecord?> ReadRecordAsync(string messageId, CancellationToken cancellationToken) =>
        database.ReadAsync(async (session, ct) =>
        {
            await using var reader = await session.Command(StoreSql.ReadRecord).Bind("@id", messageId).ExecuteReaderAsync(ct).ConfigureAwait(false);
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
        database.ReadAsync(async (session, ct) =>
        {
            await using var reader = await session.Command(StoreSql.Position).Bind("@domain", domain).Bind("@id", messageId).ExecuteReaderAsync(ct).ConfigureAwait(false);
            return await reader.ReadAsync(ct).ConfigureAwait(false)
                ? new QueuePosition(reader.GetInt32(0) != 0, FromMs(reader.GetInt64(1)), reader.GetInt64(2))
                : null;
        }, cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<QueueEntry>> GetDueReceivedBeforeAsync(string domain, DateTimeOffset now, DateTimeOffset receivedBefore, int limit, CancellationToken cancellationToken) =>
        database.ReadAsync<IReadOnlyList<QueueEntry>>(async (session, ct) =>
        {
            var command = session.Command(StoreSql.DueReceivedBefore)
                .Bind("@domain", domain).Bind("@now", now.ToUnixTimeMilliseconds()).Bind("@before", receivedBefore.ToUnixTimeMilliseconds()).Bind("@limit", limit);
            var entries = new List<QueueEntry>();
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                entries.Add(new QueueEntry(domain, reader.GetString(0), reader.GetInt32(1), FromMs(reader.GetInt64(2))));
            }

            return entries;
        }, cancellationToken);

    /// <summary>Adds the upsert of one entry to <paramref name="batch"/> (acceptance adds one per recipient domain).</summary>
    internal static void AddUpsert(WriteBatch batch, string domain, string messageId, int priority, long dueAt) =>
        batch.Add(StoreSql.UpsertEntry).Bind("@domain", domain).Bind("@id", messageId).Bind("@priority", priority).Bind("@due", dueAt);

    internal static DateTimeOffset FromMs(long milliseconds) => DateTimeOffset.FromUnixTimeMilliseconds(milliseconds);
}
