using System.Collections.Immutable;
using Elemta.Contracts;
using Elemta.Delivery;
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
[Reentrant]
public sealed partial class DomainQueueGrain(
    IQueueStore queue,
    IMessageStore messages,
    IDeliveryAgent agent,
    IOptions<QueueOptions> options,
    TimeProvider timeProvider,
    ILogger<DomainQueueGrain> logger) : Grain, IDomainQueueGrain, IDisposable
{
    // While deliveries run, newly due entries are looked for at this pace (completions also look).
    private static readonly TimeSpan BusyPoll = TimeSpan.FromSeconds(1);

    private readonly QueueOptions _options = options.Value;
    private readonly HashSet<string> _inFlight = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _deactivating = new();
    private string _domain = string.Empty;
    private IGrainTimer? _timer;
    private bool _pumping;
    private bool _pumpAgain;
    private string? _lastReply;

    /// <inheritdoc />
    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _domain = this.GetPrimaryKeyString();
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
        return new DomainQueueStatus(_domain, count, _inFlight.Count, next, _lastReply);
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
            if (free <= 0)
            {
                return;
            }

            // In-flight rows are still due (they change only when an attempt is recorded), so ask for enough to skip them.
            var due = await queue.GetDueAsync(_domain, timeProvider.GetUtcNow(), free + _inFlight.Count, _deactivating.Token);
            var started = 0;
            foreach (var entry in due)
            {
                if (started == free)
                {
                    break;
                }

                if (_inFlight.Add(entry.MessageId))
                {
                    started++;
                    _ = DeliverAsync(entry);
                }
            }
        }
        while (_pumpAgain);
    }

    private async Task ScheduleNextAsync()
    {
        var next = await queue.GetNextDueAsync(_domain, _deactivating.Token);
        if (next is null)
        {
            _timer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            return;
        }

        var wait = next.Value - timeProvider.GetUtcNow();
        if (_inFlight.Count > 0 && wait < BusyPoll)
        {
            // The earliest rows are the ones in flight; their completions pump again.
            wait = BusyPoll;
        }

        _timer?.Change(wait < TimeSpan.Zero ? TimeSpan.Zero : wait, Timeout.InfiniteTimeSpan);
    }

    private async Task DeliverAsync(QueueEntry entry)
    {
        var token = _deactivating.Token;
        try
        {
            // Keeps the activation alive for at least as long as one delivery can take.
            DelayDeactivation(TimeSpan.FromMinutes(15));
            var message = GrainFactory.GetGrain<IMessageGrain>(entry.MessageId);
            var work = await message.GetDeliveryWorkAsync(_domain);
            if (work is null)
            {
                await queue.RemoveAsync(_domain, entry.MessageId, token);
                return;
            }

            var content = await messages.ReadContentAsync(entry.MessageId, token);
            DeliveryAttempt attempt;
            if (content is null)
            {
                LogBodyMissing(entry.MessageId);
                attempt = new DeliveryAttempt(string.Empty, timeProvider.GetUtcNow(),
                    [.. work.Recipients.Select(r => new RecipientResult(r, RecipientOutcome.Transient, "451 4.3.0 message content is missing from the message store"))]);
            }
            else
            {
                // Network I/O and MIME parsing run off the grain's scheduler, so the queue keeps answering meanwhile.
                attempt = await Task.Run(() => agent.DeliverAsync(work, content, token), token);
            }

            _lastReply = attempt.Results.IsDefaultOrEmpty ? _lastReply : attempt.Results[^1].Reply;
            var outcome = await message.RecordAttemptAsync(_domain, attempt);
            if (outcome.Finished)
            {
                await queue.RemoveAsync(_domain, entry.MessageId, token);
            }
            else
            {
                var dueAt = outcome.NextAttemptAt ?? timeProvider.GetUtcNow() + _options.RetryDelay(1);
                await queue.UpsertAsync(entry with { DueAt = dueAt }, token);
            }
        }
        catch (Exception ex) when (!token.IsCancellationRequested)
        {
            LogDeliveryFailed(entry.MessageId, _domain, ex);
            await PostponeAsync(entry);
        }
        catch (OperationCanceledException)
        {
            // Deactivating; the row is unchanged and the attempt will be made again.
        }
        finally
        {
            _inFlight.Remove(entry.MessageId);
            RequestPump();
        }
    }

    /// <summary>After an unexpected error, moves the entry back by the first retry interval instead of spinning on it.</summary>
    private async Task PostponeAsync(QueueEntry entry)
    {
        try
        {
            await queue.UpsertAsync(entry with { DueAt = timeProvider.GetUtcNow() + _options.RetryDelay(1) }, CancellationToken.None);
        }
        catch (Exception ex)
        {
            LogDeliveryFailed(entry.MessageId, _domain, ex);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Queue {Domain}: looking for due entries failed")]
    private partial void LogPumpFailed(string domain, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "Delivery of {MessageId} to {Domain} failed unexpectedly; postponed")]
    private partial void LogDeliveryFailed(string messageId, string domain, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "Content of {MessageId} is missing from the message store")]
    private partial void LogBodyMissing(string messageId);
}
