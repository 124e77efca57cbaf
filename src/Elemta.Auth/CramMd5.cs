using System.Security.Cryptography;
using System.Text;
using Elemta.Contracts;

namespace Elemta.Auth;

/// <summary>
/// CRAM-MD5 (RFC 2195) with precomputed HMAC-MD5 contexts (RFC 2104 §4, as Dovecot stores them): the MD5 states after
/// the key XOR ipad and key XOR opad blocks. A digest is computed from them without the password.
/// </summary>
public static class CramMd5
{
    /// <summary>Computes the two contexts of <paramref name="password"/> (UTF-8).</summary>
    public static CramMd5Credential CreateCredential(ReadOnlySpan<byte> password)
    {
        Span<byte> key = stackalloc byte[Md5Context.BlockSize];
        key.Clear();
        if (password.Length > Md5Context.BlockSize)
        {
            // RFC 2104 §2: keys longer than the block are hashed first.
            Md5Context.Finish(Md5Context.Initial(), 0, password).CopyTo(key);
        }
        else
        {
            password.CopyTo(key);
        }

        Span<byte> inner = stackalloc byte[Md5Context.BlockSize];
        Span<byte> outer = stackalloc byte[Md5Context.BlockSize];
        for (var i = 0; i < key.Length; i++)
        {
            inner[i] = (byte)(key[i] ^ 0x36);
            outer[i] = (byte)(key[i] ^ 0x5c);
        }

        var initial = Md5Context.Initial();
        var credential = new CramMd5Credential(Md5Context.Compress(initial, inner), Md5Context.Compress(initial, outer));
        CryptographicOperations.ZeroMemory(key);
        CryptographicOperations.ZeroMemory(inner);
        CryptographicOperations.ZeroMemory(outer);
        return credential;
    }

    /// <summary>HMAC-MD5 of <paramref name="challenge"/> under the key the contexts were made from.</summary>
    public static byte[] Digest(CramMd5Credential credential, ReadOnlySpan<byte> challenge)
    {
        ArgumentNullException.ThrowIfNull(credential);
        var innerDigest = Md5Context.Finish(credential.InnerContext, Md5Context.BlockSize, challenge);
        return Md5Context.Finish(credential.OuterContext, Md5Context.BlockSize, innerDigest);
    }

    /// <summary>
    /// Whether <paramref name="hexDigest"/> (the client's response after the user name) is the digest of
    /// <paramref name="challenge"/>; constant-time in the digest's content.
    /// </summary>
    public static bool Verify(CramMd5Credential credential, string challenge, string hexDigest)
    {
        ArgumentNullException.ThrowIfNull(challenge);
        ArgumentNullException.ThrowIfNull(hexDigest);
        var expected = Encoding.ASCII.GetBytes(Convert.ToHexStringLower(Digest(credential, Encoding.ASCII.GetBytes(challenge))));
        var given = Encoding.ASCII.GetBytes(hexDigest.ToLowerInvariant());
        return CryptographicOperations.FixedTimeEquals(expected, given);
    }
}
