using System.Collections.Immutable;

namespace Elemta.Contracts;

/// <summary>
/// Persisted state of a <see cref="IMessageGrain"/>. Its size is bounded by the message's recipient count,
/// never by the queue.
/// </summary>
[GenerateSerializer, Alias("elemta.MessageGrainState")]
public sealed class MessageGrainState
{
    /// <summary>The envelope; null until the message is accepted.</summary>
    [Id(0)] public MessageEnvelope? Envelope { get; set; }

    /// <summary>Per-recipient state, in envelope order.</summary>
    [Id(1)] public ImmutableArray<RecipientState> Recipients { get; set; } = [];
}
