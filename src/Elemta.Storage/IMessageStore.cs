using Elemta.Contracts;

namespace Elemta.Storage;

/// <summary>
/// Accepted messages: the envelope and the content, each message's content held once whatever its number of
/// recipient domains, apart from grain state so that grain state stays small. Acceptance writes the envelope,
/// the content and one queue entry per recipient domain in one transaction: when <see cref="AcceptAsync"/>
/// returns, the message survives a crash and will be delivered.
/// </summary>
public interface IMessageStore
{
    /// <summary>
    /// Stores <paramref name="envelope"/> and <paramref name="content"/> and queues the message, due now, in every
    /// recipient domain's queue — all in one commit, shared with concurrent acceptances (group commit).
    /// Accepting the same id again replaces the record.
    /// </summary>
    /// <remarks>
    /// <paramref name="content"/> is borrowed (the SMTP session passes its pooled receive buffer): a store may read
    /// it until the returned task completes and must not keep it after. With a token that can be cancelled the task
    /// may complete before the write has happened, so a store that writes later copies the content in that case.
    /// </remarks>
    Task AcceptAsync(MessageEnvelope envelope, ReadOnlyMemory<byte> content, CancellationToken cancellationToken);

    /// <summary>The envelope as accepted, or null when the store has no message with this id.</summary>
    Task<MessageEnvelope?> ReadEnvelopeAsync(string messageId, CancellationToken cancellationToken);

    /// <summary>The content, or null when the store has nothing under <paramref name="messageId"/>.</summary>
    Task<byte[]?> ReadContentAsync(string messageId, CancellationToken cancellationToken);

    /// <summary>
    /// Deletes the message's content and envelope once no recipient needs them; deleting a missing id is not an
    /// error. The message grain's state keeps the envelope and the outcome.
    /// </summary>
    Task DeleteContentAsync(string messageId, CancellationToken cancellationToken);
}
