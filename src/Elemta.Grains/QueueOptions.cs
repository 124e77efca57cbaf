namespace Elemta.Grains;

/// <summary>Queue and retry settings (<c>Elemta:Queue</c>).</summary>
public sealed class QueueOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Elemta:Queue";

    /// <summary>The schedule used when <see cref="RetrySchedule"/> is empty: like Postfix, 5 minutes doubling to an hour.</summary>
    public static readonly IReadOnlyList<TimeSpan> DefaultRetrySchedule =
        [TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(20), TimeSpan.FromMinutes(40), TimeSpan.FromHours(1)];

    /// <summary>
    /// Wait before the 1st, 2nd, … retry after a temporary failure; the last interval repeats. Empty means
    /// <see cref="DefaultRetrySchedule"/>. (A list, not a default value, because the configuration binder appends.)
    /// </summary>
    public List<TimeSpan> RetrySchedule { get; set; } = [];

    /// <summary>How long a message may stay queued before its pending recipients fail as expired (Postfix: 5 days).</summary>
    public TimeSpan MaxQueueLifetime { get; set; } = TimeSpan.FromDays(5);

    /// <summary>Deliveries one domain queue runs at the same time.</summary>
    public int MaxConcurrentDeliveriesPerDomain { get; set; } = 10;

    /// <summary>
    /// How often the silo looks for domains with due entries and wakes their queues. This is what brings queues back
    /// after a restart or a deactivation; due times themselves are kept to the millisecond by grain timers.
    /// </summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Each retry interval is moved by up to this fraction either way (0.1 = ±10 %), so messages deferred together by
    /// one outage do not all come back in the same second. 0 turns jitter off.
    /// </summary>
    public double RetryJitter { get; set; } = 0.1;

    /// <summary>
    /// Age of a message at which the sender is told, once, that it is still being retried (a delay DSN, RFC 3464
    /// <c>Action: delayed</c>), for recipients whose NOTIFY allows it. Zero turns delay notices off.
    /// </summary>
    public TimeSpan DelayWarningAfter { get; set; } = TimeSpan.FromHours(4);

    /// <summary>
    /// Attempts in a row that fail for the whole destination (DNS, connection, TLS, timeout) after which a domain
    /// queue stops trying each message and backs off as a whole, probing with one message at a time. 0 turns the
    /// circuit breaker off.
    /// </summary>
    public int CircuitBreakerThreshold { get; set; } = 5;

    /// <summary>How long delivered messages stay listed (history) before they are forgotten.</summary>
    public TimeSpan DeliveredRetention { get; set; } = TimeSpan.FromDays(1);

    /// <summary>How long permanently failed messages stay listed for inspection before they are forgotten.</summary>
    public TimeSpan FailedRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>The schedule in force.</summary>
    public IReadOnlyList<TimeSpan> EffectiveRetrySchedule => RetrySchedule.Count > 0 ? RetrySchedule : DefaultRetrySchedule;

    /// <summary>The wait after the <paramref name="attempts"/>-th failed attempt (1-based), without jitter.</summary>
    public TimeSpan RetryDelay(int attempts)
    {
        var schedule = EffectiveRetrySchedule;
        return schedule[Math.Clamp(attempts - 1, 0, schedule.Count - 1)];
    }

    /// <summary>
    /// The wait after the <paramref name="attempts"/>-th failed attempt with jitter applied: <paramref name="sample"/>
    /// in [0, 1) picks the point in the ±<see cref="RetryJitter"/> band (0.5 is the exact interval).
    /// </summary>
    public TimeSpan RetryDelay(int attempts, double sample) =>
        RetryDelay(attempts) * (1 + (RetryJitter * ((2 * Math.Clamp(sample, 0, 1)) - 1)));
}

/// <summary>One token bucket: <see cref="Capacity"/> tokens, refilled at <see cref="PerSecond"/>.</summary>
public sealed class TokenBucketOptions
{
    /// <summary>Maximum burst.</summary>
    public double Capacity { get; set; }

    /// <summary>Sustained rate.</summary>
    public double PerSecond { get; set; }
}

/// <summary>Rate limits (<c>Elemta:RateLimit</c>), applied by <c>RateLimitGrain</c> per key.</summary>
public sealed class RateLimitOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Elemta:RateLimit";

    /// <summary>New SMTP connections per client IP. Generous by default: a burst of 200, then 50 per second.</summary>
    public TokenBucketOptions ConnectionsPerIp { get; set; } = new() { Capacity = 200, PerSecond = 50 };

    /// <summary>
    /// Failed SMTP AUTH attempts per client address: a burst of 10, then one more every 30 seconds. When the bucket is
    /// empty the address gets <c>454 4.7.0</c> to AUTH, even with the right password, until it refills.
    /// </summary>
    public TokenBucketOptions AuthFailuresPerIp { get; set; } = new() { Capacity = 10, PerSecond = 1.0 / 30 };

    /// <summary>Failed SMTP AUTH attempts per login name, from any address: a burst of 5, then one more every 5 minutes.</summary>
    public TokenBucketOptions AuthFailuresPerUser { get; set; } = new() { Capacity = 5, PerSecond = 1.0 / 300 };

    /// <summary>The bucket for a key, by prefix; null when the key is not limited.</summary>
    public TokenBucketOptions? BucketFor(string key) =>
        key.StartsWith(Contracts.IRateLimitGrain.ConnectPrefix, StringComparison.Ordinal) ? ConnectionsPerIp
        : key.StartsWith(Contracts.IRateLimitGrain.AuthFailureAddressPrefix, StringComparison.Ordinal) ? AuthFailuresPerIp
        : key.StartsWith(Contracts.IRateLimitGrain.AuthFailureUserPrefix, StringComparison.Ordinal) ? AuthFailuresPerUser
        : key.StartsWith(Contracts.IRateLimitGrain.WindowPrefix, StringComparison.Ordinal) ? WindowBucket(key)
        : null;

    /// <summary>The bucket a <c>rate:&lt;limit&gt;/&lt;seconds&gt;:…</c> key describes; null (no limit) when the key is malformed.</summary>
    private static TokenBucketOptions? WindowBucket(string key)
    {
        var shape = key.AsSpan(Contracts.IRateLimitGrain.WindowPrefix.Length);
        var end = shape.IndexOf(':');
        var slash = shape.IndexOf('/');
        if (end < 0 || slash < 0 || slash > end
            || !int.TryParse(shape[..slash], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var limit)
            || !long.TryParse(shape[(slash + 1)..end], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var seconds)
            || limit < 1 || seconds < 1)
        {
            return null;
        }

        return new TokenBucketOptions { Capacity = limit, PerSecond = (double)limit / seconds };
    }
}
