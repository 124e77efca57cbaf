using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using Elemta.Contracts;
using Microsoft.Data.Sqlite;

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

    // The content is written afterwards, in place, through incremental BLOB I/O (see WriteContent).
    private const string InsertMessageZeroBlobSql = """
        INSERT OR REPLACE INTO elemta_message_body (message_id, created_at, size, content, envelope)
        VALUES (@id, @created, @size, zeroblob(@size), @envelope)
        RETURNING rowid
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
    /// <remarks>
    /// The group-commit writer runs the insert later, on its own thread. When <paramref name="cancellationToken"/>
    /// cannot be cancelled the caller waits for that commit, so the content is read where it is (no copy); a
    /// cancellable wait may end before the writer gets to it, so the content is copied first.
    /// </remarks>
    public Task AcceptAsync(MessageEnvelope envelope, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        ArgumentException.ThrowIfNullOrEmpty(envelope.MessageId);
        var json = JsonSerializer.Serialize(envelope, EnvelopeJsonContext.Default.MessageEnvelope);
        var due = envelope.ReceivedAt.ToUnixTimeMilliseconds();
        var domains = envelope.RecipientDomains().ToArray();
        var body = cancellationToken.CanBeCanceled ? content.ToArray() : content;
        return database.Writer.ExecuteAsync(context =>
        {
            WriteContent(context, envelope.MessageId, due, body, json);
            var listed = context.Command(ListMessageSql);
            listed.Parameters.AddWithValue("@id", envelope.MessageId);
            listed.Parameters.AddWithValue("@priority", (int)envelope.Priority);
            listed.Parameters.AddWithValue("@sender", envelope.Sender);
            listed.Parameters.AddWithValue("@recipients", envelope.Recipients.Length);
            listed.Parameters.AddWithValue("@size", body.Length);
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

    /// <summary>
    /// Inserts the body row without a managed copy of the content where SQLite's API allows: Microsoft.Data.Sqlite
    /// binds only a whole <c>byte[]</c> (a parameter's Size truncates by copying, and there is no offset), so an
    /// exact array is bound as it is; a slice of a larger array (the SMTP session's pooled buffer) goes in through
    /// <see cref="SqliteBlob"/>, which writes from the array straight into the row a <c>zeroblob</c> reserved.
    /// </summary>
    private static void WriteContent(SqliteGroupCommitWriter.WriteContext context, string messageId, long created, ReadOnlyMemory<byte> content, string json)
    {
        var inArray = MemoryMarshal.TryGetArray(content, out var segment) && segment.Count > 0;
        if (!inArray || (segment.Offset == 0 && segment.Count == segment.Array!.Length))
        {
            var message = context.Command(InsertMessageSql);
            message.Parameters.AddWithValue("@id", messageId);
            message.Parameters.AddWithValue("@created", created);
            message.Parameters.AddWithValue("@size", content.Length);
            // Memory not backed by an array (none of Elemta's callers) is copied: SqliteBlob writes only from arrays.
            message.Parameters.AddWithValue("@content", inArray ? segment.Array! : content.ToArray());
            message.Parameters.AddWithValue("@envelope", json);
            message.ExecuteNonQuery();
            return;
        }

        var reserve = context.Command(InsertMessageZeroBlobSql);
        reserve.Parameters.AddWithValue("@id", messageId);
        reserve.Parameters.AddWithValue("@created", created);
        reserve.Parameters.AddWithValue("@size", content.Length);
        reserve.Parameters.AddWithValue("@envelope", json);
        var rowId = (long)reserve.ExecuteScalar()!;
        // In the writer's open transaction, so the content commits (and is fsync'd) with the row, or not at all.
        using var blob = new SqliteBlob(context.Connection, "elemta_message_body", "content", rowId, readOnly: false);
        blob.Write(segment.Array!, segment.Offset, segment.Count);
    }

    /// <inheritdoc />
    public async Task<MessageEnvelope?> ReadEnvelopeAsync(string messageId, CancellationToken cancellationToken)
    {
        await using var connection = await database.RentReaderAsync(cancellationToken).ConfigureAwait(false);
        var command = connection.Command("SELECT envelope FROM elemta_message_body WHERE message_id = @id");
        command.Parameters.AddWithValue("@id", messageId);
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is string json
            ? JsonSerializer.Deserialize(json, EnvelopeJsonContext.Default.MessageEnvelope)
            : null;
    }

    /// <inheritdoc />
    public async Task<byte[]?> ReadContentAsync(string messageId, CancellationToken cancellationToken)
    {
        await using var connection = await database.RentReaderAsync(cancellationToken).ConfigureAwait(false);
        var command = connection.Command("SELECT content FROM elemta_message_body WHERE message_id = @id");
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
