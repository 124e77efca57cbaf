using System.Collections.Immutable;
using Elemta.Api.Keys;
using Elemta.Auth;
using Elemta.Contracts;

namespace Elemta.Api.Administration;

/// <summary>What happened to a revocation.</summary>
public enum RevokeStatus
{
    /// <summary>Revoked (and recorded by the registry).</summary>
    Revoked,

    /// <summary>There is no such key.</summary>
    NotFound,

    /// <summary>It was revoked before.</summary>
    AlreadyRevoked,
}

/// <summary>
/// API keys as the admin plane manages them (the REST API's <c>/api/apikeys</c> and the admin app's page): through the
/// key registry grain, which records each change in the audit log with the actor.
/// </summary>
public sealed class KeyAdministration(IGrainFactory grains, TimeProvider timeProvider)
{
    /// <summary>The longest name a key may have.</summary>
    public const int MaxNameLength = 200;

    /// <summary>Every key, never a secret.</summary>
    public async Task<ImmutableArray<ApiKeyModel>> ListAsync(CancellationToken cancellationToken)
    {
        var keys = await Registry.ListAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
        var now = timeProvider.GetUtcNow();
        return [.. keys.Select(k => Model(k, now))];
    }

    /// <summary>
    /// Creates a key for <paramref name="role"/>; the result holds its secret, which is not kept (only its hash), or is
    /// null in the one-in-trillions case that the drawn id is taken (ask again).
    /// </summary>
    public async Task<CreatedApiKeyModel?> CreateAsync(string name, UserRole role, int? expiresInDays, string actor, CancellationToken cancellationToken)
    {
        var now = timeProvider.GetUtcNow();
        var (key, record) = ApiKeys.Create(name, role, now, actor, expiresInDays is { } days ? now.AddDays(days) : null);
        return await Registry.CreateAsync(record, actor).WaitAsync(cancellationToken).ConfigureAwait(false)
            ? new CreatedApiKeyModel(Model(record, now), key)
            : null;
    }

    /// <summary>Revokes key <paramref name="id"/> (it stays listed, marked revoked).</summary>
    public async Task<RevokeStatus> RevokeAsync(string id, string actor, CancellationToken cancellationToken)
    {
        var record = await Registry.FindAsync(id).WaitAsync(cancellationToken).ConfigureAwait(false);
        if (record is null)
        {
            return RevokeStatus.NotFound;
        }

        return record.RevokedAt is not null || !await Registry.RevokeAsync(id, actor).WaitAsync(cancellationToken).ConfigureAwait(false)
            ? RevokeStatus.AlreadyRevoked
            : RevokeStatus.Revoked;
    }

    private IApiKeyRegistryGrain Registry => grains.GetGrain<IApiKeyRegistryGrain>(IApiKeyRegistryGrain.Key);

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
