using System.Collections.Immutable;
using Elemta.Contracts;
using Elemta.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Elemta.Grains;

/// <summary>
/// One message. Its persisted state is the envelope and one <see cref="RecipientState"/> per recipient; every
/// change is written before the call returns, so a crash never forgets an outcome it reported.
/// </summary>
public sealed partial class MessageGrain(
    [PersistentState("message", GrainStorage.ProviderName)] IPersistentState<MessageGrainState> state,
    IMessageBodyStore bodies,
    IOptions<QueueOptions> options,
    TimeProvider timeProvider,
    ILogger<MessageGrain> logger) : Grain, IMessageGrain
{
    private readonly QueueOptions _options = options.Value;

    /// <inheritdoc />
    public async Task AcceptAsync(MessageEnvelope envelope)
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

        if (state.State.Envelope is null)
        {
            state.State.Envelope = envelope;
            state.State.Recipients = [.. envelope.Recipients
                .Distinct(StringComparer.OrdinalIgnoreCase)
                .Select(r => new RecipientState(r, DomainOf(r), RecipientStatus.Queued, 0, null, null, null))];
            await state.WriteStateAsync();
        }

        // Also on a repeated call: the first may have failed between the state write and the queue entries.
        var now = timeProvider.GetUtcNow();
        var domains = state.State.Recipients.Where(r => !r.Status.IsFinal()).Select(r => r.Domain).Distinct(StringComparer.Ordinal);
        await Task.WhenAll(domains.Select(d => GrainFactory.GetGrain<IDomainQueueGrain>(d).EnqueueAsync(id, now, envelope.Priority)));
        LogAccepted(id, envelope.Recipients.Length);
    }

    /// <inheritdoc />
    public async Task SubmitAsync(MessageEnvelope envelope, byte[] content)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        ArgumentNullException.ThrowIfNull(content);
        if (state.State.Envelope is null)
        {
            await bodies.StoreAsync(this.GetPrimaryKeyString(), content, CancellationToken.None);
        }

        await AcceptAsync(envelope with { Size = content.Length });
    }

    /// <inheritdoc />
    public Task<DeliveryWork?> GetDeliveryWorkAsync(string domain)
    {
        var envelope = state.State.Envelope;
        if (envelope is null)
        {
            return Task.FromResult<DeliveryWork?>(null);
        }

        var pending = state.State.Recipients.Where(r => r.Domain == domain && !r.Status.IsFinal()).Select(r => r.Address).ToImmutableArray();
        return Task.FromResult(pending.IsEmpty ? null : new DeliveryWork(envelope.MessageId, envelope.Sender, domain, pending, envelope.Priority));
    }

    /// <inheritdoc />
    public async Task<DomainOutcome> RecordAttemptAsync(string domain, DeliveryAttempt attempt)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        var envelope = state.State.Envelope;
        if (envelope is null)
        {
            return new DomainOutcome(true, null);
        }

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
            await bodies.DeleteAsync(envelope.MessageId, CancellationToken.None);
        }

        var next = state.State.Recipients.Where(r => r.Domain == domain && !r.Status.IsFinal()).Min(r => r.NextAttemptAt);
        return new DomainOutcome(next is null, next);
    }

    /// <inheritdoc />
    public Task<MessageStatus?> GetStatusAsync()
    {
        var envelope = state.State.Envelope;
        if (envelope is null)
        {
            return Task.FromResult<MessageStatus?>(null);
        }

        var recipients = state.State.Recipients;
        var queueState = RecipientOutcomes.QueueState(recipients, timeProvider.GetUtcNow());
        return Task.FromResult<MessageStatus?>(new MessageStatus(envelope, queueState, recipients));
    }

    /// <summary>The domain of an address in lower case: the key of its domain queue.</summary>
    internal static string DomainOf(string address)
    {
        var at = address.LastIndexOf('@');
        return (at >= 0 ? address[(at + 1)..] : address).TrimEnd('.').ToLowerInvariant();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Accepted {MessageId} for {RecipientCount} recipient(s)")]
    private partial void LogAccepted(string messageId, int recipientCount);

    [LoggerMessage(Level = LogLevel.Information, Message = "{MessageId} to {Recipient}: {Status} ({Reply})")]
    private partial void LogRecipientOutcome(string messageId, string recipient, RecipientStatus status, string reply);
}
