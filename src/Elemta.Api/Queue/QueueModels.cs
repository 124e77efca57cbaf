using System.Collections.Immutable;
using Elemta.Contracts;

namespace Elemta.Api.Queue;

/// <summary>Queue statistics, from counters kept with the queue.</summary>
/// <param name="Messages">Messages per state.</param>
/// <param name="OldestPendingReceivedAt">When the oldest message not yet finished was received.</param>
/// <param name="OldestPendingAgeSeconds">Its age now, in seconds.</param>
/// <param name="TopDomains">The domains with the most queued entries, most first.</param>
/// <param name="LastMinute">Recipient outcomes in the current and the previous minute.</param>
/// <param name="LastHour">Recipient outcomes in the last 60 minutes.</param>
/// <param name="PerMinute">Recipient outcomes in each of the last 60 minutes, oldest first (empty minutes included).</param>
/// <param name="ByPriority">Messages per priority (<c>critical</c> … <c>bulk</c>, most urgent first), each per state.</param>
public sealed record QueueStatsModel(
    StateCountsModel Messages,
    DateTimeOffset? OldestPendingReceivedAt,
    double? OldestPendingAgeSeconds,
    ImmutableArray<DomainCount> TopDomains,
    OutcomeCounts LastMinute,
    OutcomeCounts LastHour,
    ImmutableArray<MinuteOutcomes> PerMinute,
    IReadOnlyDictionary<string, StateCountsModel> ByPriority);

/// <summary>Messages per queue state (delivered and failed: those still kept for their retention period).</summary>
public sealed record StateCountsModel(long Active, long Deferred, long Held, long Failed, long Delivered);

/// <summary>One page of a queue listing.</summary>
/// <param name="Items">The messages, in the order asked for.</param>
/// <param name="NextCursor">Pass as <c>cursor</c> for the next page; null on the last page.</param>
public sealed record QueuePageModel(ImmutableArray<QueuedMessage> Items, string? NextCursor);

/// <summary>Everything about one message: envelope, per-recipient status, attempt history and why it waits.</summary>
/// <param name="Id">The queue id.</param>
/// <param name="State">The queue state.</param>
/// <param name="Envelope">The envelope as accepted.</param>
/// <param name="Headers">The content's header fields, unfolded and decoded; empty once the content is deleted (the message finished).</param>
/// <param name="Recipients">Each recipient's status, last reply and next attempt.</param>
/// <param name="Attempts">Every delivery attempt, oldest first.</param>
/// <param name="Explanation">Why it has not been delivered yet (pending domains: entry, position, the domain queue's state).</param>
public sealed record MessageDetailModel(
    string Id,
    MessageQueueState State,
    MessageEnvelope Envelope,
    ImmutableArray<MessageHeader> Headers,
    ImmutableArray<RecipientState> Recipients,
    ImmutableArray<AttemptModel> Attempts,
    ExplanationModel? Explanation);

/// <summary>One delivery attempt of a message to one of its domains.</summary>
/// <param name="Domain">The recipient domain.</param>
/// <param name="StartedAt">When the attempt started.</param>
/// <param name="DurationMs">How long it took, in milliseconds.</param>
/// <param name="RemoteHost">The host reached (or tried last).</param>
/// <param name="RemoteAddress">Its IP address, when a connection was made.</param>
/// <param name="Tls">The TLS protocol and cipher, when TLS was used.</param>
/// <param name="Results">Each recipient's outcome and the reply that decided it.</param>
public sealed record AttemptModel(
    string Domain,
    DateTimeOffset StartedAt,
    double DurationMs,
    string RemoteHost,
    string? RemoteAddress,
    string? Tls,
    ImmutableArray<RecipientResult> Results)
{
    /// <summary>The API's view of a recorded attempt.</summary>
    public static AttemptModel From(RecordedAttempt attempt)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        var a = attempt.Attempt;
        return new AttemptModel(attempt.Domain, a.StartedAt, a.Duration.TotalMilliseconds, a.RemoteHost, a.RemoteAddress, a.Tls, a.Results.IsDefault ? [] : a.Results);
    }
}

/// <summary>A message's "why is it stuck" answer.</summary>
/// <param name="Summary">One sentence.</param>
/// <param name="Domains">One entry per domain with recipients still pending.</param>
public sealed record ExplanationModel(string Summary, ImmutableArray<MessageDomainExplanation> Domains);

/// <summary>The body of <c>PUT /api/queue/message/{id}/priority</c>.</summary>
/// <param name="Priority"><c>critical</c>, <c>high</c>, <c>normal</c>, <c>low</c> or <c>bulk</c>.</param>
public sealed record PriorityRequest(string? Priority);
