namespace Elemta.Contracts;

/// <summary>
/// The shared delivery budget of one destination "site": every domain whose mail goes to the same set of MX hosts
/// (or the same configured route) shares one key, so a large provider that hosts thousands of domains sees one sender,
/// as KumoMTA does. One activation per site in the cluster, so the limits hold across silos. It limits concurrent
/// deliveries (leases) and the rate of new ones (a token bucket), and adapts both to the site's replies: a
/// "too many connections / rate limited" reply halves them, a run of successes restores them step by step.
/// </summary>
[Alias("elemta.IDestinationGrain")]
public interface IDestinationGrain : IGrainWithStringKey
{
    /// <summary>
    /// Asks to start one delivery under lease <paramref name="lease"/>. Allowed when the site has a free slot and a
    /// rate token; otherwise says how long to wait before asking again.
    /// </summary>
    [Alias("start")]
    Task<RateLimitDecision> TryStartAsync(Guid lease);

    /// <summary>Ends a delivery started with <paramref name="lease"/> and tells the site how it went.</summary>
    [Alias("finish")]
    Task FinishAsync(Guid lease, DestinationFeedback feedback);

    /// <summary>The site's limits and load now.</summary>
    [Alias("status")]
    Task<DestinationStatus> GetStatusAsync();
}

/// <summary>How one delivery to a site went, as far as the site's limits are concerned.</summary>
public enum DestinationFeedback
{
    /// <summary>The site answered normally (delivered, or a per-recipient reply).</summary>
    Success = 0,

    /// <summary>The site said to slow down: 421, or a 4xx about too many connections, messages or a rate limit.</summary>
    Throttled = 1,

    /// <summary>The site could not be reached (DNS, connection, TLS, timeout); the domain queue's circuit breaker handles this.</summary>
    Unreachable = 2,
}

/// <summary>A site's limits and load.</summary>
/// <param name="Site">The site key.</param>
/// <param name="InFlight">Deliveries running now, cluster-wide.</param>
/// <param name="ConcurrencyLimit">The concurrency allowed now (adapted).</param>
/// <param name="MaxConcurrency">The configured concurrency.</param>
/// <param name="MessagesPerMinute">The rate allowed now (adapted); 0 means no rate limit.</param>
/// <param name="Throttled">Throttling replies seen since the limits were last at their maximum.</param>
/// <param name="LastThrottledAt">When the site last said to slow down.</param>
[GenerateSerializer, Immutable, Alias("elemta.DestinationStatus")]
public sealed record DestinationStatus(
    [property: Id(0)] string Site,
    [property: Id(1)] int InFlight,
    [property: Id(2)] int ConcurrencyLimit,
    [property: Id(3)] int MaxConcurrency,
    [property: Id(4)] double MessagesPerMinute,
    [property: Id(5)] int Throttled,
    [property: Id(6)] DateTimeOffset? LastThrottledAt);
