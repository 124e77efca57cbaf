using System.Security.Cryptography;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Signers;

namespace Elemta.MailAuth.Dkim;

/// <summary>
/// The signature check shared by DKIM-Signature, ARC-Message-Signature and ARC-Seal: over the SHA-256 digest of the
/// signed data, RSASSA-PKCS1-v1_5 through .NET's <see cref="RSA"/> (OpenSSL, ~16 times faster than BouncyCastle's
/// managed RSA), or Ed25519 (PureEdDSA over the digest, RFC 8463 §3) through BouncyCastle, .NET having no Ed25519.
/// </summary>
internal static class DkimSignatureCheck
{
    /// <summary>Whether <paramref name="signature"/> is valid for <paramref name="digest"/> under the RSA key, else the Ed25519 key.</summary>
    public static bool Verify(RSA? rsa, Ed25519PublicKeyParameters? ed25519, ReadOnlySpan<byte> digest, ReadOnlySpan<byte> signature)
    {
        if (rsa is not null)
        {
            try
            {
                return rsa.VerifyHash(digest, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            }
            catch (CryptographicException)
            {
                // A signature of the wrong length for the modulus: it cannot verify.
                return false;
            }
        }

        if (ed25519 is null)
        {
            return false;
        }

        var signer = new Ed25519Signer();
        signer.Init(forSigning: false, ed25519);
        signer.BlockUpdate(digest);
        return signer.VerifySignature(signature.ToArray());
    }
}
