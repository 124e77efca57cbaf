using System.Collections.Immutable;
using Elemta.Contracts;

namespace Elemta.Grains;

/// <summary>Which delivery status notification (RFC 3464) a change of recipient state calls for.</summary>
public enum DeliveryNoticeKind
{
    /// <summary>Recipients failed permanently or expired (<c>Action: failed</c>).</summary>
    Failure = 0,

    /// <summary>Recipients are still being retried after <see cref="QueueOptions.DelayWarningAfter"/> (<c>Action: delayed</c>).</summary>
    Delay = 1,

    /// <summary>Recipients that asked for NOTIFY=SUCCESS were delivered (<c>Action: relayed</c> or <c>delivered</c>).</summary>
    Success = 2,
}

/// <summary>
/// Sends delivery status notifications to a message's sender. A notice is itself a message, accepted durably into
/// the queue before this returns, so a crash after it can at worst repeat it, never lose it.
/// </summary>
public interface IDeliveryNotifier
{
    /// <summary>
    /// Notifies the sender of <paramref name="original"/> about <paramref name="recipients"/>, keeping to what the
    /// sender asked for (NOTIFY, RET) and never notifying the null sender. Returns the notice's message id, or null
    /// when none was due.
    /// </summary>
    Task<string?> NotifyAsync(MessageEnvelope original, DeliveryNoticeKind kind, ImmutableArray<RecipientState> recipients, CancellationToken cancellationToken);
}
