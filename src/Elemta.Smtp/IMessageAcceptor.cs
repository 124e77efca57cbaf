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

/// <summary>Decides whether a new connection may proceed.</summary>
public interface IConnectionPolicy
{
    /// <summary>True to greet the client, false to answer 421 and close.</summary>
    Task<bool> AllowConnectionAsync(System.Net.IPAddress client, CancellationToken cancellationToken);
}
