using Elemta.Admin.Authentication;
using Elemta.Admin.Components;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Elemta.Admin.Hosting;

/// <summary>Maps the admin app.</summary>
public static class AdminEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Maps the admin app's pages (interactive server rendering; every page but the login requires a sign-in), their
    /// static assets (the component library's scripts and styles, served from the app: no CDN) and the sign-out
    /// endpoint. The host must call <c>UseAuthentication()</c>, <c>UseAuthorization()</c> and <c>UseAntiforgery()</c>
    /// before, and have called <see cref="AdminServiceCollectionExtensions.AddElemtaAdmin"/>.
    /// </summary>
    public static IEndpointRouteBuilder MapElemtaAdmin(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        endpoints.MapStaticAssets();
        endpoints.MapRazorComponents<App>().AddInteractiveServerRenderMode();

        // A form post with an antiforgery token (the layout's sign-out button), so another site cannot sign a user out.
        endpoints.MapPost(AdminAuthentication.LogoutPath, async (HttpContext context) =>
            {
                await context.SignOutAsync(AdminAuthentication.Scheme).ConfigureAwait(false);
                return TypedResults.LocalRedirect(AdminAuthentication.LoginPath);
            })
            .WithMetadata(new RequireAntiforgeryTokenAttribute())
            .ExcludeFromDescription();
        return endpoints;
    }
}
