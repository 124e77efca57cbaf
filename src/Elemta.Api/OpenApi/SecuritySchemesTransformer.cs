using Elemta.Api.Authentication;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Elemta.Api.OpenApi;

/// <summary>
/// Names the API's two ways in (an API key as a bearer token, an account with HTTP Basic) in the OpenAPI document, so
/// generated clients and the reference page send credentials.
/// </summary>
internal sealed class SecuritySchemesTransformer : IOpenApiDocumentTransformer
{
    private const string ApiKey = "apiKey";
    private const string Basic = "basic";

    public Task TransformAsync(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
    {
        document.Info.Title = "Elemta admin API";
        document.Info.Description = "The queue, accounts, API keys, the audit log and the cluster of an Elemta MTA. Roles: viewer reads, operator also acts on the queue, admin also manages accounts and keys and purges. Errors are RFC 9457 problem details.";
        document.Components ??= new OpenApiComponents();
        document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
        document.Components.SecuritySchemes[ApiKey] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            BearerFormat = "elemta_<id>_<secret>",
            Description = "An API key (POST /api/apikeys or elemta apikey create) as a bearer token.",
        };
        document.Components.SecuritySchemes[Basic] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "basic",
            Description = $"An account's name and password (realm \"{ElemtaAuthentication.Realm}\"); failures count in the SMTP AUTH lockout.",
        };
        document.Security ??= [];
        document.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(ApiKey, document)] = [] });
        document.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(Basic, document)] = [] });
        return Task.CompletedTask;
    }
}
