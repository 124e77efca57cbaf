using System.Collections.Immutable;

namespace Elemta.Contracts;

/// <summary>
/// Operator actions on queued mail, for one message (<see cref="IMessageGrain"/>), one domain queue
/// (<see cref="IDomainQueueGrain"/>) or every message in one queue state (<see cref="IQueueManagerGrain"/>).
/// </summary>
public enum QueueAction
{
    /// <summary>Stop delivery attempts until released (Postfix: <c>postsuper -h</c>).</summary>
    Hold = 0,

    /// <summary>Make held entries due again now (Postfix: <c>postsuper -H</c>).</summary>
    Release = 1,

    /// <summary>Make waiting entries due now, ignoring the retry schedule (Postfix: <c>postqueue -f</c>, <c>-i</c>, <c>-s</c>).</summary>
    RetryNow = 2,

    /// <summary>Remove the messages without notifying anyone (Postfix: <c>postsuper -d</c>).</summary>
    Delete = 3,
}

/// <summary>What an operator action changed.</summary>
/// <param name="Messages">Messages affected.</param>
/// <param name="Entries">Domain queue entries affected (a message has one per recipient domain).</param>
[GenerateSerializer, Immutable, Alias("elemta.QueueActionResult")]
public sealed record QueueActionResult(
    [property: Id(0)] long Messages,
    [property: Id(1)] long Entries);

/// <summary>Whether a domain queue is sending, or has stopped because its destination keeps failing.</summary>
public enum CircuitState
{
    /// <summary>Deliveries run normally.</summary>
    Closed = 0,

    /// <summary>The destination failed repeatedly; nothing is attempted until the back-off ends.</summary>
    Open = 1,

    /// <summary>The back-off ended; one probe delivery decides whether to close or open again.</summary>
    HalfOpen = 2,
}

/// <summary>A domain queue's answer to "why is my mail not moving?".</summary>
/// <param name="Domain">The domain.</param>
/// <param name="Queued">Entries in the queue, held ones included.</param>
/// <param name="Held">Entries held by an operator.</param>
/// <param name="InFlight">Deliveries running now.</param>
/// <param name="ConcurrencyLimit">The most deliveries it runs at once.</param>
/// <param name="Circuit">The circuit breaker's state.</param>
/// <param name="CircuitOpenUntil">When an open circuit lets a probe through.</param>
/// <param name="ConsecutiveFailures">Attempts in a row that failed for the whole destination (DNS, connection, TLS, timeout).</param>
/// <param name="LastReply">The last remote reply or local error.</param>
/// <param name="LastAttemptAt">When the last attempt finished.</param>
/// <param name="NextDueAt">The earliest due time of an entry that is not held.</param>
/// <param name="Summary">All of the above in one sentence, for the CLI and logs.</param>
[GenerateSerializer, Immutable, Alias("elemta.DomainQueueExplanation")]
public sealed record DomainQueueExplanation(
    [property: Id(0)] string Domain,
    [property: Id(1)] long Queued,
    [property: Id(2)] long Held,
    [property: Id(3)] int InFlight,
    [property: Id(4)] int ConcurrencyLimit,
    [property: Id(5)] CircuitState Circuit,
    [property: Id(6)] DateTimeOffset? CircuitOpenUntil,
    [property: Id(7)] int ConsecutiveFailures,
    [property: Id(8)] string? LastReply,
    [property: Id(9)] DateTimeOffset? LastAttemptAt,
    [property: Id(10)] DateTimeOffset? NextDueAt,
    [property: Id(11)] string Summary);

/// <summary>Where one pending domain of a message stands in its queue.</summary>
/// <param name="Domain">The recipient domain.</param>
/// <param name="Held">The entry is held.</param>
/// <param name="DueAt">When the entry is due.</param>
/// <param name="Position">Entries of the domain that will be tried before this one (by priority, then due time); 0 = next.</param>
/// <param name="Queue">The domain queue's own explanation.</param>
[GenerateSerializer, Immutable, Alias("elemta.MessageDomainExplanation")]
public sealed record MessageDomainExplanation(
    [property: Id(0)] string Domain,
    [property: Id(1)] bool Held,
    [property: Id(2)] DateTimeOffset? DueAt,
    [property: Id(3)] long Position,
    [property: Id(4)] DomainQueueExplanation Queue);

