using System.Runtime.InteropServices;
using Elemta.Storage.Relational;
using Microsoft.Data.Sqlite;

namespace Elemta.Storage.Sqlite;

/// <summary>
/// The SQLite side of the dialect's incremental BLOB I/O: the body row is inserted without a managed copy of the
/// content where SQLite's API allows. Microsoft.Data.Sqlite binds only a whole <c>byte[]</c> (a parameter's Size
/// truncates by copying, and there is no offset), so an exact array is bound as it is; a slice of a larger array
/// (the SMTP session's pooled buffer) goes in through <see cref="SqliteBlob"/>, which writes from the array straight
/// into the row a <c>zeroblob</c> reserved.
/// </summary>
internal static class SqliteContent
{
    /// <summary>Adds the body row's insert to <paramref name="batch"/>; the content is borrowed until the batch commits.</summary>
    public static void AddInsert(WriteBatch batch, string messageId, long created, ReadOnlyMemory<byte> content, string envelopeJson) =>
        batch.AddCustom(context => Write(context, messageId, created, content, envelopeJson));

    private static void Write(WriteContext context, string messageId, long created, ReadOnlyMemory<byte> content, string json)
    {
        var inArray = MemoryMarshal.TryGetArray(content, out var segment) && segment.Count > 0;
        if (!inArray || (segment.Offset == 0 && segment.Count == segment.Array!.Length))
        {
            var message = context.Command(SqlDialect.Sqlite[StoreSql.InsertBody])
                .Bind("@id", messageId).Bind("@created", created).Bind("@size", (long)content.Length)
                // Memory not backed by an array (none of Elemta's callers) is copied: SqliteBlob writes only from arrays.
                .Bind("@content", inArray ? segment.Array! : content.ToArray())
                .Bind("@envelope", json);
            message.ExecuteNonQuery();
            return;
        }

        var reserve = context.Command(StoreSql.InsertBodyReserved)
            .Bind("@id", messageId).Bind("@created", created).Bind("@size", (long)content.Length).Bind("@envelope", json);
        var rowId = (long)reserve.ExecuteScalar()!;
        // In the writer's open transaction, so the content commits (and is fsync'd) with the row, or not at all.
        using var blob = new SqliteBlob((SqliteConnection)context.Connection, "elemta_message_body", "content", rowId, readOnly: false);
        blob.Write(segment.Array!, segment.Offset, segment.Count);
    }
}
