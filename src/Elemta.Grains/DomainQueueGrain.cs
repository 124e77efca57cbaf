using System.Collections.Immutable;
using Elemta.Contracts;
using Elemta.Delivery;
using Elemta.Grains.Observability;
using Elemta.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Elemta.Grains;

/// <summary>
/// The delivery queue of one domain. Entries live in <see cref="IQueueStore"/>, one row per message; the grain
/// holds only what is in flight. It is reentrant so that enqueueing never waits behind a slow delivery: the
/// grain is still single-threaded, and every field below is touched only on its scheduler.
/// </summary>
/// <remarks>
/// Circuit breaker: when <see cref="QueueOptions.CircuitBreakerThreshold"/> attempts in a row fail for the whole
/// destination (DNS, connection, TLS, timeout — not a 4xx for one mailbox), the queue stops trying each message and
/// waits out a back-off from the retry schedule, then lets one probe through. Messages that outlive the queue
/// lifetime meanwhile are expired (and bounced) without an attempt. The breaker lives in the activation only: a new
/// activation starts closed and learns again from its first attempts.
/// </remarks>
[Reentrant]
public sealed partial class DomainQueueGrain(
    IQueueStore queue,
    IQueueOperations operations,
    IMessageStore messages,
    IDeliveryAgent agent,
    DestinationSites sites,
    QueuePluginHooks hooks,
    IOptions<QueueOptions> options,
    TimeProvider timeProvider,
    ILogger<DomainQueueGrain> logger) : Grain, IDomainQueueGrain, IDisposable
{
    // While deliveries run, newly due entries are looked for at this pace (completions also look).
    private static readonly TimeSpan BusyPoll = TimeSpan.FromSeconds(1);

    // How long a domain's site (its MX host set) is trusted before it is looked up again.
    private static readonly TimeSpan SiteLifetime = TimeSpan.FromMinutes(5);

    private readonly QueueOptions _options = options.Value;
    private readonly HashSet<string> _inFlight = new(StringComparer.Ordinal);

    // Messages whose attempt is over but whose outcome is still being committed. Their entries are still due in the
    // store until the commit, so they must not be started again; but they no longer hold a delivery slot, so the
    // next delivery starts while the commit (and its fsync) runs, as a Postfix smtp process takes its next message
    // while the queue manager updates the queue file.
    private readonly HashSet<string> _recording = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _deactivating = new();
    private string _domain = string.Empty;
    private IGrainTimer? _timer;
    private bool _pumping;
    private bool _pumpAgain;
    private string? _lastReply;
    private DateTimeOffset? _lastAttemptAt;
    private int _consecutiveFailures;
    private int _opened;
    private CircuitState _circuit = CircuitState.Closed;
    private DateTimeOffset _openUntil;
    private string _site = string.Empty;
    private DateTimeOffset _siteResolvedAt = DateTimeOffset.MinValue;
    private bool _resolvingSite;
    private DateTimeOffset _throttledUntil = DateTimeOffset.MinValue;

    // Whether this activation's open circuit is counted in elemta_destination_circuits_open.
    private bool _circuitCounted;

    /// <inheritdoc />
    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _domain = this.GetPrimaryKeyString();
        // Until its MX hosts are known, the domain is a site of its own; the lookup runs in the background so the
        // first deliveries do not wait for DNS twice.
        _site = "domain:" + _domain;
        _timer = this.RegisterGrainTimer(
            static (grain, _) => { grain.RequestPump(); return Task.CompletedTask; },
            this,
            new GrainTimerCreationOptions { DueTime = Timeout.InfiniteTimeSpan, Period = Timeout.InfiniteTimeSpan, Interleave = true, KeepAlive = false });
        // An activation after a restart or a deactivation starts by draining what is due.
        RequestPump();
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _deactivating.Cancel();
        _timer?.Dispose();
        UncountCircuit();
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public async Task EnqueueAsync(string messageId, DateTimeOffset dueAt, MessagePriority priority)
    {
        await queue.UpsertAsync(new QueueEntry(_domain, messageId, (int)priority, dueAt), CancellationToken.None);
        if (dueAt <= timeProvider.GetUtcNow())
        {
            RequestPump();
        }
        else if (!_pumping)
        {
            await ScheduleNextAsync();
        }
    }

    /// <inheritdoc />
    public Task WakeAsync()
    {
        RequestPump();
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public async Task<DomainQueueStatus> GetStatusAsync()
    {
        var count = await queue.CountAsync(_domain, CancellationToken.None);
        var next = await queue.GetNextDueAsync(_domain, CancellationToken.None);
        return new DomainQueueStatus(_domain, count, _inFlight.Count + _recording.Count, next, _lastReply);
    }

    /// <inheritdoc />
    public async Task<QueueActionResult> ApplyAsync(QueueAction action)
    {
        if (action == QueueAction.Delete)
        {
            return await DeleteAllAsync();
        }

        var change = await operations.ApplyAsync(QueueScope.OfDomain(_domain), action, timeProvider.GetUtcNow(), CancellationToken.None);
        LogAction(_domain, action, change.Entries);
        if (action is QueueAction.RetryNow or QueueAction.Release)
        {
            // An operator asking for delivery now overrides the breaker's back-off.
            CloseCircuit();
            RequestPump();
        }

        return new QueueActionResult(change.Messages, change.Entries);
    }

    /// <inheritdoc />
    public async Task<QueueActionResult> SetPriorityAsync(MessagePriority priority)
    {
        var change = await operations.SetPriorityAsync(QueueScope.OfDomain(_domain), (int)priority, timeProvider.GetUtcNow(), CancellationToken.None);
        return new QueueActionResult(change.Messages, change.Entries);
    }

    /// <inheritdoc />
    public async Task<DomainQueueExplanation> ExplainAsync()
    {
        var count = await queue.GetDomainCountAsync(_domain, CancellationToken.None);
        var next = await queue.GetNextDueAsync(_domain, CancellationToken.None);
        var now = timeProvider.GetUtcNow();
        var circuit = _circuit == CircuitState.Open && now >= _openUntil ? CircuitState.HalfOpen : _circuit;
        var limit = _options.MaxConcurrentDeliveriesPerDomain;
        var reply = _lastReply is null ? string.Empty : $"; last reply: {_lastReply}";
        var summary = count.Queued == 0 && _inFlight.Count + _recording.Count == 0 ? "empty"
            : circuit == CircuitState.Open ? $"circuit open until {_openUntil:u} after {_consecutiveFailures} destination failure(s) in a row{reply}"
            : count.Held == count.Queued ? $"all {count.Held} entries held by an operator"
            : _throttledUntil > now ? $"throttled by destination {_site}: next start at {_throttledUntil:u}, {_inFlight.Count} in flight{reply}"
            : _inFlight.Count >= limit ? $"throttled: {_inFlight.Count} of {limit} deliveries in flight, {count.Queued - _inFlight.Count} waiting{reply}"
            : next > now ? $"waiting for retry: {count.Queued - count.Held} entries, next attempt {next:u}{reply}"
            : $"delivering: {_inFlight.Count} in flight, {count.Queued - count.Held - _inFlight.Count} due{reply}";
        if (count.Held > 0 && count.Held < count.Queued)
        {
            summary += $" ({count.Held} held)";
        }

        return new DomainQueueExplanation(_domain, count.Queued, count.Held, _inFlight.Count, limit, circuit,
            circuit == CircuitState.Closed ? null : _openUntil, _consecutiveFailures, _lastReply, _lastAttemptAt, next, summary);
    }

    /// <summary>Orleans disposes the activation after deactivation.</summary>
    public void Dispose() => _deactivating.Dispose();

    private void RequestPump()
    {
        if (_pumping)
        {
            _pumpAgain = true;
            return;
        }

        _ = PumpAsync();
    }

    /// <summary>Starts deliveries for due entries up to the concurrency limit, then arms the timer for the next due time.</summary>
    private async Task PumpAsync()
    {
        _pumping = true;
        // The pump serves every message of the queue, not the caller that woke it: its grain calls and the attempts
        // it starts must not join the waking call's trace (only set while traces are exported). Local to this
        // async method's context, so the caller's activity is untouched.
        if (System.Diagnostics.Activity.Current is not null)
        {
            System.Diagnostics.Activity.Current = null;
        }

        try
        {
            // A request that arrives while the timer is being armed must not be lost: go round again.
            do
            {
                await DrainDueAsync();
                await ScheduleNextAsync();
            }
            while (_pumpAgain);
        }
        catch (Exception ex) when (!_deactivating.IsCancellationRequested)
        {
            LogPumpFailed(_domain, ex);
            _timer?.Change(BusyPoll, Timeout.InfiniteTimeSpan);
        }
        catch (OperationCanceledException)
        {
            // Deactivating: the rows stay, and the sweep or the next activation picks them up.
        }
        finally
        {
            _pumping = false;
        }
    }

    /// <summary>Starts deliveries for due entries until the concurrency limit is reached or nothing more is due.</summary>
    private async Task DrainDueAsync()
    {
        do
        {
            _pumpAgain = false;
            var free = _options.MaxConcurrentDeliveriesPerDomain - _inFlight.Count;
            if (_circuit != CircuitState.Closed)
            {
                var now = timeProvider.GetUtcNow();
                if (_circuit == CircuitState.Open)
                {
                    if (now < _openUntil)
                    {
                        return;
                    }

                    _circuit = CircuitState.HalfOpen;
                    await ExpireWhileOpenAsync(now);
                }

                // Half open: one probe at a time decides for the whole queue.
                free = _inFlight.Count == 0 ? 1 : 0;
            }

            if (free <= 0 || timeProvider.GetUtcNow() < _throttledUntil)
            {
                return;
            }

            RefreshSiteIfStale();

            // In-flight rows are still due (they change only when an attempt is recorded), so ask for enough to skip them.
            var due = await queue.GetDueAsync(_domain, timeProvider.GetUtcNow(), free + _inFlight.Count + _recording.Count, _deactivating.Token);
            var started = 0;
            foreach (var entry in due)
            {
                if (started == free)
                {
                    break;
                }

                if (_inFlight.Contains(entry.MessageId) || _recording.Contains(entry.MessageId))
                {
                    continue;
                }

                // The site's shared budget (concurrency and rate across every domain and silo) has the last word.
                var lease = Guid.NewGuid();
                var site = _site;
                var decision = await GrainFactory.GetCachedGrain<IDestinationGrain>(site).TryStartAsync(lease);
                if (!decision.Allowed)
                {
                    QueueMetrics.DestinationThrottled();
                    _throttledUntil = timeProvider.GetUtcNow() + decision.RetryAfter;
                    return;
                }

                _inFlight.Add(entry.MessageId);
                started++;
                _ = DeliverAsync(entry, site, lease);
            }
        }
        while (_pumpAgain);
    }

    private async Task ScheduleNextAsync()
    {
        TimeSpan wait;
        if (_inFlight.Count + _recording.Count > 0)
        {
            // Every completion pumps again, so while deliveries run the timer is only a backstop: no need to ask the
            // store for the next due time after each one (that was a query per relayed message on the hot path).
            wait = BusyPoll;
        }
        else if (await queue.GetNextDueAsync(_domain, _deactivating.Token) is { } next)
        {
            wait = next - timeProvider.GetUtcNow();
        }
        else
        {
            _timer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            return;
        }

        if (_circuit == CircuitState.Open && _openUntil - timeProvider.GetUtcNow() > wait)
        {
            wait = _openUntil - timeProvider.GetUtcNow();
        }

        if (_throttledUntil - timeProvider.GetUtcNow() > wait)
        {
            wait = _throttledUntil - timeProvider.GetUtcNow();
        }

        _timer?.Change(wait < TimeSpan.Zero ? TimeSpan.Zero : wait, Timeout.InfiniteTimeSpan);
    }

    private async Task DeliverAsync(QueueEntry entry, string site, Guid lease)
    {
        var token = _deactivating.Token;
        var feedback = DestinationFeedback.Unreachable;
        var siteFinished = false;
        System.Diagnostics.Activity? activity = null;
        using var scope = LogScopes.Attempt(logger, entry.MessageId, _domain);
        try
        {
            // Keeps the activation alive for at least as long as one delivery can take.
            DelayDeactivation(TimeSpan.FromMinutes(15));
            var message = GrainFactory.GetCachedGrain<IMessageGrain>(entry.MessageId);
            var work = await message.GetDeliveryWorkAsync(_domain);
            activity = StartAttemptActivity(entry.MessageId, work?.TraceParent);
            if (work is null)
            {
                // No such message (deleted), or nothing pending here: the entry must not come due again.
                await queue.RemoveAsync(_domain, entry.MessageId, token);
                return;
            }

            var started = timeProvider.GetTimestamp();
            var content = await messages.ReadContentAsync(entry.MessageId, token);
            DeliveryAttempt attempt;
            if (content is null)
            {
                LogBodyMissing(entry.MessageId);
                attempt = new DeliveryAttempt(string.Empty, timeProvider.GetUtcNow(),
                    [.. work.Recipients.Select(r => new RecipientResult(r, RecipientOutcome.Transient, "451 4.3.0 message content is missing from the message store", DeliveryError.Local))]);
            }
            else
            {
                // Network I/O and MIME parsing run off the grain's scheduler, so the queue keeps answering meanwhile.
                attempt = await Task.Run(() => hooks.DeliverAsync(agent, work, content, token), token);
            }

            hooks.Attempted(work, attempt);

            QueueMetrics.AttemptEnded(attempt, timeProvider.GetElapsedTime(started));
            activity?.SetTag("elemta.relay", attempt.RemoteHost);
            _lastReply = attempt.Results.IsDefaultOrEmpty ? _lastReply : attempt.Results[^1].Reply;
            _lastAttemptAt = timeProvider.GetUtcNow();
            ObserveForCircuit(attempt);
            feedback = DestinationSites.FeedbackOf(attempt);

            // The network part is over: the slot and the site's budget go to the next delivery now, while the outcome
            // is committed; the entry stays out of the next picks (_recording) until its commit moves or removes it.
            _inFlight.Remove(entry.MessageId);
            _recording.Add(entry.MessageId);
            siteFinished = true;
            _ = FinishAtSiteAsync(site, lease, feedback);
            RequestPump();

            // The message moves or removes its own entry in the same store transaction as its listed state.
            await message.RecordAttemptAsync(_domain, attempt);
        }
        catch (Exception ex) when (!token.IsCancellationRequested)
        {
            activity?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, ex.Message);
            LogDeliveryFailed(entry.MessageId, _domain, ex);
            hooks.Error("delivery", $"{entry.MessageId} to {_domain}: {ex.GetType().Name}: {ex.Message}; postponed", recovered: true);
            await PostponeAsync(entry);
        }
        catch (OperationCanceledException)
        {
            // Deactivating; the row is unchanged and the attempt will be made again.
        }
        finally
        {
            _inFlight.Remove(entry.MessageId);
            _recording.Remove(entry.MessageId);
            if (!siteFinished)
            {
                await FinishAtSiteAsync(site, lease, feedback);
            }

            activity?.Dispose();
            RequestPump();
        }
    }

    /// <summary>
    /// The attempt's span, only when traces are exported (otherwise null, at the cost of one listener check): a child of
    /// the message's acceptance when its grain still holds that trace, else the root of a trace of its own (after a
    /// restart, or once the message grain was deactivated), joined to the acceptance by <c>elemta.message_id</c>.
    /// </summary>
    private System.Diagnostics.Activity? StartAttemptActivity(string messageId, string? traceParent)
    {
        if (!QueueMetrics.Activities.HasListeners())
        {
            return null;
        }

        System.Diagnostics.ActivityContext.TryParse(traceParent, null, isRemote: false, out var parent);
        var activity = QueueMetrics.Activities.StartActivity("delivery.attempt", System.Diagnostics.ActivityKind.Client, parent);
        activity?.SetTag("elemta.message_id", messageId);
        activity?.SetTag("elemta.domain", _domain);
        return activity;
    }

    /// <summary>After an unexpected error, moves the entry back by the first retry interval instead of spinning on it.</summary>
    private async Task PostponeAsync(QueueEntry entry)
    {
        try
        {
            await queue.RescheduleAsync(_domain, entry.MessageId, timeProvider.GetUtcNow() + _options.RetryDelay(1), CancellationToken.None);
        }
        catch (Exception ex)
        {
            LogDeliveryFailed(entry.MessageId, _domain, ex);
        }
    }

    private async Task FinishAtSiteAsync(string site, Guid lease, DestinationFeedback feedback)
    {
        try
        {
            await GrainFactory.GetCachedGrain<IDestinationGrain>(site).FinishAsync(lease, feedback);
        }
        catch (Exception ex)
        {
            // The lease expires on its own; a lost feedback only delays adaptation.
            LogSiteFailed(_domain, site, ex);
        }
    }

    private void RefreshSiteIfStale()
    {
        if (_resolvingSite || timeProvider.GetUtcNow() - _siteResolvedAt < SiteLifetime)
        {
            return;
        }

        _resolvingSite = true;
        _ = ResolveSiteAsync();
    }

    private async Task ResolveSiteAsync()
    {
        try
        {
            _site = await sites.SiteOfAsync(_domain, _deactivating.Token);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogSiteFailed(_domain, _site, ex);
        }
        catch (OperationCanceledException)
        {
            // Deactivating.
        }
        finally
        {
            _siteResolvedAt = timeProvider.GetUtcNow();
            _resolvingSite = false;
        }
    }

    /// <summary>True when the attempt failed for reasons of the destination as a whole, not of one mailbox.</summary>
    internal static bool IsDestinationFailure(DeliveryAttempt attempt) =>
        !attempt.Results.IsDefaultOrEmpty
        && attempt.Results.All(r => r.Outcome == RecipientOutcome.Transient
            && r.Error is DeliveryError.Dns or DeliveryError.Connect or DeliveryError.Tls or DeliveryError.Timeout);

    private void ObserveForCircuit(DeliveryAttempt attempt)
    {
        if (_options.CircuitBreakerThreshold == 0)
        {
            return;
        }

        if (!IsDestinationFailure(attempt))
        {
            if (_circuit != CircuitState.Closed)
            {
                LogCircuitClosed(_domain);
            }

            CloseCircuit();
            return;
        }

        _consecutiveFailures++;
        if (_circuit == CircuitState.HalfOpen || (_circuit == CircuitState.Closed && _consecutiveFailures >= _options.CircuitBreakerThreshold))
        {
            _opened++;
            _circuit = CircuitState.Open;
            if (!_circuitCounted)
            {
                _circuitCounted = true;
                QueueMetrics.CircuitOpened();
            }

            _openUntil = timeProvider.GetUtcNow() + _options.RetryDelay(_opened);
            LogCircuitOpened(_domain, _consecutiveFailures, _openUntil, _lastReply ?? string.Empty);
        }
    }

    private void CloseCircuit()
    {
        _circuit = CircuitState.Closed;
        _consecutiveFailures = 0;
        _opened = 0;
        UncountCircuit();
    }

    private void UncountCircuit()
    {
        if (_circuitCounted)
        {
            _circuitCounted = false;
            QueueMetrics.CircuitClosed();
        }
    }

    /// <summary>
    /// While the destination is unreachable, entries are not attempted one by one, so those that outlive the queue
    /// lifetime are expired here: the message records a not-attempted temporary failure, which its lifetime turns
    /// into a permanent one (and a bounce).
    /// </summary>
    private async Task ExpireWhileOpenAsync(DateTimeOffset now)
    {
        var expired = await queue.GetDueReceivedBeforeAsync(_domain, now, now - _options.MaxQueueLifetime, 1000, _deactivating.Token);
        foreach (var entry in expired)
        {
            if (_inFlight.Contains(entry.MessageId) || _recording.Contains(entry.MessageId))
            {
                continue;
            }

            var message = GrainFactory.GetCachedGrain<IMessageGrain>(entry.MessageId);
            var work = await message.GetDeliveryWorkAsync(_domain);
            if (work is null)
            {
                await queue.RemoveAsync(_domain, entry.MessageId, _deactivating.Token);
                continue;
            }

            var reply = $"451 4.4.1 not attempted: {_domain} has failed {_consecutiveFailures} time(s) in a row; last reply: {_lastReply}";
            await message.RecordAttemptAsync(_domain, new DeliveryAttempt(string.Empty, now,
                [.. work.Recipients.Select(r => new RecipientResult(r, RecipientOutcome.Transient, reply, DeliveryError.Connect))]));
        }
    }

    /// <summary>Deletes every message with an entry in this queue, through each message so its state goes too.</summary>
    private async Task<QueueActionResult> DeleteAllAsync()
    {
        long deleted = 0, entries = 0;
        while (true)
        {
            var ids = await operations.GetMessageIdsAsync(QueueScope.OfDomain(_domain), 500, CancellationToken.None);
            if (ids.Count == 0)
            {
                break;
            }

            var results = await Task.WhenAll(ids.Select(id => GrainFactory.GetCachedGrain<IMessageGrain>(id).ApplyAsync(QueueAction.Delete)));
            var batch = results.Sum(r => r.Messages);
            if (batch == 0)
            {
                // Entries whose message is gone: remove them directly so the loop ends.
                foreach (var id in ids)
                {
                    await operations.DeleteMessageAsync(id, CancellationToken.None);
                }
            }

            deleted += batch == 0 ? ids.Count : batch;
            entries += results.Sum(r => r.Entries);
        }

        LogAction(_domain, QueueAction.Delete, entries);
        return new QueueActionResult(deleted, entries);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Queue {Domain}: destination site {Site} could not be reached or named")]
    private partial void LogSiteFailed(string domain, string site, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "Queue {Domain}: {Action} by an operator ({Entries} entries)")]
    private partial void LogAction(string domain, QueueAction action, long entries);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Queue {Domain}: circuit open after {Failures} destination failure(s) in a row; next probe at {OpenUntil} (last reply: {LastReply})")]
    private partial void LogCircuitOpened(string domain, int failures, DateTimeOffset openUntil, string lastReply);

    [LoggerMessage(Level = LogLevel.Information, Message = "Queue {Domain}: circuit closed, the destination answers again")]
    private partial void LogCircuitClosed(string domain);

    [LoggerMessage(Level = LogLevel.Error, Message = "Queue {Domain}: looking for due entries failed")]
    private partial void LogPumpFailed(string domain, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "Delivery of {MessageId} to {Domain} failed unexpectedly; postponed")]
    private partial void LogDeliveryFailed(string messageId, string domain, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "Content of {MessageId} is missing from the message store")]
    private partial void LogBodyMissing(string messageId);
}
