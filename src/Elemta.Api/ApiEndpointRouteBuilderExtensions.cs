using Elemta.Api.AccessLists;
using Elemta.Api.Keys;
using Elemta.Api.Audit;
using Elemta.Api.Authentication;
using Elemta.Api.Cluster;
using Elemta.Api.Domains;
using Elemta.Api.Messages;
using Elemta.Api.Queue;
using Elemta.Api.Users;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Elemta.Api;

/// <summary>Maps the admin plane's REST API.</summary>
public static class ApiEndpointRouteBuilderExtensions
{
    /// <summary>The OpenAPI document's name: it is served at <c>/openapi/v1.json</c>.</summary>
    public const string DocumentName = "v1";

    /// <summary>
    /// Maps <c>/api/…</c> (every endpoint requires authentication and at least the viewer role; actions and submission need operator,
    /// accounts, keys and purges admin) and the OpenAPI document at <c>/openapi/v1.json</c>. Needs
    /// <see cref="ApiServiceCollectionExtensions.AddElemtaApi"/>.
    /// </summary>
    public static RouteGroupBuilder MapElemtaApi(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var api = endpoints.MapGroup("/api")
            .RequireAuthorization(ElemtaPolicies.Read)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden);
        api.MapQueue();
        api.MapMessages();
        api.MapDomains();
        api.MapUsers();
        api.MapApiKeys();
        api.MapAudit();
        Dmarc.DmarcEndpoints.MapDmarc(api);
        api.MapCluster();
        api.MapAccessList();

        // The document describes routes and shapes, nothing of the data behind them: served without authentication so
        // tools can read it before they have a key.
        endpoints.MapOpenApi("/openapi/{documentName}.json").AllowAnonymous();
        return api;
    }
}
