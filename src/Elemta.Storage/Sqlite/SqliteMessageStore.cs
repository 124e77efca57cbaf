using System.Text.Json;
using System.Text.Json.Serialization;
using Elemta.Contracts;

namespace Elemta.Storage.Sqlite;

/// <summary>
/// Messages in the embedded database: one <c>elemta_message_body</c> row per message (content and envelope), and
/// at acceptance the queue rows in the same commit. Writes go through the group-commit writer.
/// </summary>
public sealed class SqliteMessageStore(SqliteDatabase database) : IMessageStore
{
    private const string InsertMessageSql = """
        INSERT OR REPLACE INTO elemta_message_body (message_id, created_at, size, content, envelope)
        VALUES (@id, @created, @size, @content, @envelope)
        """;

    internal const string DeleteSql = "DELETE FROM elemta_message_body WHERE message_id = @id";

    // An upsert, not INSERT OR REPLACE: SQLite runs no delete trigger for a replaced row, and the state counters
    // are kept by triggers.
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
        var bytes = content.ToArray();
        return database.Writer.ExecuteAsync(context =>
        {
            var message = context.Command(InsertMessageSql);
            message.Parameters.AddWithValue("@id", envelope.MessageId);
            message.Parameters.AddWithValue("@created", due);
            message.Parameters.AddWithValue("@size", bytes.Length);
            message.Parameters.AddWithValue("@content", bytes);
            message.Parameters.AddWithValue("@envelope", json);
            message.ExecuteNonQuery();
            var listed = context.Command(ListMessageSql);
            listed.Parameters.AddWithValue("@id", envelope.MessageId);
            listed.Parameters.AddWithValue("@priority", (int)envelope.Priority);
            listed.Parameters.AddWithValue("@sender", envelope.Sender);
            listed.Parameters.AddWithValue("@recipients", envelope.Recipients.Length);
            listed.Parameters.AddWithValue("@size", bytes.Length);
            listed.Parameters.AddWithValue("@received", due);
            listed.ExecuteNonQuery();
            foreach (var domain in domains)
            {
                var entry = context.Command(QueueSql.Upsert);
                entry.Parameters.AddWithValue("@domain", domain);
                entry.Parameters.AddWithValue("@id", envelope.MessageId);
                entry.Parameters.AddWithValue("@priority", (int)envelope.Priority);
                entry.Parameters.AddWithValue("@due", due);
                entry.ExecuteNonQuery();
            }
        }, cancellationToken);
    }

    /// <inheritdoc />
    public async Task<MessageEnvelope?> ReadEnvelopeAsync(string messageId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT envelope FROM elemta_message_body WHERE message_id = @id";
        command.Parameters.AddWithValue("@id", messageId);
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is string json
            ? JsonSerializer.Deserialize(json, EnvelopeJsonContext.Default.MessageEnvelope)
            : null;
    }

    /// <inheritdoc />
    public async Task<byte[]?> ReadContentAsync(string messageId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT content FROM elemta_message_body WHERE message_id = @id";
        command.Parameters.AddWithValue("@id", messageId);
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as byte[];
    }

    /// <inheritdoc />
    public Task DeleteContentAsync(string messageId, CancellationToken cancellationToken) =>
        database.Writer.ExecuteAsync(context =>
        {
            var command = context.Command(DeleteSql);
            command.Parameters.AddWithValue("@id", messageId);
            command.ExecuteNonQuery();
        }, cancellationToken);
}

/// <summary>Source-generated JSON for envelopes stored in the database: readable with SQL tools, stable across versions.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, UseStringEnumConverter = true)]
[JsonSerializable(typeof(MessageEnvelope))]
[JsonSerializable(typeof(System.Collections.Immutable.ImmutableArray<RecipientResult>))]
[JsonSerializable(typeof(System.Collections.Immutable.ImmutableArray<RecipientState>))]
internal sealed partial class EnvelopeJsonContext : JsonSerializerContext;
