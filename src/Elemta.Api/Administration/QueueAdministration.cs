using System.Collections.Immutable;
using Elemta.Api.Queue;
using Elemta.Contracts;

namespace Elemta.Api.Administration;

/// <summary>What happened to an action asked of one message.</summary>
public enum MessageActionStatus
{
    /// <summary>Done and recorded in the audit log.</summary>
    Done,

    /// <summary>There is no such message.</summary>
    NotFound,

    /// <summary>The message is finished (delivered or failed): only deleting it means anything.</summary>
    Finished,
}

/// <summary>The outcome of an action on one message.</summary>
/// <param name="Status">Whether it was done, and if not why.</param>
/// <param name="State">The message's state before the action (default when not found).</param>
/// <param name="Result">What changed, when done.</param>
public sealed record MessageActionOutcome(MessageActionStatus Status, MessageQueueState State, QueueActionResult? Result);

/// <summary>
/// The queue as the admin plane reads and changes it, over the same grains the SMTP front-ends use: the REST API's
/// endpoints and the admin app's pages both call this, so a page and a <c>curl</c> see and do exactly the same, and
/// every change is written to the audit log with the actor who asked.
/// </summary>
/// <remarks>Callers check their input (ids, domains, states) first; this class takes typed values.</remarks>
public sealed class QueueAdministration(IGrainFactory grains, TimeProvider timeProvider)
{
    /// <summary>How many domains the statistics name.</summary>
    public const int TopDomains = 10;

    /// <summary>The action's name in the audit log and in paths.</summary>
    public static string ActionName(QueueAction action) => action switch
    {
        QueueAction.Hold => "hold",
        QueueAction.Release => "release",
        QueueAction.RetryNow => "retry",
        _ => "delete",
    };

    /// <summary>The path name of a state: <c>active</c>, <c>deferred</c>, <c>hold</c>, <c>failed</c>, <c>delivered</c>.</summary>
    public static string StateName(MessageQueueState state) => state == MessageQueueState.Held ? "hold" : state.ToString().ToLowerInvariant();

    /// <summary>Counts per state, the oldest pending message, top domains and recent outcome counts (per minute for the last hour).</summary>
    public async Task<QueueStatsModel> GetStatisticsAsync(CancellationToken cancellationToken)
    {
        var stats = await Manager.GetStatisticsAsync(TopDomains).WaitAsync(cancellationToken).ConfigureAwait(false);
        var perMinute = await Manager.GetThroughputAsync(60).WaitAsync(cancellationToken).ConfigureAwait(false);
        long Count(MessageQueueState state) => stats.Messages.TryGetValue(state, out var count) ? count : 0;
        var age = stats.OldestPendingReceivedAt is { } oldest ? Math.Max(0, (timeProvider.GetUtcNow() - oldest).TotalSeconds) : (double?)null;
        // Every named priority, most urgent first, then any other value the priority rules gave, by number.
        var byPriority = new Dictionary<string, StateCountsModel>(StringComparer.Ordinal);
        var counts = stats.ByPriority.IsDefault ? [] : stats.ByPriority;
        foreach (var priority in Enum.GetValues<MessagePriority>().Concat(counts.Select(c => c.Priority)).Distinct().Order())
        {
            long Of(MessageQueueState state) => counts.Where(c => c.Priority == priority && c.State == state).Sum(c => c.Count);
            var name = Enum.IsDefined(priority) ? priority.ToString().ToLowerInvariant() : ((int)priority).ToString(System.Globalization.CultureInfo.InvariantCulture);
            byPriority[name] = new StateCountsModel(Of(MessageQueueState.Active), Of(MessageQueueState.Deferred), Of(MessageQueueState.Held), Of(MessageQueueState.Failed), Of(MessageQueueState.Delivered));
        }

        return new QueueStatsModel(
            new StateCountsModel(Count(MessageQueueState.Active), Count(MessageQueueState.Deferred), Count(MessageQueueState.Held), Count(MessageQueueState.Failed), Count(MessageQueueState.Delivered)),
            stats.OldestPendingReceivedAt,
            age,
            stats.Domains,
            stats.LastMinute,
            stats.LastHour,
            perMinute,
            byPriority);
    }

