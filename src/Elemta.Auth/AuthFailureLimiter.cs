using System.Net;
using Elemta.Contracts;

namespace Elemta.Auth;

/// <summary>
/// Limits failed authentication attempts (SMTP AUTH, the admin plane's HTTP Basic) per client address and per login
/// name, one lockout for every way in. Once a limit is reached, AUTH is refused
/// (<c>454 4.7.0</c>) before any password is checked, so guessing stops even for the right password.
/// </summary>
public interface IAuthFailureLimiter
{
    /// <summary>
    /// Whether <paramref name="client"/> (and, when given, <paramref name="user"/>) may try to authenticate now; when
    /// not, how long until it may.
    /// </summary>
    Task<(bool Allowed, TimeSpan RetryAfter)> CheckAsync(IPAddress client, string? user, CancellationToken cancellationToken);

    /// <summary>Counts a failed attempt against <paramref name="client"/> and, when known, <paramref name="user"/>.</summary>
    Task RecordFailureAsync(IPAddress client, string? user, CancellationToken cancellationToken);
}

/// <summary>
/// Keeps the counts in the cluster-wide <see cref="IRateLimitGrain"/> buckets <c>auth-fail-ip:&lt;ip&gt;</c> and
/// <c>auth-fail-user:&lt;name&gt;</c>: one activation per key in the cluster, so a lockout holds across silos and
/// front-ends. The bucket sizes are the silo's <c>Elemta:RateLimit:AuthFailuresPerIp</c> and <c>AuthFailuresPerUser</c>.
/// </summary>
public sealed class RateLimitAuthFailureLimiter(IGrainFactory grains) : IAuthFailureLimiter
{
    /// <inheritdoc />
    public async Task<(bool Allowed, TimeSpan RetryAfter)> CheckAsync(IPAddress client, string? user, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);
        var byAddress = await AddressBucket(client).PeekAsync(1).WaitAsync(cancellationToken).ConfigureAwait(false);
        if (!byAddress.Allowed || user is null)
        {
            return (byAddress.Allowed, byAddress.RetryAfter);
        }

        var byUser = await UserBucket(user).PeekAsync(1).WaitAsync(cancellationToken).ConfigureAwait(false);
        return (byUser.Allowed, byUser.RetryAfter);
    }

    /// <inheritdoc />
    public async Task RecordFailureAsync(IPAddress client, string? user, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);
        await AddressBucket(client).TryAcquireAsync(1).WaitAsync(cancellationToken).ConfigureAwait(false);
        if (user is not null)
        {
            await UserBucket(user).TryAcquireAsync(1).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private IRateLimitGrain AddressBucket(IPAddress client) =>
        grains.GetCachedGrain<IRateLimitGrain>(IRateLimitGrain.AuthFailureAddressPrefix + (client.IsIPv4MappedToIPv6 ? client.MapToIPv4() : client));

    private IRateLimitGrain UserBucket(string user) =>
        grains.GetCachedGrain<IRateLimitGrain>(IRateLimitGrain.AuthFailureUserPrefix + user);
}
