using System.Collections.Immutable;
using Elemta.Contracts;
using Elemta.Plugins;
using QueuedMessage = Elemta.Plugins.QueuedMessage;

namespace Elemta.Grains;

/// <summary>
/// The queue and delivery hook families (<see cref="IQueueHooks"/>, <see cref="IDeliveryHooks"/>) and the error
/// hooks, as the grains call them. What the grains tell is told without waiting (the plugin host's
/// <see cref="PluginHost.Notify{THooks, TArg}"/>), so a slow or failing plugin can neither hold up a queue nor lose a
/// message; the delivery attempt, which runs off the grain, awaits the dequeue and before-delivery hooks (the
/// latter decides), each bounded by its plugin's budget. Each method costs one array-length check when
/// no plugin implements its family.
/// </summary>
public sealed class QueuePluginHooks(PluginHost plugins, TimeProvider timeProvider)
{
    /// <summary>
    /// One attempt with the plugins' say: the queue hooks hear of the dequeue, the before-delivery hooks may refuse
    /// recipients (their results join the attempt's), and <paramref name="agent"/> delivers to the others. Runs off
    /// the grain's scheduler.
    /// </summary>
    public async Task<DeliveryAttempt> DeliverAsync(Elemta.Delivery.IDeliveryAgent agent, DeliveryWork work, byte[] content, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(agent);
        ArgumentNullException.ThrowIfNull(work);
        if (plugins.Current is { Queue.Length: 0, Delivery.Length: 0 })
        {
            return await agent.DeliverAsync(work, content, cancellationToken).ConfigureAwait(false);
        }

        // Told before the attempt and awaited, so a plugin hears of the dequeue before the before-delivery question;
        // this runs off the grain, and each call is bounded by its plugin's budget.
        if (plugins.Current.Queue is { Length: > 0 } queueHooks)
        {
            await plugins.TellAsync<IQueueHooks, QueuedMessage>(queueHooks, "dequeue", Of(work), static (h, m, ct) => h.OnDequeuedAsync(m, ct)).ConfigureAwait(false);
        }

        var (going, refused, rerouted) = await BeforeDeliveryAsync(work, cancellationToken).ConfigureAwait(false);
        if (going is null && rerouted.IsEmpty)
        {
            return new DeliveryAttempt(string.Empty, timeProvider.GetUtcNow(), refused);
        }

        if (rerouted.IsEmpty)
        {
            var attempt = await agent.DeliverAsync(going!, content, cancellationToken).ConfigureAwait(false);
            return refused.IsEmpty ? attempt : attempt with { Results = attempt.Results.AddRange(refused) };
        }

        // The domain's own next hop and each rerouted one are separate transactions, made side by side.
        var sends = new List<Task<DeliveryAttempt>>(rerouted.Length + 1);
        if (going is not null)
        {
            sends.Add(agent.DeliverAsync(going, content, cancellationToken));
        }

        foreach (var hop in rerouted)
        {
            sends.Add(agent.DeliverAsync(hop, content, cancellationToken));
        }

        var attempts = await Task.WhenAll(sends).ConfigureAwait(false);
        var first = attempts[0];

        // One attempt for the message's record: every recipient's result, and the host of the first send that reached one.
        var results = ImmutableArray.CreateBuilder<RecipientResult>();
        foreach (var attempt in attempts)
        {
            results.AddRange(attempt.Results);
        }

        results.AddRange(refused);
        var host = attempts.Select(a => a.RemoteHost).FirstOrDefault(h => !string.IsNullOrEmpty(h)) ?? first.RemoteHost;
        return first with { RemoteHost = host, Results = results.ToImmutable() };
    }

    /// <summary>The message was committed to the queue.</summary>
    public void Enqueued(MessageEnvelope envelope)
    {
        var hooks = plugins.Current.Queue;
        if (hooks.Length != 0)
        {
            plugins.Notify<IQueueHooks, QueuedMessage>(hooks, "enqueue", Of(envelope), static (h, m, ct) => h.OnEnqueuedAsync(m, ct));
        }
    }

    /// <summary>The recipients of <paramref name="domain"/> still pending after a durable deferral are tried again at <paramref name="next"/>.</summary>
    public void Retrying(MessageEnvelope envelope, ImmutableArray<RecipientState> recipients, string domain, DateTimeOffset next)
    {
        var hooks = plugins.Current.Queue;
        if (hooks.Length != 0)
        {
            var pending = recipients.Where(r => r.Domain == domain && !r.Status.IsFinal()).Select(r => r.Address).ToArray();
            var message = new QueuedMessage(envelope.MessageId, envelope.Sender, pending);
            plugins.Notify<IQueueHooks, (QueuedMessage, DateTimeOffset)>(hooks, "retry", (message, next), static (h, a, ct) => h.OnRetryAsync(a.Item1, a.Item2, ct));
        }
    }

