using System.Net;
using Elemta.Api.Authentication;
using Elemta.Auth;
using Elemta.Contracts;
using Microsoft.Extensions.Logging;

namespace Elemta.Admin.Authentication;

/// <summary>Why a sign-in was refused, or that it was not.</summary>
public enum SignInStatus
{
    /// <summary>The password is right and the account has an admin-plane role.</summary>
    SignedIn,

    /// <summary>Wrong name or password (which of the two is not said).</summary>
    WrongCredentials,

    /// <summary>The right password for an account with no admin-plane role (only <c>sender</c>).</summary>
    NoAdminRole,

    /// <summary>Too many failures from this address or for this account; nothing was checked.</summary>
    LockedOut,
}

/// <summary>The outcome of a sign-in.</summary>
/// <param name="Status">Signed in, or why not.</param>
/// <param name="Account">The account, when signed in.</param>
/// <param name="RetryAfter">How long the lockout lasts, when locked out.</param>
public sealed record SignInOutcome(SignInStatus Status, UserAccount? Account, TimeSpan RetryAfter);

/// <summary>
/// Checks the login form's name and password as HTTP Basic and SMTP AUTH do: the password through
/// <see cref="AccountVerifier"/>, and failures counted in the same <see cref="IAuthFailureLimiter"/> buckets (per address
/// and per account, cluster-wide), so a lockout earned on one way in holds on all of them and, while it lasts, no
/// password is checked.
/// </summary>
public sealed partial class AdminSignIn(AccountVerifier accounts, IAuthFailureLimiter failures, ILogger<AdminSignIn> logger)
{
    /// <summary>Checks <paramref name="user"/>/<paramref name="password"/> sent from <paramref name="client"/>.</summary>
    public async Task<SignInOutcome> SignInAsync(IPAddress client, string? user, string? password, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);
        var name = string.IsNullOrEmpty(user) ? null : Passwords.NormalizeUserName(user, out _);
        var (allowed, retryAfter) = await failures.CheckAsync(client, name, cancellationToken).ConfigureAwait(false);
        if (!allowed)
        {
            LogLockedOut(logger, name ?? "(invalid)", client, retryAfter);
            return new SignInOutcome(SignInStatus.LockedOut, null, retryAfter);
        }

        var account = name is null || string.IsNullOrEmpty(password) ? null : await accounts.VerifyAsync(name, password, cancellationToken).ConfigureAwait(false);
        if (account is null)
        {
            await failures.RecordFailureAsync(client, name, cancellationToken).ConfigureAwait(false);
            LogFailed(logger, name ?? "(invalid)", client);
            return new SignInOutcome(SignInStatus.WrongCredentials, null, TimeSpan.Zero);
        }

        if (!account.Roles.Any(AdminAuthentication.AdminPlaneRoles.Contains))
        {
            LogNoRole(logger, account.Name, client);
            return new SignInOutcome(SignInStatus.NoAdminRole, null, TimeSpan.Zero);
        }

        LogSignedIn(logger, account.Name, client);
        return new SignInOutcome(SignInStatus.SignedIn, account, TimeSpan.Zero);
    }

    [LoggerMessage(EventId = 2101, Level = LogLevel.Information, Message = "Admin app: {User} signed in from {Client}")]
    private static partial void LogSignedIn(ILogger logger, string user, IPAddress client);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Warning, Message = "Admin app: sign-in failed for {User} from {Client}")]
    private static partial void LogFailed(ILogger logger, string user, IPAddress client);

    [LoggerMessage(EventId = 2103, Level = LogLevel.Warning, Message = "Admin app: sign-in refused for {User} from {Client}: locked out for {RetryAfter} after repeated failures")]
    private static partial void LogLockedOut(ILogger logger, string user, IPAddress client, TimeSpan retryAfter);

    [LoggerMessage(EventId = 2104, Level = LogLevel.Warning, Message = "Admin app: sign-in refused for {User} from {Client}: the account has no admin, operator or viewer role")]
    private static partial void LogNoRole(ILogger logger, string user, IPAddress client);
}
