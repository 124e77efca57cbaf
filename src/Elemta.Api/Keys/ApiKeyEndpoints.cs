using System.Collections.Immutable;
using System.Security.Claims;
using Elemta.Api.Administration;
using Elemta.Api.Authentication;
using Elemta.Api.Problems;
using Elemta.Api.Validation;
using Elemta.Auth;
using Elemta.Contracts;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace Elemta.Api.Keys;

/// <summary>
/// <c>/api/apikeys</c> (admin): create (the key is returned once), list, revoke — through the key registry grain, which
/// records each change in the audit log with the caller as actor.
/// </summary>
internal static class ApiKeyEndpoints
{
    public static void MapApiKeys(this RouteGroupBuilder api)
    {
        var keys = api.MapGroup("/apikeys").WithTags("API keys").RequireAuthorization(ElemtaPolicies.Administer);
        keys.MapGet("", ListAsync).WithName("ListApiKeys");
        keys.MapPost("", CreateAsync).WithName("CreateApiKey").WithSummary("Creates a key; its secret is returned once.");
        keys.MapDelete("/{id}", RevokeAsync).WithName("RevokeApiKey").WithSummary("Revokes a key (it stays listed, marked revoked).");
    }

    private static async Task<Ok<ImmutableArray<ApiKeyModel>>> ListAsync(KeyAdministration keys, CancellationToken ct) =>
        TypedResults.Ok(await keys.ListAsync(ct));

    private static async Task<Results<Created<CreatedApiKeyModel>, ProblemHttpResult>> CreateAsync(
        CreateApiKeyRequest? body, KeyAdministration keys, ClaimsPrincipal user, CancellationToken ct)
    {
        if (body?.Role is null)
        {
            return ApiProblems.BadRequest("The body must give the key's role: {\"role\": \"viewer\", \"name\": \"grafana\", \"expiresInDays\": 90}.");
        }

        UserRole role;
        try
        {
            var roles = Passwords.ParseRoles([body.Role]);
            role = roles[0];
        }
        catch (FormatException ex)
        {
            return ApiProblems.Invalid(ex.Message);
        }

        if (body.Name is { } name && (name.Length > KeyAdministration.MaxNameLength || name.Any(char.IsControl)))
        {
            return ApiProblems.Invalid($"name must be at most {KeyAdministration.MaxNameLength} characters, without control characters.");
        }

        if (body.ExpiresInDays is < 1 or > 36500)
        {
            return ApiProblems.Invalid("expiresInDays must be between 1 and 36500 (or absent for a key that does not expire).");
        }

        var created = await keys.CreateAsync(body.Name ?? string.Empty, role, body.ExpiresInDays, ElemtaAuthentication.ActorOf(user), ct);
        if (created is null)
        {
            // 48 random bits of id: a collision is one in trillions, and asking again draws another.
            return ApiProblems.Conflict("The generated key id is taken; ask again.");
        }

        return TypedResults.Created($"/api/apikeys/{created.ApiKey.Id}", created);
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> RevokeAsync(string id, KeyAdministration keys, ClaimsPrincipal user, CancellationToken ct)
    {
        if (!RequestValues.IsApiKeyId(id))
        {
            return ApiProblems.BadRequest("An API key id is 12 lower-case hexadecimal digits.");
        }

        return await keys.RevokeAsync(id, ElemtaAuthentication.ActorOf(user), ct) switch
        {
            RevokeStatus.NotFound => ApiProblems.NotFound($"No API key {id}."),
            RevokeStatus.AlreadyRevoked => ApiProblems.Conflict($"API key {id} is already revoked."),
            _ => TypedResults.NoContent(),
        };
    }
}
