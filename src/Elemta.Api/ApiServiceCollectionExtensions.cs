using System.Text.Json;
using System.Text.Json.Serialization;
using Elemta.Api.Administration;
using Elemta.Api.Authentication;
using Elemta.Api.Hosting;
using Elemta.Api.OpenApi;
using Elemta.Api.Problems;
using Elemta.Auth;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace Elemta.Api;

/// <summary>Registers the admin plane's REST API in any host that has an <see cref="IGrainFactory"/> (a silo or an Orleans client).</summary>
public static class ApiServiceCollectionExtensions
{
    /// <summary>
    /// Adds what <see cref="ApiEndpointRouteBuilderExtensions.MapElemtaApi"/> needs: <c>Elemta:Http</c> options
    /// (validated at start), the two authentication schemes behind the <see cref="ElemtaAuthentication.Scheme"/> policy
    /// scheme, the role policies, problem details with an exception handler that never shows an exception, JSON with
    /// enums as camelCase strings, and the OpenAPI document. The host must also call <c>UseExceptionHandler()</c> and
    /// <c>UseStatusCodePages()</c> before the endpoints.
    /// </summary>
    public static IServiceCollection AddElemtaApi(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.TryAddSingleton(TimeProvider.System);
        services.AddElemtaCredentials(configuration);
        services.TryAddSingleton<IAuthFailureLimiter, RateLimitAuthFailureLimiter>();
        services.TryAddSingleton<AccountVerifier>();
        services.AddElemtaAdministration();

        services.AddOptions<Messages.MessageSubmissionOptions>();
        services.AddOptions<HttpOptions>().Bind(configuration.GetSection(HttpOptions.SectionName)).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<HttpOptions>, HttpOptionsValidator>());

        services.AddAuthentication()
            .AddPolicyScheme(ElemtaAuthentication.Scheme, "API key or account", o => o.ForwardDefaultSelector = SelectScheme)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ElemtaAuthentication.ApiKeyScheme, "API key", null)
            .AddScheme<AuthenticationSchemeOptions, BasicAuthenticationHandler>(ElemtaAuthentication.BasicScheme, "Account (HTTP Basic)", null);
        services.AddAuthorizationBuilder().AddElemtaPolicies();

        services.AddProblemDetails();
        services.AddExceptionHandler<ApiExceptionHandler>();

        // Binding failures (malformed JSON, a number that is not one) become exceptions the handler above turns into a
        // 400 that says what was wrong, instead of an empty 400.
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        services.Configure<JsonOptions>(o => o.SerializerOptions.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.CamelCase)));
        services.AddOpenApi(ApiEndpointRouteBuilderExtensions.DocumentName, o => o.AddDocumentTransformer<SecuritySchemesTransformer>());
        return services;
    }

    /// <summary>An API key is a bearer token; anything else, no credentials included, is for HTTP Basic to take or challenge.</summary>
    private static string SelectScheme(HttpContext context) =>
        context.Request.Headers[HeaderNames.Authorization].ToString().StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
            ? ElemtaAuthentication.ApiKeyScheme
            : ElemtaAuthentication.BasicScheme;
}
