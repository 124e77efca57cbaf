using Elemta.Contracts;

namespace Elemta.Storage;

/// <summary>
/// The durable record of acceptance: envelope, content and one queue entry per recipient domain, written in one
/// transaction. When <see cref="AcceptAsync"/> returns, the message survives a crash and will be delivered.
/// </summary>
public interface IMessageStore
{
    /// <summary>
    /// Stores <paramref name="envelope"/> and <paramref name="content"/> and queues the message, due now, in every
    /// recipient domain's queue — all in one commit, shared with concurrent acceptances (group commit).
    /// Accepting the same id again replaces the record.
    /// </summary>
    Task AcceptAsync(MessageEnvelope envelope, ReadOnlyMemory<byte> content, CancellationToken cancellationToken);

    /// <summary>The envelope as accepted, or null when the store has no message with this id.</summary>
    Task<MessageEnvelope?> ReadEnvelopeAsync(string messageId, CancellationToken cancellationToken);
}
