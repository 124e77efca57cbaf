using System.Security.Cryptography;
using System.Text;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.EdEC;
using Org.BouncyCastle.Asn1.Pkcs;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Security;

namespace Elemta.MailAuth.Dkim;

/// <summary>A new DKIM key pair: the private key as PEM and the key record to publish.</summary>
/// <param name="KeyType"><c>rsa</c> or <c>ed25519</c>.</param>
/// <param name="Bits">The RSA modulus length; 256 for Ed25519.</param>
/// <param name="PrivateKeyPem">PKCS#8 PEM (<c>-----BEGIN PRIVATE KEY-----</c>), what <c>Elemta:Dkim:Signing:…:KeyFile</c> reads.</param>
/// <param name="PublicKey">The base64 <c>p=</c> value: a SubjectPublicKeyInfo for RSA, the raw 32 bytes for Ed25519 (RFC 8463 §4).</param>
public sealed record DkimGeneratedKey(string KeyType, int Bits, string PrivateKeyPem, string PublicKey)
{
    /// <summary>The key record's text: <c>v=DKIM1; k=rsa; p=…</c>.</summary>
    public string RecordText => $"v=DKIM1; k={KeyType}; p={PublicKey}";

    /// <summary>
    /// The zone file line to publish, the record split into character-strings of at most 255 bytes (RFC 1035 §3.3.14;
    /// a 2048-bit RSA record is longer than one): <c>sel._domainkey.example.org IN TXT "v=DKIM1; k=rsa; p=…" "…"</c>.
    /// </summary>
    /// <param name="domain">The signing domain.</param>
    /// <param name="selector">The selector.</param>
    public string ZoneLine(string domain, string selector)
    {
        var text = RecordText;
        var strings = new List<string>();
        for (var i = 0; i < text.Length; i += 255)
        {
            strings.Add('"' + text[i..Math.Min(i + 255, text.Length)] + '"');
        }

        return $"{selector}._domainkey.{domain.TrimEnd('.')} IN TXT {string.Join(' ', strings)}";
    }
}

/// <summary>Makes DKIM keys: RSA (1024 to 4096 bits, 2048 by default, RFC 8301 §3.2) or Ed25519 (RFC 8463).</summary>
public static class DkimKeyGenerator
{
    /// <summary>The RSA size when none is given.</summary>
    public const int DefaultRsaBits = 2048;

    /// <summary>The largest RSA size accepted: beyond it the record outgrows what many DNS hosting forms take.</summary>
    public const int MaximumRsaBits = 4096;

    /// <summary>Generates a key.</summary>
    /// <param name="keyType"><c>rsa</c> or <c>ed25519</c>.</param>
    /// <param name="bits">RSA size, a multiple of 8 from 1024 to 4096; must be null for Ed25519.</param>
    /// <exception cref="ArgumentException">An unknown type, or a size out of range or given for Ed25519.</exception>
    public static DkimGeneratedKey Generate(string keyType, int? bits = null)
    {
        switch (keyType)
        {
            case "rsa":
                var size = bits ?? DefaultRsaBits;
                if (size < DkimVerifier.MinimumRsaBits || size > MaximumRsaBits || size % 8 != 0)
                {
                    throw new ArgumentException($"an RSA key must have a multiple of 8 bits from {DkimVerifier.MinimumRsaBits} to {MaximumRsaBits} (2048 recommended), not {size}", nameof(bits));
                }

                using (var rsa = RSA.Create(size))
                {
                    return new DkimGeneratedKey("rsa", size, rsa.ExportPkcs8PrivateKeyPem(), Convert.ToBase64String(rsa.ExportSubjectPublicKeyInfo()));
                }

            case "ed25519":
                if (bits is not null)
                {
                    throw new ArgumentException("an Ed25519 key has a fixed size: --bits is for RSA only", nameof(bits));
                }

                // .NET has no Ed25519; BouncyCastle (which MimeKit signs with) does.
                var generator = new Ed25519KeyPairGenerator();
                generator.Init(new Ed25519KeyGenerationParameters(new SecureRandom()));
                var pair = generator.GenerateKeyPair();
                // RFC 8410's PKCS#8 v1, the seed alone, as `openssl genpkey -algorithm ed25519` writes it (BouncyCastle's
                // factory adds the public key, a v2 form some readers refuse).
                var seed = ((Ed25519PrivateKeyParameters)pair.Private).GetEncoded();
                var der = new PrivateKeyInfo(new AlgorithmIdentifier(EdECObjectIdentifiers.id_Ed25519), new DerOctetString(seed)).GetDerEncoded();
                var pem = new StringBuilder("-----BEGIN PRIVATE KEY-----\n")
                    .Append(Convert.ToBase64String(der, Base64FormattingOptions.InsertLineBreaks).ReplaceLineEndings("\n"))
                    .Append("\n-----END PRIVATE KEY-----\n").ToString();
                return new DkimGeneratedKey("ed25519", 256, pem, Convert.ToBase64String(((Ed25519PublicKeyParameters)pair.Public).GetEncoded()));
            default:
                throw new ArgumentException($"unknown key algorithm '{keyType}': rsa or ed25519", nameof(keyType));
        }
    }
}
