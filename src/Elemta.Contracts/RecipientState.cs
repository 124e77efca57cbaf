namespace Elemta.Contracts;

/// <summary>The delivery state of one recipient of one message.</summary>
/// <param name="Address">The recipient address as given in RCPT TO.</param>
/// <param name="Domain">The recipient's domain in lower case; the key of the <see cref="IDomainQueueGrain"/> that delivers it.</param>
/// <param name="Status">Current status.</param>
/// <param name="Attempts">Number of delivery attempts made so far.</param>
/// <param name="LastReply">The last reply (or local error) seen for this recipient, if any.</param>
/// <param name="LastAttemptAt">When the last attempt ended.</param>
/// <param name="NextAttemptAt">When the next attempt is due, for <see cref="RecipientStatus.Deferred"/> recipients.</param>
/// <param name="DelayNotified">A delay notice (RFC 3464 <c>Action: delayed</c>) was sent to the sender for this recipient.</param>
/// <param name="RemoteHost">The host the last attempt reached, if any.</param>
[GenerateSerializer, Immutable, Alias("elemta.RecipientState")]
public sealed record RecipientState(
    [property: Id(0)] string Address,
    [property: Id(1)] string Domain,
    [property: Id(2)] RecipientStatus Status,
    [property: Id(3)] int Attempts,
    [property: Id(4)] string? LastReply,
    [property: Id(5)] DateTimeOffset? LastAttemptAt,
    [property: Id(6)] DateTimeOffset? NextAttemptAt,
    [property: Id(7)] bool DelayNotified = false,
    [property: Id(8)] string? RemoteHost = null);
