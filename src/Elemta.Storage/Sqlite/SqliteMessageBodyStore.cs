namespace Elemta.Storage.Sqlite;

/// <summary>The body store as a table in the embedded database, written through the group-commit writer.</summary>
public sealed class SqliteMessageBodyStore(SqliteDatabase database, TimeProvider timeProvider) : IMessageBodyStore
{
    private const string InsertSql =
        "INSERT OR REPLACE INTO elemta_message_body (message_id, created_at, size, content) VALUES (@id, @created, @size, @content)";

    private const string DeleteSql = "DELETE FROM elemta_message_body WHERE message_id = @id";

    /// <inheritdoc />
    public Task StoreAsync(string messageId, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(messageId);
        var created = timeProvider.GetUtcNow().ToUnixTimeMilliseconds();
        return database.Writer.ExecuteAsync(context =>
        {
            var command = context.Command(InsertSql);
            command.Parameters.AddWithValue("@id", messageId);
            command.Parameters.AddWithValue("@created", created);
            command.Parameters.AddWithValue("@size", content.Length);
            // SQLite binds a blob from an array; a pooled buffer would need copying here anyway.
            command.Parameters.AddWithValue("@content", content.ToArray());
            command.ExecuteNonQuery();
        }, cancellationToken);
    }

    /// <inheritdoc />
    public async Task<byte[]?> ReadAsync(string messageId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT content FROM elemta_message_body WHERE message_id = @id";
        command.Parameters.AddWithValue("@id", messageId);
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as byte[];
    }

    /// <inheritdoc />
    public Task DeleteAsync(string messageId, CancellationToken cancellationToken) =>
        database.Writer.ExecuteAsync(context =>
        {
            var command = context.Command(DeleteSql);
            command.Parameters.AddWithValue("@id", messageId);
            command.ExecuteNonQuery();
        }, cancellationToken);
}
