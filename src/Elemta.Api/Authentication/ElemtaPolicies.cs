using Elemta.Auth;
using Elemta.Contracts;
using Microsoft.AspNetCore.Authorization;

namespace Elemta.Api.Authentication;

/// <summary>
/// What each role may do on the admin plane: <c>viewer</c> reads, <c>operator</c> also acts on the queue, <c>admin</c>
/// also manages accounts and keys and purges. Each policy admits the roles above it, so admin ⊇ operator ⊇ viewer;
/// <c>sender</c> (SMTP submission) admits nothing here.
/// </summary>
public static class ElemtaPolicies
{
    /// <summary>Reading the queue, messages, domains, the audit log and the cluster.</summary>
    public const string Read = "elemta.read";

    /// <summary>Acting on the queue: hold, release, retry, priority, delete, flush.</summary>
    public const string Operate = "elemta.operate";

    /// <summary>Accounts, API keys and purges.</summary>
    public const string Administer = "elemta.administer";

    /// <summary>Adds the three policies, each authenticating with <see cref="ElemtaAuthentication.Scheme"/>.</summary>
    public static AuthorizationBuilder AddElemtaPolicies(this AuthorizationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder
            .AddPolicy(Read, Roles(UserRole.Viewer, UserRole.Operator, UserRole.Admin))
            .AddPolicy(Operate, Roles(UserRole.Operator, UserRole.Admin))
            .AddPolicy(Administer, Roles(UserRole.Admin));
    }

    private static AuthorizationPolicy Roles(params UserRole[] roles) =>
        new AuthorizationPolicyBuilder(ElemtaAuthentication.Scheme)
            .RequireAuthenticatedUser()
            .RequireRole(roles.Select(Passwords.RoleName))
            .Build();
}
