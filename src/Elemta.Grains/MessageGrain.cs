using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using Elemta.Contracts;
using Elemta.Grains.Observability;
using Elemta.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Elemta.Grains;

/// <summary>
/// One message. Acceptance is made durable by <see cref="IMessageStore"/> (envelope, content, listing row and queue
/// rows in one group commit) before this grain is called. The message's durable record is its listing row in the
/// queue store: every attempt's outcome — the per-recipient states, the entry moved or removed, the listed state,
/// counters, history, and the content deleted once final — is one transaction, shared with concurrent writes (group
/// commit), written before the call that caused it returns. A message nothing has happened to yet is rebuilt from
/// its stored envelope.
/// </summary>
/// <remarks>
/// Why not Orleans grain state: it would be a second transaction per attempt, on a connection of its own, that
/// competes with the group-commit writer for SQLite's write lock; recording the outcome with the queue entry it
/// belongs to makes the two impossible to disagree. Order after an attempt: (1) notices to the sender are accepted
/// as messages of their own, (2) the outcome transaction. A crash between them can repeat a notice, never lose one;
/// a crash before (2) repeats the attempt (the duplicate window in docs/architecture.md).
/// </remarks>
public sealed partial class MessageGrain(
    IMessageStore messages,
    IQueueStore queue,
    IQueueOperations operations,
    IDeliveryNotifier notifier,
    QueuePluginHooks hooks,
    IOptions<QueueOptions> options,
    TimeProvider timeProvider,
    ILogger<MessageGrain> logger) : Grain, IMessageGrain
{
    private readonly QueueOptions _options = options.Value;
    private MessageEnvelope? _envelope;
    private ImmutableArray<RecipientState> _recipients = [];

    // When the message was handed to this grain and its domain queues woken: the end of delays' "a". In memory only:
    // a grain rebuilt from the store after a restart does not know it (docs/observability.md).
    private DateTimeOffset? _queuedAt;

    // The acceptance's trace (W3C traceparent) while traces are exported, so that delivery attempts join it; null
    // otherwise, and after a restart, when attempts start traces of their own.
    private string? _traceParent;

    private string Id => this.GetPrimaryKeyString();

    /// <inheritdoc />
    public Task AcceptAsync(MessageEnvelope envelope)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        if (!string.Equals(envelope.MessageId, Id, StringComparison.Ordinal))
        {
            throw new ArgumentException($"Envelope id '{envelope.MessageId}' does not match grain '{Id}'.", nameof(envelope));
        }

        if (envelope.Recipients.IsDefaultOrEmpty)
        {
            throw new ArgumentException("A message needs at least one recipient.", nameof(envelope));
        }

        // No write here: the message store already holds the envelope and the queue rows durably.
        if (_envelope is null)
        {
            Initialize(envelope);
            QueueMetrics.MessageQueued();
            hooks.Enqueued(envelope);
        }

        _queuedAt ??= timeProvider.GetUtcNow();
        // Activity.Current is only set when traces are exported (Orleans' activity propagation is added only then);
        // Activity.Id of a W3C activity is its traceparent, already formatted by the propagation.
        if (_traceParent is null && Activity.Current is { IdFormat: ActivityIdFormat.W3C } accepting)
        {
            _traceParent = accepting.Id;
        }

        LogAccepted(Id, envelope.Recipients.Length);
        return WakeAsync(PendingDomains());
    }

    /// <inheritdoc />
    public async Task SubmitAsync(MessageEnvelope envelope, byte[] content)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        ArgumentNullException.ThrowIfNull(content);
        var sized = envelope with { Size = content.Length };
        if (!await EnsureLoadedAsync())
        {
            await messages.AcceptAsync(sized, content, CancellationToken.None);
        }

        await AcceptAsync(sized);
    }

    /// <inheritdoc />
    public async Task<DeliveryWork?> GetDeliveryWorkAsync(string domain)
    {
        if (!await EnsureLoadedAsync())
        {
            return null;
        }

        var envelope = _envelope!;
        var pending = _recipients.Where(r => r.Domain == domain && !r.Status.IsFinal()).Select(r => r.Address).ToImmutableArray();
        if (pending.IsEmpty)
        {
            // Nothing pending here, yet the entry came due (e.g. an operator released an entry the message had
            // finished meanwhile): remove it with the record as it is (idempotent).
            var stored = RecipientOutcomes.StoredState(_recipients);
            await queue.RecordOutcomeAsync(
                new QueueOutcome(Id, domain, null, stored, timeProvider.GetUtcNow(), Recipients: _recipients, Envelope: stored.IsFinal() ? envelope : null),
                CancellationToken.None);
            return null;
        }

        return new DeliveryWork(envelope.MessageId, envelope.Sender, domain, pending, envelope.Priority, envelope.RequireTls, _traceParent);
    }

    /// <inheritdoc />
    public async Task<DomainOutcome> RecordAttemptAsync(string domain, DeliveryAttempt attempt)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        if (!await EnsureLoadedAsync())
        {
            return new DomainOutcome(true, null);
        }

        var envelope = _envelope!;
        using var scope = LogScopes.Attempt(logger, envelope.MessageId, domain);
        var now = timeProvider.GetUtcNow();
        var before = _recipients;
        var after = RecipientOutcomes.Apply(before, domain, attempt, envelope.ReceivedAt, now, _options, Random.Shared.NextDouble());
        int delivered = 0, deferred = 0, failed = 0;
        var newlyFailed = ImmutableArray.CreateBuilder<RecipientState>();
        var newlyDelivered = ImmutableArray.CreateBuilder<RecipientState>();
        for (var i = 0; i < before.Length; i++)
        {
            if (ReferenceEquals(before[i], after[i]))
            {
                continue;
            }

            switch (after[i].Status)
            {
                case RecipientStatus.Delivered:
                    delivered++;
                    newlyDelivered.Add(after[i]);
                    break;
                case RecipientStatus.Failed:
                    failed++;
                    newlyFailed.Add(after[i]);
                    break;
                default:
                    deferred++;
                    break;
            }
        }

        after = await NotifyAsync(envelope, domain, after, newlyFailed.ToImmutable(), newlyDelivered.ToImmutable(), now);
        var next = after.Where(r => r.Domain == domain && !r.Status.IsFinal()).Min(r => r.NextAttemptAt);
        var stored = RecipientOutcomes.StoredState(after);
        await queue.RecordOutcomeAsync(
            new QueueOutcome(Id, domain, next, stored, now, delivered, deferred, failed, attempt, after, stored.IsFinal() ? envelope : null),
            CancellationToken.None);
        // Only once durable: a failed write leaves the grain as it was, and the attempt is made again.
        _recipients = after;
        if (next is { } retryAt)
        {
            hooks.Retrying(envelope, after, domain, retryAt);
        }

        var recorded = timeProvider.GetUtcNow();
        for (var i = 0; i < before.Length; i++)
        {
            if (!ReferenceEquals(before[i], after[i]) && before[i].Attempts != after[i].Attempts)
            {
                ReportOutcome(envelope, attempt, after[i], recorded);
            }
        }
        return new DomainOutcome(next is null, next);
    }

    /// <inheritdoc />
    public async Task<MessageStatus?> GetStatusAsync()
    {
        if (!await EnsureLoadedAsync())
        {
            return null;
        }

        var recipients = _recipients;
        var queueState = RecipientOutcomes.QueueState(recipients, timeProvider.GetUtcNow());
        if (!queueState.IsFinal())
        {
            foreach (var domain in PendingDomains())
            {
                if (await queue.GetPositionAsync(domain, Id, CancellationToken.None) is { Held: true })
                {
                    queueState = MessageQueueState.Held;
                    break;
                }
            }
        }

        return new MessageStatus(_envelope!, queueState, recipients);
    }

    /// <inheritdoc />
    public async Task<QueueActionResult> ApplyAsync(QueueAction action)
    {
        if (!await EnsureLoadedAsync())
        {
            return new QueueActionResult(0, 0);
        }

        if (action == QueueAction.Delete)
        {
            var entries = PendingDomains().Count();
            await operations.DeleteMessageAsync(Id, CancellationToken.None);
            await ClearAsync();
            LogDeleted(Id);
            return new QueueActionResult(1, entries);
        }

        var change = await operations.ApplyAsync(QueueScope.Message(Id), action, timeProvider.GetUtcNow(), CancellationToken.None);
        LogAction(Id, action, change.Entries);
        await WakeAsync(change.Domains);
        return new QueueActionResult(change.Messages, change.Entries);
    }

    /// <inheritdoc />
    public async Task<QueueActionResult> SetPriorityAsync(MessagePriority priority)
    {
        if (!await EnsureLoadedAsync())
        {
            return new QueueActionResult(0, 0);
        }

        _envelope = _envelope! with { Priority = priority };
        var change = await operations.SetPriorityAsync(QueueScope.Message(Id), (int)priority, timeProvider.GetUtcNow(), CancellationToken.None);
        await WakeAsync(PendingDomains());
        return new QueueActionResult(change.Messages, change.Entries);
    }

    /// <inheritdoc />
    public async Task<ImmutableArray<RecordedAttempt>> GetAttemptsAsync() =>
        [.. await operations.GetAttemptsAsync(Id, CancellationToken.None)];

    /// <inheritdoc />
    public async Task<MessageExplanation?> ExplainAsync()
    {
        var status = await GetStatusAsync();
        if (status is null)
        {
            return null;
        }

        var domains = ImmutableArray.CreateBuilder<MessageDomainExplanation>();
        foreach (var domain in PendingDomains())
        {
            var position = await queue.GetPositionAsync(domain, Id, CancellationToken.None);
            var queueExplanation = await GrainFactory.GetCachedGrain<IDomainQueueGrain>(domain).ExplainAsync();
            domains.Add(new MessageDomainExplanation(domain, position?.Held ?? false, position?.DueAt, position?.Position ?? 0, queueExplanation));
        }

        return new MessageExplanation(status, domains.ToImmutable(), Summarize(status, domains));
    }

    /// <inheritdoc />
    public Task<byte[]?> GetContentAsync() => messages.ReadContentAsync(Id, CancellationToken.None);

    /// <inheritdoc />
    public async Task<ImmutableArray<MessageHeader>> GetHeadersAsync()
    {
        if (await messages.ReadContentAsync(Id, CancellationToken.None) is not { } content)
        {
            return [];
        }

        using var stream = new MemoryStream(content, writable: false);
        try
        {
            var headers = await MimeKit.HeaderList.LoadAsync(stream, CancellationToken.None);
            return [.. headers.Select(h => new MessageHeader(h.Field, h.Value))];
        }
        catch (FormatException)
        {
            // Accepted content whose header section MimeKit cannot read: the raw source still shows it.
            return [];
        }
    }

    /// <inheritdoc />
    public async Task<bool> ForgetAsync()
    {
        if (!await EnsureLoadedAsync())
        {
            // Nothing in grain state; make sure no listing row outlives it either.
            await operations.DeleteMessageAsync(Id, CancellationToken.None);
            return false;
        }

        if (_recipients.Any(r => !r.Status.IsFinal()))
        {
            return false;
        }

        await operations.DeleteMessageAsync(Id, CancellationToken.None);
        await ClearAsync();
        return true;
    }

    /// <summary>
    /// Sends the notices this attempt calls for and returns the recipients with their notice flags set. Runs before
    /// the state write (see the class remarks).
    /// </summary>
    private async Task<ImmutableArray<RecipientState>> NotifyAsync(
        MessageEnvelope envelope,
        string domain,
        ImmutableArray<RecipientState> recipients,
        ImmutableArray<RecipientState> newlyFailed,
        ImmutableArray<RecipientState> newlyDelivered,
        DateTimeOffset now)
    {
        if (envelope.Sender.Length == 0)
        {
            // The null sender is never notified: this is what makes bounce loops impossible.
            return recipients;
        }

        if (!newlyFailed.IsEmpty)
        {
            await notifier.NotifyAsync(envelope, DeliveryNoticeKind.Failure, newlyFailed, CancellationToken.None);
        }

        // SUCCESS notices only exist when asked for with NOTIFY, so most messages skip the call entirely.
        if (!newlyDelivered.IsEmpty && envelope.Dsn is not null)
        {
            await notifier.NotifyAsync(envelope, DeliveryNoticeKind.Success, newlyDelivered, CancellationToken.None);
        }

        if (_options.DelayWarningAfter > TimeSpan.Zero && now - envelope.ReceivedAt >= _options.DelayWarningAfter)
        {
            var delayed = recipients.Where(r => r.Domain == domain && r.Status == RecipientStatus.Deferred && !r.DelayNotified).ToImmutableArray();
            if (!delayed.IsEmpty)
            {
                await notifier.NotifyAsync(envelope, DeliveryNoticeKind.Delay, delayed, CancellationToken.None);
                var builder = recipients.ToBuilder();
                for (var i = 0; i < builder.Count; i++)
                {
                    if (delayed.Contains(builder[i]))
                    {
                        builder[i] = builder[i] with { DelayNotified = true };
                    }
                }

                return builder.ToImmutable();
            }
        }

        return recipients;
    }

    private static string Summarize(MessageStatus status, IReadOnlyList<MessageDomainExplanation> domains)
    {
        var pending = status.Recipients.Count(r => !r.Status.IsFinal());
        if (pending == 0)
        {
            var failed = status.Recipients.Count(r => r.Status == RecipientStatus.Failed);
            return failed == 0
                ? $"{status.State}: all {status.Recipients.Length} recipient(s) delivered."
                : $"{status.State}: {failed} of {status.Recipients.Length} recipient(s) failed permanently; last reply: {status.Recipients.Last(r => r.Status == RecipientStatus.Failed).LastReply}.";
        }

        var parts = domains.Select(d =>
        {
            var reply = status.Recipients.Where(r => r.Domain == d.Domain && !r.Status.IsFinal()).Select(r => r.LastReply).LastOrDefault(r => r is not null);
            var where = d.Held ? "held by an operator" : $"{d.Position} ahead in the queue, due {d.DueAt?.ToString("u", CultureInfo.InvariantCulture) ?? "now"}";
            return $"{d.Domain}: {where}" + (reply is null ? string.Empty : $", last reply: {reply}") + $" — queue: {d.Queue.Summary}";
        });
        return $"{status.State}: {pending} recipient(s) pending. " + string.Join(" | ", parts);
    }

    private IEnumerable<string> PendingDomains() =>
        _recipients.Where(r => !r.Status.IsFinal()).Select(r => r.Domain).Distinct(StringComparer.Ordinal);

    private Task WakeAsync(IEnumerable<string> domains) =>
        Task.WhenAll(domains.Select(d => GrainFactory.GetCachedGrain<IDomainQueueGrain>(d).WakeAsync()));

    private Task ClearAsync()
    {
        _envelope = null;
        _recipients = [];
        _queuedAt = null;
        _traceParent = null;
        DeactivateOnIdle();
        return Task.CompletedTask;
    }

    /// <summary>
    /// Makes sure the message is in memory: its recorded recipient states from the listing (once an attempt was
    /// recorded), its envelope from the listing (once finished) or the message store. False when no message has this id.
    /// </summary>
    private async Task<bool> EnsureLoadedAsync()
    {
        if (_envelope is not null)
        {
            return true;
        }

        var record = await queue.ReadRecordAsync(Id, CancellationToken.None);
        var envelope = record?.Envelope ?? await messages.ReadEnvelopeAsync(Id, CancellationToken.None);
        if (envelope is null)
        {
            return false;
        }

        if (record is not null)
        {
            // An operator may have changed the priority since acceptance; the listing has the current one.
            envelope = envelope with { Priority = record.Priority };
        }

        Initialize(envelope);
        if (record is { Recipients.IsDefaultOrEmpty: false })
        {
            _recipients = record.Recipients;
        }

        return true;
    }

    private void Initialize(MessageEnvelope envelope)
    {
        _envelope = envelope;
        _recipients = [.. envelope.Recipients
            .Distinct(StringComparer.OrdinalIgnoreCase)
            .Select(r => new RecipientState(r, MessageEnvelope.DomainOf(r), RecipientStatus.Queued, 0, null, null, null))];
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Accepted {MessageId} for {RecipientCount} recipient(s)")]
    private partial void LogAccepted(string messageId, int recipientCount);

    /// <summary>Counts a recipient's new outcome and writes its delivery line (<see cref="DeliveryLine"/>).</summary>
    private void ReportOutcome(MessageEnvelope envelope, DeliveryAttempt attempt, RecipientState recipient, DateTimeOffset now)
    {
        var sinceReceipt = now - envelope.ReceivedAt;
        var expired = false;
        switch (recipient.Status)
        {
            case RecipientStatus.Delivered:
                QueueMetrics.RecipientDelivered(sinceReceipt);
                break;
            case RecipientStatus.Failed:
                expired = recipient.LastReply?.StartsWith(RecipientOutcomes.ExpiredReplyPrefix, StringComparison.Ordinal) == true;
                QueueMetrics.RecipientBounced(sinceReceipt, expired);
                break;
            default:
                QueueMetrics.RecipientDeferred();
                break;
        }

        if (logger.IsEnabled(LogLevel.Information))
        {
            var line = DeliveryLine.Of(envelope.ReceivedAt, _queuedAt, attempt, recipient, expired, now);
            LogDelivery(envelope.MessageId, recipient.Address, line.Relay, line.Delay, line.Delays, line.Tls, line.Dsn, line.Status, recipient.LastReply ?? string.Empty);
        }
    }

    // One greppable line per recipient and attempt, in the shape of Postfix's (docs/observability.md).
    [LoggerMessage(EventId = 13001, Level = LogLevel.Information, Message = "{QueueId}: to=<{Recipient}>, relay={Relay}, delay={Delay}, delays={Delays}, tls={Tls}, dsn={Dsn}, status={Status} ({Reply})")]
    private partial void LogDelivery(string queueId, string recipient, string relay, string delay, string delays, string tls, string dsn, string status, string reply);

    [LoggerMessage(Level = LogLevel.Information, Message = "{MessageId}: {Action} by an operator ({Entries} queue entries)")]
    private partial void LogAction(string messageId, QueueAction action, long entries);

    [LoggerMessage(Level = LogLevel.Information, Message = "{MessageId}: deleted by an operator")]
    private partial void LogDeleted(string messageId);
}
