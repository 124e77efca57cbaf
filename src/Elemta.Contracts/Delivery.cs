using System.Collections.Immutable;

namespace Elemta.Contracts;

/// <summary>What a domain queue must send for one message: the recipients of its domain that are still pending.</summary>
/// <param name="MessageId">The message, also the message store key.</param>
/// <param name="Sender">Reverse-path; empty for the null sender.</param>
/// <param name="Domain">The destination domain.</param>
/// <param name="Recipients">Pending recipients in <paramref name="Domain"/>.</param>
/// <param name="Priority">Delivery priority.</param>
/// <param name="RequireTls">Received with REQUIRETLS (RFC 8689): deliver only over TLS with a verified certificate to a host that offers REQUIRETLS.</param>
/// <param name="TraceParent">The W3C <c>traceparent</c> of the message's acceptance while its grain still holds it and
/// traces are exported, so that the attempt is a span of the same trace; null otherwise.</param>
/// <param name="NextHop">Where a before-delivery plugin rerouted these recipients for this attempt: a relay's name
/// (<c>Elemta:Delivery:Relays</c>) or <c>host:port</c>, in place of the domain's rules, route or MX hosts; null otherwise.</param>
[GenerateSerializer, Immutable, Alias("elemta.DeliveryWork")]
public sealed record DeliveryWork(
    [property: Id(0)] string MessageId,
    [property: Id(1)] string Sender,
    [property: Id(2)] string Domain,
    [property: Id(3)] ImmutableArray<string> Recipients,
    [property: Id(4)] MessagePriority Priority,
    [property: Id(5)] bool RequireTls = false,
    [property: Id(6)] string? TraceParent = null,
    [property: Id(7)] string? NextHop = null);

/// <summary>How an attempt ended for one recipient.</summary>
public enum RecipientOutcome
{
    /// <summary>Accepted by the destination.</summary>
    Delivered = 0,

    /// <summary>A 4xx reply, a connection failure or a DNS timeout: try again later.</summary>
    Transient = 1,

    /// <summary>A 5xx reply or a definite DNS answer that the domain takes no mail: give up.</summary>
    Permanent = 2,
}

/// <summary>The result of one attempt for one recipient.</summary>
/// <param name="Address">The recipient.</param>
/// <param name="Outcome">How it ended.</param>
/// <param name="Reply">The remote reply or the local reason, e.g. <c>550 5.1.1 no such user</c>.</param>
/// <param name="Error">What kind of failure it was, for statistics and "why is it stuck"; <see cref="DeliveryError.None"/> when delivered.</param>
[GenerateSerializer, Immutable, Alias("elemta.RecipientResult")]
public sealed record RecipientResult(
    [property: Id(0)] string Address,
    [property: Id(1)] RecipientOutcome Outcome,
    [property: Id(2)] string Reply,
    [property: Id(3)] DeliveryError Error = DeliveryError.None);

/// <summary>The class of a failed attempt, so operators can tell a dead MX from a full mailbox at a glance.</summary>
public enum DeliveryError
{
    /// <summary>No error (delivered), or not classified.</summary>
    None = 0,

    /// <summary>DNS lookup failed or said the domain takes no mail.</summary>
    Dns = 1,

    /// <summary>No TCP connection could be made, or it broke.</summary>
    Connect = 2,

    /// <summary>TLS could not be negotiated or did not meet the policy (REQUIRETLS, MTA-STS, DANE, per-domain policy).</summary>
    Tls = 3,

    /// <summary>The remote server replied 4xx.</summary>
    TemporaryReply = 4,

    /// <summary>The remote server replied 5xx.</summary>
    PermanentReply = 5,

    /// <summary>The remote server did not answer in time.</summary>
    Timeout = 6,

    /// <summary>A local reason: missing content, local mailbox error, configuration, queue lifetime.</summary>
    Local = 7,
}

/// <summary>One delivery attempt of one message to one domain.</summary>
/// <param name="RemoteHost">The host (and address) the attempt reached or tried last; empty when none was reached.</param>
/// <param name="StartedAt">When the attempt started.</param>
/// <param name="Results">One result per recipient of the <see cref="DeliveryWork"/>.</param>
/// <param name="RemoteAddress">The IP address and port reached, e.g. <c>192.0.2.1:25</c>; null when none was reached.</param>
/// <param name="Tls">The TLS outcome, e.g. <c>TLSv1.3 TLS_AES_256_GCM_SHA384 verified</c> or <c>none</c>; null when no session was made.</param>
/// <param name="Duration">How long the attempt took.</param>
/// <param name="Setup">The part of <paramref name="Duration"/> spent before the message transfer (MAIL FROM) began:
/// DNS and policy lookups, parsing the content, TCP connection, greeting, EHLO, STARTTLS and AUTH, for every host tried
/// (all of it when no transfer began; zero for Maildir). The delivery line's <c>c</c> of
/// <c>delays=a/b/c/d</c>.</param>
[GenerateSerializer, Immutable, Alias("elemta.DeliveryAttempt")]
public sealed record DeliveryAttempt(
    [property: Id(0)] string RemoteHost,
    [property: Id(1)] DateTimeOffset StartedAt,
    [property: Id(2)] ImmutableArray<RecipientResult> Results,
    [property: Id(3)] string? RemoteAddress = null,
    [property: Id(4)] string? Tls = null,
    [property: Id(5)] TimeSpan Duration = default,
    [property: Id(6)] TimeSpan Setup = default);

/// <summary>What the message decided after recording an attempt for one domain.</summary>
/// <param name="Finished">True when no recipient in the domain needs another attempt: the queue entry can go.</param>
/// <param name="NextAttemptAt">When to try the domain's remaining recipients again, if not finished.</param>
[GenerateSerializer, Immutable, Alias("elemta.DomainOutcome")]
public sealed record DomainOutcome(
    [property: Id(0)] bool Finished,
    [property: Id(1)] DateTimeOffset? NextAttemptAt);
