using Elemta.Contracts;
using Microsoft.Extensions.Options;

namespace Elemta.Grains;

/// <summary>
/// A token bucket in memory. One activation per key cluster-wide makes the limit global; losing the bucket on
/// deactivation only forgives past use, which is the safe direction for a limit.
/// </summary>
public sealed class RateLimitGrain(IOptions<RateLimitOptions> options, TimeProvider timeProvider) : Grain, IRateLimitGrain
{
    private TokenBucketOptions? _bucket;
    private double _tokens;
    private long _lastRefill;

    /// <inheritdoc />
    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _bucket = options.Value.BucketFor(this.GetPrimaryKeyString());
        _tokens = _bucket?.Capacity ?? 0;
        _lastRefill = timeProvider.GetTimestamp();
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<RateLimitDecision> TryAcquireAsync(int permits)
    {
        if (_bucket is null)
        {
            return Task.FromResult(new RateLimitDecision(true, TimeSpan.Zero));
        }

        var now = timeProvider.GetTimestamp();
        _tokens = Math.Min(_bucket.Capacity, _tokens + (timeProvider.GetElapsedTime(_lastRefill, now).TotalSeconds * _bucket.PerSecond));
        _lastRefill = now;
        if (_tokens >= permits)
        {
            _tokens -= permits;
            return Task.FromResult(new RateLimitDecision(true, TimeSpan.Zero));
        }

        var retryAfter = _bucket.PerSecond > 0 ? TimeSpan.FromSeconds((permits - _tokens) / _bucket.PerSecond) : TimeSpan.MaxValue;
        return Task.FromResult(new RateLimitDecision(false, retryAfter));
    }
}
