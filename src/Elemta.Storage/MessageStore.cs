using System.Text.Json;
using System.Text.Json.Serialization;
using Elemta.Contracts;
using Elemta.Storage.Relational;
using Elemta.Storage.Sqlite;

namespace Elemta.Storage;

/// <summary>
/// Messages in Elemta's database: one <c>elemta_message_body</c> row per message (content and envelope), and at
/// acceptance the listing row and the queue rows in the same commit, shared with concurrent acceptances.
/// </summary>
public sealed class MessageStore(StoreDatabase database) : IMessageStore
{
    /// <inheritdoc />
    /// <remarks>
    /// The group-commit writer runs the batch later, on its own loop. Where the content can be borrowed until the
    /// commit (SQLite, with a token that cannot be cancelled, so the caller waits for the commit) it is read where it
    /// is; otherwise it is copied first: a cancellable wait may end before the writer gets to it, and Npgsql sends
    /// large parameters on a background task that a failed batch may not have stopped yet.
    /// </remarks>
    public Task AcceptAsync(MessageEnvelope envelope, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        ArgumentException.ThrowIfNullOrEmpty(envelope.MessageId);
        var json = JsonSerializer.Serialize(envelope, EnvelopeJsonContext.Default.MessageEnvelope);
        var received = envelope.ReceivedAt.ToUnixTimeMilliseconds();
        var batch = new WriteBatch();
        if (database.Dialect.IncrementalBlobIo && !cancellationToken.CanBeCanceled)
        {
            SqliteContent.AddInsert(batch, envelope.MessageId, received, content, json);
        }
        else
        {
            batch.Add(database.Dialect[StoreSql.InsertBody])
                .Bind("@id", envelope.MessageId).Bind("@created", received).Bind("@size", (long)content.Length)
                .Bind("@content", content.ToArray()).Bind("@envelope", json);
        }

        batch.Add(StoreSql.ListMessage)
            .Bind("@id", envelope.MessageId).Bind("@priority", (int)envelope.Priority).Bind("@sender", envelope.Sender)
            .Bind("@recipients", envelope.Recipients.Length).Bind("@size", (long)content.Length).Bind("@received", received);

        // Sorted so that two acceptances touching the same rows lock them in the same order (no deadlock on PostgreSQL).
        var domains = envelope.RecipientDomains().ToArray();
        Array.Sort(domains, StringComparer.Ordinal);
        foreach (var domain in domains)
        {
            QueueStore.AddUpsert(batch, domain, envelope.MessageId, (int)envelope.Priority, received);
        }

        if (envelope.HoldReason is not null)
        {
            // Quarantined at acceptance: held in the same commit, so no queue can pick an entry up before it is.
            batch.Add(StoreSql.HoldAccepted).Bind("@id", envelope.MessageId);
            batch.Add(StoreSql.ListAcceptedHeld).Bind("@id", envelope.MessageId);
        }

        return database.WriteAsync(batch, cancellationToken);
    }

    /// <inheritdoc />
    public Task<MessageEnvelope?> ReadEnvelopeAsync(string messageId, CancellationToken cancellationToken) =>
        database.ReadAsync(async (session, ct) =>
            await session.Command(StoreSql.ReadEnvelope).Bind("@id", messageId).ExecuteScalarAsync(ct).ConfigureAwait(false) is string json
                ? JsonSerializer.Deserialize(json, EnvelopeJsonContext.Default.MessageEnvelope)
                : null,
            cancellationToken);

    /// <inheritdoc />
    public Task<byte[]?> ReadContentAsync(string messageId, CancellationToken cancellationToken) =>
        database.ReadAsync(async (session, ct) =>
            await session.Command(StoreSql.ReadContent).Bind("@id", messageId).ExecuteScalarAsync(ct).ConfigureAwait(false) as byte[],
            cancellationToken);

    /// <inheritdoc />
    public Task DeleteContentAsync(string messageId, CancellationToken cancellationToken)
    {
        var batch = new WriteBatch();
        batch.Add(StoreSql.DeleteBody).Bind("@id", messageId);
        return database.WriteAsync(batch, cancellationToken);
    }
}

/// <summary>Source-generated JSON for envelopes stored in the database: readable with SQL tools, stable across versions.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, UseStringEnumConverter = true)]
[JsonSerializable(typeof(MessageEnvelope))]
[JsonSerializable(typeof(System.Collections.Immutable.ImmutableArray<RecipientResult>))]
[JsonSerializable(typeof(System.Collections.Immutable.ImmutableArray<RecipientState>))]
internal sealed partial class EnvelopeJsonContext : JsonSerializerContext;
