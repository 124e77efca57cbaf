using System.Collections.Immutable;
using System.Security.Claims;
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
    private const int MaxNameLength = 200;

    public static void MapApiKeys(this RouteGroupBuilder api)
    {
        var keys = api.MapGroup("/apikeys").WithTags("API keys").RequireAuthorization(ElemtaPolicies.Administer);
        keys.MapGet("", ListAsync).WithName("ListApiKeys");
        keys.MapPost("", CreateAsync).WithName("CreateApiKey").WithSummary("Creates a key; its secret is returned once.");
        keys.MapDelete("/{id}", RevokeAsync).WithName("RevokeApiKey").WithSummary("Revokes a key (it stays listed, marked revoked).");
    }

    private static async Task<Ok<ImmutableArray<ApiKeyModel>>> ListAsync(IGrainFactory grains, TimeProvider timeProvider, CancellationToken ct)
    {
        var keys = await Registry(grains).ListAsync().WaitAsync(ct);
        var now = timeProvider.GetUtcNow();
        return TypedResults.Ok(keys.Select(k => Model(k, now)).ToImmutableArray());
    }

    private static async Task<Results<Created<CreatedApiKeyModel>, ProblemHttpResult>> CreateAsync(
        CreateApiKeyRequest? body, IGrainFactory grains, TimeProvider timeProvider, ClaimsPrincipal user, CancellationToken ct)
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

        if (body.Name is { } name && (name.Length > MaxNameLength || name.Any(char.IsControl)))
        {
            return ApiProblems.Invalid($"name must be at most {MaxNameLength} characters, without control characters.");
        }

        if (body.ExpiresInDays is < 1 or > 36500)
        {
            return ApiProblems.Invalid("expiresInDays must be between 1 and 36500 (or absent for a key that does not expire).");
        }

        var actor = ElemtaAuthentication.ActorOf(user);
        var now = timeProvider.GetUtcNow();
        var (key, record) = ApiKeys.Create(body.Name ?? string.Empty, role, now, actor, body.ExpiresInDays is { } days ? now.AddDays(days) : null);
        if (!await Registry(grains).CreateAsync(record, actor).WaitAsync(ct))
        {
            // 48 random bits of id: a collision is one in trillions, and asking again draws another.
            return ApiProblems.Conflict("The generated key id is taken; ask again.");
        }

        return TypedResults.Created($"/api/apikeys/{record.Id}", new CreatedApiKeyModel(Model(record, now), key));
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> RevokeAsync(string id, IGrainFactory grains, ClaimsPrincipal user, CancellationToken ct)
    {
        if (!RequestValues.IsApiKeyId(id))
        {
            return ApiProblems.BadRequest("An API key id is 12 lower-case hexadecimal digits.");
        }

        var registry = Registry(grains);
        var record = await registry.FindAsync(id).WaitAsync(ct);
        if (record is null)
        {
            return ApiProblems.NotFound($"No API key {id}.");
        }

        if (record.RevokedAt is not null || !await registry.RevokeAsync(id, ElemtaAuthentication.ActorOf(user)).WaitAsync(ct))
        {
            return ApiProblems.Conflict($"API key {id} is already revoked.");
        }

        return TypedResults.NoContent();
    }

    private static IApiKeyRegistryGrain Registry(IGrainFactory grains) => grains.GetGrain<IApiKeyRegistryGrain>(IApiKeyRegistryGrain.Key);

    private static ApiKeyModel Model(ApiKeyRecord key, DateTimeOffset now) => new(
        key.Id,
        key.Name,
        Passwords.RoleName(key.Role),
        key.RevokedAt is not null ? "revoked" : key.ExpiresAt <= now ? "expired" : "active",
        key.CreatedAt,
        key.CreatedBy,
        key.ExpiresAt,
        key.RevokedAt);
}
