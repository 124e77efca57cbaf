using System.Security.Claims;
using Elemta.Auth;
using Elemta.Contracts;

namespace Elemta.Api.Authentication;

/// <summary>
/// The admin plane's authentication schemes: API keys (<c>Authorization: Bearer elemta_…</c>) and account credentials
/// (HTTP Basic, RFC 7617), behind one policy scheme that picks by the header, so an endpoint names one scheme.
/// </summary>
public static class ElemtaAuthentication
{
    /// <summary>The policy scheme the API's authorization policies use; it forwards to one of the two below.</summary>
    public const string Scheme = "Elemta";

    /// <summary>API keys, presented as bearer tokens.</summary>
    public const string ApiKeyScheme = "Elemta.ApiKey";

    /// <summary>Account name and password (HTTP Basic).</summary>
    public const string BasicScheme = "Elemta.Basic";

    /// <summary>The protection space named in challenges.</summary>
    public const string Realm = "Elemta";

    /// <summary>The claim holding the id of the API key a request was authenticated with.</summary>
    public const string ApiKeyIdClaim = "elemta:apikey";

    /// <summary>The actor recorded in the audit log for <paramref name="user"/>: the account name, or <c>apikey:&lt;id&gt;</c>.</summary>
    public static string ActorOf(ClaimsPrincipal user)
    {
        ArgumentNullException.ThrowIfNull(user);
        return user.Identity?.Name ?? throw new InvalidOperationException("The request is not authenticated.");
    }

    /// <summary>A principal with <paramref name="name"/> as its name and one role claim per role.</summary>
    internal static ClaimsPrincipal Principal(string name, IEnumerable<UserRole> roles, string scheme, string? apiKeyId = null)
    {
        var claims = new List<Claim> { new(ClaimTypes.Name, name) };
        claims.AddRange(roles.Distinct().Select(r => new Claim(ClaimTypes.Role, Passwords.RoleName(r))));
        if (apiKeyId is not null)
        {
            claims.Add(new Claim(ApiKeyIdClaim, apiKeyId));
        }

        return new ClaimsPrincipal(new ClaimsIdentity(claims, scheme, ClaimTypes.Name, ClaimTypes.Role));
    }
}
