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
        QueueOptions options,
        double jitterSample = 0.5)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        ArgumentNullException.ThrowIfNull(options);
        var expired = now - receivedAt >= options.MaxQueueLifetime;
        var results = new Dictionary<string, RecipientResult>(StringComparer.OrdinalIgnoreCase);
        foreach (var result in attempt.Results)
        {
            results[result.Address] = result;
        }

        var remoteHost = string.IsNullOrEmpty(attempt.RemoteHost) ? null : attempt.RemoteHost;
        var builder = recipients.ToBuilder();
        for (var i = 0; i < builder.Count; i++)
        {
            var recipient = builder[i];
            if (recipient.Domain != domain || recipient.Status.IsFinal() || !results.TryGetValue(recipient.Address, out var result))
            {
                continue;
            }

            var attempts = recipient.Attempts + 1;
            var tried = recipient with { Attempts = attempts, LastReply = result.Reply, LastAttemptAt = now, RemoteHost = remoteHost ?? recipient.RemoteHost };
            builder[i] = result.Outcome switch
            {
                RecipientOutcome.Delivered => tried with { Status = RecipientStatus.Delivered, NextAttemptAt = null },
                RecipientOutcome.Permanent => tried with { Status = RecipientStatus.Failed, NextAttemptAt = null },
                _ when expired => tried with { Status = RecipientStatus.Failed, LastReply = $"{ExpiredReplyPrefix} {options.MaxQueueLifetime} in queue; last reply: {result.Reply}", NextAttemptAt = null },
                _ => tried with { Status = RecipientStatus.Deferred, NextAttemptAt = now + options.RetryDelay(attempts, jitterSample) },
            };
        }

        return builder.ToImmutable();
    }

    /// <summary>How the reply of a recipient that ran out of queue lifetime starts.</summary>
    public const string ExpiredReplyPrefix = "expired after";

    /// <summary>The queue state of a message with these recipients at <paramref name="now"/> (Held is known only to the queue).</summary>
    public static MessageQueueState QueueState(ImmutableArray<RecipientState> recipients, DateTimeOffset now) =>
        recipients.All(r => r.Status.IsFinal()) ? FinalState(recipients)
        : recipients.Any(r => r.Status == RecipientStatus.Queued || (r.Status == RecipientStatus.Deferred && r.NextAttemptAt <= now)) ? MessageQueueState.Active
        : MessageQueueState.Deferred;

    /// <summary>The state listed in the queue store: Active until every pending recipient has been deferred at least once.</summary>
    public static MessageQueueState StoredState(ImmutableArray<RecipientState> recipients) =>
        recipients.All(r => r.Status.IsFinal()) ? FinalState(recipients)
        : recipients.Any(r => r.Status == RecipientStatus.Queued) ? MessageQueueState.Active
        : MessageQueueState.Deferred;

    private static MessageQueueState FinalState(ImmutableArray<RecipientState> recipients) =>
        recipients.Any(r => r.Status == RecipientStatus.Failed) ? MessageQueueState.Failed : MessageQueueState.Delivered;
}
