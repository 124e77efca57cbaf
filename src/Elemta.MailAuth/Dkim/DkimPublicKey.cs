using System.Security.Cryptography;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Parameters;

namespace Elemta.MailAuth.Dkim;

/// <summary>A DKIM key record (RFC 6376 §3.6.1) published at <c>selector._domainkey.domain</c>, parsed.</summary>
public sealed class DkimPublicKey
{
    private readonly byte[] _data;
    private readonly RSA? _rsa;
    private AsymmetricKeyParameter? _key;

    private DkimPublicKey(string keyType, byte[] data, RSA? rsa, AsymmetricKeyParameter? key, int bits, IReadOnlyList<string>? hashes, bool testing)
    {
        KeyType = keyType;
        _data = data;
        _rsa = rsa;
        _key = key;
        Bits = bits;
        Hashes = hashes;
        Testing = testing;
    }

    /// <summary><c>rsa</c> or <c>ed25519</c> (the <c>k=</c> tag; RFC 8463 adds the latter).</summary>
    public string KeyType { get; }

    /// <summary>
    /// The key as BouncyCastle (and so MimeKit's verifier) takes it. Built when first asked for: Elemta's verifier
    /// uses <see cref="Rsa"/> for RSA keys, and BouncyCastle's import of an RSA key validates the modulus at a cost
    /// of milliseconds.
    /// </summary>
    public AsymmetricKeyParameter Key => _key ??= _rsa is not null
        ? BouncyCastleRsa(_rsa.ExportParameters(includePrivateParameters: false))
        : new Ed25519PublicKeyParameters(_data);

    /// <summary>
    /// The RSA key for .NET's <see cref="RSA"/> (OpenSSL), imported once with the record and kept with it in the key
    /// cache, so a message's check does not import it again; null for an Ed25519 key. It is only used to verify,
    /// which does not change the key object: several messages may be verified with it at once.
    /// </summary>
    internal RSA? Rsa => _rsa;

    /// <summary>The RSA modulus length in bits; 256 for Ed25519.</summary>
    public int Bits { get; }

    /// <summary>The hash algorithms the key may be used with (<c>h=</c>), or null for any.</summary>
    public IReadOnlyList<string>? Hashes { get; }

    /// <summary>The domain is testing DKIM (<c>t=y</c>): RFC 6376 §3.6.1 asks verifiers not to treat a failure differently from no signature.</summary>
    public bool Testing { get; }

    /// <summary>
    /// Parses the TXT record text (its character-strings already joined). Throws <see cref="FormatException"/> with a
    /// short reason for a record that is not a usable DKIM key (wrong version, unknown key type, revoked, bad key data).
    /// </summary>
    /// <param name="record">The record text, e.g. <c>v=DKIM1; k=rsa; p=MIIB…</c>.</param>
    public static DkimPublicKey Parse(string record)
    {
        ArgumentNullException.ThrowIfNull(record);
        var tags = DkimTagList.Parse(record, out var error) ?? throw new FormatException($"key record: {error}");
        if (tags["v"] is { } version && (version != "DKIM1" || tags.Order[0] != "v"))
        {
            // §3.6.1: v= "MUST be the first tag in the record" and is exactly DKIM1.
            throw new FormatException($"key record: v={version} is not a first v=DKIM1");
        }

        if (tags["s"] is { } services && !services.Split(':').Select(s => s.Trim()).Any(s => s is "*" or "email"))
        {
            throw new FormatException($"key record: s={services} does not allow email");
        }

        var keyType = tags["k"] ?? "rsa";
        var p = tags["p"] ?? throw new FormatException("key record has no p= tag");
        p = DkimTagList.Compact(p);
        if (p.Length == 0)
        {
            throw new FormatException("key revoked (empty p=)");
        }

        byte[] data;
        try
        {
            data = Convert.FromBase64String(p);
        }
        catch (FormatException)
        {
            throw new FormatException("key record: p= is not base64");
        }

        var hashes = tags["h"] is { } h ? h.Split(':').Select(x => x.Trim()).ToList() : null;
        var testing = tags["t"] is { } t && t.Split(':').Any(f => f.Trim() == "y");
        switch (keyType)
        {
            case "rsa":
                var rsa = ReadRsa(data);
                return new DkimPublicKey(keyType, data, rsa, null, rsa.KeySize, hashes, testing);
            case "ed25519":
                if (data.Length != Ed25519PublicKeyParameters.KeySize)
                {
                    throw new FormatException($"key record: an ed25519 key is {Ed25519PublicKeyParameters.KeySize} bytes, p= has {data.Length}");
                }

                return new DkimPublicKey(keyType, data, null, new Ed25519PublicKeyParameters(data), 256, hashes, testing);
            default:
                throw new FormatException($"key record: unknown key type k={keyType}");
        }
    }

    /// <summary>
    /// A SubjectPublicKeyInfo (what RFC 6376 specifies), or a bare PKCS#1 RSAPublicKey (which some publish and other
    /// verifiers accept), imported by .NET (microseconds, where BouncyCastle's import takes milliseconds).
    /// </summary>
    private static RSA ReadRsa(byte[] data)
    {
        var rsa = RSA.Create();
        try
        {
            try
            {
                rsa.ImportSubjectPublicKeyInfo(data, out _);
            }
            catch (CryptographicException)
            {
                rsa.ImportRSAPublicKey(data, out _);
            }

            return rsa;
        }
        catch (CryptographicException)
        {
            rsa.Dispose();
            throw new FormatException("key record: p= is not an RSA public key");
        }
    }

    private static RsaKeyParameters BouncyCastleRsa(RSAParameters parameters) =>
        new(false, new Org.BouncyCastle.Math.BigInteger(1, parameters.Modulus), new Org.BouncyCastle.Math.BigInteger(1, parameters.Exponent));
}
