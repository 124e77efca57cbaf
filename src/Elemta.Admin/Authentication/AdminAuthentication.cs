using System.Security.Claims;
using Elemta.Auth;
using Elemta.Contracts;
using Microsoft.AspNetCore.Authorization;

namespace Elemta.Admin.Authentication;

/// <summary>
/// The admin app's sign-in: a cookie issued by the login page for an account with an admin-plane role. It is for the
/// pages and the dashboard only; the REST API's policies name their own schemes (API key, HTTP Basic), so a cookie
/// never authenticates an <c>/api</c> call and a page cannot be driven cross-site through the API.
/// </summary>
public static class AdminAuthentication
{
    /// <summary>The cookie scheme.</summary>
    public const string Scheme = "Elemta.Cookie";

    /// <summary>The cookie's name.</summary>
    public const string CookieName = "elemta.admin";

    /// <summary>The login page.</summary>
    public const string LoginPath = "/login";

    /// <summary>Where a signed-in account whose role does not allow a page is sent.</summary>
    public const string DeniedPath = "/denied";

    /// <summary>Where the sign-out form posts.</summary>
    public const string LogoutPath = "/logout";

    /// <summary>Any admin-plane role: viewer, operator or admin (pages, the dashboard).</summary>
    public const string Read = "elemta.admin.read";

    /// <summary>Operator or admin: the queue actions.</summary>
    public const string Operate = "elemta.admin.operate";

    /// <summary>Admin: accounts, API keys, purges.</summary>
    public const string Administer = "elemta.admin.administer";

    /// <summary>The roles that may sign in to the admin app (an account with only <c>sender</c> may not).</summary>
    public static readonly IReadOnlySet<UserRole> AdminPlaneRoles = new HashSet<UserRole> { UserRole.Viewer, UserRole.Operator, UserRole.Admin };

    /// <summary>Adds the three policies, each authenticating with the cookie.</summary>
    public static AuthorizationBuilder AddAdminPolicies(this AuthorizationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder
            .AddPolicy(Read, Roles(UserRole.Viewer, UserRole.Operator, UserRole.Admin))
            .AddPolicy(Operate, Roles(UserRole.Operator, UserRole.Admin))
            .AddPolicy(Administer, Roles(UserRole.Admin));
    }

    /// <summary>A signed-in account's principal: its name and one role claim per role.</summary>
    public static ClaimsPrincipal Principal(UserAccount account)
    {
        ArgumentNullException.ThrowIfNull(account);
        var claims = new List<Claim> { new(ClaimTypes.Name, account.Name) };
        claims.AddRange(account.Roles.Distinct().Select(r => new Claim(ClaimTypes.Role, Passwords.RoleName(r))));
        return new ClaimsPrincipal(new ClaimsIdentity(claims, Scheme, ClaimTypes.Name, ClaimTypes.Role));
    }

    /// <summary>Whether <paramref name="user"/> may act on the queue.</summary>
    public static bool CanOperate(ClaimsPrincipal? user) =>
        user is not null && (user.IsInRole(Passwords.RoleName(UserRole.Operator)) || user.IsInRole(Passwords.RoleName(UserRole.Admin)));

    /// <summary>Whether <paramref name="user"/> may manage accounts and keys and purge.</summary>
    public static bool CanAdminister(ClaimsPrincipal? user) => user?.IsInRole(Passwords.RoleName(UserRole.Admin)) == true;

    private static AuthorizationPolicy Roles(params UserRole[] roles) =>
        new AuthorizationPolicyBuilder(Scheme)
            .RequireAuthenticatedUser()
            .RequireRole(roles.Select(Passwords.RoleName))
            .Build();
}
