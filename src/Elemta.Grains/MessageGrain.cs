using System.Collections.Immutable;
using Elemta.Contracts;
using Elemta.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Elemta.Grains;

/// <summary>
/// One message. Acceptance is made durable by <see cref="IMessageStore"/> (envelope, content and queue rows in one
/// group commit) before this grain is called; the grain's persisted state then records every change to the
/// recipients, written before the call that caused it returns, so a crash never forgets an outcome it reported.
/// A message whose state was never written (nothing has happened to it yet) is rebuilt from the stored envelope.
/// </summary>
public sealed partial class MessageGrain(
    [PersistentState("message", GrainStorage.ProviderName)] IPersistentState<MessageGrainState> state,
    IMessageStore messages,
    IOptions<QueueOptions> options,
    TimeProvider timeProvider,
    ILogger<MessageGrain> logger) : Grain, IMessageGrain
{
    private readonly QueueOptions _options = options.Value;

    /// <inheritdoc />
    public Task AcceptAsync(MessageEnvelope envelope)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        var id = this.GetPrimaryKeyString();
        if (!string.Equals(envelope.MessageId, id, StringComparison.Ordinal))
        {
            throw new ArgumentException($"Envelope id '{envelope.MessageId}' does not match grain '{id}'.", nameof(envelope));
        }

        if (envelope.Recipients.IsDefaultOrEmpty)
        {
            throw new ArgumentException("A message needs at least one recipient.", nameof(envelope));
        }

        // No write here: the message store already holds the envelope and the queue rows durably.
        if (state.State.Envelope is null)
        {
            Initialize(envelope);
        }

        LogAccepted(id, envelope.Recipients.Length);
        var domains = state.State.Recipients.Where(r => !r.Status.IsFinal()).Select(r => r.Domain).Distinct(StringComparer.Ordinal);
        return Task.WhenAll(domains.Select(d => GrainFactory.GetGrain<IDomainQueueGrain>(d).WakeAsync()));
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

        var envelope = state.State.Envelope!;
        var pending = state.State.Recipients.Where(r => r.Domain == domain && !r.Status.IsFinal()).Select(r => r.Address).ToImmutableArray();
        return pending.IsEmpty ? null : new DeliveryWork(envelope.MessageId, envelope.Sender, domain, pending, envelope.Priority, envelope.RequireTls);
    }

    /// <inheritdoc />
    public async Task<DomainOutcome> RecordAttemptAsync(string domain, DeliveryAttempt attempt)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        if (!await EnsureLoadedAsync())
        {
            return new DomainOutcome(true, null);
        }

        var envelope = state.State.Envelope!;

        var before = state.State.Recipients;
        state.State.Recipients = RecipientOutcomes.Apply(before, domain, attempt, envelope.ReceivedAt, timeProvider.GetUtcNow(), _options);
        for (var i = 0; i < before.Length; i++)
        {
            if (!ReferenceEquals(before[i], state.State.Recipients[i]))
            {
                LogRecipientOutcome(envelope.MessageId, before[i].Address, state.State.Recipients[i].Status, state.State.Recipients[i].LastReply ?? string.Empty);
            }
        }

        await state.WriteStateAsync();

        if (state.State.Recipients.All(r => r.Status.IsFinal()))
        {
            // Deleted only after the final statuses are durable: a crash in between leaves an orphan body, never a
            // pending recipient without content.
            await messages.DeleteContentAsync(envelope.MessageId, CancellationToken.None);
        }

        var next = state.State.Recipients.Where(r => r.Domain == domain && !r.Status.IsFinal()).Min(r => r.NextAttemptAt);
        return new DomainOutcome(next is null, next);
    }

    /// <inheritdoc />
    public async Task<MessageStatus?> GetStatusAsync()
    {
        if (!await EnsureLoadedAsync())
        {
            return null;
        }

        var recipients = state.State.Recipients;
        var queueState = RecipientOutcomes.QueueState(recipients, timeProvider.GetUtcNow());
        return new MessageStatus(state.State.Envelope!, queueState, recipients);
    }

    /// <summary>
    /// Makes sure the envelope is in memory: from grain state if it was ever written, else from the message store.
    /// False when no message has this id.
    /// </summary>
    private async Task<bool> EnsureLoadedAsync()
    {
        if (state.State.Envelope is not null)
        {
            return true;
        }

        var envelope = await messages.ReadEnvelopeAsync(this.GetPrimaryKeyString(), CancellationToken.None);
        if (envelope is null)
        {
            return false;
        }

        Initialize(envelope);
        return true;
    }

    private void Initialize(MessageEnvelope envelope)
    {
        state.State.Envelope = envelope;
        state.State.Recipients = [.. envelope.Recipients
            .Distinct(StringComparer.OrdinalIgnoreCase)
            .Select(r => new RecipientState(r, MessageEnvelope.DomainOf(r), RecipientStatus.Queued, 0, null, null, null))];
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Accepted {MessageId} for {RecipientCount} recipient(s)")]
    private partial void LogAccepted(string messageId, int recipientCount);

    [LoggerMessage(Level = LogLevel.Information, Message = "{MessageId} to {Recipient}: {Status} ({Reply})")]
    private partial void LogRecipientOutcome(string messageId, string recipient, RecipientStatus status, string reply);
}
