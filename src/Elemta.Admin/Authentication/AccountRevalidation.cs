using System.Security.Claims;
using Elemta.Contracts;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.AspNetCore.Components.Server;
using Microsoft.Extensions.Logging;

namespace Elemta.Admin.Authentication;

/// <summary>
/// An open page (a circuit) keeps the sign-in it started with, for as long as it stays open; this checks every
/// <see cref="RevalidationInterval"/> that the account still exists and still has every role the sign-in carries, so a
/// deleted account or a removed role ends the session on open pages too (they then show the login link), not only at
/// the next page load.
/// </summary>
public sealed class AccountRevalidation(ILoggerFactory loggerFactory, IGrainFactory grains) : RevalidatingServerAuthenticationStateProvider(loggerFactory)
{
    /// <inheritdoc />
    protected override TimeSpan RevalidationInterval => TimeSpan.FromSeconds(30);

    /// <inheritdoc />
    protected override async Task<bool> ValidateAuthenticationStateAsync(AuthenticationState authenticationState, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(authenticationState);
        var user = authenticationState.User;
        if (user.Identity?.Name is not { } name)
        {
            return false;
        }

        var account = await grains.GetGrain<IUserGrain>(name).GetAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
        if (account is null)
        {
            return false;
        }

        var roles = account.Roles.Select(Elemta.Auth.Passwords.RoleName).ToHashSet(StringComparer.Ordinal);
        return user.FindAll(ClaimTypes.Role).All(c => roles.Contains(c.Value));
    }
}
