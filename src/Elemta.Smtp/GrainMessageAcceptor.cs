using Elemta.Contracts;
using Elemta.Storage;
using Microsoft.Extensions.Options;

namespace Elemta.Smtp;

/// <summary>
/// Accepts a message the way every front-end does: envelope, content and queue rows into the message store in one
/// group commit (the durable point), then the <see cref="IMessageGrain"/>, which takes charge of it and wakes its
/// domain queues. Only grain calls cross to the silo, so the front-end runs co-hosted or as a separate Orleans
/// client alike.
/// </summary>
/// <remarks>The delivery priority is set here, by <see cref="PriorityRulesOptions"/>, before the queue rows are written.</remarks>
public sealed class GrainMessageAcceptor(IMessageStore messages, IGrainFactory grains, IOptions<PriorityRulesOptions> priorities) : IMessageAcceptor
{
    /// <inheritdoc />
    public async Task AcceptAsync(MessageEnvelope envelope, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        if (priorities.Value.PriorityRules.Count > 0)
        {
            envelope = envelope with { Priority = priorities.Value.PriorityOf(envelope) };
        }

        await messages.AcceptAsync(envelope, content, cancellationToken).ConfigureAwait(false);
        await grains.GetCachedGrain<IMessageGrain>(envelope.MessageId).AcceptAsync(envelope).WaitAsync(cancellationToken).ConfigureAwait(false);
    }
}
