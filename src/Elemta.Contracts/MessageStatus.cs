using System.Collections.Immutable;

namespace Elemta.Contracts;

/// <summary>The state of a whole message as the queue sees it.</summary>
public enum MessageQueueState
{
    /// <summary>Some recipient is due for delivery now.</summary>
    Active = 0,

    /// <summary>Every pending recipient waits for a retry.</summary>
    Deferred = 1,

    /// <summary>Held by an operator: no delivery is attempted until it is released.</summary>
    Held = 2,

    /// <summary>Every recipient is final and at least one failed permanently; kept for inspection until the retention period ends.</summary>
    Failed = 3,

    /// <summary>Every recipient was delivered; kept as history until the retention period ends.</summary>
    Delivered = 4,
}

/// <summary>Helpers on <see cref="MessageQueueState"/>.</summary>
public static class MessageQueueStateExtensions
{
    /// <summary>True when no recipient of the message waits for delivery any more.</summary>
    public static bool IsFinal(this MessageQueueState state) => state is MessageQueueState.Failed or MessageQueueState.Delivered;
}

/// <summary>A read-only view of one message, for operators, the client SDK and tests.</summary>
/// <param name="Envelope">The envelope as accepted.</param>
/// <param name="State">The queue state derived from the recipients.</param>
/// <param name="Recipients">Per-recipient delivery state.</param>
[GenerateSerializer, Immutable, Alias("elemta.MessageStatus")]
public sealed record MessageStatus(
    [property: Id(0)] MessageEnvelope Envelope,
    [property: Id(1)] MessageQueueState State,
    [property: Id(2)] ImmutableArray<RecipientState> Recipients);
