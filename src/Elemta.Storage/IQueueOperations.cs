using Elemta.Contracts;

namespace Elemta.Storage;

/// <summary>
/// Which queued messages an operator action applies to: one message, one domain's queue, every message in one
/// state, or all. Exactly one of the members is set, or none for all.
/// </summary>
public sealed record QueueScope
{
    private QueueScope()
    {
    }

    /// <summary>The message, for a single-message scope.</summary>
    public string? MessageId { get; private init; }

    /// <summary>The domain, for a domain-queue scope.</summary>
    public string? Domain { get; private init; }

    /// <summary>The state, for a whole-state scope.</summary>
    public MessageQueueState? State { get; private init; }

    /// <summary>Every queued message.</summary>
    public static QueueScope All { get; } = new();

    /// <summary>One message.</summary>
    public static QueueScope Message(string messageId) => new() { MessageId = messageId };

    /// <summary>Every message with an entry in <paramref name="domain"/>'s queue.</summary>
    public static QueueScope OfDomain(string domain) => new() { Domain = domain };

    /// <summary>Every message in <paramref name="state"/>.</summary>
    public static QueueScope InState(MessageQueueState state) => new() { State = state };
}

/// <summary>What a bulk change did.</summary>
/// <param name="Messages">Messages whose listed state or entries changed.</param>
/// <param name="Entries">Queue entries changed.</param>
/// <param name="Domains">Domains whose queues must look again (entries became due).</param>
public sealed record QueueChange(long Messages, long Entries, IReadOnlyList<string> Domains);

/// <summary>
/// Operator actions, listings and statistics over the durable queue. Bulk changes run as one statement per table in
/// one transaction; statistics come from counters kept by the same transactions as the rows they count.
/// </summary>
public interface IQueueOperations
{
    /// <summary>Holds, releases or makes due now the entries in <paramref name="scope"/>; <see cref="QueueAction.Delete"/> is not done here (see <see cref="DeleteMessageAsync"/>).</summary>
    Task<QueueChange> ApplyAsync(QueueScope scope, QueueAction action, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Sets the priority of the entries (and listed messages) in <paramref name="scope"/>.</summary>
    Task<QueueChange> SetPriorityAsync(QueueScope scope, int priority, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Up to <paramref name="limit"/> ids of messages in <paramref name="scope"/> (for deletes, which go through each message).</summary>
    Task<IReadOnlyList<string>> GetMessageIdsAsync(QueueScope scope, int limit, CancellationToken cancellationToken);

    /// <summary>Removes every trace of a message from the store: entries, content, listing row.</summary>
    Task DeleteMessageAsync(string messageId, CancellationToken cancellationToken);

    /// <summary>Counts per state, the oldest pending message, the busiest domains and recent outcome rates.</summary>
    Task<QueueStatistics> GetStatisticsAsync(DateTimeOffset now, int topDomains, CancellationToken cancellationToken);

    /// <summary>The per-minute outcome counters from <paramref name="minutes"/> minutes before <paramref name="now"/> on, oldest first; minutes without a row are absent.</summary>
    Task<IReadOnlyList<MinuteOutcomes>> GetOutcomesPerMinuteAsync(DateTimeOffset now, int minutes, CancellationToken cancellationToken);

    /// <summary>Listed messages in <paramref name="state"/>, oldest first, received after <paramref name="receivedAfter"/>.</summary>
    Task<IReadOnlyList<QueuedMessage>> ListAsync(MessageQueueState state, DateTimeOffset? receivedAfter, int limit, CancellationToken cancellationToken);

    /// <summary>
    /// One page of listed messages in <paramref name="query"/>'s state, ordered by (received time, message id), oldest
    /// or newest first, starting after the given message: keyset paging, so no page counts or skips rows.
    /// </summary>
    Task<IReadOnlyList<QueuedMessage>> ListPageAsync(QueueListQuery query, CancellationToken cancellationToken);

    /// <summary>Finished messages in <paramref name="state"/> (Delivered or Failed) that finished before <paramref name="finishedBefore"/>.</summary>
    Task<IReadOnlyList<string>> GetFinishedBeforeAsync(MessageQueueState state, DateTimeOffset finishedBefore, int limit, CancellationToken cancellationToken);

    /// <summary>The recorded delivery attempts of a message, oldest first.</summary>
    Task<IReadOnlyList<RecordedAttempt>> GetAttemptsAsync(string messageId, CancellationToken cancellationToken);

    /// <summary>Outcome counters older than <paramref name="before"/> are dropped.</summary>
    Task PruneRatesAsync(DateTimeOffset before, CancellationToken cancellationToken);
}
