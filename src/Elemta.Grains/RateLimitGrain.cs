using Elemta.Contracts;
using Microsoft.Extensions.Options;

namespace Elemta.Grains;

/// <summary>
/// A token bucket and a table of concurrency leases in memory. One activation per key cluster-wide makes the limits
/// global; losing them on deactivation only forgives past use, which is the safe direction for a limit, and live lease
/// holders put their leases back when they renew them.
/// </summary>
public sealed class RateLimitGrain(IOptions<RateLimitOptions> options, TimeProvider timeProvider) : Grain, IRateLimitGrain
{
    private TokenBucket? _bucket;
    private ConcurrencyLeases? _leases;

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

    /// <inheritdoc />
    public Task<RateLimitDecision> PeekAsync(int permits)
    {
        if (_bucket is null)
        {
            return Task.FromResult(new RateLimitDecision(true, TimeSpan.Zero));
        }

        var (allowed, retryAfter) = _bucket.Peek(permits);
        return Task.FromResult(new RateLimitDecision(allowed, retryAfter));
    }

    /// <inheritdoc />
    public Task<bool> TryEnterAsync(Guid lease, int max, TimeSpan duration) =>
        Task.FromResult(Leases.TryEnter(lease, max, duration));

    /// <inheritdoc />
    public Task<bool> RenewAsync(Guid lease, TimeSpan duration) =>
        Task.FromResult(Leases.Renew(lease, duration));

    /// <inheritdoc />
    public Task ExitAsync(Guid lease)
    {
        _leases?.Exit(lease);
        return Task.CompletedTask;
    }

    private ConcurrencyLeases Leases => _leases ??= new ConcurrencyLeases(timeProvider);
}
