using System.Security.Cryptography;
using System.Text;
using Elemta.Contracts;

namespace Elemta.Auth;

/// <summary>
/// SCRAM-SHA-256 (RFC 5802, RFC 7677): the stored keys, and the server's checks of a client proof. The server keeps
/// StoredKey and ServerKey only; the salted password is discarded once they are derived.
/// </summary>
public static class ScramSha256
{
    private const int SaltSize = 16;

    /// <summary>Derives the stored keys for <paramref name="password"/> (UTF-8) with a fresh salt.</summary>
    public static ScramCredential CreateCredential(ReadOnlySpan<byte> password, int iterations) =>
        CreateCredential(password, RandomNumberGenerator.GetBytes(SaltSize), iterations);

    /// <summary>Derives the stored keys for <paramref name="password"/> with a given salt (for test vectors).</summary>
    internal static ScramCredential CreateCredential(ReadOnlySpan<byte> password, byte[] salt, int iterations)
    {
        var salted = Rfc2898DeriveBytes.Pbkdf2(password, salt, iterations, HashAlgorithmName.SHA256, 32);
        try
        {
            var clientKey = HMACSHA256.HashData(salted, "Client Key"u8);
            var serverKey = HMACSHA256.HashData(salted, "Server Key"u8);
            return new ScramCredential(iterations, salt, SHA256.HashData(clientKey), serverKey);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(salted);
        }
    }

    /// <summary>
    /// Checks a client proof (RFC 5802 §3): ClientKey = proof XOR HMAC(StoredKey, AuthMessage) must hash to StoredKey.
    /// Returns the server signature to send back when it does, null when it does not.
    /// </summary>
    public static byte[]? Verify(ScramCredential credential, string authMessage, ReadOnlySpan<byte> proof)
    {
        ArgumentNullException.ThrowIfNull(credential);
        ArgumentNullException.ThrowIfNull(authMessage);
        var message = Encoding.UTF8.GetBytes(authMessage);
        var signature = HMACSHA256.HashData(credential.StoredKey, message);
        if (proof.Length != signature.Length)
        {
            return null;
        }

        var clientKey = new byte[signature.Length];
        for (var i = 0; i < clientKey.Length; i++)
        {
            clientKey[i] = (byte)(proof[i] ^ signature[i]);
        }

        return CryptographicOperations.FixedTimeEquals(SHA256.HashData(clientKey), credential.StoredKey)
            ? HMACSHA256.HashData(credential.ServerKey, message)
            : null;
    }

    /// <summary>
    /// A salt for a name that has no SCRAM credential, the same for the same name every time, so the exchange does not
    /// reveal which accounts exist.
    /// </summary>
    public static byte[] DecoySalt(ReadOnlySpan<byte> serverSecret, string userName) =>
        HMACSHA256.HashData(serverSecret, Encoding.UTF8.GetBytes(userName)).AsSpan(0, SaltSize).ToArray();
}
