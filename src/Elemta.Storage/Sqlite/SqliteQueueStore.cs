using System.Globalization;

namespace Elemta.Storage.Sqlite;

/// <summary>The per-entry queue as a table in the embedded database.</summary>
public sealed class SqliteQueueStore(SqliteDatabase database) : IQueueStore
{
    internal const string UpsertSql = """
        INSERT INTO elemta_queue (domain, message_id, priority, due_at) VALUES (@domain, @id, @priority, @due)
        ON CONFLICT (domain, message_id) DO UPDATE SET priority = excluded.priority, due_at = excluded.due_at
        """;

    private const string RemoveSql = "DELETE FROM elemta_queue WHERE domain = @domain AND message_id = @id";

    /// <inheritdoc />
    public Task UpsertAsync(QueueEntry entry, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entry);
        return database.Writer.ExecuteAsync(context =>
        {
            var command = context.Command(UpsertSql);
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
            var command = context.Command(RemoveSql);
            command.Parameters.AddWithValue("@domain", domain);
            command.Parameters.AddWithValue("@id", messageId);
            command.ExecuteNonQuery();
        }, cancellationToken);

    /// <inheritdoc />
    public async Task<IReadOnlyList<QueueEntry>> GetDueAsync(string domain, DateTimeOffset now, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT message_id, priority, due_at FROM elemta_queue
            WHERE domain = @domain AND due_at <= @now
            ORDER BY due_at
            LIMIT @limit
            """;
        command.Parameters.AddWithValue("@domain", domain);
        command.Parameters.AddWithValue("@now", now.ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("@limit", limit);
        var entries = new List<QueueEntry>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            entries.Add(new QueueEntry(domain, reader.GetString(0), reader.GetInt32(1), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2))));
        }

        return entries;
    }

    /// <inheritdoc />
    public async Task<DateTimeOffset?> GetNextDueAsync(string domain, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT MIN(due_at) FROM elemta_queue WHERE domain = @domain";
        command.Parameters.AddWithValue("@domain", domain);
        var value = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return value is null or DBNull ? null : DateTimeOffset.FromUnixTimeMilliseconds(Convert.ToInt64(value, CultureInfo.InvariantCulture));
    }

    /// <inheritdoc />
    public async Task<long> CountAsync(string domain, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM elemta_queue WHERE domain = @domain";
        command.Parameters.AddWithValue("@domain", domain);
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<string>> GetDomainsDueAsync(DateTimeOffset dueBy, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT DISTINCT domain FROM elemta_queue WHERE due_at <= @due LIMIT @limit";
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
}
