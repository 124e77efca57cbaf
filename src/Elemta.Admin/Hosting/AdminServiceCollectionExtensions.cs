using Elemta.Admin.Authentication;
using Elemta.Admin.KeyRing;
using Elemta.Contracts;
using Elemta.Api.Administration;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
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
    /// protection with the cluster's one key ring (<see cref="GrainXmlRepository"/>: sign-ins, antiforgery tokens and
    /// circuits are valid on every host and survive restarts), Blazor with interactive server rendering, and the Fluent
    /// UI services (dialogs, toasts).
    /// </summary>
    public static IServiceCollection AddElemtaAdmin(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<AdminOptions>().Bind(configuration.GetSection(AdminOptions.SectionName)).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<AdminOptions>, AdminOptionsValidator>());
        services.AddElemtaAdministration();
        services.TryAddSingleton<AdminSignIn>();

        // The keys that sign cookies and antiforgery tokens: one ring for the whole cluster, in grain storage, so any
        // host accepts what another issued and a restart signs nobody out. The application name is set explicitly:
        // it isolates payloads by purpose, and by default it would be the content root, which differs between hosts.
        services.AddDataProtection().SetApplicationName(IDataProtectionKeyRingGrain.ApplicationName);
        services.AddOptions<KeyManagementOptions>()
            .Configure<IGrainFactory>((keys, grains) => keys.XmlRepository = new GrainXmlRepository(grains));

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
