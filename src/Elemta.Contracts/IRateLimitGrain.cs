namespace Elemta.Contracts;

/// <summary>
/// A token bucket for one key, such as <c>connect:203.0.113.7</c>, and a count of concurrent leases for keys such as
/// <c>connections:203.0.113.7</c>. One activation per key in the whole cluster, so a
/// limit holds across silos (never a stateless worker). Bucket parameters come from the silo's rate-limit options,
/// chosen by the key's prefix; the concurrency limit comes with each call.
/// </summary>
/// <remarks>
/// Leases live in memory and expire unless their holder renews them, so the leases of a front-end that crashed come
/// back after one lease duration. If the grain's own silo crashes, the count restarts at zero elsewhere (forgiving,
/// like a lost bucket) and live holders put their leases back with their next renewal.
/// </remarks>
[Alias("elemta.IRateLimitGrain")]
public interface IRateLimitGrain : IGrainWithStringKey
{
    /// <summary>
    /// Key prefix of the per-client-address rate of new SMTP connections (<c>connect:&lt;ip&gt;</c>). Part of the
    /// contract: the front-end builds these keys and the silo's rate-limit options choose the bucket by it.
    /// </summary>
    const string ConnectPrefix = "connect:";

    /// <summary>
    /// Key prefix of failed SMTP AUTH attempts per client address (<c>auth-fail-ip:&lt;ip&gt;</c>): each failure takes a
    /// token, and an empty bucket locks the address out of AUTH until it refills.
    /// </summary>
    const string AuthFailureAddressPrefix = "auth-fail-ip:";

    /// <summary>
    /// Key prefix of failed SMTP AUTH attempts per login name (<c>auth-fail-user:&lt;name&gt;</c>), so guessing one
    /// account's password from many addresses is limited too.
    /// </summary>
    const string AuthFailureUserPrefix = "auth-fail-user:";

    /// <summary>
    /// Key prefix of a limit whose shape travels in its key: <c>rate:&lt;limit&gt;/&lt;seconds&gt;:&lt;kind&gt;:&lt;who&gt;</c>
    /// is a bucket of <c>limit</c> tokens refilled evenly over <c>seconds</c> (the message and recipient rates of the
    /// mail policies). The grain needs no configuration for it, and a changed limit is a new key, so every silo
    /// agrees at once on the limit in force.
    /// </summary>
    const string WindowPrefix = "rate:";

    /// <summary>Takes <paramref name="permits"/> tokens if the bucket has them.</summary>
    [Alias("acquire")]
    Task<RateLimitDecision> TryAcquireAsync(int permits);

    /// <summary>Whether <paramref name="permits"/> tokens are available now, without taking them.</summary>
    [Alias("peek")]
    Task<RateLimitDecision> PeekAsync(int permits);

    /// <summary>
    /// Takes lease <paramref name="lease"/> if fewer than <paramref name="max"/> unexpired leases are held; true when
    /// it is held afterwards. Idempotent: entering with a lease already held renews it.
    /// </summary>
    /// <param name="lease">A new id per holder (e.g. per connection), chosen by the caller.</param>
    /// <param name="max">The limit, at least 1.</param>
    /// <param name="duration">How long the lease lasts unless renewed or released.</param>
    [Alias("enter")]
    Task<bool> TryEnterAsync(Guid lease, int max, TimeSpan duration);

    /// <summary>
    /// Extends a held lease to <paramref name="duration"/> from now. A lease the grain does not know (it expired, or the
    /// grain was reactivated after a crash) is taken back even over the limit, since its holder is still there; the
    /// answer is then false.
    /// </summary>
    [Alias("renew")]
    Task<bool> RenewAsync(Guid lease, TimeSpan duration);

    /// <summary>Releases a lease; releasing one that is not held does nothing.</summary>
    [Alias("exit")]
    Task ExitAsync(Guid lease);
}

/// <summary>The answer of a rate limit.</summary>
/// <param name="Allowed">Whether the tokens were granted.</param>
/// <param name="RetryAfter">When denied, how long until enough tokens are back.</param>
[GenerateSerializer, Immutable, Alias("elemta.RateLimitDecision")]
public sealed record RateLimitDecision(
    [property: Id(0)] bool Allowed,
    [property: Id(1)] TimeSpan RetryAfter);
