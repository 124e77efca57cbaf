namespace Elemta.Contracts;

/// <summary>
/// The delivery queue of one recipient domain (key: the domain in lower case). Entries are rows in the queue
/// store, one per message, never a list in grain state, so enqueueing costs the same at any queue depth.
/// The grain wakes when entries fall due and delivers them with bounded concurrency.
/// </summary>
[Alias("elemta.IDomainQueueGrain")]
public interface IDomainQueueGrain : IGrainWithStringKey
{
    /// <summary>Adds (or moves) a durable entry for <paramref name="messageId"/> due at <paramref name="dueAt"/>.</summary>
    [Alias("enqueue")]
    Task EnqueueAsync(string messageId, DateTimeOffset dueAt, MessagePriority priority);

    /// <summary>Makes the queue look at its due entries; used at start-up and by the periodic sweep.</summary>
    [Alias("wake")]
    Task WakeAsync();

    /// <summary>A cheap snapshot of the queue for operators.</summary>
    [Alias("status")]
    Task<DomainQueueStatus> GetStatusAsync();

    /// <summary>Applies an operator action to every message waiting in this domain's queue.</summary>
    [Alias("apply")]
    Task<QueueActionResult> ApplyAsync(QueueAction action);

    /// <summary>Gives every entry of this domain's queue the priority <paramref name="priority"/>.</summary>
    [Alias("priority")]
    Task<QueueActionResult> SetPriorityAsync(MessagePriority priority);

    /// <summary>Why the queue is (not) moving: throttled, circuit open, held, last reply, next attempt.</summary>
    [Alias("explain")]
    Task<DomainQueueExplanation> ExplainAsync();
}

/// <summary>A snapshot of one domain queue.</summary>
/// <param name="Domain">The domain.</param>
/// <param name="QueuedCount">Entries in the queue store (due or not).</param>
/// <param name="InFlight">Deliveries running now.</param>
/// <param name="NextDueAt">When the earliest entry falls due, if any.</param>
/// <param name="LastReply">The last remote reply seen by this queue, if any.</param>
[GenerateSerializer, Immutable, Alias("elemta.DomainQueueStatus")]
public sealed record DomainQueueStatus(
    [property: Id(0)] string Domain,
    [property: Id(1)] long QueuedCount,
    [property: Id(2)] int InFlight,
    [property: Id(3)] DateTimeOffset? NextDueAt,
    [property: Id(4)] string? LastReply);
