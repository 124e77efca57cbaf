using System.Text.Json;
using Elemta.Contracts;
using Elemta.Storage.Sqlite;
using Npgsql;

namespace Elemta.Storage.Postgres;

/// <summary>
/// Messages in the cluster's PostgreSQL database: one <c>elemta_message_body</c> row per message (content and
/// envelope), the listing row and the queue rows, written by one batch in one transaction.
/// </summary>
public sealed class PostgresMessageStore(PostgresDatabase database) : IMessageStore
{
    private const string InsertMessageSql = """
        INSERT INTO elemta_message_body (message_id, created_at, size, content, envelope)
        VALUES (@id, @created, @size, @content, @envelope)
        ON CONFLICT (message_id) DO UPDATE SET created_at = excluded.created_at, size = excluded.size,
            content = excluded.content, envelope = excluded.envelope
        """;

    internal const string DeleteSql = "DELETE FROM elemta_message_body WHERE message_id = @id";

    private const string ListMessageSql = """
        INSERT INTO elemta_message (message_id, state, priority, sender, recipients, size, received_at, updated_at)
        VALUES (@id, 0, @priority, @sender, @recipients, @size, @received, @received)
        ON CONFLICT (message_id) DO NOTHING
        """;

    /// <inheritdoc />
    public Task AcceptAsync(MessageEnvelope envelope, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        ArgumentException.ThrowIfNullOrEmpty(envelope.MessageId);
        var json = JsonSerializer.Serialize(envelope, EnvelopeJsonContext.Default.MessageEnvelope);
        var due = envelope.ReceivedAt.ToUnixTimeMilliseconds();
        var domains = envelope.RecipientDomains().ToArray();
        // Copied although the batch is awaited: Npgsql sends large parameters on a background task while it reads
        // the replies, and a failed batch can end before that send has stopped reading the caller's (pooled) memory.
        var bytes = content.ToArray();
        return database.WriteBatchAsync(batch =>
        {
            batch.Add(InsertMessageSql, ("id", envelope.MessageId), ("created", due), ("size", (long)bytes.Length), ("content", bytes), ("envelope", json));
            batch.Add(ListMessageSql, ("id", envelope.MessageId), ("priority", (int)envelope.Priority), ("sender", envelope.Sender),
                ("recipients", envelope.Recipients.Length), ("size", (long)bytes.Length), ("received", due));
            // Sorted so that two acceptances touching the same rows lock them in the same order (no deadlock).
            foreach (var domain in domains.Order(StringComparer.Ordinal))
            {
                batch.Add(QueueSql.Upsert, ("domain", domain), ("id", envelope.MessageId), ("priority", (int)envelope.Priority), ("due", due));
            }
        }, cancellationToken);
    }

    /// <inheritdoc />
    public Task<MessageEnvelope?> ReadEnvelopeAsync(string messageId, CancellationToken cancellationToken) =>
        database.ReadAsync(async (connection, ct) =>
        {
            await using var command = new NpgsqlCommand("SELECT envelope FROM elemta_message_body WHERE message_id = @id", connection);
            command.Parameters.AddWithValue("id", messageId);
            return await command.ExecuteScalarAsync(ct).ConfigureAwait(false) is string json
                ? JsonSerializer.Deserialize(json, EnvelopeJsonContext.Default.MessageEnvelope)
                : null;
        }, cancellationToken);

    /// <inheritdoc />
    public Task<byte[]?> ReadContentAsync(string messageId, CancellationToken cancellationToken) =>
        database.ReadAsync(async (connection, ct) =>
        {
            await using var command = new NpgsqlCommand("SELECT content FROM elemta_message_body WHERE message_id = @id", connection);
            command.Parameters.AddWithValue("id", messageId);
            return await command.ExecuteScalarAsync(ct).ConfigureAwait(false) as byte[];
        }, cancellationToken);

    /// <inheritdoc />
    public Task DeleteContentAsync(string messageId, CancellationToken cancellationToken) =>
        database.WriteBatchAsync(batch => batch.Add(DeleteSql, ("id", messageId)), cancellationToken);
}

/// <summary>Adding statements with named parameters to a batch.</summary>
internal static class NpgsqlBatchExtensions
{
    public static NpgsqlBatchCommand Add(this NpgsqlBatch batch, string sql, params ReadOnlySpan<(string Name, object? Value)> parameters)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        batch.BatchCommands.Add(command);
        return command;
    }

    public static NpgsqlCommand With(this NpgsqlCommand command, params ReadOnlySpan<(string Name, object? Value)> parameters)
    {
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        return command;
    }
}
