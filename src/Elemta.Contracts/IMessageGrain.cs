using System.Collections.Immutable;

namespace Elemta.Contracts;

/// <summary>
/// One accepted message, keyed by its queue id. It owns the envelope and the per-recipient delivery state
/// (persisted through Orleans grain storage) and tells each recipient domain's <see cref="IDomainQueueGrain"/>
/// about itself. The content is not held here: it is in the message store under the same id.
/// </summary>
[Alias("elemta.IMessageGrain")]
public interface IMessageGrain : IGrainWithStringKey
{
    /// <summary>
    /// Takes charge of a message already made durable by the message store (envelope, content and one queue entry
    /// per recipient domain, committed together): holds its per-recipient state from now on and wakes every
    /// recipient domain's queue. Calling it again with the same envelope is harmless.
    /// </summary>
    [Alias("accept")]
    Task AcceptAsync(MessageEnvelope envelope);

    /// <summary>
    /// Makes the message durable in the message store and then behaves as <see cref="AcceptAsync"/>. For
    /// submitters without access to the database (the client SDK).
    /// </summary>
    [Alias("submit")]
    Task SubmitAsync(MessageEnvelope envelope, [Immutable] byte[] content);

    /// <summary>The recipients of <paramref name="domain"/> still waiting for delivery, or null when there are none.</summary>
    [Alias("work")]
    Task<DeliveryWork?> GetDeliveryWorkAsync(string domain);

    /// <summary>Records the outcome of an attempt for <paramref name="domain"/> and decides what happens next.</summary>
    [Alias("record")]
    Task<DomainOutcome> RecordAttemptAsync(string domain, DeliveryAttempt attempt);

    /// <summary>The message's status, or null when no message has this id.</summary>
    [Alias("status")]
    Task<MessageStatus?> GetStatusAsync();

    /// <summary>Applies an operator action to this message (every pending domain); a missing message changes nothing.</summary>
    [Alias("apply")]
    Task<QueueActionResult> ApplyAsync(QueueAction action);

    /// <summary>Changes the message's delivery priority in every domain queue it waits in.</summary>
    [Alias("priority")]
    Task<QueueActionResult> SetPriorityAsync(MessagePriority priority);

    /// <summary>Every delivery attempt made for the message, oldest first: time, host, address, TLS, duration and each recipient's reply.</summary>
    [Alias("attempts")]
    Task<ImmutableArray<RecordedAttempt>> GetAttemptsAsync();

    /// <summary>Why the message is where it is, or null when no message has this id.</summary>
    [Alias("explain")]
    Task<MessageExplanation?> ExplainAsync();

    /// <summary>
    /// The message's content as received (RFC 5322), or null when there is none: no such message, or a finished one
    /// whose content was deleted.
    /// </summary>
    [Alias("content")]
    Task<byte[]?> GetContentAsync();

    /// <summary>
    /// The header fields of the message's content, in order, unfolded and decoded (RFC 2047), or empty when there is
    /// no content any more. Read in the silo, so only the headers travel.
    /// </summary>
    [Alias("headers")]
    Task<ImmutableArray<MessageHeader>> GetHeadersAsync();

    /// <summary>
    /// Forgets a finished message whose retention period is over: its state and its row in the queue listing go.
    /// Does nothing to a message that still has pending recipients.
    /// </summary>
    [Alias("forget")]
    Task<bool> ForgetAsync();
}

/// <summary>One header field of a message.</summary>
/// <param name="Name">The field name as written, e.g. <c>Subject</c>.</param>
/// <param name="Value">The value, unfolded and decoded.</param>
[GenerateSerializer, Immutable, Alias("elemta.MessageHeader")]
public sealed record MessageHeader(
    [property: Id(0)] string Name,
    [property: Id(1)] string Value);
