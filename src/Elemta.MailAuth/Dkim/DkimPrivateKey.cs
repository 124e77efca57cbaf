using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.OpenSsl;

namespace Elemta.MailAuth.Dkim;

/// <summary>A signing key read from a PEM file: RSA (PKCS#8 or PKCS#1) or Ed25519 (PKCS#8).</summary>
public sealed class DkimPrivateKey
{
    private DkimPrivateKey(AsymmetricKeyParameter key, string keyType, int bits)
    {
        Key = key;
        KeyType = keyType;
        Bits = bits;
    }

    /// <summary>The key, as MimeKit's signer takes it.</summary>
    public AsymmetricKeyParameter Key { get; }

    /// <summary><c>rsa</c> or <c>ed25519</c>.</summary>
    public string KeyType { get; }

    /// <summary>The RSA modulus length; 256 for Ed25519.</summary>
    public int Bits { get; }

    /// <summary>
    /// Reads <paramref name="path"/>. Throws <see cref="DkimKeyFileException"/> with one line saying what is wrong:
    /// missing, unreadable, not PEM, encrypted, not a private key, another key type, an RSA key under 1024 bits.
    /// </summary>
    /// <param name="path">The PEM file.</param>
    public static DkimPrivateKey Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new DkimKeyFileException($"{path} does not exist");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            throw new DkimKeyFileException($"{path} cannot be read: {ex.Message}");
        }

        return Parse(text, path);
    }

    /// <summary>Reads a PEM text; <paramref name="source"/> names it in errors.</summary>
    /// <param name="pem">The PEM text.</param>
    /// <param name="source">What to call it in an error message.</param>
    public static DkimPrivateKey Parse(string pem, string source)
    {
        ArgumentNullException.ThrowIfNull(pem);
        if (pem.Contains("ENCRYPTED", StringComparison.Ordinal))
        {
            throw new DkimKeyFileException($"{source} is encrypted; the server needs the key without a passphrase (openssl pkey -in {source} -out plain.pem)");
        }

        object? read;
        try
        {
            using var reader = new StringReader(pem);
            read = new PemReader(reader).ReadObject();
        }
        catch (Exception ex) when (ex is IOException or PemException or ArgumentException or InvalidCastException or InvalidOperationException)
        {
            throw new DkimKeyFileException($"{source} is not a readable PEM private key: {ex.Message}");
        }

        var key = read switch
        {
            AsymmetricCipherKeyPair pair => pair.Private,
            AsymmetricKeyParameter { IsPrivate: true } k => k,
            null => throw new DkimKeyFileException($"{source} holds no PEM block (expected -----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----)"),
            AsymmetricKeyParameter => throw new DkimKeyFileException($"{source} is a public key; the private key is needed"),
            _ => throw new DkimKeyFileException($"{source} is a {read.GetType().Name}, not a private key"),
        };

        switch (key)
        {
            case RsaPrivateCrtKeyParameters rsa:
                if (rsa.Modulus.BitLength < DkimVerifier.MinimumRsaBits)
                {
                    throw new DkimKeyFileException($"{source} is an RSA key of {rsa.Modulus.BitLength} bits; RFC 8301 requires at least {DkimVerifier.MinimumRsaBits} (2048 recommended)");
                }

                return new DkimPrivateKey(rsa, "rsa", rsa.Modulus.BitLength);
            case Ed25519PrivateKeyParameters ed:
                return new DkimPrivateKey(ed, "ed25519", 256);
            default:
                throw new DkimKeyFileException($"{source} holds a key of type {key.GetType().Name.Replace("PrivateKeyParameters", string.Empty, StringComparison.Ordinal)}; DKIM signs with RSA or Ed25519");
        }
    }
}

/// <summary>A signing key file that cannot be used; the message is one line naming the file.</summary>
public sealed class DkimKeyFileException : Exception
{
    /// <summary>Creates the exception.</summary>
    public DkimKeyFileException()
    {
    }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">The message.</param>
    public DkimKeyFileException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public DkimKeyFileException(string message, Exception innerException) : base(message, innerException)
    {
    }
}
