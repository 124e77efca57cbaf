namespace Elemta.Grains;

/// <summary>
/// A token bucket: up to <see cref="TokenBucketOptions.Capacity"/> tokens, refilled continuously at
/// <see cref="TokenBucketOptions.PerSecond"/>. Time comes from a <see cref="TimeProvider"/> so tests need no sleeps.
/// </summary>
public sealed class TokenBucket
{
    private readonly TokenBucketOptions _options;
    private readonly TimeProvider _time;
    private double _tokens;
    private long _lastRefill;

    /// <summary>Creates a full bucket.</summary>
    public TokenBucket(TokenBucketOptions options, TimeProvider timeProvider)
    {
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _time = timeProvider ?? throw new ArgumentNullException(nameof(timeProvider));
        _tokens = options.Capacity;
        _lastRefill = timeProvider.GetTimestamp();
    }

    /// <summary>Takes <paramref name="permits"/> tokens if available; otherwise says how long until they would be.</summary>
    public (bool Allowed, TimeSpan RetryAfter) TryTake(int permits) => Check(permits, take: true);

    /// <summary>Whether <paramref name="permits"/> tokens are available, taking none; otherwise how long until they would be.</summary>
    public (bool Allowed, TimeSpan RetryAfter) Peek(int permits) => Check(permits, take: false);

    private (bool Allowed, TimeSpan RetryAfter) Check(int permits, bool take)
    {
        var now = _time.GetTimestamp();
        _tokens = Math.Min(_options.Capacity, _tokens + (_time.GetElapsedTime(_lastRefill, now).TotalSeconds * _options.PerSecond));
        _lastRefill = now;
        if (_tokens >= permits)
        {
            if (take)
            {
                _tokens -= permits;
            }

            return (true, TimeSpan.Zero);
        }

        var retryAfter = _options.PerSecond > 0 ? TimeSpan.FromSeconds((permits - _tokens) / _options.PerSecond) : TimeSpan.MaxValue;
        return (false, retryAfter);
    }
}
