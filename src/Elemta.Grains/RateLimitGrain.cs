using Elemta.Contracts;
using Microsoft.Extensions.Options;

namespace Elemta.Grains;

/// <summary>
/// A token bucket in memory. One activation per key cluster-wide makes the limit global; losing the bucket on
/// deactivation only forgives past use, which is the safe direction for a limit.
/// </summary>
public sealed class RateLimitGrain(IOptions<RateLimitOptions> options, TimeProvider timeProvider) : Grain, IRateLimitGrain
{
    private TokenBucket? _bucket;

    /// <inheritdoc />
    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var bucket = options.Value.BucketFor(this.GetPrimaryKeyString());
        _bucket = bucket is null ? null : new TokenBucket(bucket, timeProvider);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<RateLimitDecision> TryAcquireAsync(int permits)
    {
        if (_bucket is null)
        {
            return Task.FromResult(new RateLimitDecision(true, TimeSpan.Zero));
        }

        var (allowed, retryAfter) = _bucket.TryTake(permits);
        return Task.FromResult(new RateLimitDecision(allowed, retryAfter));
    }
}
