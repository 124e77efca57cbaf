namespace Elemta.Api.Keys;

/// <summary>An API key as listed: never its secret.</summary>
/// <param name="Id">The public part of the key.</param>
/// <param name="Name">What it is for.</param>
/// <param name="Role">What it may do.</param>
/// <param name="State"><c>active</c>, <c>revoked</c> or <c>expired</c>.</param>
/// <param name="CreatedAt">When it was created.</param>
/// <param name="CreatedBy">Who created it.</param>
/// <param name="ExpiresAt">When it stops working; null for never.</param>
/// <param name="RevokedAt">When it was revoked.</param>
public sealed record ApiKeyModel(string Id, string Name, string Role, string State, DateTimeOffset CreatedAt, string CreatedBy, DateTimeOffset? ExpiresAt, DateTimeOffset? RevokedAt);

/// <summary>The body of <c>POST /api/apikeys</c>.</summary>
/// <param name="Role"><c>admin</c>, <c>operator</c> or <c>viewer</c>.</param>
/// <param name="Name">What the key is for (at most 200 characters).</param>
/// <param name="ExpiresInDays">1 to 36500; null for a key that does not expire.</param>
public sealed record CreateApiKeyRequest(string? Role, string? Name, int? ExpiresInDays);

/// <summary>A key just created.</summary>
/// <param name="ApiKey">The key as it will be listed.</param>
/// <param name="Key">The key to present (<c>Authorization: Bearer …</c>), shown this once: only its hash is kept.</param>
public sealed record CreatedApiKeyModel(ApiKeyModel ApiKey, string Key);
