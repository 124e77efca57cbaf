namespace Elemta.Storage;

/// <summary>One message waiting in one domain queue.</summary>
/// <param name="Domain">Recipient domain, lower case.</param>
/// <param name="MessageId">The message.</param>
/// <param name="Priority">Numeric priority, lower first (see <c>MessagePriority</c>).</param>
/// <param name="DueAt">When the next attempt is due.</param>
public sealed record QueueEntry(string Domain, string MessageId, int Priority, DateTimeOffset DueAt);

/// <summary>
/// The durable queue: one row per (domain, message). Every operation touches a single row or an index range,
/// so its cost does not depend on how many messages are queued.
/// </summary>
public interface IQueueStore
{
    /// <summary>Inserts the entry, or moves an existing one to the new due time and priority. Durable on completion.</summary>
    Task UpsertAsync(QueueEntry entry, CancellationToken cancellationToken);

    /// <summary>Removes the entry; removing a missing entry is not an error. Durable on completion.</summary>
    Task RemoveAsync(string domain, string messageId, CancellationToken cancellationToken);

    /// <summary>Entries of <paramref name="domain"/> due at or before <paramref name="now"/>, earliest first.</summary>
    Task<IReadOnlyList<QueueEntry>> GetDueAsync(string domain, DateTimeOffset now, int limit, CancellationToken cancellationToken);

    /// <summary>The earliest due time in <paramref name="domain"/>, or null when its queue is empty.</summary>
    Task<DateTimeOffset?> GetNextDueAsync(string domain, CancellationToken cancellationToken);

    /// <summary>Number of entries in <paramref name="domain"/>.</summary>
    Task<long> CountAsync(string domain, CancellationToken cancellationToken);

    /// <summary>Distinct domains that have an entry due at or before <paramref name="dueBy"/> (use <see cref="DateTimeOffset.MaxValue"/> for all).</summary>
    Task<IReadOnlyList<string>> GetDomainsDueAsync(DateTimeOffset dueBy, int limit, CancellationToken cancellationToken);
}
