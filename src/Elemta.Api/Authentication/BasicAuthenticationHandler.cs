using System.Net;
using System.Text;
using System.Text.Encodings.Web;
using Elemta.Auth;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace Elemta.Api.Authentication;

/// <summary>
/// HTTP Basic (RFC 7617) with an account's name and password, for scripts. Failures count against the client address
/// and the account in the same lockout as SMTP AUTH (<see cref="IAuthFailureLimiter"/>), and while locked no password
/// is checked, so guessing stops on every way in at once.
/// </summary>
public sealed partial class BasicAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    AccountVerifier accounts,
    IAuthFailureLimiter failures) : ElemtaAuthenticationHandler(options, logger, encoder)
{
    private const string Prefix = "Basic ";

    /// <inheritdoc />
    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (!header.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase))
        {
            return AuthenticateResult.NoResult();
        }

        var client = Context.Connection.RemoteIpAddress ?? IPAddress.IPv6None;
        var cancellationToken = Context.RequestAborted;
        if (!TryDecode(header[Prefix.Length..].Trim(), out var user, out var password))
        {
            await failures.RecordFailureAsync(client, null, cancellationToken).ConfigureAwait(false);
            return AuthenticateResult.Fail("Malformed Basic credentials.");
        }

        var name = Passwords.NormalizeUserName(user, out _);
        var (allowed, retryAfter) = await failures.CheckAsync(client, name, cancellationToken).ConfigureAwait(false);
        if (!allowed)
        {
            Context.Items[RetryAfterItem] = retryAfter;
            LogLockedOut(Logger, client, name ?? "(invalid)", retryAfter);
            return AuthenticateResult.Fail("Too many failed sign-ins.");
        }

        var account = name is null ? null : await accounts.VerifyAsync(name, password, cancellationToken).ConfigureAwait(false);
        if (account is null)
        {
            await failures.RecordFailureAsync(client, name, cancellationToken).ConfigureAwait(false);
            LogFailed(Logger, client, name ?? "(invalid)");
            return AuthenticateResult.Fail("Wrong account name or password.");
        }

        var principal = ElemtaAuthentication.Principal(account.Name, account.Roles, Scheme.Name);
        return AuthenticateResult.Success(new AuthenticationTicket(principal, Scheme.Name));
    }

    private static bool TryDecode(string encoded, out string user, out string password)
    {
        user = password = string.Empty;
        var bytes = new byte[(encoded.Length * 3 / 4) + 3];
        if (!Convert.TryFromBase64String(encoded, bytes, out var length))
        {
            return false;
        }

        string text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes, 0, length);
        }
        catch (DecoderFallbackException)
        {
            return false;
        }

        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
        {
            return false;
        }

        user = text[..colon];
        password = text[(colon + 1)..];
        return true;
    }

    [LoggerMessage(EventId = 2001, Level = LogLevel.Warning, Message = "HTTP Basic sign-in failed for {User} from {Client}")]
    private static partial void LogFailed(ILogger logger, IPAddress client, string user);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Warning, Message = "HTTP Basic sign-in refused for {User} from {Client}: locked out for {RetryAfter} after repeated failures")]
    private static partial void LogLockedOut(ILogger logger, IPAddress client, string user, TimeSpan retryAfter);
}