    /// <summary>Recipient outcomes per minute over the last <paramref name="minutes"/> minutes (at most 60), oldest first, empty minutes included.</summary>
    public Task<ImmutableArray<MinuteOutcomes>> GetThroughputAsync(int minutes, CancellationToken cancellationToken) =>
        Manager.GetThroughputAsync(minutes).WaitAsync(cancellationToken);

    /// <summary>
    /// One page of <paramref name="query"/>'s listing and whether another follows: asks for one more row than
    /// <paramref name="pageSize"/>, so the last page says so without a count.
    /// </summary>
    public async Task<(ImmutableArray<QueuedMessage> Rows, bool More)> ListPageAsync(QueueListQuery query, int pageSize, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        var rows = await Manager.ListPageAsync(query with { Limit = pageSize + 1 }).WaitAsync(cancellationToken).ConfigureAwait(false);
        return rows.Length > pageSize ? (rows.RemoveAt(pageSize), true) : (rows, false);
    }

    /// <summary>Envelope, headers, per-recipient status, attempts and the explanation; null when there is no such message.</summary>
    public async Task<MessageDetailModel?> GetMessageAsync(string id, CancellationToken cancellationToken)
    {
        var grain = grains.GetGrain<IMessageGrain>(id);
        var explanation = await grain.ExplainAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
        if (explanation is null)
        {
            return null;
        }

        var attempts = await grain.GetAttemptsAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
        var headers = await grain.GetHeadersAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
        var status = explanation.Status;
        return new MessageDetailModel(
            id, status.State, status.Envelope, headers, status.Recipients, [.. attempts.Select(AttemptModel.From)],
            new ExplanationModel(explanation.Summary, explanation.Domains));
    }

    /// <summary>The message as received (RFC 5322); null when there is none (no such message, or its content was deleted).</summary>
    public Task<byte[]?> GetContentAsync(string id, CancellationToken cancellationToken) =>
        grains.GetGrain<IMessageGrain>(id).GetContentAsync().WaitAsync(cancellationToken);

    /// <summary>
    /// Queues a message and records it with <paramref name="actor"/>: the message grain stores content and envelope
    /// durably before it returns (the call the SDK and sendmail make), so the returned id names a message that
    /// survives a crash. Callers check the addresses and the content first.
    /// </summary>
    /// <returns>The new message's queue id.</returns>
    public async Task<string> SubmitAsync(string sender, IReadOnlyList<string> recipients, byte[] content, MessagePriority priority, string clientAddress, string actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(recipients);
        ArgumentNullException.ThrowIfNull(content);
        var id = MessageIds.New();
        var envelope = new MessageEnvelope(id, sender, [.. recipients], timeProvider.GetUtcNow(), clientAddress, "rest-api", content.Length, priority);
        await grains.GetGrain<IMessageGrain>(id).SubmitAsync(envelope, content).WaitAsync(cancellationToken).ConfigureAwait(false);
        await RecordAsync(actor, "message.submit", id,
            $"sender={(sender.Length == 0 ? "<>" : sender)} recipients={recipients.Count} size={content.Length} priority={priority.ToString().ToLowerInvariant()}",
            cancellationToken).ConfigureAwait(false);
        return id;
    }

    /// <summary>Holds, releases, retries or deletes one message, and records it with <paramref name="actor"/>.</summary>
    public async Task<MessageActionOutcome> ApplyAsync(string id, QueueAction action, string actor, CancellationToken cancellationToken)
    {
        var grain = grains.GetGrain<IMessageGrain>(id);
        var status = await grain.GetStatusAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
        if (status is null)
        {
            return new MessageActionOutcome(MessageActionStatus.NotFound, default, null);
        }

        if (action != QueueAction.Delete && status.State.IsFinal())
        {
            return new MessageActionOutcome(MessageActionStatus.Finished, status.State, null);
        }

        var result = await grain.ApplyAsync(action).WaitAsync(cancellationToken).ConfigureAwait(false);
        await RecordAsync(actor, $"message.{ActionName(action)}", id, Counts(result), cancellationToken).ConfigureAwait(false);
        return new MessageActionOutcome(MessageActionStatus.Done, status.State, result);
    }

