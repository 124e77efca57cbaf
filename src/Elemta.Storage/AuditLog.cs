using Elemta.Storage.Relational;

namespace Elemta.Storage;

/// <summary>The audit log as the <c>elemta_audit</c> table of Elemta's database, on either provider.</summary>
public sealed class AuditLog(StoreDatabase database) : IAuditLog
{
    /// <inheritdoc />
    public Task AppendAsync(AuditRecord record, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(record);
        var batch = new WriteBatch();
        batch.Add(StoreSql.AppendAudit)
            .Bind("@at", record.At.ToUnixTimeMilliseconds())
            .Bind("@actor", record.Actor)
            .Bind("@action", record.Action)
            .Bind("@subject", record.Subject)
            .Bind("@detail", record.Detail);
        return database.WriteAsync(batch, cancellationToken);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<AuditRecord>> ReadAsync(string? subject, int limit, CancellationToken cancellationToken) =>
        [.. (await ReadPageAsync(subject, null, limit, cancellationToken).ConfigureAwait(false)).Select(r => r.Record)];

    /// <inheritdoc />
    public Task<IReadOnlyList<StoredAuditRecord>> ReadPageAsync(string? subject, long? beforeId, int limit, CancellationToken cancellationToken) =>
        database.ReadAsync<IReadOnlyList<StoredAuditRecord>>(async (session, ct) =>
        {
            var command = subject is null
                ? session.Command(StoreSql.ReadAudit)
                : session.Command(StoreSql.ReadAuditOfSubject).Bind("@subject", subject);
            command.Bind("@before", beforeId ?? long.MaxValue).Bind("@limit", limit);
            var records = new List<StoredAuditRecord>();
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                records.Add(new StoredAuditRecord(
                    reader.GetInt64(0),
                    new AuditRecord(QueueStore.FromMs(reader.GetInt64(1)), reader.GetString(2), reader.GetString(3), reader.GetString(4), reader.GetString(5))));
            }

            return records;
        }, cancellationToken);
}
