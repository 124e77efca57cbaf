using Elemta.Contracts;
using Microsoft.Extensions.Options;

namespace Elemta.Grains;

/// <summary>
/// One destination site's shared budget (see <see cref="IDestinationGrain"/>): concurrency as expiring leases, so
/// the slots of a silo that crashed mid-delivery come back after <see cref="LeaseDuration"/>; the rate as evenly
/// spaced start times (a generic cell rate algorithm with a burst of one). Kept in memory: losing it on
/// deactivation forgives, which is the safe direction for a limit.
/// </summary>
public sealed class DestinationGrain(IOptions<DestinationOptions> options, TimeProvider timeProvider) : Grain, IDestinationGrain
{
    /// <summary>How long a delivery may hold its slot without finishing (a crashed silo's slots come back after this).</summary>
    public static readonly TimeSpan LeaseDuration = TimeSpan.FromMinutes(15);

    // How soon a queue refused for concurrency asks again; its own completions also make it ask.
    private static readonly TimeSpan BusyRetry = TimeSpan.FromMilliseconds(500);

    private AdaptiveBudget _budget = null!;
    private ConcurrencyLeases _leases = null!;
    private DateTimeOffset _nextStart = DateTimeOffset.MinValue;
    private DateTimeOffset? _lastThrottledAt;

    /// <inheritdoc />
    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var limits = options.Value.LimitsFor(this.GetPrimaryKeyString());
        _budget = new AdaptiveBudget(Math.Max(1, limits.MaxConcurrency ?? 1), limits.MessagesPerMinute ?? 0, options.Value.Adaptive, options.Value.RecoverAfterSuccesses);
        _leases = new ConcurrencyLeases(timeProvider);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<RateLimitDecision> TryStartAsync(Guid lease)
    {
        if (!_leases.TryEnter(lease, _budget.Concurrency, LeaseDuration))
        {
            return Task.FromResult(new RateLimitDecision(false, BusyRetry));
        }

        if (_budget.MessagesPerMinute > 0)
        {
            var now = timeProvider.GetUtcNow();
            if (now < _nextStart)
            {
                _leases.Exit(lease);
                return Task.FromResult(new RateLimitDecision(false, _nextStart - now));
            }

            _nextStart = now + TimeSpan.FromMinutes(1 / _budget.MessagesPerMinute);
        }

        return Task.FromResult(new RateLimitDecision(true, TimeSpan.Zero));
    }

    /// <inheritdoc />
    public Task FinishAsync(Guid lease, DestinationFeedback feedback)
    {
        _leases.Exit(lease);
        switch (feedback)
        {
            case DestinationFeedback.Throttled:
                _budget.OnThrottled();
                _lastThrottledAt = timeProvider.GetUtcNow();
                break;
            case DestinationFeedback.Success:
                _budget.OnSuccess();
                break;
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<DestinationStatus> GetStatusAsync() => Task.FromResult(new DestinationStatus(
        this.GetPrimaryKeyString(), _leases.Count, _budget.Concurrency, _budget.MaxConcurrency, _budget.MessagesPerMinute, _budget.Throttled, _lastThrottledAt));
}
