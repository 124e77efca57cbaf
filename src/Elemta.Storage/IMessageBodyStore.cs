namespace Elemta.Storage;

/// <summary>
/// Holds each accepted message's content once, keyed by queue id, apart from grain state so that grain state
/// stays small and a message with many recipient domains is stored a single time.
/// </summary>
public interface IMessageBodyStore
{
    /// <summary>
    /// Stores <paramref name="content"/> under <paramref name="messageId"/>. Completes only when the content is
    /// durable (committed and synced to disk). Storing the same id again replaces the content.
    /// </summary>
    Task StoreAsync(string messageId, ReadOnlyMemory<byte> content, CancellationToken cancellationToken);

    /// <summary>Reads the content, or returns null when the store has nothing under <paramref name="messageId"/>.</summary>
    Task<byte[]?> ReadAsync(string messageId, CancellationToken cancellationToken);

    /// <summary>Deletes the content; deleting a missing id is not an error.</summary>
    Task DeleteAsync(string messageId, CancellationToken cancellationToken);
}
