namespace Elemta.Contracts;

/// <summary>
/// A token bucket for one key, such as <c>connect:203.0.113.7</c>. One activation per key in the whole cluster,
/// so a limit holds across silos (never a stateless worker). Bucket parameters come from the silo's
/// rate-limit options, chosen by the key's prefix.
/// </summary>
[Alias("elemta.IRateLimitGrain")]
public interface IRateLimitGrain : IGrainWithStringKey
{
    /// <summary>Takes <paramref name="permits"/> tokens if the bucket has them.</summary>
    [Alias("acquire")]
    Task<RateLimitDecision> TryAcquireAsync(int permits);
}

/// <summary>The answer of a rate limit.</summary>
/// <param name="Allowed">Whether the tokens were granted.</param>
/// <param name="RetryAfter">When denied, how long until enough tokens are back.</param>
[GenerateSerializer, Immutable, Alias("elemta.RateLimitDecision")]
public sealed record RateLimitDecision(
    [property: Id(0)] bool Allowed,
    [property: Id(1)] TimeSpan RetryAfter);
