using System.Collections.Immutable;
using Elemta.Bounces;
using Elemta.Contracts;
using Elemta.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Elemta.Grains;

/// <summary>
/// Builds delivery status notifications with <see cref="DeliveryStatusNoticeBuilder"/> and queues them like any other
/// message: stored durably (group commit) and handed to their own message grain.
/// </summary>
public sealed partial class DeliveryNotifier(
    DeliveryStatusNoticeBuilder builder,
    IMessageStore messages,
    IGrainFactory grains,
    IOptions<QueueOptions> options,
    ILogger<DeliveryNotifier> logger) : IDeliveryNotifier
{
    /// <inheritdoc />
    public async Task<string?> NotifyAsync(MessageEnvelope original, DeliveryNoticeKind kind, ImmutableArray<RecipientState> recipients, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(original);
        var noticeKind = (NoticeKind)(int)kind;
        var reports = NotificationPolicy.Due(original, noticeKind, recipients.Select(r => Report(original, kind, r)));
        if (reports.IsDefaultOrEmpty)
        {
            return null;
        }

        var content = await messages.ReadContentAsync(original.MessageId, cancellationToken).ConfigureAwait(false) ?? [];
        var notice = builder.Build(new NoticeRequest(MessageIds.New(), original, content, noticeKind, reports));
        await messages.AcceptAsync(notice.Envelope, notice.Content, cancellationToken).ConfigureAwait(false);
        await grains.GetCachedGrain<IMessageGrain>(notice.Envelope.MessageId).AcceptAsync(notice.Envelope).ConfigureAwait(false);
        LogNotice(notice.Envelope.MessageId, kind, original.MessageId, original.Sender, reports.Length);
        return notice.Envelope.MessageId;
    }

    private RecipientReport Report(MessageEnvelope original, DeliveryNoticeKind kind, RecipientState recipient)
    {
        var reply = recipient.LastReply ?? string.Empty;
        var expired = reply.StartsWith(RecipientOutcomes.ExpiredReplyPrefix, StringComparison.Ordinal);
        var action = kind switch
        {
            DeliveryNoticeKind.Failure => RecipientAction.Failed,
            DeliveryNoticeKind.Delay => RecipientAction.Delayed,
            // The next hop may not offer DSN, and Elemta does not pass NOTIFY on: report "relayed" (RFC 3461 §5.2.2).
            _ => RecipientAction.Relayed,
        };
        return new RecipientReport(
            recipient.Address,
            action,
            reply,
            ReplyFromRemote: recipient.RemoteHost is not null && !expired,
            RemoteMta: recipient.RemoteHost is { } host ? HostName(host) : null,
            LastAttemptAt: recipient.LastAttemptAt,
            RetryUntil: kind == DeliveryNoticeKind.Delay ? original.ReceivedAt + options.Value.MaxQueueLifetime : null,
            Status: expired ? "4.4.7" : null);
    }

    /// <summary><c>mx.example.net[192.0.2.1]:25</c> → <c>mx.example.net</c>, for Remote-MTA.</summary>
    private static string HostName(string remoteHost)
    {
        var bracket = remoteHost.IndexOf('[', StringComparison.Ordinal);
        return bracket > 0 ? remoteHost[..bracket] : remoteHost;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Queued {Kind} notice {NoticeId} about {MessageId} to <{Sender}> for {Count} recipient(s)")]
    private partial void LogNotice(string noticeId, DeliveryNoticeKind kind, string messageId, string sender, int count);
}