    /// <summary>
    /// Asks the before-delivery hooks about each recipient of <paramref name="work"/>. Returns the work for the
    /// recipients that go the domain's way (null when none does), a result for each recipient a hook refused — a
    /// deferral is a temporary failure (retried on the schedule), a rejection a permanent one (bounced), a hold a
    /// deferral too (the queue keeps it; an operator can hold the message), and a drop counts as delivered (discarded,
    /// logged) — and one work per next hop that recipients were rerouted to.
    /// </summary>
    public async Task<(DeliveryWork? Work, ImmutableArray<RecipientResult> Refused, ImmutableArray<DeliveryWork> Rerouted)> BeforeDeliveryAsync(DeliveryWork work, CancellationToken cancellationToken)
    {
        var hooks = plugins.Current.Delivery;
        if (hooks.Length == 0)
        {
            return (work, [], []);
        }

        var message = Of(work);
        var going = ImmutableArray.CreateBuilder<string>();
        var refused = ImmutableArray.CreateBuilder<RecipientResult>();
        Dictionary<string, ImmutableArray<string>.Builder>? hops = null;
        foreach (var recipient in work.Recipients)
        {
            var decision = await plugins.RunAsync<IDeliveryHooks, (QueuedMessage, string)>(hooks, "before-delivery", (message, recipient),
                static (h, a, ct) => h.OnBeforeDeliveryAsync(a.Item1, a.Item2, ct), cancellationToken).ConfigureAwait(false);
            switch (decision.Verdict)
            {
                case HookVerdict.Continue or HookVerdict.Accept:
                    going.Add(recipient);
                    break;
                case HookVerdict.Reroute:
                    // Grouped by hop, case-insensitively as host names and relay names compare.
                    hops ??= new Dictionary<string, ImmutableArray<string>.Builder>(StringComparer.OrdinalIgnoreCase);
                    var hop = decision.Text!.Trim();
                    if (!hops.TryGetValue(hop, out var list))
                    {
                        hops[hop] = list = ImmutableArray.CreateBuilder<string>();
                    }

                    list.Add(recipient);
                    break;
                case HookVerdict.Reject:
                    refused.Add(new RecipientResult(recipient, RecipientOutcome.Permanent, Reply(decision, "rejected by a plugin before delivery"), DeliveryError.Local));
                    break;
                case HookVerdict.Drop:
                    refused.Add(new RecipientResult(recipient, RecipientOutcome.Delivered, "250 2.0.0 discarded by a plugin before delivery"));
                    break;
                default:
                    refused.Add(new RecipientResult(recipient, RecipientOutcome.Transient,
                        decision.Verdict == HookVerdict.Defer ? Reply(decision, "deferred by a plugin") : $"451 4.7.1 held by a plugin: {decision.Text}", DeliveryError.Local));
                    break;
            }
        }

        var rerouted = hops is null
            ? ImmutableArray<DeliveryWork>.Empty
            : [.. hops.Select(h => work with { Recipients = h.Value.ToImmutable(), NextHop = h.Key })];
        return (going.Count == 0 ? null : work with { Recipients = going.ToImmutable() }, refused.ToImmutable(), rerouted);
    }

    /// <summary>Tells the delivery hooks how the attempt ended: once for the attempt, then for each recipient.</summary>
    public void Attempted(DeliveryWork work, DeliveryAttempt attempt)
    {
        var hooks = plugins.Current.Delivery;
        if (hooks.Length == 0 || attempt.Results.IsDefaultOrEmpty)
        {
            return;
        }

        var message = Of(work);
        var outcomes = attempt.Results.Select(r => new DeliveryResult(r.Address, r.Outcome == RecipientOutcome.Delivered, r.Reply)).ToArray();
        plugins.Notify<IDeliveryHooks, (QueuedMessage, DeliveryAttemptInfo)>(hooks, "delivery-attempt", (message, new DeliveryAttemptInfo(attempt.RemoteHost, outcomes)),
            static (h, a, ct) => h.OnDeliveryAttemptAsync(a.Item1, a.Item2, ct));
        foreach (var outcome in outcomes)
        {
            plugins.Notify<IDeliveryHooks, (QueuedMessage, DeliveryResult)>(hooks, "delivery-result", (message, outcome),
                static (h, a, ct) => h.OnDeliveryResultAsync(a.Item1, a.Item2, ct));
        }
    }

    /// <summary>Reports an error the queue met to the error hooks.</summary>
    public void Error(string stage, string message, bool recovered) => plugins.ReportError(stage, message, recovered);

    private static string Reply(HookDecision decision, string fallback) =>
        $"{decision.Code} {decision.EnhancedCode} {decision.Text ?? fallback}";

    private static QueuedMessage Of(MessageEnvelope envelope) => new(envelope.MessageId, envelope.Sender, envelope.Recipients);

    private static QueuedMessage Of(DeliveryWork work) => new(work.MessageId, work.Sender, work.Recipients);
}
