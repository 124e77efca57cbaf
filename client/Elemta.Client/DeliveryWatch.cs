using System.Runtime.CompilerServices;
using Elemta.Contracts;

namespace Elemta.Client;

/// <summary>Polls a message's status and reports each change: the watch both clients offer.</summary>
internal static class DeliveryWatch
{
    public static async IAsyncEnumerable<DeliveryEvent> RunAsync(
        string messageId,
        Func<string, CancellationToken, Task<MessageStatus?>> read,
        TimeProvider time,
        TimeSpan? pollInterval,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var interval = pollInterval ?? TimeSpan.FromSeconds(1);
        if (interval <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(pollInterval), "The poll interval must be positive.");
        }

        string? last = null;
        while (true)
        {
            var status = await read(messageId, cancellationToken).ConfigureAwait(false)
                ?? throw new ElemtaException(ElemtaErrorKind.NotFound, $"no message {messageId}");

            // A change is any change of the message's state or of a recipient's status, reply or next attempt.
            var fingerprint = string.Join('|', status.Recipients.Select(r => $"{r.Address}:{r.Status}:{r.Attempts}:{r.LastReply}:{r.NextAttemptAt:O}").Prepend(status.State.ToString()));
            if (fingerprint != last)
            {
                last = fingerprint;
                var change = new DeliveryEvent(messageId, time.GetUtcNow(), status);
                yield return change;
                if (change.IsFinal)
                {
                    yield break;
                }
            }

            await Task.Delay(interval, time, cancellationToken).ConfigureAwait(false);
        }
    }
}