    /// <summary>Gives one message a new priority, and records it with <paramref name="actor"/>.</summary>
    public async Task<MessageActionOutcome> SetPriorityAsync(string id, MessagePriority priority, string actor, CancellationToken cancellationToken)
    {
        var grain = grains.GetGrain<IMessageGrain>(id);
        var status = await grain.GetStatusAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
        if (status is null)
        {
            return new MessageActionOutcome(MessageActionStatus.NotFound, default, null);
        }

        if (status.State.IsFinal())
        {
            return new MessageActionOutcome(MessageActionStatus.Finished, status.State, null);
        }

        var result = await grain.SetPriorityAsync(priority).WaitAsync(cancellationToken).ConfigureAwait(false);
        await RecordAsync(actor, "message.priority", id, $"priority={priority.ToString().ToLowerInvariant()} {Counts(result)}", cancellationToken).ConfigureAwait(false);
        return new MessageActionOutcome(MessageActionStatus.Done, status.State, result);
    }

    /// <summary>Makes every waiting message in <paramref name="state"/> (not a final one) due now, and records it.</summary>
    public async Task<QueueActionResult> FlushAsync(MessageQueueState state, string actor, CancellationToken cancellationToken)
    {
        if (state.IsFinal())
        {
            throw new ArgumentException($"{StateName(state)} messages are finished: there is nothing to flush.", nameof(state));
        }

        var result = await Manager.ApplyAsync(state, QueueAction.RetryNow).WaitAsync(cancellationToken).ConfigureAwait(false);
        await RecordAsync(actor, "queue.flush", StateName(state), Counts(result), cancellationToken).ConfigureAwait(false);
        return result;
    }

    /// <summary>Deletes every message in <paramref name="state"/> without notifying anyone (admin only), and records it.</summary>
    public async Task<QueueActionResult> PurgeAsync(MessageQueueState state, string actor, CancellationToken cancellationToken)
    {
        var result = await Manager.ApplyAsync(state, QueueAction.Delete).WaitAsync(cancellationToken).ConfigureAwait(false);
        await RecordAsync(actor, "queue.purge", StateName(state), Counts(result), cancellationToken).ConfigureAwait(false);
        return result;
    }

    /// <summary>A domain queue's explanation: entries, circuit, throttling, last reply, next attempt.</summary>
    public Task<DomainQueueExplanation> ExplainDomainAsync(string domain, CancellationToken cancellationToken) =>
        grains.GetGrain<IDomainQueueGrain>(domain).ExplainAsync().WaitAsync(cancellationToken);

    /// <summary>Applies <paramref name="action"/> to every message waiting for <paramref name="domain"/>, and records it.</summary>
    public async Task<QueueActionResult> ApplyToDomainAsync(string domain, QueueAction action, string actor, CancellationToken cancellationToken)
    {
        var result = await grains.GetGrain<IDomainQueueGrain>(domain).ApplyAsync(action).WaitAsync(cancellationToken).ConfigureAwait(false);
        await RecordAsync(actor, $"domain.{ActionName(action)}", domain, Counts(result), cancellationToken).ConfigureAwait(false);
        return result;
    }

    /// <summary>Gives every message waiting for <paramref name="domain"/> a new priority, and records it.</summary>
    public async Task<QueueActionResult> SetDomainPriorityAsync(string domain, MessagePriority priority, string actor, CancellationToken cancellationToken)
    {
        var result = await grains.GetGrain<IDomainQueueGrain>(domain).SetPriorityAsync(priority).WaitAsync(cancellationToken).ConfigureAwait(false);
        await RecordAsync(actor, "domain.priority", domain, $"priority={priority.ToString().ToLowerInvariant()} {Counts(result)}", cancellationToken).ConfigureAwait(false);
        return result;
    }

    /// <summary>What an action changed, for the record's detail.</summary>
    public static string Counts(QueueActionResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        return $"messages={result.Messages} entries={result.Entries}";
    }

    private IQueueManagerGrain Manager => grains.GetGrain<IQueueManagerGrain>(IQueueManagerGrain.Key);

    // Appends (actor, action, subject, detail) and returns once it is committed, so an action is never reported done
    // without its record.
    private Task RecordAsync(string actor, string action, string subject, string detail, CancellationToken cancellationToken) =>
        grains.GetGrain<IAuditLogGrain>(IAuditLogGrain.Key).AppendAsync(actor, action, subject, detail).WaitAsync(cancellationToken);
}
