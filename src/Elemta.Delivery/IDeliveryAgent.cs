using Elemta.Contracts;

namespace Elemta.Delivery;

/// <summary>Makes one delivery attempt of one message to one domain and reports the outcome per recipient.</summary>
public interface IDeliveryAgent
{
    /// <summary>
    /// Tries to deliver <paramref name="content"/> to the recipients of <paramref name="work"/>. Never throws for
    /// a remote or network failure: those become <see cref="RecipientOutcome.Transient"/> or
    /// <see cref="RecipientOutcome.Permanent"/> results, one per recipient.
    /// </summary>
    Task<DeliveryAttempt> DeliverAsync(DeliveryWork work, ReadOnlyMemory<byte> content, CancellationToken cancellationToken);
}
