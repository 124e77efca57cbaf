using Elemta.Admin.Authentication;
using Elemta.Api.Administration;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Microsoft.FluentUI.AspNetCore.Components;

namespace Elemta.Admin.Hosting;

/// <summary>Registers the admin app in a host that already has the REST API (<c>AddElemtaApi</c>) and an <see cref="IGrainFactory"/>.</summary>
public static class AdminServiceCollectionExtensions
{
    /// <summary>
    /// Adds the admin app: <c>Elemta:Admin</c> options (validated at start), the cookie scheme and its policies, data
    /// protection keys kept in <paramref name="keyDirectory"/> (so sign-ins and antiforgery tokens survive a restart),
    /// Blazor with interactive server rendering, and the Fluent UI services (dialogs, toasts).
    /// </summary>
    public static IServiceCollection AddElemtaAdmin(this IServiceCollection services, IConfiguration configuration, string keyDirectory)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentException.ThrowIfNullOrEmpty(keyDirectory);
        services.AddOptions<AdminOptions>().Bind(configuration.GetSection(AdminOptions.SectionName)).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<AdminOptions>, AdminOptionsValidator>());
        services.AddElemtaAdministration();
        services.TryAddSingleton<AdminSignIn>();

        // The keys that sign cookies and antiforgery tokens: on disk, so a restart does not sign everyone out. Each
        // silo has its own data directory, so a sign-in is for the silo that issued it (see docs/admin.md).
        services.AddDataProtection()
            .SetApplicationName("Elemta")
            .PersistKeysToFileSystem(new DirectoryInfo(keyDirectory));

        // The cookie is the default scheme, so the Blazor hub and pages see the signed-in account; the REST API's
        // policies name their own schemes and ignore it.
        services.AddAuthentication(o => o.DefaultScheme = AdminAuthentication.Scheme)
            .AddCookie(AdminAuthentication.Scheme, o =>
            {
                o.Cookie.Name = AdminAuthentication.CookieName;
                o.Cookie.HttpOnly = true;
                o.Cookie.SameSite = SameSiteMode.Strict;
                o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
                o.LoginPath = AdminAuthentication.LoginPath;
                o.LogoutPath = AdminAuthentication.LogoutPath;
                o.AccessDeniedPath = AdminAuthentication.DeniedPath;
                o.SlidingExpiration = true;
                o.ReturnUrlParameter = "returnUrl";
            });
        services.AddOptions<CookieAuthenticationOptions>(AdminAuthentication.Scheme)
            .Configure<IOptions<AdminOptions>>((cookie, admin) => cookie.ExpireTimeSpan = admin.Value.SessionLifetime);
        services.AddAuthorizationBuilder().AddAdminPolicies();
        services.AddCascadingAuthenticationState();
        services.AddScoped<AuthenticationStateProvider, AccountRevalidation>();

        services.AddRazorComponents().AddInteractiveServerComponents();
        services.AddFluentUIComponents();
        return services;
    }
}
