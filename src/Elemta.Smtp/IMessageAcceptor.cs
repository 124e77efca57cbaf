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

/// <summary>Decides whether a new connection may proceed, and keeps its place while it is open.</summary>
public interface IConnectionPolicy
{
    /// <summary>
    /// Admits the connection (greet the client) or refuses it (answer 421 and close). The session disposes the answer
    /// when the connection ends, which releases the place an admitted connection held. Throws when the policy cannot
    /// be asked, in which case the session answers <c>421 4.3.0</c>.
    /// </summary>
    Task<ConnectionAdmission> AdmitAsync(System.Net.IPAddress client, CancellationToken cancellationToken);
}
