using System.Collections.Immutable;
using Elemta.Contracts;

namespace Elemta.Grains;

/// <summary>
/// The rules that turn one delivery attempt into new recipient states: delivered and permanent failures are
/// final; a temporary failure is retried on the schedule, unless the message has outlived the queue lifetime.
/// Kept apart from the grain so the rules are testable without a silo.
/// </summary>
public static class RecipientOutcomes
{
    /// <summary>Applies <paramref name="attempt"/> to the pending recipients of <paramref name="domain"/>.</summary>
    public static ImmutableArray<RecipientState> Apply(
        ImmutableArray<RecipientState> recipients,
        string domain,
        DeliveryAttempt attempt,
        DateTimeOffset receivedAt,
        DateTimeOffset now,
        QueueOptions options)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        ArgumentNullException.ThrowIfNull(options);
        var expired = now - receivedAt >= options.MaxQueueLifetime;
        var results = new Dictionary<string, RecipientResult>(StringComparer.OrdinalIgnoreCase);
        foreach (var result in attempt.Results)
        {
            results[result.Address] = result;
        }

        var builder = recipients.ToBuilder();
        for (var i = 0; i < builder.Count; i++)
        {
            var recipient = builder[i];
            if (recipient.Domain != domain || recipient.Status.IsFinal() || !results.TryGetValue(recipient.Address, out var result))
            {
                continue;
            }

            var attempts = recipient.Attempts + 1;
            builder[i] = result.Outcome switch
            {
                RecipientOutcome.Delivered => recipient with { Status = RecipientStatus.Delivered, Attempts = attempts, LastReply = result.Reply, LastAttemptAt = now, NextAttemptAt = null },
                RecipientOutcome.Permanent => recipient with { Status = RecipientStatus.Failed, Attempts = attempts, LastReply = result.Reply, LastAttemptAt = now, NextAttemptAt = null },
                _ when expired => recipient with { Status = RecipientStatus.Failed, Attempts = attempts, LastReply = $"expired after {options.MaxQueueLifetime} in queue; last reply: {result.Reply}", LastAttemptAt = now, NextAttemptAt = null },
                _ => recipient with { Status = RecipientStatus.Deferred, Attempts = attempts, LastReply = result.Reply, LastAttemptAt = now, NextAttemptAt = now + options.RetryDelay(attempts) },
            };
        }

        return builder.ToImmutable();
    }

    /// <summary>The queue state of a message with these recipients at <paramref name="now"/>.</summary>
    public static MessageQueueState QueueState(ImmutableArray<RecipientState> recipients, DateTimeOffset now) =>
        recipients.All(r => r.Status.IsFinal()) ? MessageQueueState.Completed
        : recipients.Any(r => r.Status == RecipientStatus.Queued || (r.Status == RecipientStatus.Deferred && r.NextAttemptAt <= now)) ? MessageQueueState.Active
        : MessageQueueState.Deferred;
}