/// <summary>A message's answer to "why has it not been delivered?".</summary>
/// <param name="Status">The message's status with every recipient's last reply and next attempt.</param>
/// <param name="Domains">One entry per domain with recipients still pending.</param>
/// <param name="Summary">One sentence for the CLI.</param>
[GenerateSerializer, Immutable, Alias("elemta.MessageExplanation")]
public sealed record MessageExplanation(
    [property: Id(0)] MessageStatus Status,
    [property: Id(1)] ImmutableArray<MessageDomainExplanation> Domains,
    [property: Id(2)] string Summary);

/// <summary>Queue statistics, read from counters kept with the queue (no scan of the queue).</summary>
/// <param name="Messages">Messages per queue state (Delivered and Failed: those still within their retention period).</param>
/// <param name="OldestPendingReceivedAt">When the oldest message not yet finished was received.</param>
/// <param name="Domains">The domains with the most queued entries, most first.</param>
/// <param name="LastMinute">Recipient outcomes in the current and the previous minute.</param>
/// <param name="LastHour">Recipient outcomes in the last 60 minutes.</param>
/// <param name="ByPriority">Messages per state and priority, from counters as well; only non-zero ones, most urgent first.</param>
[GenerateSerializer, Immutable, Alias("elemta.QueueStatistics")]
public sealed record QueueStatistics(
    [property: Id(0)] ImmutableDictionary<MessageQueueState, long> Messages,
    [property: Id(1)] DateTimeOffset? OldestPendingReceivedAt,
    [property: Id(2)] ImmutableArray<DomainCount> Domains,
    [property: Id(3)] OutcomeCounts LastMinute,
    [property: Id(4)] OutcomeCounts LastHour,
    [property: Id(5)] ImmutableArray<PriorityCount> ByPriority = default);

/// <summary>Messages of one priority in one state.</summary>
[GenerateSerializer, Immutable, Alias("elemta.PriorityCount")]
public sealed record PriorityCount(
    [property: Id(0)] MessagePriority Priority,
    [property: Id(1)] MessageQueueState State,
    [property: Id(2)] long Count);

/// <summary>Entries of one domain queue.</summary>
[GenerateSerializer, Immutable, Alias("elemta.DomainCount")]
public sealed record DomainCount(
    [property: Id(0)] string Domain,
    [property: Id(1)] long Queued,
    [property: Id(2)] long Held);

/// <summary>Recipient outcomes over a period.</summary>
[GenerateSerializer, Immutable, Alias("elemta.OutcomeCounts")]
public sealed record OutcomeCounts(
    [property: Id(0)] long Delivered,
    [property: Id(1)] long Deferred,
    [property: Id(2)] long Failed);

/// <summary>Recipient outcomes in one minute (a row of the per-minute counters kept with the queue).</summary>
/// <param name="Minute">The minute's start (UTC).</param>
/// <param name="Counts">Outcomes recorded in that minute.</param>
[GenerateSerializer, Immutable, Alias("elemta.MinuteOutcomes")]
public sealed record MinuteOutcomes(
    [property: Id(0)] DateTimeOffset Minute,
    [property: Id(1)] OutcomeCounts Counts);

/// <summary>One message in a queue listing.</summary>
[GenerateSerializer, Immutable, Alias("elemta.QueuedMessage")]
public sealed record QueuedMessage(
    [property: Id(0)] string MessageId,
    [property: Id(1)] MessageQueueState State,
    [property: Id(2)] MessagePriority Priority,
    [property: Id(3)] string Sender,
    [property: Id(4)] int Recipients,
    [property: Id(5)] long Size,
    [property: Id(6)] DateTimeOffset ReceivedAt,
    [property: Id(7)] DateTimeOffset UpdatedAt);

