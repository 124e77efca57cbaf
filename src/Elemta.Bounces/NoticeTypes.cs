using System.Collections.Immutable;
using Elemta.Contracts;

namespace Elemta.Bounces;

/// <summary>The kinds of delivery status notification a sender can ask for with NOTIFY (RFC 3461 §4.1).</summary>
public enum NoticeKind
{
    /// <summary>A recipient failed permanently or expired in the queue: a bounce. NOTIFY keyword <c>FAILURE</c>.</summary>
    Failure = 0,

    /// <summary>A recipient has been deferred longer than the configured age and is still being retried. NOTIFY keyword <c>DELAY</c>.</summary>
    Delay = 1,

    /// <summary>A recipient was delivered, or relayed to a server that will not report further. NOTIFY keyword <c>SUCCESS</c>.</summary>
    Success = 2,
}

/// <summary>The <c>Action</c> reported for one recipient (RFC 3464 §2.3.3).</summary>
public enum RecipientAction
{
    /// <summary>Could not be delivered and will not be retried (<see cref="NoticeKind.Failure"/>).</summary>
    Failed = 0,

    /// <summary>Not delivered yet, still being retried (<see cref="NoticeKind.Delay"/>).</summary>
    Delayed = 1,

    /// <summary>Delivered to the recipient's mailbox (<see cref="NoticeKind.Success"/>).</summary>
    Delivered = 2,

    /// <summary>
    /// Handed to a server that does not offer DSN, so no further notice will come from there
    /// (RFC 3461 §5.2.2; <see cref="NoticeKind.Success"/>).
    /// </summary>
    Relayed = 3,
}

/// <summary>What happened to one recipient, as the notice reports it.</summary>
/// <param name="Address">The recipient as given in RCPT TO (the envelope's spelling).</param>
/// <param name="Action">What happened; must belong to the notice's <see cref="NoticeKind"/>.</param>
/// <param name="Reply">The remote reply, e.g. <c>550 5.1.1 no such user</c>, or the local reason.</param>
/// <param name="ReplyFromRemote">True when <paramref name="Reply"/> came from a remote server: it is then reported as <c>Diagnostic-Code: smtp; …</c>.</param>
/// <param name="RemoteMta">The remote host name the reply came from, reported as <c>Remote-MTA: dns; …</c>; null when none was reached.</param>
/// <param name="LastAttemptAt">When the last attempt ended (<c>Last-Attempt-Date</c>); null when none was made.</param>
/// <param name="RetryUntil">For delays: when retries stop (<c>Will-Retry-Until</c>), usually arrival plus the queue lifetime.</param>
/// <param name="Status">
/// The status code (<c>x.y.z</c>, RFC 3463) when the caller knows it better than the reply, e.g. <c>4.4.7</c> for a
/// message that expired in the queue; null to take it from the reply's enhanced code, or from its reply code
/// (<c>5.0.0</c>, <c>4.0.0</c>, <c>2.0.0</c>), or from <paramref name="Action"/>.
/// </param>
public sealed record RecipientReport(
    string Address,
    RecipientAction Action,
    string Reply,
    bool ReplyFromRemote = false,
    string? RemoteMta = null,
    DateTimeOffset? LastAttemptAt = null,
    DateTimeOffset? RetryUntil = null,
    string? Status = null);

/// <summary>Everything needed to build one notice: one message, one kind, every recipient due for it.</summary>
/// <param name="NoticeMessageId">Queue id for the notice itself, given by the caller (the notice is a new message).</param>
/// <param name="Original">The envelope of the message the notice is about.</param>
/// <param name="OriginalContent">The stored content of that message, as received.</param>
/// <param name="Kind">Which notice this is.</param>
/// <param name="Recipients">The recipients it reports, each with an action of <paramref name="Kind"/>; at least one.</param>
public sealed record NoticeRequest(
    string NoticeMessageId,
    MessageEnvelope Original,
    ReadOnlyMemory<byte> OriginalContent,
    NoticeKind Kind,
    ImmutableArray<RecipientReport> Recipients);

/// <summary>A built notice: the envelope to queue it under and its content, CRLF line endings, ready to relay unchanged.</summary>
/// <param name="Envelope">Null sender, the original sender as the one recipient, high priority, no DSN parameters.</param>
/// <param name="Content">The RFC 5322 message: <c>multipart/report; report-type=delivery-status</c>.</param>
public sealed record DeliveryStatusNotice(MessageEnvelope Envelope, byte[] Content);
