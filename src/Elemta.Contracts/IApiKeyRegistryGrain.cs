using System.Collections.Immutable;

namespace Elemta.Contracts;

/// <summary>
/// The API keys of the admin plane (key <see cref="Key"/>). A key is shown once when created; only a hash of its secret
/// is kept. Every change takes the name of who made it, for the audit log.
/// </summary>
[Alias("elemta.IApiKeyRegistryGrain")]
public interface IApiKeyRegistryGrain : IGrainWithIntegerKey
{
    /// <summary>The one registry's key.</summary>
    const long Key = 0;

    /// <summary>Stores a new key; false when its id is taken (nothing changes then).</summary>
    [Alias("create")]
    Task<bool> CreateAsync(ApiKeyRecord key, string actor);

    /// <summary>Every key, revoked and expired ones included, oldest first.</summary>
    [Alias("list")]
    Task<ImmutableArray<ApiKeyRecord>> ListAsync();

    /// <summary>The key with this id, or null.</summary>
    [Alias("find")]
    Task<ApiKeyRecord?> FindAsync(string id);

    /// <summary>Revokes a key; false when there is no such key or it was already revoked.</summary>
    [Alias("revoke")]
    Task<bool> RevokeAsync(string id, string actor);
}

/// <summary>One API key as stored: never its secret, only the secret's SHA-256.</summary>
/// <param name="Id">The public part of the key, shown in listings.</param>
/// <param name="Name">What the key is for.</param>
/// <param name="Role">What the key may do.</param>
/// <param name="SecretHash">SHA-256 of the secret part. The secret is 256 random bits, so a fast hash suffices.</param>
/// <param name="CreatedAt">When it was created.</param>
/// <param name="CreatedBy">Who created it.</param>
/// <param name="ExpiresAt">When it stops working; null for never.</param>
/// <param name="RevokedAt">When it was revoked; null while it is not.</param>
[GenerateSerializer, Immutable, Alias("elemta.ApiKeyRecord")]
public sealed record ApiKeyRecord(
    [property: Id(0)] string Id,
    [property: Id(1)] string Name,
    [property: Id(2)] UserRole Role,
    [property: Id(3)] byte[] SecretHash,
    [property: Id(4)] DateTimeOffset CreatedAt,
    [property: Id(5)] string CreatedBy,
    [property: Id(6)] DateTimeOffset? ExpiresAt,
    [property: Id(7)] DateTimeOffset? RevokedAt);

/// <summary>Persisted state of the API key registry.</summary>
[GenerateSerializer, Alias("elemta.ApiKeyRegistryState")]
public sealed class ApiKeyRegistryState
{
    /// <summary>Every key, oldest first.</summary>
    [Id(0)] public ImmutableArray<ApiKeyRecord> Keys { get; set; } = [];
}
