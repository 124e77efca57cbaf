using System.Security.Cryptography;
using System.Text;
using Elemta.Contracts;

namespace Elemta.Auth;

/// <summary>
/// API keys of the form <c>elemta_&lt;id&gt;_&lt;secret&gt;</c>: a 12-hex-digit id to find the key and 256 random bits
/// of secret, of which only the SHA-256 is stored.
/// </summary>
public static class ApiKeys
{
    private const string Prefix = "elemta_";

    /// <summary>A new key: the text to show once, and the record to store.</summary>
    public static (string Key, ApiKeyRecord Record) Create(string name, UserRole role, DateTimeOffset now, string createdBy, DateTimeOffset? expiresAt)
    {
        var id = RandomNumberGenerator.GetHexString(12, lowercase: true);
        var secret = Base64Url(RandomNumberGenerator.GetBytes(32));
        var record = new ApiKeyRecord(id, name, role, SHA256.HashData(Encoding.ASCII.GetBytes(secret)), now, createdBy, expiresAt, null);
        return ($"{Prefix}{id}_{secret}", record);
    }

    /// <summary>The id of a presented key, or null when it does not have the key's form.</summary>
    public static string? IdOf(string presented)
    {
        ArgumentNullException.ThrowIfNull(presented);
        if (!presented.StartsWith(Prefix, StringComparison.Ordinal) || presented.Length < Prefix.Length + 14 || presented[Prefix.Length + 12] != '_')
        {
            return null;
        }

        return presented.Substring(Prefix.Length, 12);
    }

    /// <summary>Whether <paramref name="presented"/> is the key of <paramref name="record"/> and is neither revoked nor expired at <paramref name="now"/>.</summary>
    public static bool Verify(ApiKeyRecord record, string presented, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (IdOf(presented) != record.Id || record.RevokedAt is not null || (record.ExpiresAt is { } expiry && now >= expiry))
        {
            return false;
        }

        var secret = Encoding.ASCII.GetBytes(presented[(Prefix.Length + 13)..]);
        return CryptographicOperations.FixedTimeEquals(SHA256.HashData(secret), record.SecretHash);
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