/// <summary>
/// The queue as a whole (a single activation, key <see cref="Key"/>): statistics, listings, and operator actions on
/// every message in one state. Per-message and per-domain actions go to the message and domain queue grains.
/// </summary>
[Alias("elemta.IQueueManagerGrain")]
public interface IQueueManagerGrain : IGrainWithStringKey
{
    /// <summary>The one key of this grain.</summary>
    public const string Key = "queue";

    /// <summary>Counts per state and domain, the oldest pending message and recent outcome rates.</summary>
    [Alias("statistics")]
    Task<QueueStatistics> GetStatisticsAsync(int topDomains);

    /// <summary>
    /// Recipient outcomes per minute over the last <paramref name="minutes"/> minutes (at most 60, the counters kept),
    /// oldest first, one entry per minute including the empty ones.
    /// </summary>
    [Alias("throughput")]
    Task<ImmutableArray<MinuteOutcomes>> GetThroughputAsync(int minutes);

    /// <summary>Messages in <paramref name="state"/>, oldest first, received after <paramref name="receivedAfter"/> (for paging).</summary>
    [Alias("list")]
    Task<ImmutableArray<QueuedMessage>> ListAsync(MessageQueueState state, DateTimeOffset? receivedAfter, int limit);

    /// <summary>
    /// One page of the messages in <paramref name="query"/>'s state, ordered by (received time, message id) so that a
    /// page starting after the previous page's last message never skips or repeats one, whatever arrives meanwhile.
    /// </summary>
    [Alias("list-page")]
    Task<ImmutableArray<QueuedMessage>> ListPageAsync(QueueListQuery query);

    /// <summary>Applies <paramref name="action"/> to every message in <paramref name="state"/>.</summary>
    [Alias("apply")]
    Task<QueueActionResult> ApplyAsync(MessageQueueState state, QueueAction action);

    /// <summary>Gives every message in <paramref name="state"/> that is not finished the priority <paramref name="priority"/>.</summary>
    [Alias("priority")]
    Task<QueueActionResult> SetPriorityAsync(MessageQueueState state, MessagePriority priority);
}

/// <summary>A page of a queue listing: which state, where to start, how many, and optional filters.</summary>
/// <param name="State">The queue state listed.</param>
/// <param name="Limit">The most messages returned.</param>
/// <param name="Newest">Newest first instead of oldest first.</param>
/// <param name="AfterReceivedAt">The previous page's last message's received time; null for the first page.</param>
/// <param name="AfterMessageId">The previous page's last message id (the tie-break between equal received times).</param>
/// <param name="Sender">Only messages from this envelope sender (exact match); null for any.</param>
/// <param name="Domain">Only messages with an entry in this domain's queue (so pending messages only); null for any.</param>
/// <param name="ByPriority">Most urgent priority first, then oldest first (ignores <paramref name="Newest"/>).</param>
/// <param name="AfterPriority">With <paramref name="ByPriority"/>: the previous page's last message's priority.</param>
/// <param name="Recipient">Only messages with this envelope recipient (compared in lower case); null for any.</param>
[GenerateSerializer, Immutable, Alias("elemta.QueueListQuery")]
public sealed record QueueListQuery(
    [property: Id(0)] MessageQueueState State,
    [property: Id(1)] int Limit,
    [property: Id(2)] bool Newest = false,
    [property: Id(3)] DateTimeOffset? AfterReceivedAt = null,
    [property: Id(4)] string? AfterMessageId = null,
    [property: Id(5)] string? Sender = null,
    [property: Id(6)] string? Domain = null,
    [property: Id(7)] bool ByPriority = false,
    [property: Id(8)] MessagePriority? AfterPriority = null,
    [property: Id(9)] string? Recipient = null);

/// <summary>One delivery attempt of a message to one of its domains, from the delivery history.</summary>
[GenerateSerializer, Immutable, Alias("elemta.RecordedAttempt")]
public sealed record RecordedAttempt(
    [property: Id(0)] string Domain,
    [property: Id(1)] DeliveryAttempt Attempt);
