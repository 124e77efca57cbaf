using System.Text.Encodings.Web;
using Elemta.Auth;
using Elemta.Contracts;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Elemta.Api.Authentication;

/// <summary>
/// API keys as bearer tokens (<c>Authorization: Bearer elemta_&lt;id&gt;_&lt;secret&gt;</c>): the id finds the key in
/// the <see cref="IApiKeyRegistryGrain"/>, the secret is checked against its stored hash, and a revoked or expired key
/// is refused. The request then acts with the key's role, as <c>apikey:&lt;id&gt;</c> in the audit log.
/// </summary>
public sealed partial class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    IGrainFactory grains,
    TimeProvider timeProvider) : ElemtaAuthenticationHandler(options, logger, encoder)
{
    private const string Prefix = "Bearer ";

    /// <inheritdoc />
    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (!header.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase))
        {
            return AuthenticateResult.NoResult();
        }

        var presented = header[Prefix.Length..].Trim();
        if (ApiKeys.IdOf(presented) is not { } id)
        {
            LogRefused(Logger, "(not an Elemta key)", "malformed");
            return AuthenticateResult.Fail("Not an Elemta API key.");
        }

        var record = await grains.GetGrain<IApiKeyRegistryGrain>(IApiKeyRegistryGrain.Key).FindAsync(id).WaitAsync(Context.RequestAborted).ConfigureAwait(false);
        if (record is null || !ApiKeys.Verify(record, presented, timeProvider.GetUtcNow()))
        {
            var reason = record is null ? "unknown" : record.RevokedAt is not null ? "revoked" : record.ExpiresAt <= timeProvider.GetUtcNow() ? "expired" : "wrong secret";
            LogRefused(Logger, id, reason);
            return AuthenticateResult.Fail("Unknown, revoked or expired API key.");
        }

        var principal = ElemtaAuthentication.Principal($"apikey:{record.Id}", [record.Role], Scheme.Name, record.Id);
        return AuthenticateResult.Success(new AuthenticationTicket(principal, Scheme.Name));
    }

    [LoggerMessage(EventId = 2003, Level = LogLevel.Warning, Message = "API key {Id} refused: {Reason}")]
    private static partial void LogRefused(ILogger logger, string id, string reason);
}
