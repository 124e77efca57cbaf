using System.Collections.Immutable;
using Elemta.Contracts;

namespace Elemta.Storage;

/// <summary>One message waiting in one domain queue.</summary>
/// <param name="Domain">Recipient domain, lower case.</param>
/// <param name="MessageId">The message.</param>
/// <param name="Priority">Numeric priority, lower first (see <c>MessagePriority</c>).</param>
/// <param name="DueAt">When the next attempt is due.</param>
public sealed record QueueEntry(string Domain, string MessageId, int Priority, DateTimeOffset DueAt);

/// <summary>Where one entry stands in its domain queue.</summary>
/// <param name="Held">Held by an operator.</param>
/// <param name="DueAt">When it is due.</param>
/// <param name="Position">Entries that are not held and come before it (lower priority value, or same priority and earlier due time).</param>
public sealed record QueuePosition(bool Held, DateTimeOffset DueAt, long Position);

/// <summary>
/// What one recorded delivery attempt changes in the store, applied in one transaction: the domain's entry is
/// removed (<see cref="NextDueAt"/> null) or moved, the message's listed state is updated, the per-minute outcome
/// counters grow, and the content goes when no recipient needs it any more.
/// </summary>
/// <param name="MessageId">The message.</param>
/// <param name="Domain">The domain the attempt was for.</param>
/// <param name="NextDueAt">When the domain's remaining recipients are due again; null when the domain is finished.</param>
/// <param name="State">The message's state after the attempt (Held is kept by the store while any of its entries is held).</param>
/// <param name="At">When the attempt was recorded.</param>
/// <param name="Delivered">Recipients delivered by the attempt.</param>
/// <param name="Deferred">Recipients deferred by the attempt.</param>
/// <param name="Failed">Recipients failed by the attempt.</param>
/// <param name="Attempt">The attempt itself, kept in the message's delivery history; null when the outcome repairs an earlier one.</param>
/// <param name="Recipients">The message's per-recipient state after the attempt: its durable record (default: unchanged).</param>
/// <param name="Envelope">The envelope, given when the message finishes so its record outlives the deleted content.</param>
public sealed record QueueOutcome(
    string MessageId,
    string Domain,
    DateTimeOffset? NextDueAt,
    MessageQueueState State,
    DateTimeOffset At,
    int Delivered = 0,
    int Deferred = 0,
    int Failed = 0,
    DeliveryAttempt? Attempt = null,
    ImmutableArray<RecipientState> Recipients = default,
    MessageEnvelope? Envelope = null);

/// <summary>A message's durable record in the queue listing.</summary>
/// <param name="State">The listed state.</param>
/// <param name="Priority">The priority now (operators may have changed it since acceptance).</param>
/// <param name="Recipients">Per-recipient state; default until the first attempt is recorded.</param>
/// <param name="Envelope">The envelope, kept here once the message finished; null before.</param>
public sealed record MessageRecord(
    MessageQueueState State,
    MessagePriority Priority,
    ImmutableArray<RecipientState> Recipients,
    MessageEnvelope? Envelope);

/// <summary>
/// The durable queue: one row per (domain, message), and one listing row per message. Every hot-path operation
/// touches a single row or an index range, so its cost does not depend on how many messages are queued.
/// </summary>
public interface IQueueStore
{
    /// <summary>Inserts the entry, or moves an existing one to the new due time and priority. Durable on completion.</summary>
    Task UpsertAsync(QueueEntry entry, CancellationToken cancellationToken);

    /// <summary>Removes the entry; removing a missing entry is not an error. Durable on completion.</summary>
    Task RemoveAsync(string domain, string messageId, CancellationToken cancellationToken);

    /// <summary>Moves an existing entry to <paramref name="dueAt"/>; never creates one (a deleted message stays deleted).</summary>
    Task RescheduleAsync(string domain, string messageId, DateTimeOffset dueAt, CancellationToken cancellationToken);

    /// <summary>
    /// Entries of <paramref name="domain"/> that are due at or before <paramref name="now"/> and not held: the
    /// highest priority (lowest value) first, earliest due time first within a priority.
    /// </summary>
    Task<IReadOnlyList<QueueEntry>> GetDueAsync(string domain, DateTimeOffset now, int limit, CancellationToken cancellationToken);

    /// <summary>The earliest due time of an entry of <paramref name="domain"/> that is not held, or null when there is none.</summary>
    Task<DateTimeOffset?> GetNextDueAsync(string domain, CancellationToken cancellationToken);

    /// <summary>Number of entries in <paramref name="domain"/> (held ones included).</summary>
    Task<long> CountAsync(string domain, CancellationToken cancellationToken);

    /// <summary>Entries and held entries of <paramref name="domain"/>, from counters (no scan).</summary>
    Task<DomainCount> GetDomainCountAsync(string domain, CancellationToken cancellationToken);

    /// <summary>Distinct domains that have an entry not held and due at or before <paramref name="dueBy"/> (use <see cref="DateTimeOffset.MaxValue"/> for all).</summary>
    Task<IReadOnlyList<string>> GetDomainsDueAsync(DateTimeOffset dueBy, int limit, CancellationToken cancellationToken);

    /// <summary>Applies a recorded attempt (see <see cref="QueueOutcome"/>) in one transaction.</summary>
    Task RecordOutcomeAsync(QueueOutcome outcome, CancellationToken cancellationToken);

    /// <summary>The message's record in the listing, or null when it has none (never accepted, deleted or forgotten).</summary>
    Task<MessageRecord?> ReadRecordAsync(string messageId, CancellationToken cancellationToken);

    /// <summary>Where the entry of <paramref name="messageId"/> stands in <paramref name="domain"/>, or null when it has none.</summary>
    Task<QueuePosition?> GetPositionAsync(string domain, string messageId, CancellationToken cancellationToken);

    /// <summary>
    /// Due, not held entries of <paramref name="domain"/> whose message was received before <paramref name="receivedBefore"/>:
    /// the ones to expire while the domain's destination is unreachable.
    /// </summary>
    Task<IReadOnlyList<QueueEntry>> GetDueReceivedBeforeAsync(string domain, DateTimeOffset now, DateTimeOffset receivedBefore, int limit, CancellationToken cancellationToken);
}
