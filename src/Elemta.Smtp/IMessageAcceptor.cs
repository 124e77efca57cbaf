using Elemta.Contracts;

namespace Elemta.Smtp;

/// <summary>Takes responsibility for a received message. The SMTP session answers 250 only after it returns.</summary>
public interface IMessageAcceptor
{
    /// <summary>
    /// Makes the message durable and queued. Throws when that could not be done, in which case the session
    /// answers 451 and the client keeps responsibility for the message.
    /// </summary>
    Task AcceptAsync(MessageEnvelope envelope, ReadOnlyMemory<byte> content, CancellationToken cancellationToken);
}
