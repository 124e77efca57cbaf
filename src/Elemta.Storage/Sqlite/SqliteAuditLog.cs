namespace Elemta.Storage.Sqlite;

/// <summary>The audit log as the <c>elemta_audit</c> table, written through the group-commit writer.</summary>
public sealed class SqliteAuditLog(SqliteDatabase database) : IAuditLog
{
    private const string InsertSql = "INSERT INTO elemta_audit (at, actor, action, subject, detail) VALUES (@at, @actor, @action, @subject, @detail)";

    /// <inheritdoc />
    public Task AppendAsync(AuditRecord record, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(record);
        return database.Writer.ExecuteAsync(context =>
        {
            var command = context.Command(InsertSql);
            command.Parameters.AddWithValue("@at", record.At.ToUnixTimeMilliseconds());
            command.Parameters.AddWithValue("@actor", record.Actor);
            command.Parameters.AddWithValue("@action", record.Action);
            command.Parameters.AddWithValue("@subject", record.Subject);
            command.Parameters.AddWithValue("@detail", record.Detail);
            command.ExecuteNonQuery();
        }, cancellationToken);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<AuditRecord>> ReadAsync(string? subject, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = subject is null
            ? "SELECT at, actor, action, subject, detail FROM elemta_audit ORDER BY id DESC LIMIT @limit"
            : "SELECT at, actor, action, subject, detail FROM elemta_audit WHERE subject = @subject ORDER BY id DESC LIMIT @limit";
        command.Parameters.AddWithValue("@limit", limit);
        if (subject is not null)
        {
            command.Parameters.AddWithValue("@subject", subject);
        }

        var records = new List<AuditRecord>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            records.Add(new AuditRecord(DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(0)), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4)));
        }

        return records;
    }
}
